"""The gate's verdict predicts what a real coding agent experiences (harness/agreement.py), a subset of the matrix that
`bash bench/agents` runs in full: every agent (Codex CLI, OpenCode, Qwen Code, the openai Agents SDK, Aider) on the
healthy model and on a route that refuses the turn after a tool result, each through LiteLLM in front of the stub
upstream, and the gate with that agent's built-in profile against the same gateway and model. The healthy cell and
the breaking one agree for every agent (Aider calls no tool, so that route does not break it and its profile approves
it), and no cell is a false approval: the gate never approves a model the agent then breaks on.

Marked ``agents`` like tests/e2e/test_real_agents.py (about a minute and a half; the agents installed first when missing).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.agents import AGENTS, need_agents, stub_gateway
from harness.agreement import ONE_CALL, PROFILES, GateRun, Row, Verdict, run_cell, run_gate, stub_model
from harness.peer_gateway import REPO_ROOT
from harness.stub_upstream import StubUpstream

pytestmark = [pytest.mark.e2e, pytest.mark.agents]

BREAKING = "refuse-turn-2"
REASONING = "require-reasoning-roundtrip"  # the model refuses the turn after a tool call without its reasoning_content
STREAM_OPTIONS = "refuse-param=stream_options"  # a route that refuses stream_options (LiteLLM adds it to every stream)


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[StubUpstream, str, str]]:
    need_agents()
    with stub_gateway([stub_model(""), stub_model(BREAKING), stub_model(REASONING), stub_model(STREAM_OPTIONS)]) as running:
        yield running
        assert running[0].handler_errors == []


def cell(gateway: tuple[StubUpstream, str, str], agent: str, defect: str) -> Row:
    stub, base_url, key = gateway
    gate_runs: dict[tuple[str, str], GateRun] = {}
    return run_cell(agent, defect, ONE_CALL, stub=stub, base_url=base_url, api_key=key, gate_runs=gate_runs)


def explain(row: Row) -> str:
    return (f"{row.agent} on {stub_model(row.defect)}: agent {'completed' if row.completed else f'broke ({row.reason})'} in "
            f"{row.agent_seconds} s, gate ({PROFILES[row.agent]}) {row.gate} (exit {row.gate_exit}) in {row.gate_seconds} s; "
            f"failing: {dict(row.gate_details)}")


@pytest.mark.parametrize("agent", list(PROFILES))
def test_the_gate_approves_the_healthy_model_the_agent_completes_its_task_on(gateway: tuple[StubUpstream, str, str],
                                                                           agent: str) -> None:
    row = cell(gateway, agent, "")
    assert row.completed and row.gate is Verdict.APPROVED, explain(row)


@pytest.mark.parametrize("agent", list(PROFILES))
def test_the_gate_refuses_the_route_an_agent_breaks_on_and_never_approves_one_it_breaks_on(gateway: tuple[StubUpstream, str, str],
                                                                                         agent: str) -> None:
    row = cell(gateway, agent, BREAKING)
    assert not row.false_approval, explain(row)
    assert row.agrees, explain(row)
    if AGENTS[agent].tools:
        assert not row.completed and row.gate is Verdict.NOT_APPROVED, explain(row)
        assert any(f.startswith("tool-round-trip:") for f in row.failed_checks), explain(row)
    else:  # Aider never sends a tool result: the refused turn is one it never takes
        assert row.completed and row.gate is Verdict.APPROVED, explain(row)


def test_an_agent_that_drops_the_models_reasoning_is_not_approved_for_a_model_that_requires_it_back(
        gateway: tuple[StubUpstream, str, str]) -> None:
    """Found by the matrix: the openai Agents SDK replays reasoning_content only to a model named like DeepSeek, so it
    broke on this model while the gate (no reasoning fields declared: a warning) approved it. Its profile now says it
    drops reasoning (`drops_reasoning: true`), and tool-round-trip fails instead."""
    row = cell(gateway, "openai-agents", REASONING)
    assert not row.completed and row.reason == "api-error", explain(row)
    assert row.gate is Verdict.NOT_APPROVED and "tool-round-trip:gateway" in row.failed_checks, explain(row)
    assert "does not send it back" in row.gate_details["tool-round-trip"], explain(row)


def test_the_gate_presents_the_agents_product_as_gateways_branch_on_it(gateway: tuple[StubUpstream, str, str],
                                                                       tmp_path: Path) -> None:
    """Found by the matrix: LiteLLM drops the parameters a provider does not support for a client whose User-Agent
    names Codex (or Claude Code), so Codex, which sends prompt_cache_key, completes through LiteLLM's Anthropic route
    while a request without Codex's product token is refused naming it. The codex-cli profile carries the product token
    its capture saw (`user_agent`) and the gate's requests present it: the verdict is the one Codex meets."""
    stub, base_url, key = gateway
    row = run_cell("codex", "", ONE_CALL, stub=stub, base_url=base_url, api_key=key, gate_runs={}, route="anthropic")
    assert row.completed and row.gate is Verdict.APPROVED, explain(row)

    anonymous = yaml.safe_load((REPO_ROOT / "approval" / "profiles" / "codex-cli.yaml").read_text(encoding="utf-8"))
    assert str(anonymous.pop("user_agent")).startswith("codex")
    path = tmp_path / "codex-cli-anonymous.yaml"
    path.write_text(yaml.safe_dump(anonymous, sort_keys=False), encoding="utf-8")
    gate = run_gate(base_url, key, "anthropic-stub-model", str(path), upstream="stub-model")
    assert gate.verdict is Verdict.NOT_APPROVED and gate.failed == ("agent-envelope:gateway",), gate
    assert "prompt_cache_key" in gate.details["agent-envelope"], gate.details


def test_an_agent_that_streams_text_is_not_approved_for_a_route_that_breaks_its_streams(gateway: tuple[StubUpstream, str, str]) -> None:
    """Found by the matrix: Aider streams its answers and sends no tools, so no tool check streamed for it, and the
    gate approved a route whose streamed answers are refused (LiteLLM adds stream_options to every streamed request
    it forwards; the upstream refuses it) while Aider got no answer. A profile that streams without tools now runs
    `streaming` in its standard set."""
    row = cell(gateway, "aider", STREAM_OPTIONS)
    assert not row.completed and row.gate is Verdict.NOT_APPROVED, explain(row)
    assert "streaming:model" in row.failed_checks or "streaming:gateway" in row.failed_checks, explain(row)
