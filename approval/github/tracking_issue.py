"""The tracking issue for scheduled runs: one open issue per subject (model + endpoint), no pull request involved.

The issue is found again among the open issues carrying `label` by a hidden marker in its body (all pages are read;
the first created match wins). On failure a new issue is opened, or the open one gets the new report as a comment;
on success an open issue gets a "recovered" comment and is closed. An issue whose label was removed by hand is not
found again: the next failure opens a new one.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from approval.github.comment import fit_comment, hidden_marker
from approval.github.rest import explain_failure, make_client
from approval.redact import redact

if TYPE_CHECKING:
    from github.Repository import Repository

LABEL_COLOR = "d93f0b"
LABEL_DESCRIPTION = "Tracking issue opened by the model approval gate"
RECOVERED_HEADING = "✅ **Recovered** — the latest run approved this model again, so this issue is being closed."
STILL_FAILING_HEADING = "❌ **Still failing** — latest run:"


@dataclass(frozen=True)
class IssueOutcome:
    url: str
    action: Literal["opened", "updated", "closed", "none", "skipped"]
    message: str


def tracking_marker(subject_key: str) -> str:
    return hidden_marker("tracking-issue", subject_key)


def _ensure_label(repo: Repository, label: str) -> None:
    """Create the label; "already exists" (422) and any other failure are tolerated (the issue is still opened)."""
    from github.GithubException import GithubException

    with contextlib.suppress(GithubException):
        repo.create_label(label, LABEL_COLOR, LABEL_DESCRIPTION)


def sync_tracking_issue(
    token: str,
    api_url: str,
    repository: str,
    subject_key: str,
    title: str,
    failed: bool,
    body: str,
    label: str = "model-approval",
) -> IssueOutcome:
    """Open, update or close the subject's tracking issue. Never raises: failures come back as "skipped"."""
    doing = "update the tracking issue"
    if not token:
        return IssueOutcome("", "skipped", f"could not {doing}: no GitHub token — set the `github-token` input")
    if not repository:
        return IssueOutcome("", "skipped", f"could not {doing}: no repository (GITHUB_REPOSITORY is not set)")
    marker = tracking_marker(subject_key)
    try:
        repo = make_client(token, api_url).get_repo(repository)
        existing = None
        for issue in repo.get_issues(state="open", labels=[label], sort="created", direction="asc"):
            # Pull requests are issues too; tell them apart by their page (reading `pull_request`, absent from
            # plain issues, would make PyGithub fetch every issue again).
            if marker in (issue.body or "") and "/pull/" not in issue.html_url:
                existing = issue
                break
        if failed and existing is None:
            _ensure_label(repo, label)
            text = fit_comment(f"{marker}\n{redact(body)}")
            opened = repo.create_issue(title=redact(title), body=text, labels=[label])
            return IssueOutcome(opened.html_url, "opened", redact(f"opened tracking issue #{opened.number}"))
        if failed and existing is not None:
            existing.create_comment(fit_comment(f"{STILL_FAILING_HEADING}\n\n{redact(body)}"))
            return IssueOutcome(existing.html_url, "updated", redact(f"commented on tracking issue #{existing.number} (still failing)"))
        if existing is not None:
            existing.create_comment(fit_comment(f"{RECOVERED_HEADING}\n\n{redact(body)}"))
            existing.edit(state="closed", state_reason="completed")
            return IssueOutcome(existing.html_url, "closed", redact(f"closed tracking issue #{existing.number} (recovered)"))
        return IssueOutcome("", "none", "no open tracking issue; nothing to do")
    except Exception as exc:  # noqa: BLE001 - a publisher never breaks the verdict; it reports why
        return IssueOutcome("", "skipped", explain_failure(exc, doing, "issues: write", api_url))
