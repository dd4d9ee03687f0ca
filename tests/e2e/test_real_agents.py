"""Real coding agents (harness/agents.py: Codex CLI, OpenCode, Qwen Code, an openai Agents SDK agent, Aider), pinned,
run offline against LiteLLM in front of the stub upstream model, each once per route: the ground truth the gate's
verdict must predict. A healthy route (LiteLLM's openai provider, or its translation to Anthropic Messages; Codex's
Responses requests through LiteLLM's Responses bridge there) lets every agent complete the task (its file tool really ran and the file's
secret came back, exit 0; Aider, which edits through text and calls no tool, sends the file in its prompt and prints the
model's answer quoting it); a route that refuses the turn after a tool result, or drops tool results, breaks every
tool-using one.

The streamed-call defects are measured, not a contract of the gate: which of them breaks an agent depends on its
client library, and what was measured here (the pins of requirements/agents/) is asserted, so a release of an agent
that changes it shows up.

Marked ``agents`` (about a minute in all, the agents installed): ``-m "not agents"`` keeps them out of a fast loop;
``scripts/test`` runs them. A missing agent is installed first (as scripts/bootstrap does).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.agents import AGENTS, PARALLEL_TASK, TASK, Outcome, Reason, need_agents, run_agent, stub_gateway
from harness.stub_upstream import StubUpstream

pytestmark = [pytest.mark.e2e, pytest.mark.agents]

BREAKING = ["refuse-turn-2", "drop-tool-results"]
TOOL_AGENTS = [name for name, agent in AGENTS.items() if agent.tools]
# Measured with the pins of requirements/agents/ through LiteLLM's openai provider (True: completed). "two calls":
# PARALLEL_TASK, which the stub answers with two calls at once (the index defect needs two); its healthy row is the
# control that the agent handles two calls at all.
MEASURED: dict[tuple[str, str], dict[str, bool]] = {
    ("stream-duplicate-summary", "one call"): {"codex": True, "opencode": True, "qwen-code": True, "openai-agents": False},
    ("", "two calls"): {"codex": True, "opencode": True, "qwen-code": True, "openai-agents": True},
    ("stream-index-zero", "two calls"): {"codex": True, "opencode": True, "qwen-code": True, "openai-agents": False},
}
MODELS = ["stub-model", *(f"stub-model+{d}" for d in BREAKING), *sorted({f"stub-model+{d}" for d, _ in MEASURED if d})]
# Hosts an agent tries to reach on its own (through the proxy variables, refused by harness/agents.py's ProxySink):
# measured with the pins; a release that reaches for a new host fails here. A run may end before an attempt is made.
KNOWN_EGRESS = {"codex": {"chatgpt.com", "api.github.com", "github.com"}, "opencode": set(), "qwen-code": set(),
                "openai-agents": set(), "aider": {"raw.githubusercontent.com"}}  # aider: litellm's model prices
# the reasons a broken route may give, per defect: the agent's own guard, its exit, or the harness's bounds
BROKE_BY = {
    "refuse-turn-2": {Reason.API_ERROR, Reason.EXIT, Reason.TOOL_NEVER_RAN, Reason.ANSWER_MISSING},
    "drop-tool-results": {Reason.LOOP, Reason.API_ERROR, Reason.EXIT, Reason.ANSWER_MISSING, Reason.TIMEOUT},
}


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[StubUpstream, str, str]]:
    """The stub upstream and one LiteLLM in front of it for the whole module (a start costs ~10 s)."""
    need_agents()
    with stub_gateway(MODELS) as running:
        yield running
        assert running[0].handler_errors == []


def run(gateway: tuple[StubUpstream, str, str], agent: str, model: str, task: str = TASK, provider: str = "openai") -> Outcome:
    stub, base_url, key = gateway
    return run_agent(AGENTS[agent], stub=stub, base_url=base_url, api_key=key, model=f"{provider}-{model}", task=task)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])  # LiteLLM passing OpenAI through, or translating to Anthropic
@pytest.mark.parametrize("agent", list(AGENTS))
def test_every_agent_completes_its_task_on_a_healthy_route(gateway: tuple[StubUpstream, str, str], agent: str, provider: str) -> None:
    outcome = run(gateway, agent, "stub-model", provider=provider)
    assert outcome.completed, outcome.describe()
    assert outcome.tool_ran and outcome.answered and outcome.exit_code == 0
    if AGENTS[agent].tools:
        assert 2 <= outcome.requests <= 4, outcome.describe()  # the call, the answer after its result (and a title or two)
    else:
        assert outcome.requests == 1, outcome.describe()  # the file in the prompt, the answer
    assert set(outcome.egress) <= KNOWN_EGRESS[agent], outcome.describe()


@pytest.mark.parametrize("defect", BREAKING)
@pytest.mark.parametrize("agent", TOOL_AGENTS)
def test_every_agent_breaks_on_a_route_that_mishandles_the_turn_after_a_tool_result(gateway: tuple[StubUpstream, str, str],
                                                                                     agent: str, defect: str) -> None:
    outcome = run(gateway, agent, f"stub-model+{defect}")
    assert not outcome.completed, outcome.describe()
    assert outcome.reason in BROKE_BY[defect], outcome.describe()
    assert outcome.seconds < 60 + 15  # bounded, whatever the agent does


@pytest.mark.slow
@pytest.mark.parametrize(("defect", "calls", "agent"), [(d, c, a) for (d, c), by_agent in MEASURED.items() for a in by_agent])
def test_what_a_streamed_call_defect_does_to_each_agent_is_as_measured(gateway: tuple[StubUpstream, str, str], defect: str,
                                                                        calls: str, agent: str) -> None:
    model = f"stub-model+{defect}" if defect else "stub-model"
    outcome = run(gateway, agent, model, PARALLEL_TASK if calls == "two calls" else TASK)
    assert outcome.completed is MEASURED[(defect, calls)][agent], outcome.describe()
