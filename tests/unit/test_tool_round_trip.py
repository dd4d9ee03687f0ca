"""tool-round-trip: every outcome shape of the turn after a tool call, through the real suite on a `responses` gateway
that acts like a tool-using model (calls the forced tool, answers text once a result is in the history)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from approval.engine.checks import tool_round_trip as rt
from approval.engine.results import Category, CheckResult, Status
from approval.engine.suite import run_suite
from approval.settings.profile import GENERIC_TOOLS, PLAIN_CHAT, AgentProfile
from harness.mocked_gateway import FakeGateway, make_settings

CHECKS = "happy-path,tool-round-trip"
Body = dict[str, Any]


def error(status: int, message: str) -> tuple[int, dict[str, str], str]:
    return status, {}, json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}})


def has_result(body: Body) -> bool:
    items = body.get("messages") or body.get("input") or []
    return any(isinstance(i, dict) and (i.get("role") == "tool" or i.get("type") == "function_call_output") for i in items)


def is_conv(body: Body) -> bool:
    return "tools" in body and any(t.get("name", t.get("function", {}).get("name")) == "read_file" for t in body["tools"])


def chat_call(call_id: str = "call_abc123", path: str = "README.md", extra: Body | None = None, **fields: object) -> Body:
    message = {"role": "assistant", "content": None, **(extra or {}), **fields,
               "tool_calls": [{"id": call_id, "type": "function", "function": {"name": "read_file", "arguments": json.dumps({"path": path})}}]}
    return {"id": "c1", "object": "chat.completion", "model": "cand-model",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}


def chat_text(text: str = "It converts CSV files to JSON.") -> Body:
    return {"id": "c2", "object": "chat.completion", "model": "cand-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


def responses_call(call_id: str = "call_abc123", rid: str = "resp_1") -> Body:
    return {"id": rid, "object": "response", "model": "cand-model", "status": "completed", "error": None,
            "output": [{"type": "function_call", "id": "fc_1", "call_id": call_id, "name": "read_file",
                        "arguments": json.dumps({"path": "README.md"}), "status": "completed"}]}


def responses_text(rid: str = "resp_2") -> Body:
    return {"id": rid, "object": "response", "model": "cand-model", "status": "completed", "error": None,
            "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "A CSV to JSON tool."}]}]}


Model = Callable[[Body], tuple[int, dict[str, str], str]]


def tool_model(*, turn_2: Model | None = None, first: Body | None = None, responses_api: bool = False) -> Model:
    """A tool-using model: a call while no result is in the history, text after one (or `turn_2`'s answer)."""
    def answer(body: Body) -> tuple[int, dict[str, str], str]:
        if has_result(body):
            if turn_2 is not None:
                return turn_2(body)
            return 200, {}, json.dumps(responses_text() if responses_api else chat_text())
        return 200, {}, json.dumps(first or (responses_call() if responses_api else chat_call()))
    return answer


def run(gateway: FakeGateway, model: Model, profile: AgentProfile = GENERIC_TOOLS, endpoint: str = "chat",
        required: tuple[str, ...] = ()) -> CheckResult:
    gateway.on(is_conv, lambda body, _req: model(body))
    settings = dataclasses.replace(make_settings(checks=CHECKS, endpoint=endpoint), profile=profile)
    if required:
        settings = dataclasses.replace(settings, required=frozenset(required))
    found = run_suite(settings).candidates[0].check(rt.NAME)
    assert found is not None
    return found


def conv_bodies(gateway: FakeGateway) -> list[Body]:
    return [c["body"] for c in gateway.calls if is_conv(c["body"])]


def test_a_healthy_round_trip_passes_and_replays_the_assistant_turn_exactly(gateway: FakeGateway) -> None:
    extra: Body = {"reasoning_content": "I should read it.", "provider_specific_fields": {"sig": "abc"}}
    check = run(gateway, tool_model(first=chat_call(extra=extra)))
    assert check.status is Status.PASS, check.detail
    bodies = conv_bodies(gateway)
    first = next(b for b in bodies if not has_result(b))
    assert first["tool_choice"] == {"type": "function", "function": {"name": "read_file"}}
    replays = [b for b in bodies if has_result(b) and len(b["messages"]) == 3]
    exact = next(b for b in replays if "reasoning_content" in b["messages"][1])
    assert exact["messages"][1] == chat_call(extra=extra)["choices"][0]["message"]  # every field, as returned
    assert exact["messages"][2] == {"role": "tool", "tool_call_id": "call_abc123", "content": rt.FILE_TEXT}
    slim = next(b for b in replays if "reasoning_content" not in b["messages"][1])
    assert set(slim["messages"][1]) == {"role", "content", "tool_calls"}
    assert check.metrics["turn_2_ms"] is not None and check.metrics["tool_choice_required"] is False


@pytest.mark.parametrize("refusal", [
    error(400, "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'."),
    error(422, "tool_call_id not found"),
    error(404, "No tool call found for function call output"),  # the path answered turn 1: a 404 now is about the turn
    (400, {}, "Bad Request"),
])
def test_a_refused_second_turn_fails_as_the_gateway(gateway: FakeGateway, refusal: tuple[int, dict[str, str], str]) -> None:
    check = run(gateway, tool_model(turn_2=lambda body: refusal))
    assert (check.status, check.category) == (Status.FAIL, Category.GATEWAY), check.detail
    assert "the agent's second turn would be refused" in check.detail and f"HTTP {refusal[0]}" in check.detail


@pytest.mark.parametrize("text", ["Error: upstream connect error", "Internal Server Error"])
def test_an_error_text_as_the_second_turn_fails(gateway: FakeGateway, text: str) -> None:
    check = run(gateway, tool_model(turn_2=lambda body: (200, {}, json.dumps(chat_text(text)))))
    assert check.status is Status.FAIL and "error text" in check.detail, check.detail


@pytest.mark.parametrize("arguments", ['{"path": "README.md"}', '{"path":"README.md"}', '{ "path" : "README.md" }'])
def test_the_identical_call_after_its_result_is_the_loop_signature(gateway: FakeGateway, arguments: str) -> None:
    again = chat_call(call_id="call_other")  # a new id, the same name and arguments: the result did not reach the model
    again["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = arguments  # the same JSON, spaced otherwise
    check = run(gateway, tool_model(turn_2=lambda body: (200, {}, json.dumps(again))))
    assert (check.status, check.category) == (Status.FAIL, Category.GATEWAY), check.detail
    assert "would call 'read_file' again forever" in check.detail


def test_a_different_call_after_the_result_passes(gateway: FakeGateway) -> None:
    other = chat_call(call_id="call_2", path="CHANGELOG.md")
    check = run(gateway, tool_model(turn_2=lambda body: (200, {}, json.dumps(other))))
    assert check.status is Status.PASS and "a different call" in check.detail, check.detail


def reasoning_required(body: Body) -> tuple[int, dict[str, str], str]:
    assistant = next(m for m in body["messages"] if m.get("role") == "assistant")
    if not assistant.get("reasoning_content"):
        return error(400, "The `reasoning_content` in the thinking mode must be passed back to the API.")
    return 200, {}, json.dumps(chat_text())


@pytest.mark.parametrize(("profile", "required", "status"), [
    (GENERIC_TOOLS, (), Status.WARN),  # no reasoning fields declared: many agents drop it
    (GENERIC_TOOLS, ("tool-round-trip.stripped-replay",), Status.FAIL),
    (dataclasses.replace(GENERIC_TOOLS, reasoning_fields=("thinking_blocks",)), (), Status.FAIL),  # it round-trips others only
    (dataclasses.replace(GENERIC_TOOLS, drops_reasoning=True), (), Status.FAIL),  # it replays none (the openai Agents SDK)
    (dataclasses.replace(GENERIC_TOOLS, reasoning_fields=("reasoning_content",)), (), Status.PASS),  # the agent sends it back
])
def test_a_stripped_replay_refused_names_the_field_the_agent_must_round_trip(gateway: FakeGateway, profile: AgentProfile,
                                                                             required: tuple[str, ...], status: Status) -> None:
    check = run(gateway, tool_model(first=chat_call(reasoning_content="thinking…"), turn_2=reasoning_required), profile, required=required)
    assert check.status is status, check.detail
    assert "'reasoning_content'" in check.detail and check.metrics["stripped_refused"] is True
    # the synthetic parallel history carries no reasoning: its refusal for that is no finding about the translation
    assert "translation of grouped tool results" not in check.detail
    if status is not Status.PASS:
        assert "the agent must round-trip 'reasoning_content': an agent that replays the assistant turn without it would be refused" \
            in check.detail


def test_nothing_to_strip_makes_no_stripped_turn(gateway: FakeGateway) -> None:
    check = run(gateway, tool_model())
    assert check.status is Status.PASS and check.metrics["stripped_refused"] is None
    assert len([b for b in conv_bodies(gateway) if has_result(b) and len(b["messages"]) == 3]) == 1


def is_parallel(body: Body) -> bool:
    items = body.get("messages") or body.get("input") or []
    return any("call_rtparallel0" in json.dumps(i) for i in items)


@pytest.mark.parametrize("trailing_user", [False, True])
def test_a_refused_parallel_history_fails(gateway: FakeGateway, trailing_user: bool) -> None:
    def model(body: Body) -> tuple[int, dict[str, str], str]:
        if is_parallel(body) and (body["messages"][-1]["role"] == "user") == trailing_user:
            return error(400, "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'.")
        return tool_model()(body)

    check = run(gateway, model)
    assert (check.status, check.category) == (Status.FAIL, Category.GATEWAY), check.detail
    assert "translation of grouped tool results is broken" in check.detail
    sent = [b for b in conv_bodies(gateway) if is_parallel(b)]
    assert len(sent) == 2 and all(len(b["messages"][1]["tool_calls"]) == 2 for b in sent)
    assert [b["messages"][2]["tool_call_id"] for b in sent] == ["call_rtparallel0"] * 2


@pytest.mark.parametrize("turn_2_refused", [False, True])
def test_a_refused_named_tool_choice_is_retried_with_required_and_said(gateway: FakeGateway, turn_2_refused: bool) -> None:
    refuse = (lambda body: error(400, "messages with role 'tool' must be a response")) if turn_2_refused else None

    def model(body: Body) -> tuple[int, dict[str, str], str]:
        if isinstance(body.get("tool_choice"), dict):
            return error(400, "tool_choice must be one of auto, none, required")
        return tool_model(turn_2=refuse)(body)

    check = run(gateway, model)
    assert check.status is (Status.FAIL if turn_2_refused else Status.PASS), check.detail
    assert check.metrics["tool_choice_required"] is True
    assert "tool_choice naming 'read_file' was refused (HTTP 400: tool_choice must be one of" in check.detail
    assert 'so the call was forced with "required"' in check.detail
    assert any(b.get("tool_choice") == "required" for b in conv_bodies(gateway))


def test_a_forced_call_answered_with_text_fails(gateway: FakeGateway) -> None:
    check = run(gateway, lambda body: (200, {}, json.dumps(chat_text())))
    assert check.status is Status.FAIL and "without a tool call" in check.detail, check.detail


NOT_STREAMING = dataclasses.replace(GENERIC_TOOLS, streams=False)


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_an_empty_call_id_fails(gateway: FakeGateway, endpoint: str) -> None:
    first = responses_call(call_id="") if endpoint == "responses" else chat_call(call_id="")
    check = run(gateway, tool_model(first=first, responses_api=endpoint == "responses"), NOT_STREAMING, endpoint=endpoint)
    assert (check.status, check.category) == (Status.FAIL, Category.GATEWAY), check.detail
    assert "empty " + ("call_id" if endpoint == "responses" else "id") in check.detail


def sse(events: list[tuple[str, Body]]) -> tuple[int, dict[str, str], str]:
    text = "".join(f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n" for kind, payload in events)
    return 200, {"Content-Type": "text/event-stream"}, text


def streamed_call(call_id: str = "call_abc123", completed_id: str = "resp_1", added_call_id: str | None = None) -> Model:
    item = responses_call(call_id)["output"][0]
    def answer(body: Body) -> tuple[int, dict[str, str], str]:
        if not body.get("stream"):
            return tool_model(responses_api=True)(body)
        return sse([("response.created", {"response": {"id": "resp_1", "object": "response", "status": "in_progress", "output": []}}),
                    ("response.output_item.added", {"output_index": 0, "item": {**item, "call_id": added_call_id if added_call_id is not None else call_id}}),
                    ("response.output_item.done", {"output_index": 0, "item": item}),
                    ("response.completed", {"response": {**responses_call(call_id, completed_id)}})])
    return answer


@pytest.mark.parametrize(("model", "needle"), [
    (streamed_call(), None),
    (streamed_call(added_call_id=""), "empty call_id"),
    (streamed_call(completed_id="resp_other"), "response id changes"),
])
def test_a_streamed_responses_call_keeps_its_ids(gateway: FakeGateway, model: Model, needle: str | None) -> None:
    check = run(gateway, model, endpoint="responses")
    if needle is None:
        assert check.status is Status.PASS, check.detail
        replay = next(b for b in conv_bodies(gateway) if has_result(b) and not is_parallel(b))
        assert replay["input"][1] == responses_call()["output"][0]  # the function_call item exactly as returned
        assert replay["input"][2] == {"type": "function_call_output", "call_id": "call_abc123", "output": rt.FILE_TEXT}
    else:
        assert check.status is Status.FAIL and needle in check.detail, check.detail


CHAINING = dataclasses.replace(GENERIC_TOOLS, endpoint="responses", previous_response_id=True, streams=False)


def chained(answer: Callable[[Body], tuple[int, dict[str, str], str]]) -> Model:
    def model(body: Body) -> tuple[int, dict[str, str], str]:
        if body.get("previous_response_id"):
            return answer(body)
        return tool_model(responses_api=True)(body)
    return model


@pytest.mark.parametrize(("answer", "status", "outcome", "needle"), [
    (lambda body: (200, {}, json.dumps(responses_text())), Status.PASS, "used", None),
    (lambda body: (200, {}, json.dumps(responses_call(call_id="call_new", rid="resp_9"))), Status.FAIL, "ignored",
     "previous_response_id is ignored"),
    (lambda body: error(400, "previous_response_id is not supported"), Status.WARN, "refused", "does not keep previous_response_id"),
    (lambda body: error(404, "Response with id 'resp_1' not found."), Status.WARN, "refused", "does not keep previous_response_id"),
    (lambda body: (400, {}, "Bad Request"), Status.FAIL, None, "would be refused: HTTP 400: Bad Request"),
    (lambda body: (200, {}, json.dumps({"object": "response", "status": "completed", "output": []})), Status.FAIL, None,
     "no usable answer"),
])
def test_previous_response_id_is_used_or_refused_never_ignored(gateway: FakeGateway, answer: Model, status: Status,
                                                              outcome: str | None, needle: str | None) -> None:
    check = run(gateway, chained(answer), CHAINING, endpoint="responses")
    assert check.status is status and check.metrics.get("previous_response_id") == outcome, check.detail
    if needle:
        assert needle in check.detail
    sent = next(b for b in conv_bodies(gateway) if b.get("previous_response_id"))
    assert sent["previous_response_id"] == "resp_1" and [i["type"] for i in sent["input"]] == ["function_call_output"]


def test_a_stateless_reasoning_profile_replays_three_times_with_encrypted_reasoning(gateway: FakeGateway) -> None:
    profile = dataclasses.replace(GENERIC_TOOLS, endpoint="responses", reasoning_fields=("encrypted_content",), streams=False)
    check = run(gateway, tool_model(responses_api=True), profile, endpoint="responses")
    assert check.status is Status.PASS and check.metrics["replays"] == 3, check.detail
    replays = [b for b in conv_bodies(gateway) if has_result(b) and not is_parallel(b)]
    assert all(b["store"] is False and b["include"] == ["reasoning.encrypted_content"] for b in replays)


@pytest.mark.parametrize("failure", [ConnectionError("refused"), (500, {}, "upstream down"), (429, {}, "slow down")])
def test_an_unanswered_second_turn_is_an_evidence_gap(gateway: FakeGateway, failure: Any) -> None:
    def turn_2(body: Body) -> tuple[int, dict[str, str], str]:
        if isinstance(failure, Exception):
            raise failure
        answer: tuple[int, dict[str, str], str] = failure
        return answer

    check = run(gateway, tool_model(turn_2=turn_2))
    assert check.status is Status.ERROR and check.category is Category.INFRASTRUCTURE, check.detail
    assert "got no answer" in check.detail and check.metrics["turn_2_ms"] is None


def test_the_run_deadline_leaves_the_check_an_error_never_a_pass(gateway: FakeGateway) -> None:
    def slow(body: Body) -> tuple[int, dict[str, str], str]:
        time.sleep(3)
        return tool_model()(body)

    gateway.on(is_conv, lambda body, _req: slow(body))
    settings = make_settings(checks=CHECKS, timeout="2")
    check = run_suite(settings).candidates[0].check(rt.NAME)
    assert check is not None
    assert check.status is Status.ERROR, check.detail


def test_a_profile_without_tools_skips_and_sends_nothing(gateway: FakeGateway) -> None:
    check = run(gateway, tool_model(), PLAIN_CHAT)
    assert check.status is Status.SKIP and "has no tools" in check.detail
    assert conv_bodies(gateway) == []


@pytest.mark.parametrize(("failure", "category"), [
    ((503, {}, "upstream unavailable"), Category.INFRASTRUCTURE),
    ((401, {}, json.dumps({"error": {"message": "Invalid API key"}})), Category.INFRASTRUCTURE),
])
def test_an_unanswered_first_call_is_an_evidence_gap_and_nothing_more_is_sent(gateway: FakeGateway, failure: Any,
                                                                              category: Category) -> None:
    check = run(gateway, lambda body: failure)
    assert (check.status, check.category) == (Status.ERROR, category), check.detail
    assert "the agent's forced first call got no answer" in check.detail
    assert not any(has_result(b) for b in conv_bodies(gateway) if not is_parallel(b))  # no replay of an answer never given


def tool(name: str, **props: str) -> Body:
    return {"name": name, "description": "", "parameters": {"type": "object", "properties": {k: {"type": v} for k, v in props.items()},
                                                           "required": list(props)}}


@pytest.mark.parametrize(("tools", "chosen", "arguments"), [
    ([tool("write_file", path="string", content="string"), tool("read_file", path="string")], "read_file", {"path": "README.md"}),
    ([tool("list_dir", path="string"), tool("readFile", filePath="string")], "readFile", {"filePath": "README.md"}),
    ([tool("bash", command="string"), tool("view", file_path="string")], "view", {"file_path": "README.md"}),
    ([tool("locate", pattern="string"), tool("edit", path="string")], "edit", {"path": "README.md"}),  # no reading word: a path
    ([tool("run_shell_command", command="string")], "run_shell_command", {"command": "cat README.md"}),  # else the first tool
])
def test_the_forced_tool_is_the_profiles_file_reader(tools: list[Body], chosen: str, arguments: Body) -> None:
    profile = dataclasses.replace(GENERIC_TOOLS, tools=tuple(tools))
    found = rt.reading_tool(profile)
    assert found["name"] == chosen
    assert json.loads(rt.arguments_for(found, "README.md")) == arguments


@pytest.mark.parametrize(("endpoint", "turn", "kept", "dropped"), [
    ("chat",
     [{"role": "assistant", "content": None, "reasoning_content": "r", "thinking_blocks": [{"type": "thinking"}], "refusal": None,
       "tool_calls": [{"id": "c1", "type": "function", "index": 0, "function": {"name": "read_file", "arguments": "{}", "x": 1}}]}],
     [{"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                             "function": {"name": "read_file", "arguments": "{}"}}]}],
     ["reasoning_content", "thinking_blocks", "refusal", "index", "function.x"]),
    ("responses",
     [{"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAA"},
      {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": "t"}]},
      {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "read_file", "arguments": "{}", "status": "completed"}],
     [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "t"}]},
      {"type": "function_call", "call_id": "c1", "name": "read_file", "arguments": "{}"}],
     ["reasoning items", "id", "status"]),
])
def test_a_stripped_turn_keeps_what_agents_rebuild_and_names_what_it_leaves_out(endpoint: str, turn: list[Body], kept: list[Body],
                                                                                 dropped: list[str]) -> None:
    assert rt.stripped(turn, endpoint) == (kept, dropped)


def test_a_stripped_replay_that_loops_is_named_like_a_refused_one(gateway: FakeGateway) -> None:
    def loops_without_reasoning(body: Body) -> tuple[int, dict[str, str], str]:
        assistant: Body = next((m for m in body["messages"] if m.get("role") == "assistant"), {})
        if "call_rtparallel0" in json.dumps(body) or assistant.get("reasoning_content"):
            return 200, {}, json.dumps(chat_text())
        return 200, {}, json.dumps(chat_call(call_id="call_again"))  # the result was dropped with the reasoning

    check = run(gateway, tool_model(first=chat_call(reasoning_content="r"), turn_2=loops_without_reasoning))
    assert (check.status, check.category) == (Status.WARN, Category.GATEWAY), check.detail
    assert check.detail.startswith("the agent must round-trip what a stripped turn leaves out (reasoning_content): an agent that "
                                   "replays the assistant turn without it would not get a usable next turn"), check.detail
    assert "again forever" in check.detail and check.metrics["stripped_refused"] is False
