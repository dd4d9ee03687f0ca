"""Sticky PR comment against a mocked GitHub REST API (responses intercepts; nothing leaves the process)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import strategies as st

from approval.common.redact import redact, register_secret
from approval.github import rest
from approval.github.comment import (
    _MARKER_RE,
    COMMENT_LIMIT,
    TRUNCATED_NOTE,
    comment_marker,
    fit_comment,
    upsert_sticky_comment,
)
from harness import github_shapes as shapes

API = "http://127.0.0.1:9/api/v3"
COMMENTS = f"{API}/repos/acme/models/issues/3/comments"
TOKEN = "ghs_" + "T" * 36
CANARY = "canary-b81d0c2e94f7a635"


WEB = "https://github.test"
BOT = shapes.simple_user(API, WEB, "github-actions[bot]", 41898282)
HUMAN = shapes.simple_user(API, WEB, "pr-author", 7)
OTHER_APP = shapes.simple_user(API, WEB, "some-app[bot]", 9)


def _comment(cid: int, body: str, user: dict[str, Any] = BOT) -> dict[str, Any]:
    return shapes.issue_comment(API, WEB, "acme/models", 3, cid, body=body, user=user)


def _error(status: int, message: str) -> dict[str, str]:
    return {"message": message, "documentation_url": shapes.DOCS, "status": str(status)}


def _sent(call: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(call.request.body)
    return body


def test_marker_is_sanitised_and_injective() -> None:
    marker = comment_marker("CI --> <b>evil</b> -- x", "model:a>b")
    inner = marker[len("<!--") : -len("-->")]
    assert marker.startswith("<!-- model-approval-gate:") and marker.endswith(" -->")
    assert "--" not in inner and ">" not in inner and "\n" not in inner
    assert comment_marker("a:b", "c") != comment_marker("a", "b:c")
    assert comment_marker("wf", "gpt-4o") == "<!-- model-approval-gate:wf:gpt-4o -->"


def test_marker_survives_redaction_even_for_credential_like_names() -> None:
    marker = comment_marker("secret", "gpt-4o")
    assert redact(marker) == marker
    assert "sha256-" in marker


def test_fit_comment_keeps_short_bodies() -> None:
    assert fit_comment("short") == "short"


def test_fit_comment_truncates_with_note_and_keeps_markers() -> None:
    start, end = comment_marker("wf", "m1"), comment_marker("wf", "end")
    body = start + "\n" + "| a | b |\n" * 20_000 + end
    fitted = fit_comment(body)
    assert len(body) > COMMENT_LIMIT >= len(fitted)
    assert fitted.startswith(start + "\n")
    assert TRUNCATED_NOTE in fitted
    assert fitted.endswith(end + "\n")  # a marker beyond the cut is carried over whole


def test_fit_comment_closes_an_open_fence_with_its_own_kind() -> None:
    body = "intro\n~~~text\n" + "y\n" * 2000
    fitted = fit_comment(body, limit=1000)
    assert len(fitted) <= 1000
    assert fitted.count("~~~") == 2 and TRUNCATED_NOTE in fitted
    with pytest.raises(ValueError, match="no room"):
        fit_comment("x" * 500, limit=50)


@given(
    pieces=st.lists(st.tuples(st.sampled_from(["a", "b ", "c\n", "```\n"]), st.integers(0, 300)), min_size=1, max_size=6),
    keys=st.lists(st.sampled_from(["m1", "m2", "gpt-4o", "x:y"]), min_size=1, max_size=4),
    limit=st.integers(min_value=400, max_value=1500),
)
def test_fit_comment_never_cuts_a_marker(pieces: list[tuple[str, int]], keys: list[str], limit: int) -> None:
    markers = [comment_marker("wf", k) for k in keys]
    chunks = [text * count for text, count in pieces]
    body = "".join(chunk + marker for chunk, marker in zip(chunks, markers, strict=False)) + "".join(chunks)
    fitted = fit_comment(body, limit=limit)
    assert len(fitted) <= limit
    assert {m for m in markers if m in body} <= set(_MARKER_RE.findall(fitted))  # every marker kept, whole
    assert fitted.count("<!--") == len(_MARKER_RE.findall(fitted))  # and no broken half of one
    assert (fitted == body) == (len(body) <= limit)


def test_creates_when_no_comment_carries_the_marker(api: responses.RequestsMock) -> None:
    marker = comment_marker("wf", "gpt-4o")
    api.get(COMMENTS, json=[_comment(1, "unrelated"), _comment(2, "<!-- model-approval-gate:wf:other -->")])
    api.post(COMMENTS, json=_comment(5, "new"), status=201)
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, marker, "## Approved")
    assert (outcome.action, outcome.url) == ("created", "https://github.test/acme/models/pull/3#issuecomment-5")
    assert _sent(api.calls[1]) == {"body": f"{marker}\n## Approved"}
    assert api.calls[0].request.headers["Authorization"] == f"token {TOKEN}"


def test_edits_the_first_match_found_on_a_later_page(api: responses.RequestsMock) -> None:
    marker = comment_marker("wf", "gpt-4o")
    page2 = f"{COMMENTS}?page=2"
    api.get(
        COMMENTS,
        json=[_comment(i, "chatter") for i in range(1, 4)],
        headers={"Link": f'<{page2}>; rel="next", <{page2}>; rel="last"'},
        match=[responses.matchers.query_param_matcher({"per_page": "100"})],
    )
    api.get(
        COMMENTS,
        json=[_comment(10, f"{marker}\nold"), _comment(11, f"{marker}\nduplicate")],
        match=[responses.matchers.query_param_matcher({"page": "2"}, strict_match=False)],
    )
    api.patch(f"{API}/repos/acme/models/issues/comments/10", json=_comment(10, "new"))
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, marker, f"{marker}\n## Rejected")
    assert outcome.action == "updated"
    assert outcome.url.endswith("#issuecomment-10")
    assert [c.request.method for c in api.calls] == ["GET", "GET", "PATCH"]
    assert _sent(api.calls[2]) == {"body": f"{marker}\n## Rejected"}


def test_read_only_token_is_skipped_with_a_clear_message(api: responses.RequestsMock) -> None:
    api.get(COMMENTS, json=[])
    api.post(COMMENTS, status=403, json={"message": "Resource not accessible by integration"})
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, comment_marker("wf", "m"), "body")
    assert outcome.action == "skipped" and outcome.url == ""
    assert outcome.message.startswith("could not comment on PR #3: the token is read-only")
    assert "Resource not accessible by integration" in outcome.message
    assert "permissions: pull-requests: write" in outcome.message
    assert "\n" not in outcome.message


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, "the token was rejected"), (404, "not found"), (502, "server error"), (422, "refused")],
)
def test_other_api_errors_are_skipped(api: responses.RequestsMock, status: int, expected: str) -> None:
    api.get(COMMENTS, json=[])
    api.post(COMMENTS, status=status, json=_error(status, "nope"))
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, comment_marker("wf", "m"), "body")
    assert outcome.action == "skipped"
    assert expected in outcome.message


def test_network_error_is_skipped(api: responses.RequestsMock) -> None:
    api.get(COMMENTS, body=requests.ConnectionError("refused"))
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, comment_marker("wf", "m"), "body")
    assert outcome.action == "skipped"
    assert f"could not reach the GitHub API at {API}" in outcome.message


def test_body_is_cut_to_the_limit(api: responses.RequestsMock) -> None:
    marker = comment_marker("wf", "m")
    api.get(COMMENTS, json=[])
    api.post(COMMENTS, json=_comment(6, "x"), status=201)
    upsert_sticky_comment(TOKEN, API, "acme/models", 3, marker, "row\n" * 30_000)
    posted = _sent(api.calls[1])["body"]
    assert len(posted) <= COMMENT_LIMIT
    assert posted.startswith(marker) and TRUNCATED_NOTE in posted


def test_nothing_is_sent_without_token_or_pr(api: responses.RequestsMock) -> None:
    no_token = upsert_sticky_comment("", API, "acme/models", 3, comment_marker("wf", "m"), "b")
    no_pr = upsert_sticky_comment(TOKEN, API, "acme/models", None, comment_marker("wf", "m"), "b")
    assert (no_token.action, no_pr.action) == ("skipped", "skipped")
    assert "github-token" in no_token.message
    assert len(api.calls) == 0


def test_canary_secret_never_posted(api: responses.RequestsMock) -> None:
    register_secret(CANARY)
    api.get(COMMENTS, json=[])
    api.post(COMMENTS, status=403, json={"message": f"echoing {CANARY} and {TOKEN}"})
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, comment_marker("wf", "m"), f"key {CANARY}")
    posted = _sent(api.calls[1])["body"]
    assert posted.endswith("key ***") and CANARY not in posted
    assert CANARY not in outcome.message and TOKEN not in outcome.message


def test_reads_are_retried_a_bounded_number_of_times_and_writes_never(api: responses.RequestsMock) -> None:
    api.get(COMMENTS, status=502, json={"message": "bad gateway"})
    api.get(COMMENTS, json=[])
    api.post(COMMENTS, status=502, json={"message": "bad gateway"})
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, comment_marker("wf", "m"), "body")
    assert [c.request.method for c in api.calls] == ["GET", "GET", "POST"]
    assert outcome.action == "skipped" and "server error (502" in outcome.message


def test_read_retries_stop(api: responses.RequestsMock) -> None:
    api.get(COMMENTS, status=503, json={"message": "unavailable"})
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, comment_marker("wf", "m"), "body")
    assert len(api.calls) == 3  # the first try and two retries
    assert outcome.action == "skipped" and "server error (503" in outcome.message


def test_a_marker_in_somebody_elses_comment_is_not_adopted(api: responses.RequestsMock) -> None:
    """A PR author who pastes the marker first must not get the verdict under their name (editable by them)."""
    marker = comment_marker("wf", "gpt-4o")
    api.get(COMMENTS, json=[_comment(1, f"{marker}\n## ✅ approved (forged)", HUMAN)])
    api.get(f"{API}/user", status=403, json={"message": "Resource not accessible by integration"})
    api.post(COMMENTS, json=_comment(5, "new"), status=201)
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, marker, "## Rejected")
    assert outcome.action == "created"
    assert [c.request.method for c in api.calls] == ["GET", "GET", "POST"]
    assert not any(c.request.method == "PATCH" for c in api.calls)


def test_a_personal_token_adopts_its_own_users_comment(api: responses.RequestsMock) -> None:
    marker = comment_marker("wf", "gpt-4o")
    api.get(COMMENTS, json=[_comment(1, f"{marker}\nold", HUMAN)])
    api.get(f"{API}/user", json=shapes.public_user(API, WEB, "pr-author", 7))
    api.patch(f"{API}/repos/acme/models/issues/comments/1", json=_comment(1, "new", HUMAN))
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, marker, "## Approved")
    assert outcome.action == "updated"


def test_our_comment_is_found_after_another_apps_comment_that_cannot_be_edited(api: responses.RequestsMock) -> None:
    marker = comment_marker("wf", "gpt-4o")
    other_app = OTHER_APP
    api.get(COMMENTS, json=[_comment(1, f"{marker}\nold", other_app), _comment(2, f"{marker}\nours")])
    api.patch(f"{API}/repos/acme/models/issues/comments/1", status=403, json={"message": "Forbidden"})
    api.patch(f"{API}/repos/acme/models/issues/comments/2", json=_comment(2, "new"))
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, marker, "## Approved")
    assert outcome.action == "updated" and outcome.url.endswith("#issuecomment-2")
    assert not any(c.request.method == "POST" for c in api.calls)


def test_a_comment_that_cannot_be_edited_is_replaced_by_a_new_one(api: responses.RequestsMock) -> None:
    marker = comment_marker("wf", "gpt-4o")
    other_app = OTHER_APP
    api.get(COMMENTS, json=[_comment(1, f"{marker}\nold", other_app)])
    api.patch(f"{API}/repos/acme/models/issues/comments/1", status=403, json={"message": "Forbidden"})
    api.post(COMMENTS, json=_comment(5, "new"), status=201)
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, marker, "## Approved")
    assert outcome.action == "created"
    assert outcome.url.endswith("#issuecomment-5")


def test_a_rate_limited_write_is_retried_once_github_allows(api: responses.RequestsMock) -> None:
    """A secondary rate limit (403 with Retry-After) rejects the request without applying it: retrying cannot post twice."""
    api.get(COMMENTS, json=[])
    api.post(COMMENTS, status=403, json={"message": "You have exceeded a secondary rate limit"}, headers={"Retry-After": "1"})
    api.post(COMMENTS, json=_comment(5, "new"), status=201)
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, comment_marker("wf", "m"), "body")
    assert outcome.action == "created"
    assert [c.request.method for c in api.calls] == ["GET", "POST", "POST"]


def test_a_rate_limit_asking_for_a_long_wait_is_reported_not_retried_early(api: responses.RequestsMock) -> None:
    api.get(COMMENTS, json=[])
    api.post(COMMENTS, status=403, json={"message": "You have exceeded a secondary rate limit"}, headers={"Retry-After": "3600"})
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, comment_marker("wf", "m"), "body")
    assert [c.request.method for c in api.calls] == ["GET", "POST"]
    assert outcome.action == "skipped" and "rate limit" in outcome.message


def test_which_refusals_are_retried() -> None:
    retry_policy = rest._retry_class()(total=2)
    assert retry_policy.is_retry("POST", 429, has_retry_after=True)
    assert retry_policy.is_retry("PATCH", 403, has_retry_after=True)
    assert not retry_policy.is_retry("POST", 403, has_retry_after=False)  # a plain 403 (read-only token) is final


def test_a_rate_limit_that_outlasts_the_retries_is_named_as_such(api: responses.RequestsMock) -> None:
    api.get(COMMENTS, json=[])
    for _ in range(3):
        api.post(COMMENTS, status=403, json={"message": "You have exceeded a secondary rate limit"}, headers={"Retry-After": "1"})
    outcome = upsert_sticky_comment(TOKEN, API, "acme/models", 3, comment_marker("wf", "m"), "body")
    assert outcome.action == "skipped"
    assert "rate limit" in outcome.message and "read-only" not in outcome.message


@given(lines=st.lists(st.sampled_from(["x", "```", "````", "```text", "~~~", "  ```", "``` `y`", "`````"]), max_size=8),
       limit=st.integers(min_value=400, max_value=900))
def test_fit_comment_closes_a_code_block_whatever_fences_it_holds(lines: list[str], limit: int) -> None:
    from markdown_it import MarkdownIt

    from approval.common.markdown import fenced

    body = "\n".join(["intro", *fenced([*lines, *(["y" * 30] * 60)]), "after"])
    fitted = fit_comment(body, limit=limit)
    assert len(fitted) <= limit
    tokens = MarkdownIt("commonmark").parse(fitted)
    assert [t.type for t in tokens][-3:] == ["paragraph_open", "inline", "paragraph_close"]  # the note renders as text
    assert "cut to fit" in tokens[-2].content
