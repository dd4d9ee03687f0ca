"""GitHubContext, mode resolution and action inputs, read from a fake environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from approval.common.errors import ConfigError
from approval.github.context import GitHubContext, resolve_mode
from approval.github.inputs import get_bool_input, get_input, input_env_names


def _env(tmp_path: Path, event_name: str, payload: Any = None, **extra: str) -> dict[str, str]:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_REPOSITORY": "acme/models",
        "GITHUB_RUN_ID": "42",
        "GITHUB_RUN_ATTEMPT": "1",
    }
    if payload is not None:
        event = tmp_path / "event.json"
        event.write_text(payload if isinstance(payload, str) else json.dumps(payload), encoding="utf-8")
        env["GITHUB_EVENT_PATH"] = str(event)
    env.update(extra)
    return env


def _pr(number: int, head: str | None, base: str = "acme/models") -> dict[str, Any]:
    return {
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"repo": {"full_name": head} if head else None},
            "base": {"repo": {"full_name": base}},
        },
    }


def test_pull_request_from_same_repository(tmp_path: Path) -> None:
    ctx = GitHubContext.from_env(_env(tmp_path, "pull_request", _pr(7, "acme/models")))
    assert ctx.pr_number == 7
    assert ctx.is_fork_pr is False
    assert ctx.in_actions is True
    assert ctx.server_url == "https://github.com"
    assert ctx.api_url == "https://api.github.com"
    assert ctx.run_url == "https://github.com/acme/models/actions/runs/42"


@pytest.mark.parametrize("head", ["someone/models", None])
def test_fork_pull_request_and_deleted_head_count_as_fork(tmp_path: Path, head: str | None) -> None:
    ctx = GitHubContext.from_env(_env(tmp_path, "pull_request_target", _pr(8, head)))
    assert ctx.pr_number == 8
    assert ctx.is_fork_pr is True


def test_issue_comment_on_a_pull_request_has_a_number(tmp_path: Path) -> None:
    on_pr = {"issue": {"number": 9, "pull_request": {"url": "x"}}}
    on_issue = {"issue": {"number": 10}}
    assert GitHubContext.from_env(_env(tmp_path, "issue_comment", on_pr)).pr_number == 9
    assert GitHubContext.from_env(_env(tmp_path, "issue_comment", on_issue)).pr_number is None


def test_workflow_run_reports_on_the_pull_request_of_the_run_it_follows(tmp_path: Path) -> None:
    base = {"repo": {"url": "https://api.github.com/repos/acme/models"}}
    elsewhere = {"repo": {"url": "https://api.github.com/repos/other/models"}}
    same_repo = {"repository": {"full_name": "acme/models"},
                 "workflow_run": {"event": "pull_request", "pull_requests": [{"number": 12, "base": elsewhere},
                                                                             {"number": 11, "base": base}]}}
    from_fork = {"repository": {"full_name": "acme/models"}, "workflow_run": {"event": "pull_request", "pull_requests": []}}
    ctx = GitHubContext.from_env(_env(tmp_path, "workflow_run", same_repo))
    assert ctx.pr_number == 11
    assert resolve_mode("auto", ctx) == "pull-request"
    assert GitHubContext.from_env(_env(tmp_path, "workflow_run", from_fork)).pr_number is None


def test_ghes_urls_come_from_the_environment(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        "push",
        GITHUB_SERVER_URL="https://ghe.example.com/",
        GITHUB_API_URL="https://ghe.example.com/api/v3/",
        GITHUB_RUN_ATTEMPT="3",
    )
    ctx = GitHubContext.from_env(env)
    assert ctx.api_url == "https://ghe.example.com/api/v3"
    assert ctx.run_url == "https://ghe.example.com/acme/models/actions/runs/42/attempts/3"


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", None])
def test_missing_or_invalid_event_file_is_tolerated(tmp_path: Path, payload: str | None) -> None:
    env = _env(tmp_path, "pull_request", payload)
    if payload is None:
        env["GITHUB_EVENT_PATH"] = str(tmp_path / "absent.json")
    ctx = GitHubContext.from_env(env)
    assert ctx.event == {}
    assert ctx.pr_number is None
    assert resolve_mode("auto", ctx) == "pull-request"  # the event name alone still says PR


def test_outside_actions() -> None:
    ctx = GitHubContext.from_env({})
    assert ctx.in_actions is False
    assert ctx.run_url == ""
    assert resolve_mode("auto", ctx) == "none"


@pytest.mark.parametrize(
    ("event", "requested", "expected"),
    [
        ("pull_request", "auto", "pull-request"),
        ("pull_request_target", "auto", "pull-request"),
        ("schedule", "auto", "schedule"),
        ("workflow_dispatch", "auto", "schedule"),
        ("push", "auto", "none"),
        ("push", "schedule", "schedule"),
        ("schedule", " Pull-Request ", "pull-request"),
    ],
)
def test_resolve_mode(tmp_path: Path, event: str, requested: str, expected: str) -> None:
    assert resolve_mode(requested, GitHubContext.from_env(_env(tmp_path, event))) == expected


def test_resolve_mode_rejects_unknown_value() -> None:
    with pytest.raises(ConfigError, match="`mode`"):
        resolve_mode("nightly", GitHubContext())


def test_input_names_keep_hyphens_and_turn_spaces_into_underscores() -> None:
    assert input_env_names("gateway-base-url") == ("INPUT_GATEWAY-BASE-URL", "INPUT_GATEWAY_BASE_URL")
    assert input_env_names("my input") == ("INPUT_MY_INPUT",)
    env = {"INPUT_GATEWAY-BASE-URL": "  http://127.0.0.1:4000  ", "INPUT_GATEWAY_BASE_URL": "ignored"}
    assert get_input(env, "gateway-base-url") == "http://127.0.0.1:4000"


def test_input_underscore_fallback_default_and_blank() -> None:
    assert get_input({"INPUT_CANDIDATE_MODEL_ID": "gpt-4o"}, "candidate-model-id") == "gpt-4o"
    assert get_input({}, "endpoint-family", "chat") == "chat"
    assert get_input({"INPUT_ENDPOINT-FAMILY": "   "}, "endpoint-family", "chat") == "chat"


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("YES", True), ("1", True), ("False", False), ("no", False), ("0", False)])
def test_bool_inputs(raw: str, expected: bool) -> None:
    assert get_bool_input({"INPUT_FAIL-ON-REJECT": raw}, "fail-on-reject", default=not expected) is expected


def test_bool_input_default_and_error_names_the_input() -> None:
    assert get_bool_input({}, "comment", default=True) is True
    with pytest.raises(ConfigError, match="`upload-artifact`"):
        get_bool_input({"INPUT_UPLOAD-ARTIFACT": "maybe"}, "upload-artifact")
