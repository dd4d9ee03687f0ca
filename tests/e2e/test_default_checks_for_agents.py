"""The standard set judges the agent's conversation: with no `--checks`, the default agent profile (generic-tools)
runs tool-round-trip, streamed-tool-calls and agent-envelope, so the defects that break coding agents are not
approved, while their healthy twin is; `plain-chat` (an agent without tools) opts out in one flag. Through a real
LiteLLM translating to the protocol-faithful stub upstream (harness/stub_upstream.py), with the installed command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.commands import approve_at, statuses
from harness.peer_gateway import RunningLiteLLM, litellm_in_front_of
from harness.stub_upstream import StubUpstream

pytestmark = pytest.mark.e2e

CONVERSATION = ("tool-round-trip", "streamed-tool-calls", "agent-envelope")
# each defect: the check of the standard set that must refuse it, and how the agent would meet it
DEFECTS = {
    "refuse-turn-2": ("tool-round-trip", "the agent's second turn would be refused"),
    "drop-tool-results": ("tool-round-trip", "again forever"),
    "stream-duplicate-summary": ("streamed-tool-calls", ""),
    "stream-index-zero": ("streamed-tool-calls", ""),
    "text-tool-calls": ("agent-envelope", ""),
}
MODELS = ["stub-model", *(f"stub-model+{defect}" for defect in DEFECTS)]


@pytest.fixture(scope="module")
def gateway(stub: StubUpstream) -> Iterator[RunningLiteLLM]:
    with litellm_in_front_of(stub, MODELS) as running:
        yield running


def test_the_healthy_tool_using_model_is_approved_by_the_standard_set(gateway: RunningLiteLLM, tmp_path: Path) -> None:
    result, record = approve_at(gateway.base_url, tmp_path, "openai-stub-model", key=gateway.master_key or "")
    assert result.code == 0, result.all_text
    found = statuses(record)
    assert all(found[name] == ("pass", "none") for name in CONVERSATION), found
    assert record["agent_profile"]["name"] == "generic-tools"


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_an_agent_breaking_defect_is_not_approved_by_the_standard_set(gateway: RunningLiteLLM, tmp_path: Path, defect: str) -> None:
    check, words = DEFECTS[defect]
    result, record = approve_at(gateway.base_url, tmp_path, f"openai-stub-model+{defect}", key=gateway.master_key or "")
    found = statuses(record)
    assert result.code == 1, result.all_text
    assert found["happy-path"] == ("pass", "none"), "one turn of a toy request looks healthy"
    assert found[check] == ("fail", "gateway"), (check, found)
    detail = next(c["detail"] for c in record["checks"] if c["name"] == check)
    assert words in detail, detail


def test_an_agent_without_tools_opts_out_of_the_tool_checks(gateway: RunningLiteLLM, tmp_path: Path) -> None:
    result, record = approve_at(gateway.base_url, tmp_path, "openai-stub-model+refuse-turn-2", "--profile", "plain-chat",
                                key=gateway.master_key or "")
    assert result.code == 0, result.all_text  # the defect is in the tool loop, which this agent never enters
    found = statuses(record)
    assert "tool-round-trip" not in found and "streamed-tool-calls" not in found, found
    assert found["agent-envelope"][0] == "pass" and record["agent_profile"]["name"] == "plain-chat"
