"""The real-agents harness (harness/agents.py) judges runs and configures agents as its documentation says:
a run completes only with exit 0, the tool really run and the answer back; an agent is pointed at loopback only and
gets nothing of this machine's environment."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.agents import AGENTS, DEAD_PROXY, Reason, Scratch, _classify, agent_env, tool_results
from harness.stub_upstream import RecordedRequest

URL = re.compile(r"(?:https?|wss?)://[^\s\"'<>]+")
LOOPBACK_URL = re.compile(r"^(?:https?|wss?)://(?:127\.\d+\.\d+\.\d+|localhost|\[::1\])(?::\d+)?(?:/|$)")


@pytest.mark.parametrize(("exit_code", "killed", "tool_ran", "answered", "output", "expected"), [
    (0, None, True, True, "", None),
    (0, None, False, True, "", Reason.TOOL_NEVER_RAN),
    (0, None, False, False, "", Reason.TOOL_NEVER_RAN),
    (0, None, True, False, "", Reason.ANSWER_MISSING),
    (None, Reason.LOOP, True, True, "", Reason.LOOP),
    (None, Reason.TIMEOUT, False, False, "", Reason.TIMEOUT),
    (1, None, True, True, "litellm.BadRequestError: OpenAIException - Invalid parameter", Reason.API_ERROR),
    (1, None, False, False, "[API Error: 400 status code (no body)]", Reason.API_ERROR),
    (1, None, True, True, "Error: invalid_request_error", Reason.API_ERROR),
    (1, None, True, True, "MaxTurnsExceeded: Max turns (6) exceeded", Reason.EXIT),
    (55, None, True, True, "wall-time budget exceeded", Reason.EXIT),
])
def test_a_run_completes_only_with_exit_0_the_tool_run_and_the_answer_back(exit_code: int | None, killed: Reason | None,
                                                                            tool_ran: bool, answered: bool, output: str,
                                                                            expected: Reason | None) -> None:
    assert _classify(exit_code, killed, tool_ran, answered, output) is expected


def _request(path: str, body: Any) -> RecordedRequest:
    return RecordedRequest("POST", path, {}, body, 0.0)


@pytest.mark.parametrize(("path", "body", "results"), [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "read"},
                                           {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                                                 "function": {"name": "read_file", "arguments": "{}"}}]},
                                           {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "SECRET"}]}]},
     ("SECRET",)),
    ("/v1/responses", {"input": [{"role": "user", "content": "read"},
                                 {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"},
                                 {"type": "function_call_output", "call_id": "c1", "output": "SECRET"}]}, ("SECRET",)),
    ("/v1/messages", {"messages": [{"role": "user", "content": "read"},
                                   {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "read", "input": {}}]},
                                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "SECRET"}]}]},
     ("SECRET",)),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "SECRET in the prompt is no tool result"}]}, ()),
    ("/v1/responses", {"input": "SECRET as a plain input"}, ()),
    ("/v1/models", None, ()),
])
def test_tool_results_are_read_from_every_protocol_and_only_from_tool_results(path: str, body: Any, results: tuple[str, ...]) -> None:
    assert tool_results(_request(path, body)) == results


def test_an_agent_gets_nothing_of_this_machines_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPENAI_API_KEY", "GITHUB_TOKEN", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "HTTPS_PROXY", "CODEX_HOME", "NODE_OPTIONS"):
        monkeypatch.setenv(name, "sk-canary-from-the-machine")
    env = agent_env(tmp_path, {"GATEWAY_API_KEY": "sk-stub"})
    assert "sk-canary-from-the-machine" not in json.dumps(env)
    assert env["HOME"] == str(tmp_path) and env["GATEWAY_API_KEY"] == "sk-stub"
    proxies = {k: v for k, v in env.items() if k.lower().endswith("_proxy") and k.lower() != "no_proxy"}
    assert set(proxies) >= {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"}
    assert set(proxies.values()) == {DEAD_PROXY} and LOOPBACK_URL.match(DEAD_PROXY)


@pytest.mark.parametrize("agent", list(AGENTS))
def test_every_agent_is_configured_with_loopback_urls_only(agent: str, tmp_path: Path) -> None:
    scratch = Scratch(home=tmp_path / "home", repo=tmp_path / "repo", base_url="http://127.0.0.1:4000/v1", api_key="sk-stub",
                      model="openai-stub-model", task="Read README.md", max_turns=6)
    own = AGENTS[agent].prepare(scratch)
    argv = AGENTS[agent].command(scratch)
    written = [p.read_text(encoding="utf-8") for p in scratch.home.rglob("*") if p.is_file()]
    texts = [*written, json.dumps(own), json.dumps(argv), json.dumps(agent_env(scratch.home, own))]
    urls = [u for text in texts for u in URL.findall(text)]
    assert urls, "the gateway's URL is configured somewhere"
    assert [u for u in urls if not LOOPBACK_URL.match(u)] == []
    assert any("http://127.0.0.1:4000/v1" in text for text in [*written, json.dumps(own), json.dumps(argv)])
