"""record-store: every record also committed as JSON to a dedicated branch, where it outlives artifact retention.

Paths are `<gateway host[_port]>/<model>/<approved_at>-<endpoint>-<result>-<run id prefix>.json`, so the newest passing
record of a model on a gateway is found from one directory listing. Writes go through the contents API
(`contents: write`); the branch is created when absent as an orphan branch holding a README (git data API: tree,
commit, ref). It is never the default branch nor a branch of the pull request: people do not work there.

Never raises: a record that could not be stored is a message in the log and the summary; the verdict stands.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from approval.common.errors import ConfigError
from approval.common.markdown import md_cell
from approval.common.names import digest
from approval.common.names import safe_name as _safe
from approval.common.redact import redact
from approval.common.userfile import MAX_RECORD_BYTES, record_from_bytes
from approval.github.contents import api_get, api_send, contents_path, list_names, read_text
from approval.github.context import GitHubContext
from approval.github.rest import explain_failure, make_client
from approval.lifecycle.previous import PreviousRecord, matches

if TYPE_CHECKING:
    from github import Github

PERMISSION = "contents: write"
CONFLICT_RETRIES = 3  # the branch moved between reading and writing (another job stored a record): try again
README = """# Approval records

Written by the model approval gate (`record-store` input): one JSON file per approval run and model, at
`<gateway host>/<model>/<approved_at>-<endpoint>-<result>-<run>.json`. Each file is the record the run wrote, byte
for byte: its sha256 is what `approval promote` keeps next to an approved model. Nothing here is code: do not merge
this branch into another.
"""
_BAD_REF = re.compile(r"(^[./-])|(\.\.)|(@\{)|([\x00-\x20~^:?*\[\\\x7f])|(/\.)|(\.lock$)|(\.lock/)|(/$)|(//)|(\.$)")


def gateway_dir(gateway: str) -> str:
    parts = urlsplit(gateway)
    host = parts.hostname or "gateway"
    return _safe(f"{host}_{parts.port}" if parts.port else host)


def store_path(record: dict[str, Any]) -> str:
    """Where a record goes on the branch."""
    moment = str(record.get("approved_at", "")).replace(":", "").replace("-", "")
    stamp = f"{moment[:8]}T{moment[9:15]}Z" if len(moment) >= 15 else _safe(moment)
    run = _safe(str(record.get("run_id", ""))[:8])
    model = str(record.get("candidate_model_id", ""))
    # the folder is the model's readable name; the file, its distinct one: `vendor/m` and `vendor:m` share a folder
    # (readers check each record's own candidate_model_id), never a file
    own = "" if _safe(model) == model else f"-{digest(model)}"
    return (f"{gateway_dir(str(record.get('gateway_base_url', '')))}/{_safe(model)}/"
            f"{stamp}-{_safe(str(record.get('endpoint_family', '')))}-{_safe(str(record.get('overall_result', '')))}-{run}{own}.json")


def validate_branch(branch: str, ctx: GitHubContext) -> None:
    """A branch name git accepts, and not one people work on: the default branch, this run's branch, the PR's."""
    fix = "name a branch kept for records only, e.g. `record-store: approval-records`"
    if _BAD_REF.search(branch) or len(branch) > 200:
        raise ConfigError(f"record-store {branch!r} is not a valid branch name", fix)
    people = {str((ctx.event.get("repository") or {}).get("default_branch") or "")}
    pull = ctx.event.get("pull_request") or {}
    people |= {str((pull.get("head") or {}).get("ref") or ""), str((pull.get("base") or {}).get("ref") or "")}
    if ctx.ref.startswith("refs/heads/"):
        people.add(ctx.ref[len("refs/heads/"):])
    if branch in people - {""}:
        raise ConfigError(f"record-store {branch!r} is a branch people work on (the default branch, or this run's or pull request's)", fix)


def _branch_exists(client: Github, repo: str, branch: str) -> bool:
    # PyGithub (~400 ms to import) only where a GitHub call is made
    from github.GithubException import GithubException


    try:
        api_get(client, f"/repos/{repo}/git/ref/heads/{quote(branch)}")
    except GithubException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _create_branch(client: Github, repo: str, branch: str) -> None:
    """An orphan branch with a README: the records share no history with the code."""
    # PyGithub (~400 ms to import) only where a GitHub call is made
    from github.GithubException import GithubException


    tree = api_send(client, "POST", f"/repos/{repo}/git/trees", {"tree": [{"path": "README.md", "mode": "100644", "type": "blob",
                                                                            "content": README}]})
    commit = api_send(client, "POST", f"/repos/{repo}/git/commits", {"message": "Approval records: start the branch", "tree": tree["sha"],
                                                                      "parents": []})
    try:
        api_send(client, "POST", f"/repos/{repo}/git/refs", {"ref": f"refs/heads/{branch}", "sha": commit["sha"]})
    except GithubException as exc:
        if exc.status != 422:  # 422 "Reference already exists": another job made it first
            raise


def store_records(token: str, ctx: GitHubContext, branch: str, records: Sequence[tuple[Path, dict[str, Any]]]) -> list[str]:
    """Commit each record file to `branch`; one message per record (or one saying why none was stored)."""
    doing = f"store the records on branch {branch}"
    if not token:
        return [f"could not {doing}: no GitHub token — set the `github-token` input"]
    if not ctx.repository:
        return [f"could not {doing}: no repository (GITHUB_REPOSITORY is not set)"]
    messages = []
    try:
        # PyGithub (~400 ms to import) only where a GitHub call is made
        from github.GithubException import GithubException


        client = make_client(token, ctx.api_url)
        if not _branch_exists(client, ctx.repository, branch):
            _create_branch(client, ctx.repository, branch)
            messages.append(f"created branch {branch} for the approval records")
        for path, record in records:
            where = store_path(record)
            body = {"message": f"Approval record: {record.get('candidate_model_id')} {record.get('overall_result')} "
                               f"({record.get('endpoint_family')}, {gateway_dir(str(record.get('gateway_base_url', '')))})"
                               + (f"\n\n{ctx.run_url}" if ctx.run_url else ""),
                    "content": base64.b64encode(path.read_bytes()).decode("ascii"), "branch": branch}
            for attempt in range(1, CONFLICT_RETRIES + 1):
                try:
                    api_send(client, "PUT", contents_path(ctx.repository, where), body)
                    messages.append(f"stored the record of {record.get('candidate_model_id')} at {branch}:{where}")
                    break
                except GithubException as exc:
                    if exc.status == 409 and attempt < CONFLICT_RETRIES:
                        continue
                    if exc.status == 422:  # the same run's record is there already (a re-run of the step)
                        messages.append(f"the record of {record.get('candidate_model_id')} is already at {branch}:{where}")
                        break
                    raise
    except Exception as exc:  # noqa: BLE001 - a publisher never breaks the verdict; it reports why
        messages.append(explain_failure(exc, doing, PERMISSION, ctx.api_url))
    return [redact(m) for m in messages]


def latest_records(token: str, ctx: GitHubContext, branch: str, models: Sequence[str], gateway: str, endpoint: str,
                   ) -> tuple[dict[str, PreviousRecord], list[str]]:
    """The newest passing record of each model on this gateway and endpoint kept on `branch`."""
    found: dict[str, PreviousRecord] = {}
    notes: list[str] = []
    try:
        client = make_client(token, ctx.api_url)
        for model in models:
            folder = f"{gateway_dir(gateway)}/{_safe(model)}"
            names = sorted((n for n in list_names(client, ctx.repository, folder, branch) if f"-{_safe(endpoint)}-pass-" in n), reverse=True)
            for name in names[:3]:
                text = read_text(client, ctx.repository, f"{folder}/{name}", branch)
                try:  # the same reader as for a record file: bounded, strict JSON, a byte-order mark accepted
                    data = (text or "").encode("utf-8", "surrogatepass")
                    if len(data) > MAX_RECORD_BYTES:
                        continue
                    record = record_from_bytes(data, name)
                except (ConfigError, UnicodeError):
                    continue
                if isinstance(record, dict) and matches(record, model, gateway, endpoint):
                    url = f"{ctx.server_url}/{ctx.repository}/blob/{quote(branch)}/{quote(folder)}/{quote(name)}"
                    found[model] = PreviousRecord(record, f"record store {md_cell(branch)}", url)
                    break
    except Exception as exc:  # noqa: BLE001 - a comparison is a courtesy: never a failed gate
        notes.append(md_cell(explain_failure(exc, f"read the record store {branch}", "contents: read", ctx.api_url)) + ".")
    return found, notes
