"""The sticky PR comment: one per (workflow, key), found again by a hidden marker and edited in place.

Only a comment written by this action's own identity is adopted: one by a bot (the workflow token writes as
`github-actions[bot]`, an app token as its app) or by the token's own user. A marker is plain text that anybody can
paste; a pull request's author who posts it first must not have the verdict appear under their name, editable by them.
When several of our comments carry the marker (a race between two runs), the first created one is edited: it keeps
the comment's place in the conversation and lets the search stop at the first match. A comment whose edit is refused
(another app's) is passed over; when none of ours is found, a new comment is created.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from approval.common.redact import redact
from approval.github.rest import Authorship, explain_failure, is_rate_limited, make_client

COMMENT_LIMIT = 65536  # GitHub's limit on an issue or comment body, in characters
MARKER_PREFIX = "<!-- model-approval-gate:"
TRUNCATED_NOTE = "\n\n---\n_This text was cut to fit GitHub's 65,536-character limit; the job summary and the approval record hold the full result._\n"
_MARKER_RE = re.compile(re.escape(MARKER_PREFIX) + r".*? -->")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$", re.MULTILINE)


def _open_fence(text: str) -> str | None:
    """The fence of the code block `text` ends inside, or None. A block is closed only by a fence of its own character
    at least as long (CommonMark): the report fences text holding back-ticks with longer fences."""
    open_fence: str | None = None
    for m in _FENCE_RE.finditer(text):
        fence, rest = m.group(1), m.group(2)
        if open_fence is None:
            if not (fence[0] == "`" and "`" in rest):  # a back-tick fence's info string holds no back-tick
                open_fence = fence
        elif fence[0] == open_fence[0] and len(fence) >= len(open_fence) and not rest.strip():
            open_fence = None
    return open_fence


def _marker_part(text: str) -> str:
    # Percent-encoding is injective and removes `>`, `:` (our separator), `=` and spaces; `--` cannot occur after.
    return quote(text.strip(), safe="/@+._~-").replace("--", "-%2D")


def hidden_marker(*parts: str) -> str:
    """`<!-- model-approval-gate:part:part -->`, safe inside an HTML comment and left intact by `redact()`."""
    marker = MARKER_PREFIX + ":".join(_marker_part(p) for p in parts) + " -->"
    if redact(marker) != marker:  # a part looks like a credential: use its digest so the marker stays findable
        digest = hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]
        marker = f"{MARKER_PREFIX}sha256-{digest} -->"
    return marker


def comment_marker(workflow: str, key: str) -> str:
    return hidden_marker(workflow, key)


def fit_comment(body: str, limit: int = COMMENT_LIMIT) -> str:
    """`body` cut to `limit` characters with a note; never inside a marker, and every marker survives."""
    if len(body) <= limit:
        return body
    spans = [m.span() for m in _MARKER_RE.finditer(body)]
    markers = list(dict.fromkeys(body[start:end] for start, end in spans))
    longest_fence = max((len(m.group(1)) for m in _FENCE_RE.finditer(body)), default=0)
    reserve = len(TRUNCATED_NOTE) + 1 + longest_fence + sum(len(m) + 1 for m in markers)
    if reserve >= limit:
        raise ValueError(f"limit {limit} leaves no room for the truncation note and markers")
    cut = limit - reserve
    for start, end in spans:
        if start < cut < end:
            cut = start
    newline = body.rfind("\n", 0, cut)
    if newline >= 0 and cut - newline <= 2000:
        cut = newline
    head = body[:cut]
    fence = _open_fence(head)
    if fence is not None:  # the cut is inside a code block: close it so the note renders as text
        head += "\n" + fence
    missing = [m for m in markers if m not in head]
    return head + TRUNCATED_NOTE + "".join(m + "\n" for m in missing)


@dataclass(frozen=True)
class CommentOutcome:
    url: str
    action: Literal["created", "updated", "skipped"]
    message: str


def upsert_sticky_comment(token: str, api_url: str, repository: str, pr_number: int | None, marker: str, body: str) -> CommentOutcome:
    """Edit the PR comment that carries `marker`, or create it. Never raises: failures come back as "skipped"."""
    doing = f"comment on PR #{pr_number}"
    if not token:
        return CommentOutcome("", "skipped", f"could not {doing}: no GitHub token — set the `github-token` input")
    if not repository or not pr_number:
        return CommentOutcome("", "skipped", "no pull request to comment on")
    text = redact(body if marker in body else f"{marker}\n{body}")
    text = fit_comment(text)
    try:
        # PyGithub (~400 ms to import) only where a GitHub call is made
        from github.GithubException import GithubException

        client = make_client(token, api_url)
        issue = client.get_repo(repository).get_issue(pr_number)
        ours = Authorship(client)
        for existing in issue.get_comments():
            if marker in (existing.body or "") and ours.wrote(existing):
                try:
                    existing.edit(text)
                except GithubException as exc:
                    if exc.status != 403 or is_rate_limited(exc):
                        raise
                    continue  # another app's comment: not ours to edit after all; look on, else post a new one
                return CommentOutcome(existing.html_url, "updated", redact(f"updated the comment on PR #{pr_number}"))
        created = issue.create_comment(text)
        return CommentOutcome(created.html_url, "created", redact(f"commented on PR #{pr_number}"))
    except Exception as exc:  # noqa: BLE001 - a publisher never breaks the verdict; it reports why
        return CommentOutcome("", "skipped", explain_failure(exc, doing, "pull-requests: write", api_url))
