"""The GitHub Actions run this process is part of, read once from the environment.

Only the publishers look at this; nothing below `Settings` does. GHES works because the server and API URLs
always come from `GITHUB_SERVER_URL` / `GITHUB_API_URL`; the github.com values are only the defaults.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from approval.common.errors import ConfigError
from approval.common.userfile import decode_utf8, read_bounded

DEFAULT_SERVER_URL = "https://github.com"
DEFAULT_API_URL = "https://api.github.com"

RequestedMode = Literal["auto", "pull-request", "schedule"]
Mode = Literal["pull-request", "schedule", "none"]

_PR_EVENTS = frozenset({"pull_request", "pull_request_target"})
_SCHEDULE_EVENTS = frozenset({"schedule", "workflow_dispatch"})
MAX_EVENT_BYTES = 25 * 1024 * 1024  # a pull request's event payload is tens of kB; GitHub caps webhook payloads at 25 MB


def _read_event(path: str) -> dict[str, Any]:
    """The event payload, or {} when the file is absent, unreadable or not a JSON object."""
    if not path:
        return {}

    try:
        data = json.loads(decode_utf8(read_bounded(path, "event", MAX_EVENT_BYTES, "", ""), "event", path))
    except (ConfigError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _pr_number(event_name: str, event: dict[str, Any]) -> int | None:
    if event_name in _PR_EVENTS:
        number = _dig(event, "pull_request", "number")
        if number is None:
            number = event.get("number")
    elif event_name == "issue_comment" and _dig(event, "issue", "pull_request") is not None:
        number = _dig(event, "issue", "number")
    elif event_name == "workflow_run":  # a workflow that follows another's run reports on that run's PR
        # GitHub lists only pull requests into this repository here (none for a fork's): check the base anyway
        repo = _dig(event, "repository", "full_name")
        pulls = _dig(event, "workflow_run", "pull_requests")
        ours = [p for p in pulls if isinstance(p, dict) and str(_dig(p, "base", "repo", "url") or "").endswith(f"/repos/{repo}")] \
            if isinstance(pulls, list) and isinstance(repo, str) else []
        number = _dig(ours[0], "number") if ours else None
    else:
        return None
    return number if isinstance(number, int) and not isinstance(number, bool) and number > 0 else None


def _is_fork_pr(event_name: str, event: dict[str, Any]) -> bool:
    """A PR whose head repository differs from its base. A deleted head repository counts as a fork.

    `issue_comment` payloads carry no head/base, and such runs get the base repository's token anyway: False.
    """
    if event_name not in _PR_EVENTS or not isinstance(event.get("pull_request"), dict):
        return False
    base = _dig(event, "pull_request", "base", "repo", "full_name")
    head = _dig(event, "pull_request", "head", "repo", "full_name")
    return head is None or head != base


_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def checked_out_commit(path: Path) -> str | None:
    """The commit of the git checkout that holds `path` (the nearest `.git` above it; `HEAD`, following one ref
    through loose or packed refs), read from the files: the action's container has no git. None when it cannot be
    told."""
    start = path.resolve()
    git = next((d / ".git" for d in (start, *start.parents) if (d / ".git").exists()), None)
    if git is None:
        return None
    try:
        if git.is_file():  # a worktree or submodule: `gitdir: <path>`
            pointer = git.read_text(encoding="utf-8").strip()
            if not pointer.startswith("gitdir: "):
                return None
            git = (git.parent / pointer[8:].strip()).resolve()
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if _SHA.match(head):
            return head
        if not head.startswith("ref: "):
            return None
        ref = head[5:].strip()
        loose = git / ref
        if loose.is_file():
            value = loose.read_text(encoding="utf-8").strip()
            return value if _SHA.match(value) else None
        for line in (git / "packed-refs").read_text(encoding="utf-8").splitlines():
            sha, _, name = line.partition(" ")
            if name.strip() == ref and _SHA.match(sha):
                return sha
    except (OSError, UnicodeDecodeError):
        return None
    return None


@dataclass(frozen=True)
class GitHubContext:
    event_name: str = ""
    event: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)
    repository: str = ""
    sha: str = ""
    ref: str = ""
    run_id: str = ""
    run_attempt: str = ""
    workflow: str = ""
    job: str = ""
    actor: str = ""
    server_url: str = DEFAULT_SERVER_URL
    api_url: str = DEFAULT_API_URL
    pr_number: int | None = None
    is_fork_pr: bool = False
    in_actions: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GitHubContext:
        def get(name: str, default: str = "") -> str:
            return environ.get(name, "").strip() or default

        event_name = get("GITHUB_EVENT_NAME")
        event = _read_event(get("GITHUB_EVENT_PATH"))
        return cls(
            event_name=event_name,
            event=event,
            repository=get("GITHUB_REPOSITORY"),
            sha=get("GITHUB_SHA"),
            ref=get("GITHUB_REF"),
            run_id=get("GITHUB_RUN_ID"),
            run_attempt=get("GITHUB_RUN_ATTEMPT"),
            workflow=get("GITHUB_WORKFLOW"),
            job=get("GITHUB_JOB"),
            actor=get("GITHUB_ACTOR"),
            server_url=get("GITHUB_SERVER_URL", DEFAULT_SERVER_URL).rstrip("/"),
            api_url=get("GITHUB_API_URL", DEFAULT_API_URL).rstrip("/"),
            pr_number=_pr_number(event_name, event),
            is_fork_pr=_is_fork_pr(event_name, event),
            in_actions=environ.get("GITHUB_ACTIONS", "") == "true",
        )

    @property
    def run_url(self) -> str:
        """Link to this run (to the attempt when it is a re-run), or "" outside a run."""
        if not (self.repository and self.run_id):
            return ""
        url = f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"
        if self.run_attempt not in ("", "1"):
            url += f"/attempts/{self.run_attempt}"
        return url


def resolve_mode(requested: str, ctx: GitHubContext) -> Mode:
    """What to publish. `auto`: PR events → pull-request; schedule / workflow_dispatch → schedule; else none."""
    value = requested.strip().lower()
    if value == "pull-request":
        return "pull-request"
    if value == "schedule":
        return "schedule"
    if value != "auto":
        raise ConfigError(
            f"input `mode` must be auto, pull-request or schedule, got {requested!r}",
            "use `mode: auto` unless you need to force one behaviour",
        )
    if ctx.event_name in _PR_EVENTS or ctx.pr_number is not None:
        return "pull-request"
    if ctx.event_name in _SCHEDULE_EVENTS:
        return "schedule"
    return "none"
