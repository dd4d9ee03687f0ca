"""agent-envelope and context-window through a real LiteLLM translating to the stub upstream models
(harness/stub_upstream.py): the installed `approval` command for the default profile, and the suite in-process for
profiles the command line cannot name yet (a `developer` instruction role, the agent's parameters, a context window).
One LiteLLM for the module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from approval.engine.results import Category, CheckResult, Status
from approval.engine.suite import run_suite
from approval.settings.profile import GENERIC_TOOLS, AgentProfile
from harness.commands import approve_at, statuses
from harness.mocked_gateway import make_settings
from harness.peer_gateway import RunningLiteLLM, litellm_in_front_of
from harness.stub_upstream import StubUpstream

pytestmark = pytest.mark.e2e

WINDOW = 6000
MODELS = ["stub-model", "stub-model+drop-developer", "stub-model+text-tool-calls", "stub-model+refuse-param=parallel_tool_calls",
          "stub-model+refuse-param=reasoning_effort", f"stub-model+context={WINDOW // 2}+truncate-context", f"stub-model+context={WINDOW // 2}",
          f"stub-model+context={WINDOW}"]
DEVELOPER = replace(GENERIC_TOOLS, name="developer-agent", instruction_role="developer", tool_choice=("auto", "required"),
                    parameters={"stream_options": {"include_usage": True}, "max_completion_tokens": 2048, "temperature": 0,
                                "reasoning_effort": "medium"})
WINDOWED = replace(GENERIC_TOOLS, name="windowed-agent", context_tokens=WINDOW)


@pytest.fixture(scope="module")
def gw(stub: StubUpstream) -> Iterator[RunningLiteLLM]:
    with litellm_in_front_of(stub, MODELS) as running:
        yield running


def cli(gw: RunningLiteLLM, tmp_path: Path, model: str, checks: str) -> tuple[Any, dict[str, Any]]:
    result, record = approve_at(gw.base_url, tmp_path, f"openai-{model}", "--checks", checks, key=gw.master_key or "")
    assert record is not None, result.all_text
    return result, record


def check_of(record: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in record["checks"] if c["name"] == name)


def suite(gw: RunningLiteLLM, model: str, name: str, profile: AgentProfile, required: frozenset[str] = frozenset(),
          endpoint: str = "chat", model_prefix: str = "openai-") -> CheckResult:
    settings = make_settings({"GATEWAY_API_KEY": gw.master_key or ""}, base_url=gw.base_url, models=[f"{model_prefix}{model}"],
                             checks=f"happy-path,{name}", timeout=60, endpoint=endpoint)
    found = run_suite(replace(settings, profile=profile, required=required)).candidates[0].check(name)
    assert found is not None
    return found


# --------------------------------------------------------------------------------------------- the command line
def test_a_healthy_route_passes_the_envelope(gw: RunningLiteLLM, tmp_path: Path) -> None:
    result, record = cli(gw, tmp_path, "stub-model", "happy-path,agent-envelope,context-window")
    assert result.code == 0, result.all_text
    envelope = check_of(record, "agent-envelope")
    assert (envelope["status"], envelope["category"]) == ("pass", "none"), envelope
    assert "accepted parallel_tool_calls" in envelope["detail"] and "3 of 3 forced calls structured" in envelope["detail"]
    # the default profile gives no window: skipped, and said
    assert statuses(record)["context-window"] == ("skip", "none") and "no context_tokens" in check_of(record, "context-window")["detail"]


def test_tool_calls_returned_as_text_fail(gw: RunningLiteLLM, tmp_path: Path) -> None:
    result, record = cli(gw, tmp_path, "stub-model+text-tool-calls", "happy-path,agent-envelope")
    assert result.code == 1
    envelope = check_of(record, "agent-envelope")
    assert (envelope["status"], envelope["category"]) == ("fail", "gateway"), envelope
    assert "3 of 3 forced calls came back as call markup in the text" in envelope["detail"]


def test_a_parameter_the_route_refuses_fails_naming_it(gw: RunningLiteLLM, tmp_path: Path) -> None:
    result, record = cli(gw, tmp_path, "stub-model+refuse-param=parallel_tool_calls", "happy-path,agent-envelope")
    assert result.code == 1
    envelope = check_of(record, "agent-envelope")
    assert (envelope["status"], envelope["category"]) == ("fail", "gateway"), envelope
    assert "this route refuses parallel_tool_calls=True (HTTP 400 (the error names it)" in envelope["detail"]
    assert envelope["metrics"]["refused"] == "parallel_tool_calls"


# --------------------------------------------------------------------------------------------- profiles, in-process
def test_the_agents_parameters_through_litellm(gw: RunningLiteLLM, stub: StubUpstream) -> None:
    c = suite(gw, "stub-model", "agent-envelope", DEVELOPER)
    assert (c.status, c.category) == (Status.PASS, Category.NONE), c.detail
    assert "accepted stream_options, max_completion_tokens, temperature, reasoning_effort, parallel_tool_calls" in c.detail
    # measured (LiteLLM 1.108): the upstream's usage chunk of `choices: []` is passed on with one empty choice instead
    assert "choices: []" not in c.detail
    refused = suite(gw, "stub-model+refuse-param=reasoning_effort", "agent-envelope", DEVELOPER)
    assert (refused.status, refused.category) == (Status.FAIL, Category.GATEWAY), refused.detail
    assert "this route refuses reasoning_effort='medium'" in refused.detail and refused.metrics["refused"] == "reasoning_effort"


def test_litellm_refuses_fields_its_anthropic_translation_does_not_support(gw: RunningLiteLLM, stub: StubUpstream) -> None:
    """Measured (LiteLLM 1.108, `drop_params: false`): LiteLLM's own UnsupportedParamsError, before any call upstream."""
    profile = replace(DEVELOPER, parameters={"reasoning_effort": "medium", "presence_penalty": 0.1, "temperature": 0, "metadata": {"session": "s"}})
    c = suite(gw, "stub-model", "agent-envelope", profile, model_prefix="anthropic-")
    assert (c.status, c.category) == (Status.FAIL, Category.GATEWAY), c.detail
    assert c.metrics["refused"] == "reasoning_effort, presence_penalty"
    assert "this route refuses 2 fields the agent sends: reasoning_effort='medium', presence_penalty=0.1" in c.detail
    assert "UnsupportedParamsError" in c.detail


