"""Each check's pass and fail shapes, through the real suite against a `responses` gateway."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from approval.engine.checks import CATALOGUE
from approval.engine.results import Category, Status
from approval.engine.suite import RunOutcome, run_suite
from approval.settings.selection import Given
from harness.mocked_gateway import answer_with as answer
from harness.mocked_gateway import chat_body, in_tool_loop, is_sample, is_sdk, make_settings, raw_calls, responses_body


def run(**flags: Any) -> RunOutcome:
    return run_suite(make_settings(**flags))


def check(outcome: RunOutcome, name: str):
    found = outcome.candidates[0].check(name)
    assert found is not None, name
    return found


def test_a_well_behaved_gateway_passes_every_default_check(gateway):
    outcome = run()
    assert outcome.result == "pass"
    ran = outcome.candidates[0].checks
    assert [c.name for c in ran] == list(CATALOGUE.standard(Given(tools=True, streams=True)))  # the default profile's
    assert [c.status for c in ran] == [Status.PASS] * len(ran), [(c.name, c.detail) for c in ran if c.status is not Status.PASS]
    assert {"tool-round-trip", "streamed-tool-calls", "agent-envelope"} <= {c.name for c in ran}
    plain = [c for c in raw_calls(gateway) if not in_tool_loop(c["body"])]
    assert len(plain) == 3 + 1 + 3 + 1  # 3 samples, 1 reachability, 3 error probes, the envelope's plain call (+ GET /models)
    assert len(gateway.calls) - len(raw_calls(gateway)) == 1 + 3  # the SDK: the prompt, then the 3 malformed requests


def test_no_probe_uses_a_one_token_cap(gateway):
    run()
    for call in gateway.calls:
        assert "max_tokens" not in call["body"]
        assert call["body"].get("max_completion_tokens", 16) >= 16


def test_listed_but_unusable_and_usable_but_unlisted_are_different_findings(gateway):
    gateway.on(lambda b: b.get("model") == "cand-model", answer(503, "<html>down</html>"))
    c = check(run(), "reachability")
    # a provider's 5xx leaves the candidate unobserved: an evidence gap about the infrastructure, not a finding about the model
    assert c.status is Status.ERROR and c.category is Category.INFRASTRUCTURE and "listed in /models but unusable" in c.detail
    assert c.metrics["latency_ms"] is None  # no usable answer, no figure

    gateway.overrides.clear()
    gateway.models_answer = (200, {}, json.dumps({"object": "list", "data": [{"id": "other"}]}))
    c = check(run(), "reachability")
    assert c.status is Status.WARN and "usable but not listed" in c.detail


def test_models_listing_can_be_required(gateway, tmp_path):
    gateway.models_answer = (500, {}, "Internal Server Error")
    cfg = tmp_path / "g.yaml"
    cfg.write_text("required: [reachability.models-listing]\n")
    assert check(run(config=str(cfg)), "reachability").status is Status.FAIL
    assert check(run(), "reachability").status is Status.WARN


@pytest.mark.parametrize(
    ("status", "body", "category", "needle"),
    [
        (200, chat_body(content=""), Category.MODEL, "empty"),
        (200, chat_body() | {"choices": None}, Category.GATEWAY, "choices"),
        (200, {"error": {"message": "provider exploded"}}, Category.GATEWAY, "carries an error"),
        (200, "<html><body>Bad gateway</body></html>", Category.GATEWAY, "HTML"),
        (200, "not json at all", Category.GATEWAY, "not JSON"),
        (401, {"error": {"message": "Invalid API key"}}, Category.INFRASTRUCTURE, "401"),
        (403, {"error": {"message": "forbidden"}}, Category.INFRASTRUCTURE, "403"),
        (500, {"error": {"message": "boom"}}, Category.INFRASTRUCTURE, "500"),
        (404, {"error": {"message": "The model does not exist"}}, Category.MODEL, "rejected"),
    ],
)
def test_happy_path_failures_are_classified(gateway, status, body, category, needle):
    gateway.on(is_sample, answer(status, body))
    outcome = run()
    c = check(outcome, "happy-path")
    # what the gateway or the model answered is a finding (fail); access and provider failures are evidence gaps (error)
    expected = Status.ERROR if category is Category.INFRASTRUCTURE else Status.FAIL
    assert c.status is expected and c.category is category and needle in c.detail
    assert c.metrics["output_chars"] is None
    assert check(outcome, "latency").status is Status.ERROR and check(outcome, "latency").metrics["p50_ms"] is None
    assert outcome.result == "fail"


def test_silent_fallback_fails_model_echo(gateway):
    gateway.on(is_sample, answer(200, chat_body(model="some-cheaper-model")))
    c = check(run(), "model-echo")
    assert c.status is Status.FAIL and c.category is Category.GATEWAY and "some-cheaper-model" in c.detail


def test_litellm_fallback_headers_fail_model_echo_even_when_the_body_looks_right(gateway):
    gateway.on(is_sample, answer(200, chat_body(), {"x-litellm-attempted-fallbacks": "1", "x-litellm-model-group": "cand-model"}))
    c = check(run(), "model-echo")
    assert c.status is Status.FAIL and "attempted fallback" in c.detail


PORTKEY_HEADERS = {"x-portkey-last-used-option-index": "config", "x-portkey-provider": "openai", "x-portkey-retry-attempt-count": "0"}


def test_a_portkey_fallback_seen_only_in_its_headers_fails_model_echo(gateway, tmp_path):
    fell = {**PORTKEY_HEADERS, "x-portkey-last-used-option-index": "config.targets[1]"}
    gateway.on(lambda b: b.get("model") == "cand-model", answer(200, chat_body(), fell))
    cfg = tmp_path / "g.yaml"
    cfg.write_text("headers:\n  x-portkey-config: '{\"strategy\": {\"mode\": \"fallback\"}, \"targets\": "
                   "[{\"provider\": \"openai\"}, {\"provider\": \"openai\"}]}'\n")
    c = check(run(config=str(cfg)), "model-echo")
    assert c.status is Status.FAIL and c.category is Category.GATEWAY
    assert c.detail.startswith("silent fallback on the reachability call (")
    assert "(x-portkey-last-used-option-index: config.targets[1])" in c.detail
    assert c.metrics["routing_kind"] == "fallback" and c.metrics["calls_served_elsewhere"] == 4  # reach and 3 samples


def test_every_generation_call_is_read_including_the_stream(gateway):
    chunk = {"object": "chat.completion.chunk", "model": "cheaper-model", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
    gateway.on(lambda b: b.get("stream") is True, answer(200, f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n",
                                                          {"Content-Type": "text/event-stream"}))
    c = check(run(checks="happy-path,model-echo,streaming"), "model-echo")
    assert c.status is Status.FAIL
    assert c.detail == ("silent fallback to another model on the streaming call (1 of 2 answered calls): asked for 'cand-model', "
                        "the response names 'cheaper-model'")
    assert "cheaper-model" in c.detail


def test_a_stream_that_falls_back_mid_way_is_served_elsewhere(gateway):
    """A gateway that falls back mid-stream names the candidate in the first chunks and another model in the rest: the
    stream is evidence about that other model, whatever its first chunk said."""
    chunks = [{"object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": {"content": text}}]}
              for model, text in (("cand-model", "Hel"), ("cheaper-model", "lo"))]
    chunks.append({"object": "chat.completion.chunk", "model": "cheaper-model", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    gateway.on(lambda b: b.get("stream") is True, answer(200, text, {"Content-Type": "text/event-stream"}))
    outcome = run(checks="happy-path,model-echo,streaming")
    echo = check(outcome, "model-echo")
    assert echo.status is Status.FAIL and echo.category is Category.GATEWAY
    assert "on the streaming call" in echo.detail and "'cheaper-model'" in echo.detail
    stream = check(outcome, "streaming")
    assert stream.status is Status.ERROR and stream.category is Category.GATEWAY and stream.metrics["ttft_ms"] is None


def test_a_responses_stream_completed_by_another_model_is_served_elsewhere(gateway):
    created = {"type": "response.created", "response": {**responses_body(), "status": "in_progress", "output": []}}
    delta = {"type": "response.output_text.delta", "delta": "Hello"}
    completed = {"type": "response.completed", "response": responses_body(model="cheaper-model")}
    text = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in (created, delta, completed))
    gateway.on(lambda b: b.get("stream") is True, answer(200, text, {"Content-Type": "text/event-stream"}))
    outcome = run(checks="happy-path,model-echo,streaming", endpoint="responses")
    assert check(outcome, "model-echo").status is Status.FAIL and "'cheaper-model'" in check(outcome, "model-echo").detail
    assert check(outcome, "streaming").status is Status.ERROR
    assert outcome.result == "fail"


def test_a_stream_whose_fingerprint_changes_is_still_the_candidate(gateway):
    chunks = [{"object": "chat.completion.chunk", "model": "cand-model", "system_fingerprint": f"fp_{i}",
               "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop" if i else None}]} for i in range(2)]
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    gateway.on(lambda b: b.get("stream") is True, answer(200, text, {"Content-Type": "text/event-stream"}))
    outcome = run(checks="happy-path,model-echo,streaming")
    assert check(outcome, "model-echo").status is Status.PASS and check(outcome, "streaming").status is Status.PASS


def test_gateway_retries_are_reported_and_pass(gateway):
    gateway.on(is_sample, answer(200, chat_body(), {**PORTKEY_HEADERS, "x-portkey-retry-attempt-count": "2"}))
    c = check(run(), "model-echo")
    assert c.status is Status.PASS and c.metrics["gateway_retried_calls"] == 3
    assert "the gateway retried 3 call(s)" in c.detail and "(x-portkey-retry-attempt-count: 2)" in c.detail


def test_the_reviewed_route_passes_fails_or_is_an_evidence_gap(gateway, tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("route: {provider: openai}\n")
    gateway.on(lambda b: b.get("model") == "cand-model", answer(200, chat_body(), PORTKEY_HEADERS))
    c = check(run(config=str(cfg)), "model-echo")
    assert c.status is Status.PASS and "through the reviewed route (route.provider)" in c.detail
    cfg.write_text("route: {provider: anthropic}\n")
    c = check(run(config=str(cfg)), "model-echo")
    assert c.status is Status.FAIL and c.detail.startswith("served by another route than the reviewed one")
    assert "(x-portkey-provider: openai)" in c.detail
    gateway.overrides.clear()  # the default gateway says nothing about its route
    c = check(run(config=str(cfg)), "model-echo")
    assert c.status is Status.ERROR and c.category is Category.CONFIG and "route.provider" in c.detail


def test_dated_variant_and_alias_pass_model_echo(gateway, tmp_path):
    gateway.on(is_sample, answer(200, chat_body(model="cand-model-2024-07-18")))
    assert check(run(), "model-echo").status is Status.PASS
    gateway.overrides.clear()
    gateway.on(lambda b: b.get("model") == "cand-model", answer(200, chat_body(model="vendor/x-large")))
    cfg = tmp_path / "g.yaml"
    cfg.write_text("model_aliases: {cand-model: [vendor/x-large]}\n")
    assert check(run(config=str(cfg)), "model-echo").status is Status.PASS


def test_missing_model_field_is_an_evidence_gap_not_a_pass(gateway):
    body = chat_body()
    del body["model"]
    gateway.on(lambda b: b.get("model") == "cand-model", answer(200, body))
    assert check(run(), "model-echo").status is Status.ERROR


@pytest.mark.parametrize(
    ("status", "body", "expected", "needle"),
    [
        (400, {"error": {"message": "model required"}}, Status.PASS, "400"),
        (422, {"detail": [{"loc": ["body", "model"], "msg": "field required"}]}, Status.PASS, "422 detail"),
        (400, {"object": "error", "message": "vllm says no", "code": 400}, Status.PASS, "flat"),
        (200, chat_body(), Status.FAIL, "accepted it"),
        (500, {"error": {"message": "crash"}}, Status.FAIL, "not a server error"),
        (400, "Bad Request", Status.FAIL, "without a parseable error"),
        (400, "", Status.FAIL, "empty body"),
    ],
)
def test_error_path_missing_model_probe(gateway, status, body, expected, needle):
    gateway.on(lambda b: "model" not in b, answer(status, body))
    c = check(run(), "error-path")
    assert c.status is expected and needle in c.detail


def test_unknown_model_answered_200_fails(gateway):
    gateway.on(lambda b: str(b.get("model", "")).startswith("approval-gate-no-such"), answer(200, chat_body(model="default-model")))
    c = check(run(), "error-path")
    assert c.status is Status.FAIL and "unknown model: HTTP 200" in c.detail


def test_empty_messages_accepted_is_a_warning_unless_required(gateway, tmp_path):
    gateway.on(lambda b: b.get("messages") == [], answer(200, chat_body()))
    c = check(run(), "error-path")
    assert c.status is Status.WARN and run().result == "pass"
    cfg = tmp_path / "g.yaml"
    cfg.write_text("required: [error-path.empty-messages]\n")
    assert check(run(config=str(cfg)), "error-path").status is Status.FAIL


def test_a_gateway_that_fills_in_a_missing_model_is_reported_not_passed(gateway, tmp_path):
    # Portkey puts a default model of its own into a request without one; the upstream's 400 is then about that model
    portkey_400 = {"error": {"message": "openai error: /chat/completions: Invalid model name passed in model=glm-4.6. Call `/v1/models` "
                                        "to view available models for your key.", "type": "invalid_request_error", "param": None,
                             "code": "400"}, "provider": "openai"}
    gateway.on(lambda b: "model" not in b, answer(400, portkey_400))
    c = check(run(), "error-path")
    assert c.status is Status.WARN and c.category is Category.GATEWAY and c.metrics["missing-model-rewritten"] is True
    assert c.detail.startswith("no model (a warning only): HTTP 400 about model 'glm-4.6': the gateway filled in that model and "
                                "forwarded the request; the upstream, not the gateway, rejected it; unknown model: HTTP 404")
    assert run().result == "pass"
    cfg = tmp_path / "g.yaml"
    cfg.write_text("required: [error-path.missing-model]\n")
    c = check(run(config=str(cfg)), "error-path")
    assert c.status is Status.FAIL and not c.detail.endswith("(warning)")


def test_an_error_naming_the_model_that_was_sent_is_no_rewrite(gateway):
    litellm_400 = {"error": {"message": "/chat/completions: Invalid model name passed in model=None. Call `/v1/models` to view "
                                        "available models", "type": "invalid_request_error", "param": None, "code": "400"}}
    gateway.on(lambda b: "model" not in b, answer(400, litellm_400))
    unknown = {"error": {"message": "The model `approval-gate-no-such-model-7f3c9e` does not exist", "type": "invalid_request_error"}}
    gateway.on(lambda b: b.get("model") == "approval-gate-no-such-model-7f3c9e", answer(404, unknown))
    gateway.on(lambda b: b.get("messages") == [], answer(400, {"error": {"message": "messages must not be empty"}}))
    c = check(run(), "error-path")
    assert c.status is Status.PASS and "rewritten" not in json.dumps(c.metrics)


def test_a_path_that_answers_every_request_with_a_4xx_proves_nothing_about_the_error_path(gateway):
    """A wrong `paths.chat` (404 Not Found for everything) must not record `error_path_status: pass`."""
    gateway.on(lambda b: True, answer(404, {"detail": "Not Found"}))
    c = check(run(), "error-path")
    assert c.status is Status.ERROR
    assert "no well-formed call" in c.detail and "prove nothing" in c.detail


def test_error_path_selected_alone_still_makes_its_well_formed_control_call(gateway):
    gateway.on(lambda b: True, answer(404, {"error": {"message": "Not Found"}}))
    outcome = run(checks="happy-path,error-path")
    c = check(outcome, "error-path")
    assert c.status is Status.ERROR and "prove nothing" in c.detail
    assert outcome.result == "fail"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": {"message": "Invalid model name passed in model=cand-model"}}),  # LiteLLM: an unknown candidate
        (500, {"error": {"message": "upstream connection error"}}),  # the handler ran; the candidate's upstream is down
    ],
)
def test_the_error_path_is_still_judged_when_the_candidate_itself_fails(gateway, status, body):
    gateway.on(lambda b: b.get("model") == "cand-model" and bool(b.get("messages")), answer(status, body))
    c = check(run(), "error-path")
    assert c.status is not Status.ERROR, c.detail


def test_an_access_refusal_is_not_a_structured_rejection(gateway):
    gateway.on(lambda b: "model" not in b, answer(400, {"error": {"message": "Invalid API key provided"}}))
    c = check(run(), "error-path")
    assert c.status is Status.ERROR and c.category is Category.INFRASTRUCTURE and "access problem" in c.detail


def test_latency_counts_every_attempt_of_a_retried_call(gateway, tmp_path):
    """503, 503, then a fast 200: the agent waited for all three and the waits between them, not only the last."""
    failures = {"left": 2}

    def flaky(body, req):
        if failures["left"] > 0 and not is_sdk(req):
            failures["left"] -= 1
            return 503, {"Retry-After": "0"}, json.dumps({"error": {"message": "overloaded"}})
        return 200, {}, json.dumps(chat_body())

    gateway.on(is_sample, flaky)
    cfg = tmp_path / "g.yaml"
    cfg.write_text("retries: {backoff_seconds: 0.2}\nthresholds: {latency_samples: 1, max_latency_ms: 300}\n")
    c = check(run(config=str(cfg)), "latency")
    assert c.metrics["retried_samples"] == 1
    assert c.metrics["p50_ms"] >= 200 + 400  # two backoff waits of at least 0.2 s and 0.4 s
    assert c.status is Status.FAIL and "needed retries" in c.detail
    assert c.category is Category.INFRASTRUCTURE  # the answer itself came fast: the retries made it slow


def test_latency_bound(gateway):
    c = check(run(max_latency_ms="60000"), "latency")
    assert c.status is Status.PASS and c.metrics["samples"] == 3
    # a pass is a median under the bound: the metrics and the line say which numbers were compared
    assert c.metrics["p50_ms"] <= c.metrics["max_ms"] <= c.metrics["bound_ms"] == 60000
    assert re.fullmatch(r"p50 \d+ ms, max \d+ ms over 3 call\(s\); bound 60000 ms", c.detail), c.detail


def test_latency_bound_exceeded(gateway):
    import time

    def slow(_b, _r):
        time.sleep(0.05)
        return 200, {}, json.dumps(chat_body())

    gateway.on(is_sample, slow)
    c = check(run(max_latency_ms="10", samples="2"), "latency")
    assert c.status is Status.FAIL and c.category is Category.MODEL and c.metrics["p50_ms"] >= 50


def test_responses_family(gateway):
    outcome = run(endpoint="responses")
    assert outcome.result == "pass", [(c.name, c.detail) for c in outcome.candidates[0].checks]
    assert all(c["url"].endswith("/responses") for c in gateway.calls)
    assert all("input" in c["body"] for c in gateway.calls if "model" in c["body"])


def test_responses_family_failed_status(gateway):
    gateway.on(is_sample, answer(200, responses_body(status="failed")))
    c = check(run(endpoint="responses"), "happy-path")
    assert c.status is Status.FAIL and "'failed'" in c.detail


def test_output_quality_expectations(gateway, tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("expect: {contains: [def add], regex: ['return\\s+a\\s*\\+\\s*b'], not_contains: [TODO], min_length: 5, no_refusal: true}\n")
    assert check(run(config=str(cfg)), "output-quality").status is Status.PASS
    gateway.on(is_sample, answer(200, chat_body(content="I'm sorry, but I can't help with that.")))
    c = check(run(config=str(cfg)), "output-quality")
    assert c.status is Status.FAIL and "does not contain 'def add'" in c.detail and "refusal" in c.detail
    assert "sorry" not in c.detail.lower()  # never quotes the output


def test_output_quality_json_schema(gateway, tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("expect: {json_schema: {type: object, required: [ok], properties: {ok: {type: boolean}}}}\n")
    gateway.on(is_sample, answer(200, chat_body(content='```json\n{"ok": true}\n```')))
    assert check(run(config=str(cfg)), "output-quality").status is Status.PASS
    gateway.overrides.clear()
    gateway.on(is_sample, answer(200, chat_body(content='{"ok": "yes"}')))
    c = check(run(config=str(cfg)), "output-quality")
    assert c.status is Status.FAIL and "schema" in c.detail


def test_streaming_chat_pass_and_error_event(gateway):
    c = check(run(checks="happy-path,streaming"), "streaming")
    assert c.status is Status.PASS and "ttft_ms" in c.metrics
    err = 'data: {"error": {"message": "Error processing stream start", "code": "500"}}\n\ndata: [DONE]\n\n'
    gateway.on(lambda b: b.get("stream") is True, answer(200, err, {"Content-Type": "text/event-stream"}))
    c = check(run(checks="happy-path,streaming"), "streaming")
    assert c.status is Status.FAIL and "error event" in c.detail


def test_streaming_cut_before_done(gateway):
    chunk = json.dumps({"object": "chat.completion.chunk", "choices": [{"delta": {"content": "Hi"}}]})
    gateway.on(lambda b: b.get("stream") is True, answer(200, f"data: {chunk}\n\n"))
    c = check(run(checks="happy-path,streaming"), "streaming")
    assert c.status is Status.FAIL and "before `data: [DONE]`" in c.detail


def test_streaming_responses_family(gateway):
    events = (
        'event: response.created\ndata: {"type": "response.created"}\n\n'
        'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "delta": "Hi"}\n\n'
        'event: response.completed\ndata: {"type": "response.completed", "response": {"status": "completed"}}\n\n'
    )
    gateway.on(lambda b: b.get("stream") is True, answer(200, events))
    assert check(run(checks="happy-path,streaming", endpoint="responses"), "streaming").status is Status.PASS
    gateway.overrides.clear()
    gateway.on(lambda b: b.get("stream") is True, answer(200, events.replace("response.completed", "response.failed")))
    assert check(run(checks="happy-path,streaming", endpoint="responses"), "streaming").status is Status.FAIL


def tool_body(arguments: str, finish: str = "tool_calls") -> dict[str, Any]:
    body = chat_body(content=None)
    body["choices"][0]["message"]["tool_calls"] = [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]
    body["choices"][0]["finish_reason"] = finish
    return body


@pytest.mark.parametrize(
    ("body", "expected", "needle"),
    [
        (tool_body('{"city": "Paris"}'), Status.PASS, "valid"),
        (tool_body('{"city": "Paris"}', finish="stop"), Status.WARN, "finish_reason"),
        (tool_body("{city: Paris"), Status.FAIL, "not valid JSON"),
        (tool_body('{"town": "Paris"}'), Status.FAIL, "parameter schema"),
        (chat_body(content="It is sunny in Paris."), Status.FAIL, "without a tool call"),
    ],
)
def test_tool_calling(gateway, body, expected, needle):
    gateway.on(lambda b: "tools" in b, answer(200, body))
    c = check(run(checks="happy-path,tool-calling"), "tool-calling")
    assert c.status is expected and needle in c.detail


def test_tool_calling_responses_family(gateway):
    body = responses_body()
    body["output"] = [{"type": "function_call", "name": "get_weather", "arguments": '{"city": "Paris"}', "call_id": "c1"}]
    gateway.on(lambda b: "tools" in b, answer(200, body))
    assert check(run(checks="happy-path,tool-calling", endpoint="responses"), "tool-calling").status is Status.PASS


def test_structured_output(gateway):
    gateway.on(lambda b: "response_format" in b, answer(200, chat_body(content='{"answer": "yes"}')))
    assert check(run(checks="happy-path,structured-output"), "structured-output").status is Status.PASS
    gateway.overrides.clear()
    gateway.on(lambda b: "response_format" in b, answer(200, chat_body(content="Yes, it is.")))
    c = check(run(checks="happy-path,structured-output"), "structured-output")
    assert c.status is Status.FAIL and "not valid JSON" in c.detail


def test_approved_list(gateway, tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("approved_models: [old-model]\nmodel_in_use: retired-model\n")
    c = check(run(config=str(cfg)), "approved-list")
    assert c.status is Status.WARN and "retired-model" in c.detail


def test_several_candidates_and_a_baseline(gateway):
    gateway.serve_models("second", "baseline-m")
    outcome = run(models=["cand-model", "second"], baseline_model="baseline-m")
    assert [o.model for o in outcome.candidates] == ["cand-model", "second"]
    assert outcome.baseline is not None and outcome.baseline.model == "baseline-m"
    assert outcome.result == "pass"


def test_retries_the_gateway_needed_are_in_the_runs_notes(gateway, tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("retries: {backoff_seconds: 0.01, max_retry_after_seconds: 0.05}\n")
    state = {"n": 0}

    def flaky(_b, req):
        state["n"] += 0 if is_sdk(req) else 1
        if state["n"] == 1 and not is_sdk(req):
            return 429, {"Retry-After": "1"}, json.dumps({"error": {"message": "slow down"}})
        return 200, {}, json.dumps(chat_body())

    gateway.on(is_sample, flaky)
    outcome = run(config=str(cfg))
    assert outcome.result == "pass"
    assert any(n.startswith("the gateway needed 1 retry of this tool's calls") and "longest wait 0.1 s" in n for n in outcome.notes), outcome.notes


def test_bounded_retry_is_still_accepted_and_runs_as_agent_client(gateway, tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("checks: [happy-path, bounded-retry]\nrequired: [bounded-retry]\n")
    outcome = run(config=str(cfg))
    assert outcome.settings.checks == ("happy-path", "agent-client") and outcome.settings.required == frozenset({"agent-client"})
    assert [c.name for c in outcome.candidates[0].checks] == ["happy-path", "agent-client"]
    assert len(outcome.settings.notices) == 1
    assert "'bounded-retry' is deprecated and runs as 'agent-client'" in outcome.notes[0]
    assert run(checks="happy-path,bounded-retry,agent-client").settings.checks == ("happy-path", "agent-client")


def test_approved_models_from_a_marked_block_in_agents_md(gateway, tmp_path):
    from approval.report.render import render_markdown

    agents = tmp_path / "AGENTS.md"
    agents.write_text("# Agents\n\n<!-- approved-models:start -->\n- `old-model`\n- retired-model # until June\n<!-- approved-models:end -->\n")
    cfg = tmp_path / "g.yaml"
    cfg.write_text(f"approved_models_file: {agents}\nmodel_in_use: retired-model\n")
    outcome = run(config=str(cfg))
    assert outcome.settings.approved_models == ("old-model", "retired-model")
    c = check(outcome, "approved-list")
    assert c.status is Status.PASS and "cand-model" in c.detail
    text = render_markdown(outcome)
    assert "approved-models block" in text and "- cand-model" in text
    agents.write_text("no block here\n")
    from approval.common.errors import ConfigError

    with pytest.raises(ConfigError, match="no approved-models block"):
        make_settings(config=str(cfg))


def test_a_gateways_error_text_cannot_mention_people_or_forge_a_marker_in_the_comment(gateway):
    from approval.report.render import render_markdown

    hostile = "ping @octocat and @acme/admins <!-- model-approval-gate:other:key --> | [x](http://e.test)"
    gateway.on(is_sample, answer(400, {"error": {"message": hostile}}))
    text = render_markdown(run())
    assert "@octocat" not in text and "@acme/admins" not in text
    assert "<!-- model-approval-gate" not in text
    assert "@\u200boctocat" in text  # still readable
