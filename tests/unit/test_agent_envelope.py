"""agent-envelope and context-window: every outcome through the real suite against a `responses` gateway that acts like
a tool-using model (answers are built from the request, never asserted as exact model text)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from approval.engine.checks import agent_envelope, context_window
from approval.engine.results import Category, Status
from approval.engine.suite import run_suite
from approval.settings.profile import GENERIC_TOOLS, PLAIN_CHAT, AgentProfile
from harness.mocked_gateway import FakeGateway, chat_body, is_sample, make_settings
from harness.mocked_gateway import raw_calls as all_raw_calls

Reply = tuple[int, dict[str, str], str]
MARKUPS = ['<tool_call>{"name": "read_file", "arguments": {"path": "README.md"}}</tool_call>',
           '<function=read_file>{"path": "README.md"}</function>',
           '[TOOL_CALLS][{"name": "read_file", "arguments": {"path": "README.md"}}]']


def call_body(name: str, arguments: str = '{"path": "README.md"}') -> dict[str, Any]:
    body = chat_body(content=None)
    body["choices"][0]["message"]["tool_calls"] = [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}]
    body["choices"][0]["finish_reason"] = "tool_calls"
    return body


def ok(body: Any) -> Reply:
    return 200, {}, json.dumps(body)


def refuse(status: int, message: str, code: str | None = None) -> Reply:
    return status, {}, json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}})


def raw_calls(gateway: Any) -> list[dict[str, Any]]:
    """The calls the check under test made (not happy-path's samples, which every selection needs)."""
    return [c for c in all_raw_calls(gateway) if not is_sample(c["body"])]


def tool_names(body: dict[str, Any]) -> list[str]:
    return [t.get("function", t).get("name") for t in body.get("tools") or []]


def model(body: dict[str, Any], *, drop_developer: bool = False, forced: Callable[[], str | None] | None = None) -> Reply | None:
    """A tool-using model: it follows a `system` (or `developer`) instruction naming `ack`, answers a forced call with
    one, and answers text otherwise; None for a stream (the fake gateway's own stream answers it)."""
    if body.get("stream"):
        return None
    messages = body.get("messages") or []
    heard = [m for m in messages if m.get("role") == "system" or (m.get("role") == "developer" and not drop_developer)]
    if "ack" in tool_names(body):
        return ok(call_body("ack" if any("`ack`" in m["content"] for m in heard) else "read_file"))
    if body.get("tool_choice") == "required":
        text = forced() if forced is not None else None
        return ok(chat_body(content=text)) if text is not None else ok(call_body(tool_names(body)[0]))
    if "report_status" in tool_names(body):
        return ok(call_body("report_status", '{"state": "ok"}'))
    return ok(chat_body())


def serve(gateway: FakeGateway, handler: Callable[[dict[str, Any]], Reply | None]) -> None:
    """`handler`'s answer, else the tool-using model's (the fake gateway's own for streams and Responses)."""
    def answer(body: dict[str, Any], request: Any) -> Reply:
        given = handler(body)
        if given is not None:
            return given
        if request.url.endswith("/responses"):
            return gateway.default(body, request.url)
        return model(body) or gateway.default(body, request.url)

    gateway.on(lambda b: b.get("model") == "cand-model", answer)


def run_check(name: str, profile: AgentProfile = GENERIC_TOOLS, required: frozenset[str] = frozenset(), *, retry: bool = True,
              **flags: Any):
    settings = replace(make_settings(checks=f"happy-path,{name}", **flags), profile=profile, required=required)
    if not retry:
        settings = replace(settings, max_attempts=1)
    found = run_suite(settings).candidates[0].check(name)
    assert found is not None
    return found


AGENT = replace(GENERIC_TOOLS, name="test-agent", instruction_role="developer", tool_choice=("auto", "required"),
                parameters={"stream_options": {"include_usage": True}, "max_completion_tokens": 4096, "temperature": 0,
                            "reasoning_effort": "medium", "metadata": {"session": "s"}})


# --------------------------------------------------------------------------------------------- agent-envelope
@pytest.mark.parametrize("profile", [GENERIC_TOOLS, AGENT, PLAIN_CHAT])
def test_a_route_that_takes_the_agents_shape_passes(gateway, profile):
    serve(gateway, lambda body: None)
    c = run_check("agent-envelope", profile)
    assert (c.status, c.category) == (Status.PASS, Category.NONE), c.detail
    planned = agent_envelope.probes_for(make_settings(), "cand-model")
    assert c.metrics["refused"] == "" and c.metrics["calls"] == len(agent_envelope.probes_for(
        replace(make_settings(), profile=profile), "cand-model"))
    assert len(raw_calls(gateway)) == c.metrics["calls"] and len(planned) == 6  # generic: plain, parallel, auto, 3 forced
    assert f"profile {profile.name}" in c.detail


def test_each_parameter_is_sent_alone(gateway):
    serve(gateway, lambda body: None)
    run_check("agent-envelope", AGENT)
    bodies = [c["body"] for c in raw_calls(gateway)]
    for name in ("temperature", "reasoning_effort", "metadata"):
        assert sum(name in b for b in bodies) == 1, name
    limited = next(b for b in bodies if "max_completion_tokens" in b and b["max_completion_tokens"] == 4096)
    assert "max_tokens" not in limited
    streamed = next(b for b in bodies if "stream_options" in b)
    assert streamed["stream"] is True and streamed["stream_options"] == {"include_usage": True}
    assert sum(b.get("tool_choice") == "required" for b in bodies) == agent_envelope.TEXT_TRIES
    assert any(b["messages"][0]["role"] == "developer" for b in bodies) and any(b["messages"][0]["role"] == "system" for b in bodies)


@pytest.mark.parametrize("field", ["temperature", "reasoning_effort", "max_completion_tokens", "metadata", "stream_options",
                                   "parallel_tool_calls"])
@pytest.mark.parametrize(("reply", "needle"), [
    (lambda f: refuse(400, f"Unsupported parameter: '{f}' is not supported with this model.", "unsupported_parameter"),
     "this route refuses {f}"),
    (lambda f: refuse(422, "Extra inputs are not permitted"), "this route refuses {f}"),
    (lambda f: (400, {}, "Bad Request"), "unstructured body"),
    (lambda f: refuse(500, "Internal error"), "fails with HTTP 500 when the agent sends {f}"),
])
def test_a_parameter_the_route_refuses_fails_naming_it(gateway, field, reply, needle):
    serve(gateway, lambda body: reply(field) if field in body else None)
    c = run_check("agent-envelope", AGENT)
    assert (c.status, c.category) == (Status.FAIL, Category.GATEWAY), c.detail
    assert needle.format(f=field) in c.detail
    assert c.metrics["refused"] == field


def test_several_refused_fields_are_named_together(gateway):
    refused = ("temperature", "reasoning_effort", "metadata")
    serve(gateway, lambda body: next((refuse(400, f"Unsupported parameter: '{f}'") for f in refused if f in body), None))
    c = run_check("agent-envelope", AGENT)
    assert (c.status, c.category) == (Status.FAIL, Category.GATEWAY)
    assert c.detail.startswith("this route refuses 3 fields the agent sends: temperature=0, reasoning_effort='medium', metadata=")
    assert "(first: HTTP 400 (the error names it): Unsupported parameter: 'temperature')" in c.detail
    assert c.metrics["refused"] == "temperature, reasoning_effort, metadata"


def test_the_detail_says_when_the_refusal_names_the_field(gateway):
    serve(gateway, lambda body: refuse(400, "Unsupported parameter: 'reasoning_effort'") if "reasoning_effort" in body else None)
    assert "(the error names it)" in run_check("agent-envelope", AGENT).detail


@pytest.mark.parametrize(("reply", "status", "category"), [
    (refuse(401, "Invalid API key"), Status.ERROR, Category.INFRASTRUCTURE),
    (refuse(429, "slow down"), Status.ERROR, Category.INFRASTRUCTURE),
    (refuse(503, "upstream down"), Status.ERROR, Category.INFRASTRUCTURE),
    (refuse(404, "The model cand-model does not exist"), Status.FAIL, Category.MODEL),
])
def test_a_plain_call_without_an_answer_leaves_the_envelope_unobserved(gateway, reply, status, category):
    serve(gateway, lambda body: None if is_sample(body) else reply)
    c = run_check("agent-envelope", AGENT, retry=False)
    assert (c.status, c.category) == (status, category), c.detail
    assert "the plain call" in c.detail


@pytest.mark.parametrize("reply", [refuse(401, "Invalid API key"), refuse(429, "rate limited"), refuse(403, "forbidden"),
                                   refuse(400, "Authentication failed: invalid key")])
def test_a_parameter_call_refused_for_access_or_rate_is_an_evidence_gap(gateway, reply):
    serve(gateway, lambda body: reply if "temperature" in body else None)
    c = run_check("agent-envelope", AGENT, retry=False)
    assert (c.status, c.category) == (Status.ERROR, Category.INFRASTRUCTURE), c.detail
    assert c.detail.startswith("temperature=0: ") and c.metrics["refused"] == ""


@pytest.mark.parametrize("markup", MARKUPS)
@pytest.mark.parametrize(("every", "how"), [(1, ""), (3, "intermittent: ")])
def test_tool_calls_written_as_text_fail(gateway, markup, every, how):
    calls = itertools.count(1)  # next() is atomic: the probes run concurrently

    def forced() -> str | None:
        return markup if next(calls) % every == 0 else None

    serve(gateway, lambda body: model(body, forced=forced) if body.get("tool_choice") == "required" else None)
    c = run_check("agent-envelope")
    assert (c.status, c.category) == (Status.FAIL, Category.GATEWAY), c.detail
    shown = 3 if every == 1 else 1
    assert f"{how}{shown} of 3 forced calls came back as call markup" in c.detail
    assert c.detail.startswith(how) if how else "intermittent" not in c.detail


def test_a_forced_call_answered_with_prose_fails_as_tool_choice_ignored(gateway):
    serve(gateway, lambda body: model(body, forced=lambda: "I would read the README.") if body.get("tool_choice") == "required" else None)
    c = run_check("agent-envelope")
    assert c.status is Status.FAIL and "tool_choice is ignored" in c.detail


def test_forced_calls_without_usable_answers_are_counted_out(gateway):
    calls = itertools.count(1)  # next() is atomic: the probes run concurrently

    def flaky(body: dict[str, Any]) -> Reply | None:
        if body.get("tool_choice") != "required":
            return None
        return refuse(429, "rate limited") if next(calls) > 1 else None

    serve(gateway, flaky)
    c = run_check("agent-envelope", retry=False)
    assert c.status is Status.PASS and "1 of 1 forced calls structured" in c.detail, c.detail


def test_required_refused_is_not_judged_when_the_agent_does_not_send_it(gateway):
    serve(gateway, lambda body: refuse(400, "tool_choice 'required' is not supported") if body.get("tool_choice") == "required" else None)
    c = run_check("agent-envelope")  # generic: tool_choice auto only
    assert c.status is Status.PASS and "not checked (the agent does not send it)" in c.detail
    c = run_check("agent-envelope", replace(GENERIC_TOOLS, tool_choice=("auto", "required")))
    assert c.status is Status.FAIL and "this route refuses tool_choice='required'" in c.detail


@pytest.mark.parametrize(("required", "status"), [(frozenset(), Status.WARN), (frozenset({"agent-envelope.developer-role"}), Status.FAIL)])
def test_a_dropped_developer_message_warns_unless_required(gateway, required, status):
    serve(gateway, lambda body: model(body, drop_developer=True))
    c = run_check("agent-envelope", AGENT, required)
    assert (c.status, c.category) == (status, Category.GATEWAY), c.detail
    assert "`developer` message looks silently dropped" in c.detail


def test_developer_role_inconclusive_when_the_system_instruction_is_not_followed_either(gateway):
    serve(gateway, lambda body: ok(call_body("read_file")) if "ack" in tool_names(body) else None)
    c = run_check("agent-envelope", AGENT)
    assert c.status is Status.PASS and "inconclusive" in c.detail


def test_a_refused_developer_role_fails(gateway):
    serve(gateway, lambda body: refuse(400, "Invalid value: 'developer'.") if any(m.get("role") == "developer" for m in body.get("messages", [])) else None)
    c = run_check("agent-envelope", AGENT)
    assert c.status is Status.FAIL and "this route refuses a `developer` message" in c.detail


def test_no_developer_comparison_for_an_agent_that_instructs_as_system(gateway):
    serve(gateway, lambda body: model(body, drop_developer=True))
    assert run_check("agent-envelope").status is Status.PASS
    assert not any(any(m.get("role") == "developer" for m in c["body"].get("messages", [])) for c in raw_calls(gateway))


def test_a_plain_json_body_answering_the_streamed_parameter_fails(gateway):
    serve(gateway, lambda body: ok(chat_body()) if body.get("stream") else None)
    c = run_check("agent-envelope", AGENT)
    assert (c.status, c.category) == (Status.FAIL, Category.GATEWAY) and "plain JSON body" in c.detail, c.detail


def test_a_usage_chunk_without_choices_is_noted(gateway):
    chunks = [{"object": "chat.completion.chunk", "model": "cand-model", "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
              {"object": "chat.completion.chunk", "model": "cand-model", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
              {"object": "chat.completion.chunk", "model": "cand-model", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}]
    stream = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    serve(gateway, lambda body: (200, {"Content-Type": "text/event-stream"}, stream) if body.get("stream") else None)
    c = run_check("agent-envelope", AGENT)
    assert c.status is Status.PASS and "a usage chunk with `choices: []` follows" in c.detail, c.detail


def test_the_parameters_probed_are_capped_and_said(gateway):
    many = replace(GENERIC_TOOLS, parameters={f"x_field_{i}": i for i in range(15)})
    serve(gateway, lambda body: None)
    c = run_check("agent-envelope", many)
    assert c.status is Status.PASS and "4 more parameters not probed (at most 12)" in c.detail  # 15 + parallel_tool_calls
    assert c.metrics["parameters"] == agent_envelope.MAX_PARAMETERS


def test_every_planned_label_is_read():
    settings = replace(make_settings(), profile=replace(AGENT, parameters={f"f{i}": i for i in range(40)}, tool_choice=tuple("abcdefg")))
    assert {p.label for p in agent_envelope.probes_for(settings, "m")} <= set(agent_envelope.SPEC.reads)


def test_responses_endpoint_shapes(gateway):
    serve(gateway, lambda body: None)
    c = run_check("agent-envelope", endpoint="responses")
    bodies = [c["body"] for c in raw_calls(gateway)]
    assert all("input" in b for b in bodies)
    assert all(t["type"] == "function" and "name" in t for b in bodies for t in b.get("tools", []))
    assert c.status is Status.PASS and "forced calls structured" in c.detail, c.detail  # the fake's tool-using model calls


# --------------------------------------------------------------------------------------------- context-window
def over_window(window: int) -> Callable[[dict[str, Any]], bool]:
    return lambda body: len(json.dumps(body)) / 4 > window


def test_without_context_tokens_the_check_is_skipped_and_makes_no_call(gateway):
    c = run_check("context-window")
    assert c.status is Status.SKIP and "gives no context_tokens" in c.detail
    assert raw_calls(gateway) == []


WINDOW = 4000
SMALL = replace(GENERIC_TOOLS, name="small-window", context_tokens=WINDOW)


@pytest.mark.parametrize(("over_reply", "needle"), [
    (refuse(400, "This model's maximum context length is 4000 tokens.", "context_length_exceeded"), "context-length error"),
    (refuse(400, "prompt is too long: 4800 tokens > 4000 maximum"), "context-length error"),
    (refuse(400, "Input length exceeds the limit"), "context-length error"),
    (refuse(413, "Request Entity Too Large"), "context-length error"),
])
def test_a_window_kept_and_a_classifiable_refusal_over_it_pass(gateway, over_reply, needle):
    serve(gateway, lambda body: over_reply if over_window(WINDOW)(body) else None)
    c = run_check("context-window", SMALL)
    assert (c.status, c.category) == (Status.PASS, Category.NONE), c.detail
    assert "report_status called" in c.detail and needle in c.detail and "characters / 4" in c.detail
    fill, over = (len(json.dumps(call["body"])) for call in raw_calls(gateway))
    assert 0.7 * WINDOW * 4 <= fill <= 0.8 * WINDOW * 4 and 1.15 * WINDOW * 4 <= over <= 1.25 * WINDOW * 4
    first = raw_calls(gateway)[0]["body"]
    assert first["messages"][0]["role"] == "system" and "report_status" in tool_names(first)


def test_a_context_error_already_near_the_window_passes(gateway):
    serve(gateway, lambda body: refuse(400, "maximum context length exceeded", "context_length_exceeded"))
    c = run_check("context-window", SMALL)
    assert c.status is Status.PASS and "at ~75% of 4000 tokens refused with a context-length error" in c.detail


def test_the_front_cut_silently_fails(gateway):
    serve(gateway, lambda body: ok(chat_body(content="Status: ok.")) if "report_status" in tool_names(body) else None)
    c = run_check("context-window", SMALL)
    assert (c.status, c.category) == (Status.FAIL, Category.GATEWAY)
    assert "without the report_status call" in c.detail and "cut silently" in c.detail


@pytest.mark.parametrize(("over_reply", "needle"), [
    (None, "answered HTTP 200: the request was cut silently"),
    (refuse(500, "Internal Server Error"), "HTTP 500: the agent sees a server failure"),
    (refuse(400, "temperature must be between 0 and 2"), "cannot classify as a context error"),
    ((400, {}, "nope"), "unstructured body"),
])
def test_over_the_window_anything_but_a_classifiable_4xx_fails(gateway, over_reply, needle):
    serve(gateway, lambda body: (over_reply or ok(chat_body(content="fine"))) if over_window(WINDOW)(body) else None)
    c = run_check("context-window", SMALL, retry=False)
    assert (c.status, c.category) == (Status.FAIL, Category.GATEWAY), c.detail
    assert needle in c.detail


@pytest.mark.parametrize("reply", [refuse(401, "Invalid API key"), refuse(503, "overloaded"), refuse(429, "slow down")])
def test_no_answer_near_the_window_is_an_evidence_gap(gateway, reply):
    serve(gateway, lambda body: None if is_sample(body) else reply)
    c = run_check("context-window", SMALL, retry=False)
    assert (c.status, c.category) == (Status.ERROR, Category.INFRASTRUCTURE), c.detail


def test_a_window_too_large_for_the_request_cap_is_filled_up_to_it_and_said(gateway):
    serve(gateway, lambda body: None)
    c = run_check("context-window", replace(SMALL, context_tokens=1_000_000))
    assert c.status is Status.PASS and "2 MiB request cap" in c.detail and "over-window call was not made" in c.detail
    sizes = [len(json.dumps(call["body"])) for call in raw_calls(gateway)]
    assert len(sizes) == 1 and context_window.MAX_REQUEST_BYTES * 0.95 <= sizes[0] <= context_window.MAX_REQUEST_BYTES
    assert "helper_" not in c.detail  # the filler never reaches an output
