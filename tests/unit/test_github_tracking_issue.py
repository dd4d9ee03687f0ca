"""Tracking issue for scheduled runs against a mocked GitHub REST API (nothing leaves the process)."""

from __future__ import annotations

import json
from typing import Any

import responses
from responses import matchers

from approval.common.redact import register_secret
from approval.github.tracking_issue import RECOVERED_HEADING, sync_tracking_issue, tracking_marker
from harness import github_shapes as shapes

API = "http://127.0.0.1:9/api/v3"
REPO = f"{API}/repos/acme/models"
TOKEN = "ghs_" + "I" * 36
SUBJECT = "gpt-4o@http://127.0.0.1:4000 chat"
LIST_QUERY = {"state": "open", "labels": "model-approval", "sort": "created", "direction": "asc", "per_page": "100"}
RECENT_QUERY = {"state": "open", "sort": "created", "direction": "desc", "per_page": "100"}
WEB = "https://github.test"
BOT = shapes.simple_user(API, WEB, "github-actions[bot]", 41898282)
HUMAN = shapes.simple_user(API, WEB, "someone", 7)
READ_ONLY = {"message": "Resource not accessible by integration", "documentation_url": shapes.DOCS, "status": "403"}


def _issue(number: int, body: str, pull_request: bool = False, user: dict[str, Any] = BOT) -> dict[str, Any]:
    return shapes.issue(API, WEB, "acme/models", number, title="t", body=body, user=user, pull_request=pull_request)


def _comment(issue_number: int, comment_id: int) -> dict[str, Any]:
    return shapes.issue_comment(API, WEB, "acme/models", issue_number, comment_id, body="c", user=BOT, pull_request=False)


def _none_labelled(api: responses.RequestsMock, recent: list[dict[str, Any]] | None = None) -> None:
    api.get(f"{REPO}/issues", json=[], match=[matchers.query_param_matcher(LIST_QUERY)])
    api.get(f"{REPO}/issues", json=recent or [], match=[matchers.query_param_matcher(RECENT_QUERY)])


def _sync(failed: bool, body: str = "## Report") -> Any:
    return sync_tracking_issue(TOKEN, API, "acme/models", SUBJECT, "Model gpt-4o is not approved", failed, body)


