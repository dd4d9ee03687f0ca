"""`previous-record: auto`: the records of this workflow's last successful runs, fetched through the REST API.

The current run names its workflow (`GET …/actions/runs/{run_id}`); that workflow's successful runs are listed newest
first (`GET …/actions/workflows/{id}/runs?status=success`) and, for up to `MAX_RUNS` of them, their artifacts whose
names start with the `artifact-name` prefix (a re-run's artifact is named `<name>-<job>-attempt<N>-…`, several
candidates' `<name>-<model>`): the newest first, each downloaded (a 302 to a signed URL, fetched without the token)
and every JSON record in its zip matched to a candidate by model, gateway and endpoint. Candidates still without a
record are looked up on the `record-store` branch when there is one.

Never raises and never fails the gate: whatever cannot be fetched becomes a note in the report.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import requests

from approval.common.errors import ConfigError
from approval.common.markdown import md_cell, md_code
from approval.common.redact import register_secret
from approval.common.userfile import MAX_RECORD_BYTES, record_from_bytes
from approval.github.artifact import OnlyAuthorization
from approval.github.contents import api_get
from approval.github.context import GitHubContext
from approval.github.record_store import latest_records
from approval.github.rest import TIMEOUT_SECONDS, explain_failure, make_client
from approval.lifecycle.previous import Previous, PreviousRecord, matches

if TYPE_CHECKING:
    from github import Github

MAX_RUNS = 5  # successful runs looked into, newest first
MAX_DOWNLOADS = 20  # artifacts downloaded in all
MAX_ARTIFACT_BYTES = 2 * 1024 * 1024  # a record is a few kB; an artifact this large is not ours
PERMISSION = "actions: read"


def _download(client: Github, token: str, url: str) -> bytes:
    """The artifact's zip: the API answers 302 with a signed storage URL, which is fetched without the token."""

    with requests.Session() as http:
        first = http.get(url, headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
                         auth=OnlyAuthorization(f"token {token}"), allow_redirects=False, timeout=TIMEOUT_SECONDS)
        if first.status_code == 410:
            raise ValueError("the artifact has expired")
        location = first.headers.get("Location", "")
        if first.status_code not in (301, 302, 303, 307, 308) or not location.startswith("https://"):
            raise ValueError(f"the download answered HTTP {first.status_code}, not a redirect to the storage")
        for part in location.split("?", 1)[-1].split("&"):
            if part.startswith("sig="):
                register_secret(part[4:])
        second = http.get(location, auth=OnlyAuthorization(None), allow_redirects=False, timeout=TIMEOUT_SECONDS, stream=True)
        if second.status_code != 200:
            raise ValueError(f"the storage answered HTTP {second.status_code}")
        data = second.raw.read(MAX_ARTIFACT_BYTES + 1, decode_content=True)
        if len(data) > MAX_ARTIFACT_BYTES:
            raise ValueError("the artifact is larger than a record")
        return bytes(data)


def records_in_zip(data: bytes) -> list[dict[str, Any]]:
    """The approval records among the zip's JSON files (anything else is skipped)."""
    found = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".json") or info.file_size > MAX_RECORD_BYTES:
                continue
            try:
                with archive.open(info) as member:  # the size a zip declares is not trusted: read at most one byte past it
                    data = member.read(MAX_RECORD_BYTES + 1)
                if len(data) > MAX_RECORD_BYTES:
                    continue
                record = record_from_bytes(data, info.filename)
            except (ConfigError, ValueError, zipfile.BadZipFile, OSError, EOFError, NotImplementedError):
                continue
            if isinstance(record, dict) and record.get("record_type") == "model_candidate_approval":
                found.append(record)
    return found


def fetch_previous(token: str, ctx: GitHubContext, artifact_prefix: str, models: Sequence[str], gateway: str, endpoint: str,
                   store_branch: str = "") -> Previous:
    previous = Previous("the last successful run of this workflow")
    wanted = list(dict.fromkeys(models))
    if not token or not ctx.repository or not ctx.run_id.isdigit():
        previous.notes.append("No earlier record could be looked up: " + ("no GitHub token." if not token else "not in a workflow run."))
        return previous
    try:
        client = make_client(token, ctx.api_url)
        repo = ctx.repository
        current = api_get(client, f"/repos/{repo}/actions/runs/{ctx.run_id}")
        listed = api_get(client, f"/repos/{repo}/actions/workflows/{current['workflow_id']}/runs", status="success", per_page="20")
        runs = [r for r in listed.get("workflow_runs", []) if isinstance(r, dict) and str(r.get("id")) != ctx.run_id][:MAX_RUNS]
        downloads = 0
        for run in runs:
            if all(m in previous.by_model for m in wanted) or downloads >= MAX_DOWNLOADS:
                break
            artifacts = api_get(client, f"/repos/{repo}/actions/runs/{run['id']}/artifacts", per_page="100").get("artifacts", [])
            ours = [a for a in artifacts if isinstance(a, dict) and str(a.get("name", "")).startswith(artifact_prefix) and not a.get("expired")
                    and int(a.get("size_in_bytes") or 0) <= MAX_ARTIFACT_BYTES]
            ours.sort(key=lambda a: str(a.get("created_at") or ""), reverse=True)  # a re-run's artifacts are the newer ones
            for artifact in ours:
                if downloads >= MAX_DOWNLOADS or all(m in previous.by_model for m in wanted):
                    break
                downloads += 1
                try:
                    records = records_in_zip(_download(client, token, str(artifact["archive_download_url"])))
                except (ValueError, zipfile.BadZipFile, requests.RequestException) as exc:
                    previous.notes.append(f"Artifact {md_cell(str(artifact.get('name')))} of run #{run.get('run_number')} could not be read: "
                                          f"{md_cell(type(exc).__name__ if isinstance(exc, requests.RequestException) else str(exc))}.")
                    continue
                page = f"{ctx.server_url}/{repo}/actions/runs/{run['id']}/artifacts/{artifact['id']}"
                for record in records:
                    model = str(record.get("candidate_model_id"))
                    if model in wanted and model not in previous.by_model and matches(record, model, gateway, endpoint):
                        source = f"run #{run.get('run_number')}, artifact {md_cell(str(artifact.get('name')))}"
                        previous.by_model[model] = PreviousRecord(record, source, page)
        if not runs:
            previous.notes.append("This workflow has no earlier successful run.")
    except Exception as exc:  # noqa: BLE001 - a comparison is a courtesy: never a failed gate
        previous.notes.append(md_cell(explain_failure(exc, "fetch the last successful run's records", PERMISSION, ctx.api_url)) + ".")
    missing = [m for m in wanted if m not in previous.by_model]
    if missing and store_branch:
        found, notes = latest_records(token, ctx, store_branch, missing, gateway, endpoint)
        previous.by_model.update(found)
        previous.notes += notes
    still = [m for m in wanted if m not in previous.by_model]
    if still:
        previous.notes.append("No earlier record of " + ", ".join(md_code(m) for m in still) + " on this gateway.")
    return previous