@pytest.mark.parametrize(("required", "status"), [(frozenset(), Status.WARN), (frozenset({"agent-envelope.developer-role"}), Status.FAIL)])
def test_a_dropped_developer_message_is_found_by_the_differential(gw: RunningLiteLLM, required: frozenset[str], status: Status) -> None:
    """LiteLLM's Responses API passes `developer` input items on to an OpenAI upstream as they are: the stub drops them."""
    c = suite(gw, "stub-model+drop-developer", "agent-envelope", replace(DEVELOPER, parameters={}), required, endpoint="responses")
    assert (c.status, c.category) == (status, Category.GATEWAY), c.detail
    assert "`developer` message looks silently dropped" in c.detail


def test_litellm_chat_turns_developer_into_system(gw: RunningLiteLLM, stub: StubUpstream) -> None:
    """Measured: on chat, LiteLLM sends a `developer` message to an OpenAI upstream as `system`, so an upstream that drops
    `developer` messages still follows the instruction: the differential passes, as the agent would succeed."""
    stub.clear_requests()
    c = suite(gw, "stub-model+drop-developer", "agent-envelope", replace(DEVELOPER, parameters={}))
    assert (c.status, c.category) == (Status.PASS, Category.NONE), c.detail
    assert "the `developer` instruction was followed (2 of 2)" in c.detail
    roles = {m.get("role") for r in stub.requests_to("/chat/completions") for m in (r.body or {}).get("messages", [])}
    assert "system" in roles and "developer" not in roles


def test_a_window_as_the_agent_assumes_passes(gw: RunningLiteLLM) -> None:
    c = suite(gw, f"stub-model+context={WINDOW}", "context-window", WINDOWED)
    assert (c.status, c.category) == (Status.PASS, Category.NONE), c.detail
    assert "report_status called" in c.detail and "over the window (~1.2×) a context-length error the agent can classify" in c.detail


def test_a_200_over_the_window_fails(gw: RunningLiteLLM) -> None:
    c = suite(gw, "stub-model", "context-window", WINDOWED)  # no window of its own: the over-window call is answered
    assert (c.status, c.category) == (Status.FAIL, Category.GATEWAY), c.detail
    assert "over the window (~1.2×) answered HTTP 200" in c.detail


def test_a_structured_context_error_passes(gw: RunningLiteLLM) -> None:
    c = suite(gw, f"stub-model+context={WINDOW // 2}", "context-window", WINDOWED)
    assert (c.status, c.category) == (Status.PASS, Category.NONE), c.detail
    assert "context-length error the agent can classify" in c.detail


def test_a_silently_truncated_front_fails(gw: RunningLiteLLM) -> None:
    c = suite(gw, f"stub-model+context={WINDOW // 2}+truncate-context", "context-window", WINDOWED)
    assert (c.status, c.category) == (Status.FAIL, Category.GATEWAY), c.detail
    assert "without the report_status call" in c.detail and "cut silently" in c.detail
