"""agent-client: the official openai SDK, configured as the agent configures it, against the `responses` fake gateway
(its requests reach the mock through harness/sdk_bridge.py), and the verdict it reaches from what the SDK went
through. The SDK's own transport (proxy, TLS, timeouts, the concurrency cap) is tested against loopback servers in
tests/integration/test_agent_client.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from approval.common.errors import ConfigError
from approval.engine.agent_calls import AgentRun, Attempt, SDKCall
from approval.engine.checks import agent_client
from approval.engine.checks.base import Evidence
from approval.engine.results import Category, Status
from approval.engine.suite import RunOutcome, run_suite
from approval.settings.build import AgentSettings
from harness.mocked_gateway import CANARY_KEY, answer_with, chat_body, is_sdk, make_settings, raw_calls

SDK = "openai 3.57.0"


def run(**flags: Any) -> RunOutcome:
    return run_suite(make_settings(**flags))


def agent_check(outcome: RunOutcome):
    found = outcome.candidates[0].check("agent-client")
    assert found is not None
    return found


def sdk_calls(gateway) -> list[dict[str, Any]]:
    raw = raw_calls(gateway)
    return [c for c in gateway.calls if c not in raw]


def ok(name: str, seconds: float = 0.1, parsed: str = "ChatCompletion") -> SDKCall:
    return SDKCall(name, (Attempt(200, None, seconds),), seconds, parsed=parsed, output_chars=12)


def rejected(name: str, status: int = 400, raised: str = "BadRequestError", attempts: int = 1, seconds: float = 0.05,
             code: str | None = None) -> SDKCall:
    return SDKCall(name, tuple(Attempt(status, None, seconds / attempts) for _ in range(attempts)), seconds, raised=raised, status=status,
                   message=f"Error code: {status} - model is required", code=code)


def evaluate(*calls: SDKCall, **flags: Any):
    settings = make_settings(**flags)
    return agent_client.evaluate(Evidence(settings, "cand-model", {}, agent=AgentRun(calls, SDK, 400.0, 2, 600.0)))


def healthy(**replace: SDKCall) -> list[SDKCall]:
    calls = {"answer": ok("answer"), "missing-model": rejected("missing-model", code="missing_model"),
             "unknown-model": rejected("unknown-model", 404, "NotFoundError"), "empty-messages": rejected("empty-messages")}
    calls.update(replace)
    return list(calls.values())


# -- the verdict from what the SDK went through ---------------------------------------------------------------------


def test_typed_4xx_errors_after_one_attempt_pass_and_say_what_the_sdk_extracted():
    c = evaluate(*healthy())
    assert c.status is Status.PASS and c.category is Category.NONE
    assert "answer: ChatCompletion, 12 chars, 1 attempt" in c.detail
    assert 'BadRequestError 400 code \'missing_model\' "model is required", 1 attempt' in c.detail
    assert c.metrics["attempts"] == 4 and c.metrics["missing_model_attempts"] == 1 and c.metrics["sdk_import_ms"] == 400.0


def test_a_client_error_answered_with_a_5xx_makes_the_sdk_retry_it_a_gateway_failure():
    c = evaluate(*healthy(**{"unknown-model": rejected("unknown-model", 500, "InternalServerError", attempts=3, seconds=1.6)}))
    assert c.status is Status.FAIL and c.category is Category.GATEWAY
    assert "unknown model: InternalServerError 500" in c.detail and "3 attempts (HTTP 500, 500, 500), 1.60 s" in c.detail
    assert "every SDK-based agent retry it" in c.detail
    assert c.detail.index("unknown model") < c.detail.index("answer:")  # what blocks comes first


def test_a_429_to_a_malformed_request_is_the_gateways_too():
    c = evaluate(*healthy(**{"missing-model": rejected("missing-model", 429, "RateLimitError", attempts=3, seconds=2.0)}))
    assert c.status is Status.FAIL and c.category is Category.GATEWAY


def test_empty_messages_as_error_path_treats_it_a_warning_unless_required(tmp_path):
    retried = rejected("empty-messages", 500, "InternalServerError", attempts=3, seconds=1.5)
    c = evaluate(*healthy(**{"empty-messages": retried}))
    assert c.status is Status.WARN and c.category is Category.GATEWAY and "(warning)" in c.detail
    cfg = tmp_path / "g.yaml"
    cfg.write_text("required: [error-path.empty-messages]\n")
    assert evaluate(*healthy(**{"empty-messages": retried}), config=str(cfg)).status is Status.FAIL
    # accepted: no trouble for the agent's client (error-path reports the acceptance) unless required
    accepted = ok("empty-messages")
    assert evaluate(*healthy(**{"empty-messages": accepted})).status is Status.PASS
    assert evaluate(*healthy(**{"empty-messages": accepted}), config=str(cfg)).status is Status.FAIL


def test_an_unknown_model_accepted_with_a_200_fails_as_in_error_path():
    c = evaluate(*healthy(**{"unknown-model": ok("unknown-model")}))
    assert c.status is Status.FAIL and c.category is Category.GATEWAY and "accepted" in c.detail


def test_a_gateway_that_is_down_leaves_the_candidate_unobserved_and_the_malformed_requests_prove_nothing():
    down = rejected("answer", 502, "InternalServerError", attempts=3, seconds=1.3)
    malformed = {n: rejected(n, 502, "InternalServerError", attempts=3, seconds=1.3) for n in ("missing-model", "unknown-model", "empty-messages")}
    c = evaluate(down, *malformed.values())
    assert c.status is Status.ERROR and c.category is Category.INFRASTRUCTURE  # an evidence gap, as in every check
    assert "answer: InternalServerError 502 after 3 attempts (HTTP 502, 502, 502), 1.30 s" in c.detail
    assert "no model: not judged: the well-formed call failed too (InternalServerError 502)" in c.detail
    # the gateway still rejecting a client error properly while the provider is down is a finding of its own
    c = evaluate(down, *healthy()[1:])
    assert c.status is Status.ERROR and "no model: BadRequestError 400" in c.detail


def test_an_answer_only_after_the_sdks_retries_warns():
    flaky = SDKCall("answer", (Attempt(502, None, 0.1), Attempt(200, None, 0.1)), 0.7, parsed="ChatCompletion", output_chars=12)
    c = evaluate(*healthy(answer=flaky))
    assert c.status is Status.WARN and c.category is Category.INFRASTRUCTURE
    assert "answer: ChatCompletion only after 2 attempts (HTTP 502, 200), 0.70 s: the SDK's retries recovered" in c.detail


def test_a_path_that_does_not_answer_is_config_and_proves_nothing_about_errors():
    missing = SDKCall("answer", (Attempt(404, None, 0.01),), 0.01, raised="NotFoundError", status=404, message="Error code: 404 - Not Found")
    c = evaluate(*healthy(answer=missing, **{"unknown-model": rejected("unknown-model", 404, "NotFoundError")}))
    assert c.status is Status.ERROR and c.category is Category.CONFIG
    assert "this path does not answer on the gateway — check paths.chat and base_url" in c.detail
    assert "no model: not judged: the well-formed call shows the path does not answer" in c.detail


def test_a_call_cut_by_the_runs_deadline_is_an_evidence_gap_naming_the_deadline():
    cut = SDKCall("answer", (Attempt(None, "unfinished", 1.9),), 1.9, cut="deadline")
    c = evaluate(*healthy(answer=cut), timeout="5")
    assert c.status is Status.ERROR and c.category is Category.INFRASTRUCTURE
    assert "cut by the run's deadline of 5 s after 1 attempt (unfinished), 1.90 s" in c.detail
    never = SDKCall("answer", (), 0.0, cut="deadline")
    assert "before its first attempt could be sent" in evaluate(*healthy(answer=never), timeout="5").detail


def test_a_call_longer_than_max_wait_is_reported_with_its_attempts_so_far(tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("agent: {max_wait_seconds: 10}\n")
    slow = SDKCall("answer", (Attempt(500, None, 4.2), Attempt(None, "unfinished", 4.1)), 10.0, cut="max-wait")
    c = evaluate(*healthy(answer=slow), config=str(cfg))
    assert c.status is Status.ERROR and c.category is Category.INFRASTRUCTURE  # no answer: the candidate was not observed
    assert "not done within agent.max_wait_seconds (10 s): 2 attempts (HTTP 500, unfinished), 10.00 s so far" in c.detail
    assert "(the SDK allows 600 s per attempt and 2 retries)" in c.detail
    assert c.metrics["worst_call_ms"] == 10000.0 and c.metrics["max_wait_s"] == 10.0
    # a malformed request the gateway's 5xx kept the SDK retrying past the bound: the gateway's finding
    retried = SDKCall("unknown-model", (Attempt(500, None, 4.2), Attempt(500, None, 4.1)), 10.0, cut="max-wait")
    c = evaluate(*healthy(**{"unknown-model": retried}), config=str(cfg))
    assert c.status is Status.FAIL and c.category is Category.GATEWAY and "unknown model: not done within" in c.detail


def test_an_access_refusal_on_a_malformed_request_is_a_gap_not_a_pass():
    refused = rejected("missing-model", 401, "AuthenticationError")
    c = evaluate(*healthy(**{"missing-model": refused}))
    assert c.status is Status.ERROR and c.category is Category.INFRASTRUCTURE and "access refusal" in c.detail


def test_what_the_answer_parsed_into_decides_who_is_blamed():
    empty = SDKCall("answer", (Attempt(200, None, 0.1),), 0.1, parsed="ChatCompletion", finding="the output text is empty",
                    finding_category=Category.MODEL)
    assert (evaluate(*healthy(answer=empty)).category) is Category.MODEL
    crash = SDKCall("answer", (Attempt(200, None, 0.1),), 0.1, raised="JSONDecodeError", message="Expecting value")
    c = evaluate(*healthy(answer=crash))
    assert c.status is Status.FAIL and c.category is Category.GATEWAY and "could not handle the answer (JSONDecodeError)" in c.detail


def test_no_sdk_evidence_is_an_evidence_gap():
    settings = make_settings(timeout="7")
    c = agent_client.evaluate(Evidence(settings, "cand-model", {}, deadline_hit=True))
    assert c.status is Status.ERROR and "the run's deadline of 7 s" in c.detail
    broken = AgentRun((), SDK, 0.0, 0, None, setup_error="ImportError: socksio is not installed")
    c = agent_client.evaluate(Evidence(settings, "cand-model", {}, agent=broken))
    assert c.status is Status.ERROR and "could not be set up" in c.detail


# -- configuration -----------------------------------------------------------------------------------------------


def test_the_agent_block_defaults_to_the_sdks_own_policy_and_60_seconds(tmp_path):
    assert make_settings().agent == AgentSettings(None, None, 60.0)
    cfg = tmp_path / "g.yaml"
    cfg.write_text("agent: {max_retries: 0, timeout_seconds: 2.5, max_wait_seconds: 10}\n")
    assert make_settings(config=str(cfg)).agent == AgentSettings(0, 2.5, 10.0)
    for bad, needle in (("{max_retries: -1}", "agent.max_retries"), ("{max_wait_seconds: 0}", "agent.max_wait_seconds"),
                        ("{retries: 3}", "unknown key 'agent.retries'")):
        cfg.write_text(f"agent: {bad}\n")
        with pytest.raises(ConfigError, match=needle):
            make_settings(config=str(cfg))


# -- the SDK through the suite, against the fake gateway ---------------------------------------------------------------


def test_the_sdk_gets_the_prompt_and_the_malformed_requests_of_error_path(gateway):
    outcome = run()
    c = agent_check(outcome)
    assert c.status is Status.PASS, c.detail
    assert "answer: ChatCompletion" in c.detail and "NotFoundError 404" in c.detail
    bodies = [call["body"] for call in sdk_calls(gateway)]
    assert len(bodies) == 4
    assert sum("model" not in b for b in bodies) == 1  # sent with the SDK's generic post: its create() refuses to
    assert any(b.get("model") == "approval-gate-no-such-model-7f3c9e" for b in bodies)
    assert any(b.get("messages") == [] for b in bodies)
    prompt = next(c["body"] for c in raw_calls(gateway) if c["body"].get("messages") and "add(a, b)" in json.dumps(c["body"]))
    assert prompt in bodies  # the representative prompt, exactly as the raw probes send it


def test_the_responses_family_and_a_stream_through_the_sdk(gateway):
    outcome = run(endpoint="responses", checks="happy-path,agent-client")
    c = agent_check(outcome)
    assert c.status is Status.PASS and "Responses API" in c.detail and "answer: Response, " in c.detail, c.detail
    assert all(call["url"].endswith("/responses") for call in sdk_calls(gateway))
    gateway.calls.clear()
    c = agent_check(run(checks="happy-path,streaming,agent-client"))
    assert c.status is Status.PASS, c.detail
    assert c.metrics["stream_attempts"] == 1 and c.metrics["calls"] == 5
    assert sum(bool(call["body"].get("stream")) for call in sdk_calls(gateway)) == 1


def test_a_stream_that_ends_without_a_finish_reason_is_a_cut_answer_the_sdk_hides(gateway):
    chunk = {"object": "chat.completion.chunk", "model": "cand-model", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}
    gateway.on(lambda b: bool(b.get("stream")), answer_with(200, f"data: {json.dumps(chunk)}\n\n", {"Content-Type": "text/event-stream"}))
    c = agent_check(run(checks="happy-path,streaming,agent-client"))
    assert c.status is Status.FAIL and c.category is Category.GATEWAY
    assert "stream: 1 ChatCompletionChunk(s): the stream ended without a finish_reason (cut short), and the SDK raised nothing" in c.detail


def test_a_gateway_answering_the_unknown_model_with_500_costs_the_agent_its_retries(gateway, tmp_path):
    gateway.on(lambda b: b.get("model") == "approval-gate-no-such-model-7f3c9e", answer_with(500, {"error": {"message": "boom"}}))
    cfg = tmp_path / "g.yaml"
    cfg.write_text("agent: {max_retries: 1}\n")
    c = agent_check(run(config=str(cfg)))
    assert c.status is Status.FAIL and c.category is Category.GATEWAY
    assert "unknown model: InternalServerError 500 after 2 attempts (HTTP 500, 500)" in c.detail
    unknown = [call for call in sdk_calls(gateway) if call["body"].get("model") == "approval-gate-no-such-model-7f3c9e"]
    assert len(unknown) == 2 and c.metrics["unknown_model_attempts"] == 2 and c.metrics["max_retries"] == 1


def test_the_key_goes_in_the_configured_header_and_nowhere_else(gateway, tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("auth: {scheme: header, header: api-key}\nheaders: {X-Team: platform-7}\n")
    run(config=str(cfg), checks="happy-path,agent-client")
    for call in sdk_calls(gateway):
        headers = {k.lower(): v for k, v in call["headers"].items()}
        assert headers["api-key"] == CANARY_KEY and "authorization" not in headers and headers["x-team"] == "platform-7"
    gateway.calls.clear()
    run(checks="happy-path,agent-client")
    assert {c["headers"].get("authorization") or c["headers"].get("Authorization") for c in sdk_calls(gateway)} == {f"Bearer {CANARY_KEY}"}


def test_the_sdk_never_takes_its_configuration_from_the_environment(gateway, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://elsewhere.test/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-0000")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-from-the-environment")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-from-the-environment")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "X-From-Env: yes\nAuthorization: Bearer sk-from-the-environment-0000")
    assert agent_check(run(checks="happy-path,agent-client")).status is Status.PASS
    calls = sdk_calls(gateway)
    assert len(calls) == 4 and all(c["url"].startswith("http://gateway.test/v1/") for c in calls)
    for call in calls:
        headers = {k.lower(): v for k, v in call["headers"].items()}
        assert headers["authorization"] == f"Bearer {CANARY_KEY}"
        assert not {"openai-organization", "openai-project", "x-from-env"} & set(headers)


def test_a_custom_path_is_posted_to_as_an_agent_would_with_the_sdk(gateway, tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("paths: {chat: /api/text/chat}\n")  # not the SDK's own path: its generic post() is used, as an agent would
    gateway.serve("/api/text/chat")
    c = agent_check(run(config=str(cfg), checks="happy-path,agent-client"))
    assert c.status is Status.PASS, c.detail
    assert {call["url"] for call in sdk_calls(gateway)} == {"http://gateway.test/v1/api/text/chat"}
    assert len(sdk_calls(gateway)) == 4


def test_the_key_never_reaches_an_output_even_when_the_gateway_echoes_it(gateway):
    gateway.on(lambda b: True, lambda body, req: (401, {}, json.dumps({"error": {"message": f"bad key {req.headers.get('Authorization')}"}})))
    outcome = run(checks="happy-path,agent-client")
    c = agent_check(outcome)
    assert c.status is Status.ERROR and c.category is Category.INFRASTRUCTURE and "access refused" in c.detail
    assert CANARY_KEY not in json.dumps(c.to_json()) and "***" in c.detail


def test_the_sdk_sends_as_itself_and_the_raw_probes_as_this_tool(gateway):
    run()
    assert len(sdk_calls(gateway)) == 4
    for call in sdk_calls(gateway):
        headers = {k.lower(): v for k, v in call["headers"].items()}
        assert headers["user-agent"].startswith("OpenAI/Python ") and headers["x-stainless-retry-count"] == "0"
    assert all(str(c["headers"].get("User-Agent")).startswith("model-approval-gate/") for c in raw_calls(gateway))


def test_no_pass_without_the_sdks_answer_to_the_prompt():
    c = evaluate(*healthy()[1:])
    assert c.status is Status.ERROR and "no call with the representative prompt" in c.detail


def test_answers_another_model_gave_are_no_evidence_for_agent_client_either(gateway):
    gateway.on(lambda b: b.get("model") == "cand-model" and bool(b.get("messages")),
               lambda body, req: (200, {}, json.dumps(chat_body(model="gpt-4o-mini"))))
    outcome = run()
    c = agent_check(outcome)
    assert c.status is Status.ERROR and c.category is Category.GATEWAY, c.detail
    assert c.detail.startswith("no evidence about 'cand-model'")
    assert c.metrics["answer_ms"] is None and c.metrics["worst_call_ms"] is None  # what another model's answers took
    assert c.metrics["answer_attempts"] == 1 and c.metrics["max_wait_s"] == 60.0  # counts and the bound stay
    echo = outcome.candidates[0].check("model-echo")
    assert echo is not None and echo.status is Status.FAIL


@pytest.mark.parametrize(("body_model", "headers", "evidence"), [
    ("gpt-4o-mini", {}, "the response names 'gpt-4o-mini'"),
    ("cand-model", {"x-litellm-attempted-fallbacks": "1"}, "(x-litellm-attempted-fallbacks: 1)"),
])
def test_an_answer_another_model_gave_the_sdk_itself_is_no_evidence(gateway, body_model, headers, evidence):
    """The raw probes were served by the candidate, but the SDK's own call was not (a fallback happens call by call):
    agent-client cannot pass on it."""
    gateway.on(lambda b: b.get("model") == "cand-model" and bool(b.get("messages")) and not b.get("stream"),
               lambda body, req: (200, headers, json.dumps(chat_body(model=body_model))) if is_sdk(req) else
               (200, {}, json.dumps(chat_body())))
    outcome = run()
    c = agent_check(outcome)
    assert c.status is Status.ERROR and c.category is Category.GATEWAY, c.detail
    assert c.detail.startswith("no evidence about 'cand-model': the SDK's answer call was answered elsewhere") and evidence in c.detail
    assert c.metrics["answer_ms"] is None
    echo = outcome.candidates[0].check("model-echo")
    assert echo is not None and echo.status is Status.PASS  # the raw probes were the candidate's
    assert outcome.result == "fail"


def test_a_stream_the_sdk_got_that_falls_back_mid_way_is_no_evidence(gateway):
    chunks = [{"object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": end}]}
              for model, end in (("cand-model", None), ("other-model", "stop"))]
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    gateway.on(lambda b: bool(b.get("stream")),
               lambda body, req: (200, {"Content-Type": "text/event-stream"}, text) if is_sdk(req) else gateway.default(body, req.url))
    c = agent_check(run(checks="happy-path,agent-client"))  # streaming not selected: the SDK makes no stream call
    assert c.status is Status.PASS, c.detail
    outcome = run(checks="happy-path,streaming,agent-client")
    c = agent_check(outcome)
    assert c.status is Status.ERROR and c.category is Category.GATEWAY and "the SDK's stream call" in c.detail, c.detail
    streaming = outcome.candidates[0].check("streaming")
    assert "'other-model'" in c.detail and streaming is not None and streaming.status is Status.PASS


def test_a_retry_after_a_failed_connection_is_not_blamed_on_the_gateways_answer():
    reset = SDKCall("missing-model", (Attempt(None, "transport", 0.01), Attempt(400, None, 0.02)), 1.5, raised="BadRequestError", status=400,
                    message="Error code: 400 - model is required")
    c = evaluate(*healthy(**{"missing-model": reset}))
    assert c.status is Status.WARN and c.category is Category.INFRASTRUCTURE
    assert "no model: BadRequestError 400 \"model is required\" only after 2 attempts (connection failed, HTTP 400), 1.50 s" in c.detail
