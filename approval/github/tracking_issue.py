"""The tracking issue for scheduled runs: one open issue per subject (model + endpoint), no pull request involved.

The issue is found again by a hidden marker in its body, written by this action's own identity (see
`rest.Authorship`): first among the open issues carrying `label` (all pages; the first created match wins), then,
should the label have been removed by hand or dropped by GitHub, among the most recently created open issues
(`UNLABELLED_SCAN` of them). On failure a new issue is opened (without the label if it cannot be set), or the open
one gets the new report as a comment; on success an open issue gets a "recovered" comment and is closed.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from approval.common.redact import redact
from approval.github.comment import fit_comment, hidden_marker
from approval.github.rest import Authorship, explain_failure, make_client

if TYPE_CHECKING:
    from github.Issue import Issue
    from github.Repository import Repository

LABEL_COLOR = "d93f0b"
LABEL_DESCRIPTION = "Tracking issue opened by the model approval gate"
RECOVERED_HEADING = "✅ **Recovered** — the latest run approved this model again, so this issue is being closed."
STILL_FAILING_HEADING = "❌ **Still failing** — latest run:"
UNLABELLED_SCAN = 300  # recent open issues searched when no labelled one matches (three pages)


@dataclass(frozen=True)
class IssueOutcome:
    url: str
    action: Literal["opened", "updated", "closed", "none", "skipped"]
    message: str


def tracking_marker(subject_key: str) -> str:
    return hidden_marker("tracking-issue", subject_key)


def _ensure_label(repo: Repository, label: str) -> None:
    """Create the label; "already exists" (422) and any other failure are tolerated (the issue is still opened)."""
    # PyGithub (~400 ms to import) only where a GitHub call is made
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
        # PyGithub (~400 ms to import) only where a GitHub call is made
        from github.GithubException import GithubException

        client = make_client(token, api_url)
        repo = client.get_repo(repository)
        ours = Authorship(client)

        def matches(issue: Issue) -> bool:
            # Pull requests are issues too; tell them apart by their page (reading `pull_request`, absent from
            # plain issues, would make PyGithub fetch every issue again).
            return marker in (issue.body or "") and "/pull/" not in issue.html_url and ours.wrote(issue)

        existing = next((i for i in repo.get_issues(state="open", labels=[label], sort="created", direction="asc") if matches(i)), None)
        if existing is None:
            recent = repo.get_issues(state="open", sort="created", direction="desc")
            existing = next((i for i in itertools.islice(recent, UNLABELLED_SCAN) if matches(i)), None)
        if failed and existing is None:
            _ensure_label(repo, label)
            text = fit_comment(f"{marker}\n{redact(body)}")
            try:
                opened = repo.create_issue(title=redact(title), body=text, labels=[label])
            except GithubException as exc:  # e.g. the label cannot be set with this token: open it without
                if exc.status not in (403, 422):
                    raise
                opened = repo.create_issue(title=redact(title), body=text)
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
