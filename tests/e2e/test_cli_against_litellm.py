"""The installed `approval` command against a real LiteLLM proxy on 127.0.0.1 (mock models, no upstream)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.commands import MASTER_KEY, CliRun, approve_at, run_approval, statuses
from harness.peer_gateway import RunningLiteLLM

pytestmark = pytest.mark.e2e


def approve(litellm: RunningLiteLLM, tmp_path: Path, model: str, *extra: str, key: str = MASTER_KEY) -> tuple[CliRun, Any]:
    return approve_at(litellm.base_url, tmp_path, model, *extra, key=key)


def check_of(record: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in record["checks"] if c["name"] == name)


def test_good_model_is_approved_on_chat(litellm, tmp_path):
    result, record = approve(litellm, tmp_path, "good-model")
    assert result.code == 0, result.all_text
    assert record["overall_result"] == "pass" and record["happy_path_status"] == "200"
    checks = statuses(record)
    assert checks["reachability"][0] == "pass" and checks["model-echo"][0] == "pass"
    assert checks["error-path"][0] == "pass"  # the upstream refuses an empty messages array with OpenAI's 400, passed on
    # the standard set of the default agent profile: the tool loop through LiteLLM's translation to a tool-using model
    assert all(checks[name] == ("pass", "none") for name in ("tool-round-trip", "streamed-tool-calls", "agent-envelope")), checks
    assert "RESULT: APPROVED for agent profile generic-tools" in result.stdout
    # the agent's own client: the prompt parsed into the SDK's type, each malformed request a typed 4xx after one attempt
    agent = check_of(record, "agent-client")
    assert (agent["status"], agent["category"]) == ("pass", "none"), agent
    assert "answer: ChatCompletion, 26 chars, 1 attempt" in agent["detail"] and "no model: BadRequestError 400" in agent["detail"]
    assert agent["metrics"]["attempts"] == 4 and agent["metrics"]["sdk_import_ms"] > 0


def test_a_gateway_that_accepts_empty_messages_is_a_warning(litellm, tmp_path):
    # LiteLLM's mock_response answers before any check of the request: 200 to an empty messages array
    result, record = approve(litellm, tmp_path, "slow-model", "--profile", "plain-chat")
    assert result.code == 0, result.all_text
    assert statuses(record)["error-path"][0] == "warn"
    assert "empty messages (a warning only): HTTP 200" in check_of(record, "error-path")["detail"]


def test_good_model_is_approved_on_responses(litellm, tmp_path):
    result, record = approve(litellm, tmp_path, "good-model", "--endpoint", "responses")
    assert result.code == 0, result.all_text
    assert record["endpoint_family"] == "responses" and record["overall_result"] == "pass"
    agent = check_of(record, "agent-client")
    assert agent["status"] == "pass" and "Responses API: answer: Response, 26 chars, 1 attempt" in agent["detail"], agent


def test_broken_upstream_fails_as_infrastructure(litellm, tmp_path):
    result, record = approve(litellm, tmp_path, "broken-model")
    assert result.code == 1
    checks = statuses(record)
    # the provider behind the gateway fails: the candidate was never observed, an evidence gap about the infrastructure
    assert checks["reachability"] == ("error", "infrastructure")
    assert checks["happy-path"] == ("error", "infrastructure")
    assert "listed in /models but unusable" in result.stdout
    assert record["happy_path_status"] == "fail" and record["latency_ms"] is None
    assert record["failure_categories"] == ["infrastructure"]
    # what it costs an agent on the SDK's defaults: every attempt of its retry policy, then InternalServerError
    agent = check_of(record, "agent-client")
    assert (agent["status"], agent["category"]) == ("error", "infrastructure"), agent
    assert "answer: InternalServerError 500 after 3 attempts (HTTP 500, 500, 500)" in agent["detail"], agent
    assert agent["metrics"]["answer_attempts"] == 3 and agent["metrics"]["answer_ms"] > 2000


def test_broken_model_fails_agent_client_within_max_wait_as_infrastructure(litellm, tmp_path):
    """broken-model's upstream is dead: the gateway answers 500, as a gateway should, and the SDK retries as designed.
    That the agent would wait longer than it may is the provider's unavailability: infrastructure, not gateway; and
    with no answer the candidate was not observed, so it is an evidence gap (error), as in every check."""
    config = tmp_path / "gateway.yaml"
    config.write_text("agent: {max_wait_seconds: 10}\n", encoding="utf-8")
    result, record = approve(litellm, tmp_path, "broken-model", "--config", str(config), "--checks", "happy-path,agent-client")
    assert result.code == 1
    agent = check_of(record, "agent-client")
    assert (agent["status"], agent["category"]) == ("error", "infrastructure"), agent
    assert "answer: not done within agent.max_wait_seconds (10 s)" in agent["detail"], agent
    assert agent["metrics"]["worst_call_ms"] <= 10500 and record["duration_s"] < 20


def test_unknown_model_fails(litellm, tmp_path):
    result, record = approve(litellm, tmp_path, "no-such-model")
    assert result.code == 1
    assert statuses(record)["reachability"] == ("fail", "model")
    assert "not listed in /models and unusable" in result.stdout


def test_silent_fallback_fails_on_model_echo(litellm, tmp_path):
    result, record = approve(litellm, tmp_path, "fallback-model")
    assert result.code == 1
    checks = statuses(record)
    assert checks["model-echo"] == ("fail", "gateway")
    # the answer looked fine, but another model gave it: no check built on it may pass
    assert checks["happy-path"] == ("error", "gateway") and checks["latency"] == ("error", "gateway")
    assert "silent fallback" in result.stdout


def test_latency_bound_below_the_mock_delay_fails(litellm, tmp_path):
    result, record = approve(litellm, tmp_path, "slow-model", "--max-latency-ms", "150", "--checks", "happy-path,latency")
    assert result.code == 1
    assert statuses(record)["latency"] == ("fail", "model")
    latency = next(c for c in record["checks"] if c["name"] == "latency")
    assert latency["metrics"]["p50_ms"] >= 300  # the mock sleeps 0.3 s
    ok, _ = approve(litellm, tmp_path, "slow-model", "--max-latency-ms", "5000", "--checks", "happy-path,latency")
    assert ok.code == 0


def test_wrong_key_is_an_access_failure_not_a_model_failure(litellm, tmp_path):
    canary = "sk-canary-wrong-key-123456789"
    result, record = approve(litellm, tmp_path, "good-model", key=canary)
    assert result.code == 1
    assert statuses(record)["happy-path"][1] == "infrastructure"


def test_streaming_tool_calling_structured_output(litellm, tmp_path):
    # each with happy-path: an approval rests on a check of the candidate's own answers
    result, record = approve(litellm, tmp_path, "good-model", "--checks", "happy-path,streaming")
    assert result.code == 0, result.all_text
    assert "ttft_ms" in named(record, "streaming")["metrics"]

    result, record = approve(litellm, tmp_path, "tools-model", "--checks", "happy-path,tool-calling")
    assert statuses(record)["tool-calling"][0] == "warn"  # valid call, but the mock says finish_reason "stop"
    assert result.code == 0, result.all_text
    result, record = approve(litellm, tmp_path, "good-model", "--checks", "happy-path,tool-calling")
    assert result.code == 0, result.all_text  # a tool-using model behind LiteLLM's translation calls the tool
    result, record = approve(litellm, tmp_path, "slow-model", "--checks", "happy-path,tool-calling")
    assert result.code == 1 and "without a tool call" in named(record, "tool-calling")["detail"]

    result, record = approve(litellm, tmp_path, "json-model", "--checks", "happy-path,structured-output")
    assert result.code == 0, result.all_text
    result, record = approve(litellm, tmp_path, "good-model", "--checks", "happy-path,structured-output")
    assert result.code == 1 and "not valid JSON" in named(record, "structured-output")["detail"]


def named(record, name):
    return next(c for c in record["checks"] if c["name"] == name)


def test_responses_streaming_error_event_is_detected(litellm, tmp_path):
    # LiteLLM's mock_response streamed through its Responses bridge ends in an error event
    result, record = approve(litellm, tmp_path, "slow-model", "--endpoint", "responses", "--checks", "happy-path,streaming")
    assert result.code == 1
    assert "error" in named(record, "streaming")["detail"].lower()


def test_several_candidates_and_baseline_in_one_run(litellm, tmp_path):
    record = tmp_path / "rec.json"
    report = tmp_path / "report.md"
    result = run_approval(["run", "--base-url", litellm.base_url, "--model", "good-model,json-model", "--model", "fallback-model",
                           "--baseline-model", "slow-model", "--record-out", str(record), "--report-out", str(report), "--timeout", "60",
                           "--profile", "plain-chat"])  # json-model is a mock answering one text: no tool-using model
    assert result.code == 1  # fallback-model fails, and every candidate must pass by default
    records = {json.loads(p.read_text())["candidate_model_id"]: json.loads(p.read_text()) for p in tmp_path.glob("rec.*.json")}
    assert sorted(records) == ["fallback-model", "good-model", "json-model"]
    assert {m: r["overall_result"] for m, r in records.items()} == {"good-model": "pass", "json-model": "pass", "fallback-model": "fail"}
    assert all(r["baseline_model_id"] == "slow-model" for r in records.values())
    text = report.read_text()
    assert "| Candidate | Result |" in text and "<details>" in text
    assert "Compared with the baseline `slow-model`" in text and "ratio" in text
    assert MASTER_KEY not in text + result.all_text


def test_example_config_and_prompt(litellm, tmp_path):
    result, record = approve(litellm, tmp_path, "good-model", "--config", "examples/gateway.yaml")
    assert result.code == 0, result.all_text
    assert record["config_sha256"] and "output-quality" in statuses(record)
