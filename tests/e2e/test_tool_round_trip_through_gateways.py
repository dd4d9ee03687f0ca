"""tool-round-trip through real gateways in front of the protocol-faithful stub upstream (harness/stub_upstream.py):
LiteLLM's own translation (OpenAI chat, Anthropic Messages, its /v1/responses bridge) and Portkey's (openai and
anthropic providers with a custom host) is what the check judges, through the installed `approval` command. One
LiteLLM for the module; Portkey is the session's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from approval.engine.results import CheckResult, Status
from approval.engine.suite import run_suite
from approval.settings.profile import GENERIC_TOOLS, AgentProfile
from harness.commands import CliRun, approve_at, statuses
from harness.mocked_gateway import make_settings
from harness.peer_gateway import RunningLiteLLM, RunningPortkey, litellm_in_front_of
from harness.stub_upstream import StubUpstream

pytestmark = pytest.mark.e2e

MODELS = ["stub-model", "stub-model+refuse-turn-2", "stub-model+drop-tool-results", "stub-model+require-reasoning-roundtrip",
          "stub-model+empty-call-id"]
CHECKS = "happy-path,tool-round-trip"


@pytest.fixture(scope="module")
def gateway(stub: StubUpstream) -> Iterator[RunningLiteLLM]:
    with litellm_in_front_of(stub, MODELS) as running:
        yield running


def approve(gateway: RunningLiteLLM, tmp_path: Path, model: str, *extra: str) -> tuple[CliRun, dict[str, Any]]:
    result, record = approve_at(gateway.base_url, tmp_path, model, "--checks", CHECKS, *extra, key=gateway.master_key or "")
    assert record is not None, result.all_text
    return result, record


def round_trip(record: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in record["checks"] if c["name"] == "tool-round-trip")
    return found


@pytest.mark.parametrize("route", ["openai", "anthropic"])
def test_a_healthy_tool_loop_is_approved(gateway: RunningLiteLLM, stub: StubUpstream, tmp_path: Path, route: str) -> None:
    result, record = approve(gateway, tmp_path, f"{route}-stub-model")
    check = round_trip(record)
    assert result.code == 0 and (check["status"], check["category"]) == ("pass", "none"), check
    assert check["metrics"]["turn_2_ms"] is not None and check["metrics"]["tool_choice_required"] is False
    assert check["detail"].startswith("the agent's second turn: HTTP 200, text (the assistant turn replayed exactly as returned"), check


@pytest.mark.parametrize("route", ["openai", "anthropic"])
def test_the_second_turn_refused_is_not_approved(gateway: RunningLiteLLM, tmp_path: Path, route: str) -> None:
    result, record = approve(gateway, tmp_path, f"{route}-stub-model+refuse-turn-2")
    check = round_trip(record)
    assert result.code == 1 and (check["status"], check["category"]) == ("fail", "gateway"), check
    assert "the agent's second turn would be refused: HTTP 400" in check["detail"]
    assert statuses(record)["happy-path"][0] == "pass"  # one turn alone looks healthy


@pytest.mark.parametrize("route", ["openai", "anthropic"])
def test_dropped_tool_results_are_the_loop_signature(gateway: RunningLiteLLM, tmp_path: Path, route: str) -> None:
    result, record = approve(gateway, tmp_path, f"{route}-stub-model+drop-tool-results")
    check = round_trip(record)
    assert result.code == 1 and (check["status"], check["category"]) == ("fail", "gateway"), check
    assert "would call 'read_file' again forever" in check["detail"]


def test_an_empty_call_id_is_not_approved(gateway: RunningLiteLLM, tmp_path: Path) -> None:
    result, record = approve(gateway, tmp_path, "openai-stub-model+empty-call-id")
    check = round_trip(record)
    assert result.code == 1 and check["status"] == "fail" and "empty id" in check["detail"], check


@pytest.mark.parametrize("route", ["openai", "anthropic"])
def test_responses_round_trip_through_litellm(gateway: RunningLiteLLM, tmp_path: Path, route: str) -> None:
    """LiteLLM's /v1/responses: passed to an OpenAI upstream, or bridged to Anthropic Messages. The first turn streams
    (the default profile streams): its call_id and response id are read from the events."""
    # the bridge names the upstream's model ('stub-model') in its answers: declared as an alias
    config = tmp_path / "gateway.yaml"
    config.write_text(f"model_aliases: {{{route}-stub-model: [stub-model]}}\n", encoding="utf-8")
    result, record = approve(gateway, tmp_path, f"{route}-stub-model", "--endpoint", "responses", "--config", str(config))
    check = round_trip(record)
    assert result.code == 0 and check["status"] == "pass", check["detail"]
    assert check["metrics"]["turn_2_ms"] is not None


@pytest.mark.parametrize(("route", "field"), [("openai", "reasoning_content"), ("anthropic", "thinking_blocks")])
def test_reasoning_the_upstream_requires_back(gateway: RunningLiteLLM, tmp_path: Path, route: str, field: str) -> None:
    """Measured (LiteLLM 1.108.x): the exact replay carries the reasoning back (chat `reasoning_content`; for Anthropic
    LiteLLM turns its `thinking_blocks` back into signed thinking blocks), so the loop works; the same turn stripped is
    refused, and the refusal names what the agent must send back. With no reasoning fields in the profile that warns;
    `required:` makes it block."""
    result, record = approve(gateway, tmp_path, f"{route}-stub-model+require-reasoning-roundtrip")
    check = round_trip(record)
    assert result.code == 0 and (check["status"], check["category"]) == ("warn", "gateway"), check
    assert check["detail"].startswith(f"the agent must round-trip {field!r}: an agent that replays the assistant turn without it "
                                      f"would be refused (HTTP 400"), check["detail"]
    assert check["metrics"]["stripped_refused"] is True and check["metrics"]["turn_2_ms"] is not None

    config = tmp_path / "required.yaml"
    config.write_text("required: [tool-round-trip.stripped-replay]\n", encoding="utf-8")
    result, record = approve(gateway, tmp_path, f"{route}-stub-model+require-reasoning-roundtrip", "--config", str(config))
    assert result.code == 1 and round_trip(record)["status"] == "fail", round_trip(record)


def judged_in_process(gateway: RunningLiteLLM, model: str, profile: AgentProfile) -> CheckResult:
    """The suite in this process, for a profile the command line cannot name yet (the profile a run uses is set here)."""
    settings = make_settings({"GATEWAY_API_KEY": gateway.master_key or ""}, base_url=gateway.base_url, models=[model], checks=CHECKS,
                             endpoint="responses", timeout="60")
    settings = dataclasses.replace(settings, profile=profile, model_aliases={model: ("stub-model",)})
    found = run_suite(settings).candidates[0].check("tool-round-trip")
    assert found is not None
    return found


@pytest.mark.parametrize("route", ["openai", "anthropic"])
def test_a_chaining_agent_through_litellm_responses(gateway: RunningLiteLLM, stub: StubUpstream, route: str) -> None:
    """Measured: LiteLLM keeps previous_response_id on both routes (an OpenAI upstream gets the id; for Anthropic
    LiteLLM rebuilds the earlier turns itself), so a turn of only the tool output is answered as one after the call."""
    chaining = dataclasses.replace(GENERIC_TOOLS, endpoint="responses", previous_response_id=True, streams=False)
    check = judged_in_process(gateway, f"{route}-stub-model", chaining)
    assert check.status is Status.PASS and check.metrics["previous_response_id"] == "used", check.detail
    if route == "openai":  # passed through: the upstream continued its stored response
        assert any(r.body.get("previous_response_id") for r in stub.requests_to("/v1/responses"))


@pytest.mark.parametrize("route", ["openai", "anthropic"])
def test_stateless_encrypted_reasoning_replayed_three_times_through_litellm(gateway: RunningLiteLLM, stub: StubUpstream, route: str) -> None:
    stateless = dataclasses.replace(GENERIC_TOOLS, endpoint="responses", reasoning_fields=("encrypted_content",))
    check = judged_in_process(gateway, f"{route}-stub-model", stateless)
    assert check.status is Status.PASS and check.metrics["replays"] == 3, check.detail



def through_portkey(portkey: RunningPortkey, stub: StubUpstream, tmp_path: Path, provider: str, model: str) -> tuple[CliRun, dict[str, Any]]:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"headers: {{x-portkey-provider: {provider}, x-portkey-custom-host: '{stub.base_url}'}}\n"
                      f"max_completion_tokens: 1024\n", encoding="utf-8")  # Portkey sets no max_tokens for Anthropic itself
    result, record = approve_at(portkey.base_url, tmp_path, model, "--checks", CHECKS, "--config", str(config), key="sk-stub-upstream")
    assert record is not None, result.all_text
    return result, record


@pytest.mark.parametrize(("provider", "model", "code", "status", "lead"), [
    ("openai", "stub-model", 0, "pass", "the agent's second turn: HTTP 200, text"),
    ("openai", "stub-model+require-reasoning-roundtrip", 0, "warn", "the agent must round-trip 'reasoning_content'"),
    # Portkey 1.15.x sends each parallel result as a user message of its own: refused where the upstream holds to the
    # alternation rule (the stub does; today's Anthropic API joins such turns)
    ("anthropic", "stub-model", 1, "fail", "the agent's turn after two parallel calls' results would be refused: HTTP 400"),
    # its OpenAI-shaped answer keeps no thinking block, so even the exact replay cannot carry it back
    ("anthropic", "stub-model+require-reasoning-roundtrip", 1, "fail", "the agent's second turn would be refused: HTTP 400"),
])
def test_through_portkey(portkey: RunningPortkey, stub: StubUpstream, tmp_path: Path, provider: str, model: str, code: int,
                         status: str, lead: str) -> None:
    result, record = through_portkey(portkey, stub, tmp_path, provider, model)
    check = round_trip(record)
    assert (result.code, check["status"]) == (code, status), check
    assert check["detail"].startswith(lead), check["detail"]
