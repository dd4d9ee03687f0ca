"""streamed-tool-calls over scripted streams: every class of a streamed tool call rebuilt wrong, judged as the agent's
own client (the profile's `client`) rebuilds it, against the non-streamed twin."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

import pytest

from approval.engine.checks import streamed_tool_calls as stc
from approval.engine.checks.base import Evidence
from approval.engine.gateway import Exchange, SSEEvent
from approval.engine.results import Category, Status
from approval.settings.build import Settings
from approval.settings.profile import GENERIC_TOOLS, PLAIN_CHAT, AgentProfile
from harness.mocked_gateway import make_settings
from harness.tool_call_streams import CALLS, SCRIPTED, Chunks, chunk, pieces, streamed


def stream_exchange(label: str, chunks: Chunks) -> Exchange:
    events = [SSEEvent(None, json.dumps(c)) for c in chunks] + [SSEEvent(None, "[DONE]")]
    return Exchange(label, "POST", "/chat/completions", status=200, headers={"content-type": "text/event-stream"}, events=events,
                    stream_complete=True, attempts=1)


def twin_exchange(label: str, calls: list[tuple[str, str, str]], status: int = 200) -> Exchange:
    message = {"role": "assistant", "content": None if calls else "I would rather not.",
               "tool_calls": [{"id": c, "type": "function", "function": {"name": n, "arguments": a}} for c, n, a in calls]}
    body: dict[str, Any] = {"id": "chatcmpl-2", "object": "chat.completion", "model": "cand-model",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    if status != 200:
        body = {"error": {"message": "upstream failed", "type": "server_error"}}
    return Exchange(label, "POST", "/chat/completions", status=status, headers={"content-type": "application/json"},
                    body=json.dumps(body).encode(), attempts=1)


def settings_for(client: str = "openai-python", **profile: Any) -> Settings:
    return replace(make_settings(), profile=replace(GENERIC_TOOLS, client=client, **profile))  # type: ignore[arg-type]


def evidence(settings: Settings, single: Chunks, parallel: Chunks, *, single_twin: int = 1, parallel_twin: int = 2) -> Evidence:
    return Evidence(settings, "cand-model", {
        stc.SINGLE: stream_exchange(stc.SINGLE, single), stc.SINGLE + stc.TWIN: twin_exchange(stc.SINGLE, CALLS[:single_twin]),
        stc.PARALLEL: stream_exchange(stc.PARALLEL, parallel), stc.PARALLEL + stc.TWIN: twin_exchange(stc.PARALLEL, CALLS[:parallel_twin]),
    })


def judge(client: str, make: Callable[[list[tuple[str, str, str]]], Chunks], **profile: Any) -> tuple[Status, str]:
    healthy = streamed(CALLS[:1])
    settings = settings_for(client, **profile)
    one = stc.evaluate(evidence(settings, make(CALLS[:1]), streamed(CALLS)))
    two = stc.evaluate(evidence(settings, healthy, make(CALLS)))
    worse = max((one, two), key=lambda r: [Status.PASS, Status.WARN, Status.FAIL, Status.ERROR].index(r.status))
    return worse.status, worse.detail


P, W, F = Status.PASS, Status.WARN, Status.FAIL
# (class, the stream, status as the openai Python SDK rebuilds it, as the AI SDK does, a word the detail says)
EXPECTED: dict[str, tuple[Status, Status, str]] = {
    "healthy": (P, P, "match their non-streamed twins"),
    "duplicate summary chunk": (F, W, "repeats the call's whole arguments"),
    "all calls at index 0": (F, W, "share one `index`"),
    "index missing": (F, W, "index"),
    "the same id on every chunk": (W, P, "id"),
    "an id that changes from chunk to chunk": (F, F, "id changes"),
    "the name on every chunk": (F, W, "name is sent more than once"),
    "arguments dropped": (F, F, "schema refuses"),
    "the calls only in the final frame": (W, W, "only in the final chunk"),
    "finish_reason stop beside the calls": (W, W, "finish_reason 'stop'"),
    "all arguments in one chunk (buffered)": (P, P, "buffered"),
    "no finish_reason": (W, F, "finish"),
    "a delta without a function object": (P, F, "function"),
}
CLASSES = [(name, SCRIPTED[name], *expected) for name, expected in EXPECTED.items()]


@pytest.mark.parametrize(("name", "make", "as_python", "as_ai_sdk", "said"), CLASSES, ids=[c[0] for c in CLASSES])
@pytest.mark.parametrize("client", ["openai-python", "ai-sdk"])
def test_each_class_is_judged_as_the_agents_client_rebuilds_it(name: str, make: Any, as_python: Status, as_ai_sdk: Status, said: str,
                                                               client: str) -> None:
    status, detail = judge(client, make)
    assert status is (as_python if client == "openai-python" else as_ai_sdk), detail
    if status is Status.PASS:
        assert "match their non-streamed twins" in detail
    if status is not Status.PASS or said == "buffered":
        assert said in detail


def test_a_merged_call_says_what_the_agent_would_get() -> None:
    status, detail = judge("openai-python", lambda c: streamed(c, summary=True))
    assert status is Status.FAIL
    assert "read_file call would arrive as 'read_fileread_file' with arguments that are not JSON" in detail
    assert "its tool would never run" in detail
    # the AI SDK takes the trailing summary for a second call: the same read, run twice
    status, detail = judge("ai-sdk", lambda c: streamed(c, summary=True))
    assert status is Status.WARN and "would run its read_file call twice" in detail


def test_a_repeated_call_fails_when_required() -> None:
    settings = replace(settings_for("ai-sdk"), required=frozenset({"streamed-tool-calls.duplicate-calls"}))
    result = stc.evaluate(evidence(settings, streamed(CALLS[:1], summary=True), streamed(CALLS)))
    assert result.status is Status.FAIL and "twice" in result.detail


def test_a_stream_without_finish_reason_is_an_error_part_for_the_ai_sdk() -> None:
    status, detail = judge("ai-sdk", lambda c: streamed(c, finish=None))
    assert status is Status.FAIL and "ended without a finish reason" in detail


@pytest.mark.parametrize("calls", [CALLS[:1], CALLS], ids=["single", "parallel"])
@pytest.mark.parametrize(("name", "make"), list(SCRIPTED.items()), ids=list(SCRIPTED))
def test_the_openai_python_rebuild_is_the_sdks_own(name: str, make: Any, calls: list[tuple[str, str, str]]) -> None:
    """The rebuild judged as the openai Python SDK's is what the SDK's stream helper itself makes of the same chunks."""
    from openai._models import construct_type
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    chunks = make(calls)
    mine = stc.rebuild_openai_python(chunks)
    state = ChatCompletionStreamState()
    try:
        for raw in chunks:
            state.handle_chunk(cast(ChatCompletionChunk, construct_type(type_=ChatCompletionChunk, value=raw)))
        final = state.get_final_completion().choices[0]
    except TypeError:
        assert mine.error is not None and "TypeError" in mine.error
        return
    assert mine.error is None
    assert [(c.id, c.name, c.arguments) for c in mine.calls] == \
        [(t.id, t.function.name, t.function.arguments) for t in final.message.tool_calls or []]
    assert mine.finish_reason == final.finish_reason


@pytest.mark.parametrize(("client", "make", "expected"), [
    ("tolerant", lambda c: streamed(c, summary=True), W),
    ("tolerant", lambda c: streamed(c, index=lambda k: 0), W),
    ("tolerant", lambda c: streamed(c, index=lambda k: None), W),
    ("openai-node", lambda c: streamed(c, summary=True), F),
    ("openai-node", lambda c: streamed(c, name_on_every=True), W),
    ("openai-node", lambda c: streamed(c, index=lambda k: None), F),
    ("litellm", lambda c: streamed(c, index=lambda k: 0), F),
])
def test_other_clients_rebuild_by_their_own_rules(client: str, make: Any, expected: Status) -> None:
    assert judge(client, make)[0] is expected


@pytest.mark.parametrize("client", ["openai-python", "ai-sdk"])
def test_stop_beside_calls_fails_when_the_agent_relies_on_finish_reason(client: str) -> None:
    status, detail = judge(client, lambda c: streamed(c, finish="stop"), relies_on_finish_reason=True)
    assert status is Status.FAIL and "the agent relies on it" in detail


def test_stop_beside_calls_fails_when_required() -> None:
    settings = replace(settings_for(), required=frozenset({"streamed-tool-calls.finish-reason"}))
    result = stc.evaluate(evidence(settings, streamed(CALLS[:1], finish="stop"), streamed(CALLS)))
    assert result.status is Status.FAIL


@pytest.mark.parametrize("client", ["openai-python", "ai-sdk"])
def test_one_call_where_two_were_asked_is_inconclusive_not_failed(client: str) -> None:
    result = stc.evaluate(evidence(settings_for(client), streamed(CALLS[:1]), streamed(CALLS[:1]), parallel_twin=1))
    assert result.status is Status.PASS and "inconclusive" in result.detail
    assert result.metrics["parallel_calls"] == result.metrics["parallel_twin_calls"] == 1


def test_a_stream_that_loses_one_of_the_twins_calls_fails() -> None:
    result = stc.evaluate(evidence(settings_for("ai-sdk"), streamed(CALLS[:1]), streamed(CALLS[:1]), parallel_twin=2))
    assert result.status is Status.FAIL and "lost silently" in result.detail


# ----------------------------------------------------------------------------------------------- evidence rules
def with_exchange(label: str, exchange: Exchange) -> Evidence:
    ev = evidence(settings_for(), streamed(CALLS[:1]), streamed(CALLS))
    return Evidence(ev.settings, ev.model, {**ev.exchanges, label: exchange})


@pytest.mark.parametrize("label", [stc.SINGLE, stc.PARALLEL + stc.TWIN])
def test_an_unanswered_call_is_an_evidence_gap_and_nothing_is_measured_over_it(label: str) -> None:
    gone = Exchange(label, "POST", "/chat/completions", transport_error="connect", transport_detail="could not connect", attempts=3,
                    events=[] if label == stc.SINGLE else None)
    result = stc.evaluate(with_exchange(label, gone))
    assert result.status is Status.ERROR and result.category is Category.INFRASTRUCTURE
    which = "parallel" if "parallel" in label else "single"
    assert result.metrics[f"{which}_calls"] is None


@pytest.mark.parametrize(("status", "expected"), [(500, Status.ERROR), (400, Status.FAIL)])
def test_a_refused_twin_is_judged_by_whose_fault_it_is(status: int, expected: Status) -> None:
    result = stc.evaluate(with_exchange(stc.SINGLE + stc.TWIN, twin_exchange(stc.SINGLE, CALLS[:1], status=status)))
    assert result.status is expected and "twin" in result.detail


def test_a_call_that_did_not_finish_in_time_is_an_error() -> None:
    ev = evidence(settings_for(), streamed(CALLS[:1]), streamed(CALLS))
    partial = Evidence(ev.settings, ev.model, {k: v for k, v in ev.exchanges.items() if k != stc.PARALLEL})
    assert stc.evaluate(partial).status is Status.ERROR


def test_a_stream_answered_as_plain_json_fails() -> None:
    plain = twin_exchange(stc.SINGLE, CALLS[:1])
    result = stc.evaluate(with_exchange(stc.SINGLE, plain))
    assert result.status is Status.FAIL and "plain JSON" in result.detail


def test_no_call_streamed_or_not_is_inconclusive() -> None:
    text = [chunk(content="I would rather not."), chunk(finish="stop")]
    ev = evidence(settings_for(), text, streamed(CALLS))
    ev = Evidence(ev.settings, ev.model, {**ev.exchanges, stc.SINGLE + stc.TWIN: twin_exchange(stc.SINGLE, [])})
    result = stc.evaluate(ev)
    assert result.status is Status.WARN and "inconclusive" in result.detail


def test_the_detail_is_redacted() -> None:
    from harness.mocked_gateway import CANARY_KEY

    leaky = [(cid, CANARY_KEY, args) for cid, _, args in CALLS]
    result = stc.evaluate(evidence(settings_for(), streamed(leaky[:1]), streamed(CALLS)))
    assert result.status is Status.FAIL and CANARY_KEY not in result.detail


# ----------------------------------------------------------------------------------------------- when it applies
@pytest.mark.parametrize(("profile", "said"), [(PLAIN_CHAT, "sends no tools"), (replace(GENERIC_TOOLS, streams=False), "does not stream")])
def test_it_is_skipped_and_makes_no_call_when_the_agent_streams_no_tools(profile: AgentProfile, said: str) -> None:
    settings = replace(make_settings(), profile=profile)
    assert stc.probes_for(settings, "cand-model") == []
    result = stc.evaluate(Evidence(settings, "cand-model", {}))
    assert result.status is Status.SKIP and said in result.detail


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
@pytest.mark.parametrize("parallel", [True, None, False])
def test_the_calls_it_makes(endpoint: str, parallel: bool | None) -> None:
    settings = replace(make_settings(endpoint=endpoint), profile=replace(GENERIC_TOOLS, parallel_tool_calls=parallel))
    probes = stc.probes_for(settings, "cand-model")
    assert [p.label for p in probes] == [stc.SINGLE, stc.SINGLE + stc.TWIN] + ([stc.PARALLEL, stc.PARALLEL + stc.TWIN] if parallel is not False else [])
    assert set(stc.SPEC.reads) >= {p.label for p in probes}
    for streamed_probe, twin in zip(probes[::2], probes[1::2], strict=True):
        assert streamed_probe.stream and streamed_probe.payload is not None and streamed_probe.payload["stream"] is True
        assert twin.payload == {k: v for k, v in streamed_probe.payload.items() if k != "stream"} and not twin.stream
        assert twin.payload["tool_choice"] == "required" and twin.path == settings.path_for(endpoint)
        names = [t["name"] if endpoint == "responses" else t["function"]["name"] for t in twin.payload["tools"]]
        assert names == [t["name"] for t in GENERIC_TOOLS.tools]
    if parallel is not False:
        assert probes[2].payload is not None and "two files in parallel" in json.dumps(probes[2].payload)
        # the field as the agent sends it: an agent that never sends it is asked without it (a route refusing it is
        # one it never meets)
        assert probes[2].payload.get("parallel_tool_calls") is (True if parallel else None)


# ----------------------------------------------------------------------------------------------- Responses
def responses_events(calls: list[tuple[str, str, str]], *, summary: bool = False, items_wrong: bool = False, call_id: str | None = None,
                     shared_index: bool = False) -> list[SSEEvent]:
    response = {"id": "resp_1", "object": "response", "status": "in_progress", "model": "cand-model", "output": []}
    events: list[tuple[str, dict[str, Any]]] = [("response.created", {"response": response})]
    items = []
    for k, (given_id, name, args) in enumerate(calls):
        at = 0 if shared_index else k
        cid = call_id if call_id is not None else given_id
        final_args = args + args if items_wrong else args
        item = {"type": "function_call", "id": f"fc_{k}", "call_id": cid, "name": name, "arguments": final_args, "status": "completed"}
        items.append(item)
        events.append(("response.output_item.added", {"output_index": at, "item": {**item, "arguments": "", "status": "in_progress"}}))
        for piece in pieces(args) + ([args] if summary else []):
            events.append(("response.function_call_arguments.delta", {"item_id": f"fc_{k}", "output_index": at, "delta": piece}))
        events.append(("response.output_item.done", {"output_index": at, "item": item}))
    events.append(("response.completed", {"response": {**response, "status": "completed", "output": items}}))
    return [SSEEvent(kind, json.dumps({"type": kind, **payload})) for kind, payload in events]


def responses_twin(label: str, calls: list[tuple[str, str, str]]) -> Exchange:
    output = [{"type": "function_call", "id": f"fc_{k}", "call_id": c, "name": n, "arguments": a, "status": "completed"}
              for k, (c, n, a) in enumerate(calls)]
    body = {"id": "resp_2", "object": "response", "status": "completed", "model": "cand-model", "output": output}
    return Exchange(label, "POST", "/responses", status=200, headers={"content-type": "application/json"}, body=json.dumps(body).encode(),
                    attempts=1)


def responses_evidence(client: str, **kw: Any) -> Evidence:
    settings = replace(make_settings(endpoint="responses"), profile=replace(GENERIC_TOOLS, client=client))  # type: ignore[arg-type]
    exchanges = {}
    for label, calls in ((stc.SINGLE, CALLS[:1]), (stc.PARALLEL, CALLS)):
        exchanges[label] = Exchange(label, "POST", "/responses", status=200, headers={"content-type": "text/event-stream"},
                                    events=responses_events(calls, **kw), stream_complete=True, attempts=1)
        exchanges[label + stc.TWIN] = responses_twin(label, calls)
    return Evidence(settings, "cand-model", exchanges)


@pytest.mark.parametrize(("kw", "as_python", "as_ai_sdk", "said"), [
    ({}, P, P, "match"),
    # the deltas join wrong, the finished items (what the clients keep) are right
    ({"summary": True}, W, W, "deltas join into text that is not JSON"),
    # the duplicate reached the finished items too: silent for every client
    ({"summary": True, "items_wrong": True}, F, F, "not JSON"),
    ({"call_id": ""}, F, F, "empty call_id"),
    ({"shared_index": True}, F, W, "output_index"),
])
@pytest.mark.parametrize("client", ["openai-python", "ai-sdk"])
def test_responses_streams_are_judged_by_their_items_and_deltas(kw: dict[str, Any], as_python: Status, as_ai_sdk: Status, said: str,
                                                               client: str) -> None:
    result = stc.evaluate(responses_evidence(client, **kw))
    assert result.status is (as_python if client == "openai-python" else as_ai_sdk), result.detail
    assert said in result.detail


@pytest.mark.parametrize("kw", [{}, {"summary": True}, {"summary": True, "items_wrong": True}, {"shared_index": True}])
def test_the_openai_python_responses_rebuild_is_the_sdks_own(kw: dict[str, Any]) -> None:
    from openai import omit
    from openai._models import construct_type
    from openai.lib.streaming.responses._responses import ResponseStreamState
    from openai.types.responses import ResponseStreamEvent

    events = responses_events(CALLS, **kw)
    facts, places = stc.responses_facts(stc.responses_payloads(events))
    mine = stc.rebuild_responses("openai-python", facts, places, has_completed=True)
    state: ResponseStreamState[None] = ResponseStreamState(input_tools=[], text_format=omit)
    try:
        for event in events:
            state.handle_event(construct_type(type_=ResponseStreamEvent, value=json.loads(event.data)))  # type: ignore[arg-type]
    except RuntimeError as exc:
        assert mine.error is not None and str(exc).rstrip(".0123456789 ") in mine.error
        return
    final = state._completed_response
    assert final is not None and mine.error is None
    assert [(c.id, c.name, c.arguments) for c in mine.calls] == \
        [(o.call_id, o.name, o.arguments) for o in final.output if o.type == "function_call"]


def test_a_twin_without_a_call_leaves_the_count_uncompared_but_the_streamed_calls_judged() -> None:
    ev = evidence(settings_for(), streamed(CALLS[:1]), streamed(CALLS))
    without = Evidence(ev.settings, ev.model, {**ev.exchanges, stc.SINGLE + stc.TWIN: twin_exchange(stc.SINGLE, [])})
    result = stc.evaluate(without)
    assert result.status is Status.WARN and "twin made no tool call" in result.detail
    merged = Evidence(ev.settings, ev.model, {**without.exchanges, stc.SINGLE: stream_exchange(stc.SINGLE, streamed(CALLS[:1], summary=True))})
    assert stc.evaluate(merged).status is Status.FAIL


@pytest.mark.parametrize(("end", "category"), [("response.failed", Category.GATEWAY), ("response.incomplete", Category.MODEL)])
def test_a_responses_stream_that_does_not_complete_fails(end: str, category: Category) -> None:
    ev = responses_evidence("openai-python")
    events = [e for e in ev.exchanges[stc.SINGLE].events or [] if e.event != "response.completed"]
    events.append(SSEEvent(end, json.dumps({"type": end, "response": {"id": "resp_1", "status": end.split(".")[1]}})))
    broken = Exchange(stc.SINGLE, "POST", "/responses", status=200, headers={"content-type": "text/event-stream"}, events=events,
                      stream_complete=True, attempts=1)
    result = stc.evaluate(Evidence(ev.settings, ev.model, {**ev.exchanges, stc.SINGLE: broken}))
    assert result.status is Status.FAIL and result.category is category and end in result.detail