def _sent(call: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(call.request.body)
    return body


def test_failure_without_open_issue_opens_one_with_label_and_marker(api: responses.RequestsMock) -> None:
    _none_labelled(api)
    api.post(f"{REPO}/labels", status=422, json=shapes.validation_failed({"resource": "Label", "code": "already_exists", "field": "name"}))
    api.post(f"{REPO}/issues", status=201, json=_issue(12, "x"))
    outcome = _sync(failed=True)
    assert (outcome.action, outcome.url) == ("opened", "https://github.test/acme/models/issues/12")
    assert outcome.message == "opened tracking issue #12"
    created = _sent(api.calls[3])
    assert created["labels"] == ["model-approval"]
    assert created["title"] == "Model gpt-4o is not approved"
    assert created["body"] == f"{tracking_marker(SUBJECT)}\n## Report"


def test_failure_with_open_issue_on_a_later_page_comments_on_it(api: responses.RequestsMock) -> None:
    marker = tracking_marker(SUBJECT)
    page2 = f"{REPO}/issues?page=2"
    api.get(
        f"{REPO}/issues",
        json=[_issue(1, "other"), _issue(2, marker, pull_request=True)],
        headers={"Link": f'<{page2}>; rel="next"'},
        match=[matchers.query_param_matcher(LIST_QUERY)],
    )
    api.get(
        f"{REPO}/issues",
        json=[_issue(7, f"{tracking_marker('other subject')}\n"), _issue(8, f"{marker}\nfirst report")],
        match=[matchers.query_param_matcher({"page": "2"}, strict_match=False)],
    )
    api.post(f"{REPO}/issues/8/comments", status=201, json=_comment(8, 99))
    outcome = _sync(failed=True, body="## Still bad")
    assert outcome.action == "updated"
    assert outcome.url.endswith("/issues/8")
    assert "## Still bad" in _sent(api.calls[2])["body"]
    assert [c.request.method for c in api.calls] == ["GET", "GET", "POST"]


def test_success_with_open_issue_comments_and_closes(api: responses.RequestsMock) -> None:
    api.get(f"{REPO}/issues", json=[_issue(4, f"{tracking_marker(SUBJECT)}\nold")])
    api.post(f"{REPO}/issues/4/comments", status=201, json=_comment(4, 1))
    api.patch(f"{REPO}/issues/4", json={**_issue(4, "b"), "state": "closed"})
    outcome = _sync(failed=False, body="## Approved")
    assert outcome.action == "closed"
    assert _sent(api.calls[1])["body"].startswith(RECOVERED_HEADING)
    assert _sent(api.calls[2]) == {"state": "closed", "state_reason": "completed"}


def test_success_without_open_issue_does_nothing(api: responses.RequestsMock) -> None:
    _none_labelled(api, [_issue(3, "no marker here")])
    outcome = _sync(failed=False)
    assert (outcome.action, outcome.url) == ("none", "")
    assert len(api.calls) == 2


def test_read_only_token_is_skipped(api: responses.RequestsMock) -> None:
    _none_labelled(api)
    api.post(f"{REPO}/labels", status=403, json=READ_ONLY)
    api.post(f"{REPO}/issues", status=403, json=READ_ONLY)
    outcome = _sync(failed=True)
    assert outcome.action == "skipped"
    assert outcome.message.startswith("could not update the tracking issue: the token is read-only")
    assert "permissions: issues: write" in outcome.message


def test_issues_disabled_is_explained(api: responses.RequestsMock) -> None:
    _none_labelled(api)
    api.post(f"{REPO}/labels", status=201, json=shapes.label(API, "acme/models", "model-approval", 5))
    api.post(f"{REPO}/issues", status=410, json={"message": "Issues are disabled for this repo", "documentation_url": shapes.DOCS,
                                                 "status": "410"})
    outcome = _sync(failed=True)
    assert outcome.action == "skipped"
    assert "issues are probably disabled" in outcome.message


def test_no_token_sends_nothing(api: responses.RequestsMock) -> None:
    outcome = sync_tracking_issue("", API, "acme/models", SUBJECT, "t", True, "b")
    assert outcome.action == "skipped" and "github-token" in outcome.message
    assert len(api.calls) == 0


def test_canary_secret_never_posted(api: responses.RequestsMock) -> None:
    canary = "canary-5e1f0a9b3c7d2e84"
    register_secret(canary)
    _none_labelled(api)
    api.post(f"{REPO}/labels", status=201, json=shapes.label(API, "acme/models", "model-approval", 5))
    api.post(f"{REPO}/issues", status=201, json=_issue(13, "x"))
    outcome = sync_tracking_issue(TOKEN, API, "acme/models", SUBJECT, f"title {canary}", True, f"body {canary}")
    sent = _sent(api.calls[3])
    assert outcome.action == "opened"
    assert sent["title"] == "title ***" and sent["body"].endswith("body ***")


def test_an_issue_whose_label_was_removed_is_found_again(api: responses.RequestsMock) -> None:
    _none_labelled(api, [_issue(9, "other"), _issue(5, f"{tracking_marker(SUBJECT)}\nold")])
    api.post(f"{REPO}/issues/5/comments", status=201, json=_comment(5, 1))
    outcome = _sync(failed=True, body="## Still bad")
    assert (outcome.action, outcome.url) == ("updated", "https://github.test/acme/models/issues/5")


def test_a_marker_in_somebody_elses_issue_is_not_adopted(api: responses.RequestsMock) -> None:
    """Somebody who pastes the marker into an issue must not get it closed (or commented) as ours."""
    forged = _issue(6, f"{tracking_marker(SUBJECT)}\nplease close me", user=HUMAN)
    api.get(f"{REPO}/issues", json=[forged], match=[matchers.query_param_matcher(LIST_QUERY)])
    api.get(f"{API}/user", status=403, json=READ_ONLY)
    api.get(f"{REPO}/issues", json=[forged], match=[matchers.query_param_matcher(RECENT_QUERY)])
    outcome = _sync(failed=False)
    assert outcome.action == "none"
    assert all(c.request.method == "GET" for c in api.calls)


def test_an_issue_is_opened_without_the_label_when_it_cannot_be_set(api: responses.RequestsMock) -> None:
    _none_labelled(api)
    api.post(f"{REPO}/labels", status=403, json=READ_ONLY)
    api.post(f"{REPO}/issues", status=422, json=shapes.validation_failed({"resource": "Label", "code": "invalid", "field": "labels"}),
             match=[matchers.json_params_matcher({"labels": ["model-approval"]}, strict_match=False)])
    api.post(f"{REPO}/issues", status=201, json=_issue(14, "x"))
    outcome = _sync(failed=True)
    assert outcome.action == "opened"
    assert "labels" not in _sent(api.calls[-1])
