"""The stub upstream models behave as documented: a tool-using model on three protocols, each provider's rules
enforced with its real 400, and each defect doing what it says (plain `requests`, 127.0.0.1 only, short timeouts)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from harness.stub_upstream import (
    DEFECTS,
    NO_TOOLS_TEXT,
    QUOTE_PREFIX,
    RESULT_PREFIX,
    StubUpstream,
    Tool,
    Turn,
    anthropic_turn,
    chat_turn,
    decide,
    fill_arguments,
    parse_model,
    signature_for,
)

TIMEOUT = (2.0, 5.0)
READ = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
CHAT_TOOLS = [{"type": "function", "function": {"name": "read_file", "parameters": READ}}]
RESPONSES_TOOLS = [{"type": "function", "name": "read_file", "parameters": READ}]
ANTHROPIC_TOOLS = [{"name": "read_file", "input_schema": READ}]


@pytest.fixture(scope="module")
def stub() -> Iterator[StubUpstream]:
    with StubUpstream(defects={"twin": ["refuse-turn-2"]}) as upstream:
        yield upstream
        assert upstream.handler_errors == []


def post(stub: StubUpstream, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{stub.root_url}{path}", json=body, timeout=TIMEOUT)


def chat(stub: StubUpstream, messages: list[dict[str, Any]], model: str = "stub-model", **extra: Any) -> requests.Response:
    return post(stub, "/v1/chat/completions", {"model": model, "messages": messages, "tools": CHAT_TOOLS, **extra})


def messages_api(stub: StubUpstream, messages: list[dict[str, Any]], model: str = "stub-model", **extra: Any) -> requests.Response:
    return post(stub, "/v1/messages", {"model": model, "max_tokens": 256, "messages": messages, "tools": ANTHROPIC_TOOLS, **extra})


def responses(stub: StubUpstream, body: dict[str, Any], model: str = "stub-model") -> requests.Response:
    return post(stub, "/v1/responses", {"model": model, "tools": RESPONSES_TOOLS, **body})


def sse(text: str) -> list[tuple[str | None, Any]]:
    """(event name, data) for every event of a stream; `[DONE]` as the string."""
    events: list[tuple[str | None, Any]] = []
    for block in text.split("\n\n"):
        name = next((line[7:] for line in block.splitlines() if line.startswith("event: ")), None)
        data = next((line[6:] for line in block.splitlines() if line.startswith("data: ")), None)
        if data is not None:
            events.append((name, data if data == "[DONE]" else json.loads(data)))
    return events


def joined_chat_calls(text: str) -> tuple[dict[int, dict[str, str]], list[str]]:
    calls: dict[int, dict[str, str]] = {}
    finishes: list[str] = []
    for _, chunk in sse(text):
        if chunk == "[DONE]":
            continue
        for choice in chunk["choices"]:
            if choice.get("finish_reason"):
                finishes.append(choice["finish_reason"])
            for delta in choice["delta"].get("tool_calls") or []:
                call = calls.setdefault(delta["index"], {"name": "", "arguments": ""})
                call["name"] += delta.get("function", {}).get("name") or ""
                call["arguments"] += delta.get("function", {}).get("arguments") or ""
    return calls, finishes


def assert_openai_error(response: requests.Response, *fragments: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    for fragment in fragments:
        assert fragment in error["message"]


def assert_anthropic_error(response: requests.Response, *fragments: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error" and body["request_id"].startswith("req_")
    for fragment in fragments:
        assert fragment in body["error"]["message"]


# --------------------------------------------------------------------------------------------- the model's choices
@pytest.mark.parametrize(("schema", "expected"), [
    (READ, {"path": "README.md"}),
    ({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}, {"command": "cat README.md"}),
    ({"type": "object", "properties": {"cmd": {"type": "string"}, "workdir": {"type": "string"}}, "required": ["cmd"]}, {"cmd": "cat README.md"}),
    ({"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}}, {"command": ["bash", "-lc", "cat README.md"]}),
    ({"type": "object", "properties": {"filePath": {"type": "string"}, "offset": {"type": "number"}}, "required": ["filePath"]}, {"filePath": "README.md"}),
    ({"type": "object", "properties": {"absolute_path": {"type": "string"}}}, {"absolute_path": "README.md"}),
    ({"type": "object", "properties": {"paths": {"type": "array"}}, "required": ["paths"]}, {"paths": ["README.md"]}),
    ({"type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}, "days": {"type": "integer"},
                                       "exact": {"type": ["boolean", "null"]}, "opts": {"type": "object", "properties": {"n": {"type": "number"}},
                                                                                       "required": ["n"]}},
      "required": ["city", "unit", "days", "exact", "opts"]}, {"city": "stub", "unit": "c", "days": 1, "exact": False, "opts": {"n": 1}}),
    ({"type": "object", "properties": {"note": {"type": "string"}}}, {}),
    ({}, {}),
])
def test_arguments_are_filled_from_the_schema(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert fill_arguments(schema) == expected


@pytest.mark.parametrize(("names", "turn", "chosen"), [
    (["task", "glob", "read_file", "run_shell_command"], {}, "read_file"),
    (["task", "write_stdin", "exec_command"], {}, "exec_command"),
    (["todo", "bash"], {}, "bash"),
    (["get_weather", "lookup"], {}, "get_weather"),
    (["read_file", "ack"], {"instructions": "Always call the `ack` tool first."}, "ack"),
    (["read_file", "ack"], {"prompt": "Use the ack tool now"}, "ack"),
    (["read_file", "ack"], {"forced": "ack"}, "ack"),
    (["read_file", "ack"], {"forced": "required"}, "read_file"),
])
def test_the_tool_is_picked_like_an_agent_expects(names: list[str], turn: dict[str, Any], chosen: str) -> None:
    reply = decide(Turn(tools=tuple(Tool(n, READ) for n in names), **turn))
    assert [c.name for c in reply.calls] == [chosen]


@pytest.mark.parametrize(("prompt", "parallel", "count"), [
    ("Read README.md", True, 1),
    ("Read both files in parallel", True, 2),
    ("Read the two files", True, 2),
    ("Read both files in parallel", False, 1),
])
def test_two_calls_only_when_asked_and_allowed(prompt: str, parallel: bool, count: int) -> None:
    reply = decide(Turn(tools=(Tool("read_file", READ),), prompt=prompt, parallel=parallel, seed="s"))
    assert len(reply.calls) == count and len({c.id for c in reply.calls}) == count
    assert [json.loads(c.arguments)["path"] for c in reply.calls] == ["README.md", "CHANGELOG.md"][:count]


def test_deterministic_and_text_after_a_result() -> None:
    turn = Turn(tools=(Tool("read_file", READ),), prompt="Read it", seed="x")
    assert decide(turn) == decide(turn)
    assert decide(Turn(tools=turn.tools, results=("one", "two"))).text == RESULT_PREFIX + "two"
    assert decide(Turn(prompt="hi")).calls == () and decide(Turn(prompt="hi")).text
    assert decide(Turn(tools=turn.tools, choice_none=True)).calls == ()
    forced_again = decide(Turn(tools=turn.tools, results=("done",), forced="read_file", seed="y")).calls  # forced: a call after a result,
    assert [json.loads(c.arguments) for c in forced_again] == [{"path": "CHANGELOG.md"}]  # but a different one


SHOWN_FILE = "README.md\n```\n# Scratch project\n\nThe secret word is word-1a2b.\n```"  # a file an agent put in its prompt
ASKED = "Tell me the secret word in README.md."


def test_without_tools_it_quotes_the_line_of_the_prompt_that_says_the_secret_word() -> None:
    chat = {"messages": [{"role": "system", "content": "You edit code."}, {"role": "user", "content": SHOWN_FILE},
                         {"role": "assistant", "content": "Ok."}, {"role": "user", "content": ASKED}]}
    anthropic = {"system": "You edit code.", "messages": [{"role": "user", "content": [{"type": "text", "text": SHOWN_FILE}]},
                                                          {"role": "assistant", "content": "Ok."},
                                                          {"role": "user", "content": [{"type": "text", "text": ASKED}]}]}
    for turn in (chat_turn(chat, frozenset()), anthropic_turn(anthropic)):
        assert decide(turn) == decide(turn)
        assert decide(turn).text == QUOTE_PREFIX + "The secret word is word-1a2b." and decide(turn).calls == ()
    assert decide(Turn(prompt=ASKED, context=ASKED)).text == NO_TOOLS_TEXT  # asked, never shown: nothing to quote
    # with tools offered it still calls one first: the quote is only the tool-less answer
    assert decide(Turn(tools=(Tool("read_file", READ),), prompt=ASKED, context=SHOWN_FILE)).calls


def test_model_names_carry_defects() -> None:
    assert parse_model("m") == frozenset()
    assert parse_model("m+refuse-turn-2+finish-stop") == {"refuse-turn-2", "finish-stop"}
    assert parse_model("twin", {"twin": frozenset({"drop-developer"})}) == {"drop-developer"}
    with pytest.raises(ValueError, match="known defects"):
        parse_model("m+no-such-defect")
    with pytest.raises(ValueError, match="unknown stub defect"):
        StubUpstream(defects={"m": ["nope"]})


def test_unknown_defect_and_missing_model_are_refused(stub: StubUpstream) -> None:
    assert_openai_error(chat(stub, [{"role": "user", "content": "x"}], model="m+nope"), "known defects")
    assert_openai_error(post(stub, "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}), "model")
    assert_anthropic_error(post(stub, "/v1/messages", {"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}), "model")
    assert requests.get(f"{stub.base_url}/models", timeout=TIMEOUT).json()["data"][0]["id"] == "stub-model"
    assert requests.get(f"{stub.base_url}/nowhere", timeout=TIMEOUT).status_code == 404


# --------------------------------------------------------------------------------------------- OpenAI chat
def test_chat_round_trip(stub: StubUpstream) -> None:
    user = {"role": "user", "content": "Read README.md"}
    first = chat(stub, [user])
    assert first.status_code == 200
    choice = first.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["function"] == {"name": "read_file", "arguments": '{"path": "README.md"}'}
    second = chat(stub, [user, choice["message"], {"role": "tool", "tool_call_id": call["id"], "content": "FILE BODY"}])
    assert second.json()["choices"][0]["message"]["content"] == RESULT_PREFIX + "FILE BODY"
    assert stub.requests[-1].body["messages"][-1]["content"] == "FILE BODY"


CALL = {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}
CALL2 = {"id": "call_2", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}
USER = {"role": "user", "content": "go"}


@pytest.mark.parametrize(("messages", "fragment", "param"), [
    ([USER, {"role": "tool", "tool_call_id": "call_1", "content": "x"}], "role 'tool' must be a response", "messages.[1].role"),
    ([USER, {"role": "assistant", "tool_calls": [CALL]}, {"role": "tool", "tool_call_id": "call_9", "content": "x"}],
     "role 'tool' must be a response", "messages.[2].role"),
    ([USER, {"role": "assistant", "tool_calls": [CALL]}, {"role": "tool", "tool_call_id": "call_1", "content": "x"},
      {"role": "tool", "tool_call_id": "call_1", "content": "again"}], "role 'tool' must be a response", "messages.[3].role"),
    ([USER, {"role": "assistant", "tool_calls": [CALL, CALL2]}, {"role": "tool", "tool_call_id": "call_1", "content": "x"}, USER],
     "did not have response messages: call_2", "messages.[1].role"),
    ([USER, {"role": "assistant", "tool_calls": [CALL]}], "did not have response messages: call_1", "messages.[1].role"),
    ([USER, {"role": "assistant", "tool_calls": [CALL]}, USER, {"role": "tool", "tool_call_id": "call_1", "content": "x"}],
     "did not have response messages", "messages.[1].role"),
    ([{"role": "robot", "content": "x"}], "Invalid value: 'robot'", "messages[0].role"),
    ([], "empty array", "messages"),
])
def test_chat_rules(stub: StubUpstream, messages: list[dict[str, Any]], fragment: str, param: str) -> None:
    answer = chat(stub, messages)
    assert_openai_error(answer, fragment)
    assert answer.json()["error"]["param"] == param


def test_chat_parallel_results_accepted(stub: StubUpstream) -> None:
    history: list[dict[str, Any]] = [USER, {"role": "assistant", "content": None, "tool_calls": [CALL, CALL2]},
               {"role": "tool", "tool_call_id": "call_2", "content": "two"}, {"role": "tool", "tool_call_id": "call_1", "content": "one"}]
    tails: list[list[dict[str, Any]]] = [[], [{"role": "user", "content": "and now?"}]]
    for tail in tails:
        answer = chat(stub, history + tail)
        assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == RESULT_PREFIX + "one"


def test_chat_stream_rebuilds_to_the_same_calls(stub: StubUpstream) -> None:
    user = {"role": "user", "content": "Read both files in parallel"}
    whole = chat(stub, [user]).json()["choices"][0]["message"]["tool_calls"]
    streamed = chat(stub, [user], stream=True, stream_options={"include_usage": True})
    assert streamed.headers["Content-Type"].startswith("text/event-stream")
    events = sse(streamed.text)
    assert events[-1] == (None, "[DONE]") and events[-2][1]["choices"] == [] and events[-2][1]["usage"]["total_tokens"] > 0
    calls, finishes = joined_chat_calls(streamed.text)
    assert finishes == ["tool_calls"]
    assert [(c["name"], c["arguments"]) for c in calls.values()] == [(w["function"]["name"], w["function"]["arguments"]) for w in whole]
    assert len(whole) == 2


# --------------------------------------------------------------------------------------------- OpenAI Responses
def test_responses_round_trip_by_replay_and_by_previous_response(stub: StubUpstream) -> None:
    first = responses(stub, {"input": "Read README.md"})
    assert first.status_code == 200
    body = first.json()
    assert body["object"] == "response" and body["status"] == "completed"
    call = body["output"][0]
    assert call["type"] == "function_call" and call["call_id"] and json.loads(call["arguments"]) == {"path": "README.md"}
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "FILE BODY"}
    replay = responses(stub, {"input": [{"role": "user", "content": "Read README.md"}, call, output]})
    chained = responses(stub, {"previous_response_id": body["id"], "input": [output]})
    for answer in (replay, chained):
        assert answer.status_code == 200, answer.text
        message = answer.json()["output"][0]
        assert message["type"] == "message" and message["content"][0]["text"] == RESULT_PREFIX + "FILE BODY"


@pytest.mark.parametrize(("body", "fragment", "code"), [
    ({"input": [{"type": "function_call_output", "call_id": "call_x", "output": "o"}]},
     "No tool call found for function call output with call_id call_x.", None),
    ({"input": [{"role": "user", "content": "hi"}, {"type": "function_call", "call_id": "call_a", "name": "read_file", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_b", "output": "o"}]}, "No tool call found", None),
    ({"input": [{"role": "user", "content": "hi"}, {"type": "function_call", "call_id": "call_a", "name": "read_file", "arguments": "{}"},
                {"role": "user", "content": "more"}]}, "No tool output found for function call call_a.", None),
    ({"previous_response_id": "resp_unknown", "input": "hi"}, "Previous response with id 'resp_unknown' not found.",
     "previous_response_not_found"),
])
def test_responses_rules(stub: StubUpstream, body: dict[str, Any], fragment: str, code: str | None) -> None:
    answer = responses(stub, body)
    assert_openai_error(answer, fragment)
    assert answer.json()["error"]["code"] == code


def test_responses_store_false_is_not_remembered(stub: StubUpstream) -> None:
    first = responses(stub, {"input": "Read README.md", "store": False}).json()
    output = {"type": "function_call_output", "call_id": first["output"][0]["call_id"], "output": "x"}
    assert_openai_error(responses(stub, {"previous_response_id": first["id"], "input": [output]}), "not found")


def test_responses_stream_has_the_documented_events(stub: StubUpstream) -> None:
    streamed = responses(stub, {"input": "Read both files in parallel", "stream": True, "store": False})
    events = sse(streamed.text)
    names = [name for name, _ in events]
    assert names[:2] == ["response.created", "response.in_progress"] and names[-1] == "response.completed"
    assert all(data["type"] == name for name, data in events)
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    ids = {events[0][1]["response"]["id"], events[-1][1]["response"]["id"]}
    assert len(ids) == 1
    added = [d["item"] for n, d in events if n == "response.output_item.added"]
    done = [d["item"] for n, d in events if n == "response.output_item.done"]
    assert [i["call_id"] for i in added] == [i["call_id"] for i in done] == [i["call_id"] for i in events[-1][1]["response"]["output"]]
    assert len(done) == 2 and all(i["call_id"] for i in done)
    for item in done:
        deltas = "".join(d["delta"] for n, d in events if n == "response.function_call_arguments.delta" and d["item_id"] == item["id"])
        assert json.loads(deltas) == json.loads(item["arguments"])


# --------------------------------------------------------------------------------------------- Anthropic Messages
def test_anthropic_round_trip_and_stream(stub: StubUpstream) -> None:
    user = {"role": "user", "content": "Read README.md"}
    first = messages_api(stub, [user])
    assert first.status_code == 200
    body = first.json()
    assert body["type"] == "message" and body["stop_reason"] == "tool_use"
    use = body["content"][0]
    assert use["type"] == "tool_use" and use["id"].startswith("toolu_") and use["input"] == {"path": "README.md"}
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": [{"type": "text", "text": "FILE"}]}]}
    second = messages_api(stub, [user, {"role": "assistant", "content": body["content"]}, result])
    assert second.json()["content"] == [{"type": "text", "text": RESULT_PREFIX + "FILE"}] and second.json()["stop_reason"] == "end_turn"

    events = sse(messages_api(stub, [user], stream=True).text)
    names = [n for n, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert all(d["type"] == n for n, d in events)
    partial = "".join(d["delta"]["partial_json"] for n, d in events if n == "content_block_delta")
    assert json.loads(partial) == use["input"] and events[-2][1]["delta"]["stop_reason"] == "tool_use"


USE_A = {"type": "tool_use", "id": "toolu_a", "name": "read_file", "input": {}}
USE_B = {"type": "tool_use", "id": "toolu_b", "name": "read_file", "input": {}}


def result(use_id: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": use_id, "content": "r"}


@pytest.mark.parametrize(("body", "fragment"), [
    ({"max_tokens": None}, "max_tokens: Field required"),
    ({"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "x"}]}, 'Unexpected role "system"'),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}, "roles must alternate"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": [USE_A, USE_B]},
                   {"role": "user", "content": [result("toolu_a")]}]},
     "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_b."),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": [USE_A]},
                   {"role": "user", "content": [{"type": "text", "text": "first"}]}, {"role": "assistant", "content": "ok"},
                   {"role": "user", "content": [result("toolu_a")]}]}, "messages.1: `tool_use` ids were found without"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": [USE_A]},
                   {"role": "user", "content": [result("toolu_a"), result("toolu_z")]}]},
     "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_z."),
])
def test_anthropic_rules(stub: StubUpstream, body: dict[str, Any], fragment: str) -> None:
    request = {"model": "stub-model", "max_tokens": 64, "messages": [{"role": "user", "content": "x"}], **body}
    if request["max_tokens"] is None:
        del request["max_tokens"]
    assert_anthropic_error(post(stub, "/v1/messages", request), fragment)


def test_anthropic_parallel_results_in_one_turn_accepted(stub: StubUpstream) -> None:
    answer = messages_api(stub, [{"role": "user", "content": "a"}, {"role": "assistant", "content": [USE_A, USE_B]},
                                 {"role": "user", "content": [result("toolu_b"), result("toolu_a")]}])
    assert answer.status_code == 200 and answer.json()["content"][0]["text"] == RESULT_PREFIX + "r"


# --------------------------------------------------------------------------------------------- defects
def test_every_defect_is_documented() -> None:
    import harness.stub_upstream as module

    assert module.__doc__ is not None
    for name in DEFECTS:
        assert name in module.__doc__


def test_refuse_turn_2_on_every_protocol(stub: StubUpstream) -> None:
    user = {"role": "user", "content": "Read README.md"}
    for model in ("stub-model+refuse-turn-2", "twin"):
        msg = chat(stub, [user], model=model).json()["choices"][0]["message"]
        assert_openai_error(chat(stub, [user, msg, {"role": "tool", "tool_call_id": msg["tool_calls"][0]["id"], "content": "x"}], model=model),
                            "role 'tool' must be a response")
    first = responses(stub, {"input": "Read"}, model="m+refuse-turn-2").json()["output"][0]
    out = {"type": "function_call_output", "call_id": first["call_id"], "output": "x"}
    assert_openai_error(responses(stub, {"input": [user, first, out]}, model="m+refuse-turn-2"), "No tool call found")
    use = messages_api(stub, [user], model="m+refuse-turn-2").json()["content"]
    assert_anthropic_error(messages_api(stub, [user, {"role": "assistant", "content": use},
                                               {"role": "user", "content": [result(use[0]["id"])]}], model="m+refuse-turn-2"),
                           "unexpected `tool_use_id`")


def test_drop_tool_results_repeats_the_identical_call(stub: StubUpstream) -> None:
    user = {"role": "user", "content": "Read README.md"}
    model = "stub-model+drop-tool-results"
    msg = chat(stub, [user], model=model).json()["choices"][0]["message"]
    again = chat(stub, [user, msg, {"role": "tool", "tool_call_id": msg["tool_calls"][0]["id"], "content": "x"}], model=model).json()
    repeated = again["choices"][0]["message"]["tool_calls"][0]
    assert repeated["function"] == msg["tool_calls"][0]["function"] and repeated["id"] != msg["tool_calls"][0]["id"]


def test_stream_duplicate_summary_breaks_naive_joining(stub: StubUpstream) -> None:
    streamed = chat(stub, [{"role": "user", "content": "Read README.md"}], model="m+stream-duplicate-summary", stream=True)
    calls, finishes = joined_chat_calls(streamed.text)
    assert calls[0]["name"] == "read_fileread_file" and finishes == ["tool_calls"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(calls[0]["arguments"])
    events = sse(messages_api(stub, [{"role": "user", "content": "Read README.md"}], model="m+stream-duplicate-summary", stream=True).text)
    partial = "".join(d["delta"]["partial_json"] for n, d in events if n == "content_block_delta")
    with pytest.raises(json.JSONDecodeError):
        json.loads(partial)


def test_stream_index_zero_merges_parallel_calls(stub: StubUpstream) -> None:
    streamed = chat(stub, [{"role": "user", "content": "Read both files in parallel"}], model="m+stream-index-zero", stream=True)
    calls, finishes = joined_chat_calls(streamed.text)
    assert list(calls) == [0] and finishes == ["stop"] and calls[0]["name"] == "read_fileread_file"
    events = sse(messages_api(stub, [{"role": "user", "content": "Read both files in parallel"}], model="m+stream-index-zero", stream=True).text)
    assert {d["index"] for n, d in events if n == "content_block_start"} == {0}
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"


def test_text_tool_calls_finish_stop_and_empty_ids(stub: StubUpstream) -> None:
    user = [{"role": "user", "content": "Read README.md"}]
    text = chat(stub, user, model="m+text-tool-calls").json()["choices"][0]
    assert text["finish_reason"] == "stop" and "tool_calls" not in text["message"]
    assert text["message"]["content"].startswith("<tool_call>{") and text["message"]["content"].endswith("}</tool_call>")
    assert messages_api(stub, user, model="m+text-tool-calls").json()["content"][0]["text"].startswith("<tool_call>")
    stop = chat(stub, user, model="m+finish-stop").json()["choices"][0]
    assert stop["finish_reason"] == "stop" and stop["message"]["tool_calls"]
    assert messages_api(stub, user, model="m+finish-stop").json()["stop_reason"] == "end_turn"
    assert chat(stub, user, model="m+empty-call-id").json()["choices"][0]["message"]["tool_calls"][0]["id"] == ""
    assert responses(stub, {"input": "Read"}, model="m+empty-call-id").json()["output"][0]["call_id"] == ""
    ignored = chat(stub, user, model="m+ignore-tool-choice", tool_choice="required").json()["choices"][0]
    assert ignored["message"]["content"] and "tool_calls" not in ignored["message"]


@pytest.mark.parametrize("role", ["system", "developer"])
def test_drop_developer_only_drops_developer(stub: StubUpstream, role: str) -> None:
    tools = [*CHAT_TOOLS, {"type": "function", "function": {"name": "ack", "parameters": {"type": "object", "properties": {}}}}]
    messages = [{"role": role, "content": "Always call the `ack` tool first."}, {"role": "user", "content": "Read README.md"}]
    healthy = post(stub, "/v1/chat/completions", {"model": "m", "messages": messages, "tools": tools}).json()
    broken = post(stub, "/v1/chat/completions", {"model": "m+drop-developer", "messages": messages, "tools": tools}).json()
    assert healthy["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "ack"
    expected = "read_file" if role == "developer" else "ack"
    assert broken["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == expected


def test_require_reasoning_roundtrip(stub: StubUpstream) -> None:
    user = {"role": "user", "content": "Read README.md"}
    model = "m+require-reasoning-roundtrip"
    msg = chat(stub, [user], model=model).json()["choices"][0]["message"]
    assert msg["reasoning_content"]
    tool = {"role": "tool", "tool_call_id": msg["tool_calls"][0]["id"], "content": "x"}
    assert chat(stub, [user, msg, tool], model=model).status_code == 200
    stripped = {k: v for k, v in msg.items() if k != "reasoning_content"}
    assert_openai_error(chat(stub, [user, stripped, tool], model=model), "reasoning_content")
    streamed = sse(chat(stub, [user], model=model, stream=True).text)
    assert "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for _, c in streamed[:-1]) == msg["reasoning_content"]

    content = messages_api(stub, [user], model=model).json()["content"]
    assert content[0]["type"] == "thinking" and content[0]["signature"] == signature_for(content[0]["thinking"])
    turn = [user, {"role": "assistant", "content": content}, {"role": "user", "content": [result(content[1]["id"])]}]
    assert messages_api(stub, turn, model=model).status_code == 200
    assert_anthropic_error(messages_api(stub, [user, {"role": "assistant", "content": content[1:]}, turn[2]], model=model),
                           "Expected `thinking` or `redacted_thinking`, but found `tool_use`")
    forged = [{**content[0], "signature": "sig_forged"}, content[1]]
    assert_anthropic_error(messages_api(stub, [user, {"role": "assistant", "content": forged}, turn[2]], model=model), "Invalid `signature`")
    events = sse(messages_api(stub, [user], model=model, stream=True).text)
    assert any(d.get("delta", {}).get("type") == "signature_delta" for _, d in events)


def test_requests_are_recorded_and_bounded() -> None:
    with StubUpstream(max_recorded=3) as small:
        for n in range(5):
            post(small, "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": str(n)}]})
        recorded = small.requests
        assert [r.body["messages"][0]["content"] for r in recorded] == ["2", "3", "4"]
        assert recorded[0].method == "POST" and recorded[0].path == "/v1/chat/completions" and recorded[0].model == "m"
        assert "content-type" in recorded[0].headers
        assert small.base_url.startswith("http://127.0.0.1:")


def test_command_line_refuses_an_unknown_defect(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.stub_upstream import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--defect", "stub-model=no-such-defect"])
    assert exit_info.value.code == 2
    assert "unknown stub defect 'no-such-defect'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--defect", "missing-equals-sign"])


def test_a_chunked_request_body_is_read(stub: StubUpstream) -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "chunked hello"}]}).encode()
    pieces = (body[i:i + 16] for i in range(0, len(body), 16))  # a generator: requests sends it chunked
    answer = requests.post(f"{stub.base_url}/chat/completions", data=pieces, headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    assert stub.requests[-1].headers.get("transfer-encoding") == "chunked"
    assert stub.requests[-1].body["messages"][0]["content"] == "chunked hello"
    missing = requests.post(f"{stub.root_url}/v1/messages/count_tokens", json={}, timeout=TIMEOUT)
    assert missing.status_code == 404 and missing.json()["type"] == "error"


def test_anthropic_turns_merged_on_request() -> None:
    """Split results of parallel calls: refused under the alternation rule, accepted when turns are joined as today's API
    does; a result still missing after joining is refused either way."""
    split: list[dict[str, Any]] = [{"role": "user", "content": "a"}, {"role": "assistant", "content": [USE_A, USE_B]},
             {"role": "user", "content": [result("toolu_a")]}, {"role": "user", "content": [result("toolu_b")]}]
    missing: list[dict[str, Any]] = [*split[:3], {"role": "user", "content": "no second result"}]
    with StubUpstream() as strict, StubUpstream(anthropic_merge_turns=True) as merging:
        assert_anthropic_error(messages_api(strict, split), "roles must alternate")
        assert messages_api(merging, split).status_code == 200
        assert_anthropic_error(messages_api(merging, missing), "toolu_b")


# --------------------------------------------------------------------------------------------- valued defects
def test_valued_defects_are_parsed_and_documented() -> None:
    import harness.stub_upstream as module

    assert parse_model("m+refuse-param=temperature+context=4000") == {"refuse-param=temperature", "context=4000"}
    for bad in ("m+context=many", "m+context=0", "m+refuse-param=", "m+nope=1"):
        with pytest.raises(ValueError, match="known defects"):
            parse_model(bad)
    assert module.__doc__ is not None and "refuse-param=<field>" in module.__doc__ and "context=<tokens>" in module.__doc__


@pytest.mark.parametrize(("field", "extra"), [
    ("temperature", {"temperature": 0}),
    ("reasoning_effort", {"reasoning_effort": "high"}),
    ("stream_options.include_usage", {"stream": True, "stream_options": {"include_usage": True}}),
])
def test_refuse_param_names_the_field_on_every_protocol(stub: StubUpstream, field: str, extra: dict[str, Any]) -> None:
    user = {"role": "user", "content": "hi"}
    refused = chat(stub, [user], model=f"m+refuse-param={field}", **extra)
    assert_openai_error(refused, f"'{field}' is not supported")
    assert refused.json()["error"]["param"] == field and refused.json()["error"]["code"] == "unsupported_parameter"
    assert chat(stub, [user], model=f"m+refuse-param={field}").status_code == 200  # without the field: accepted
    assert_openai_error(responses(stub, {"input": "hi", **extra}, model=f"m+refuse-param={field}"), f"'{field}'")
    assert_anthropic_error(messages_api(stub, [user], model=f"m+refuse-param={field}", **extra), f"'{field}'")


def test_context_window_refuses_or_truncates_silently(stub: StubUpstream) -> None:
    system = {"role": "system", "content": "Always call the `list_dir` tool."}
    filler = [{"role": "user", "content": "x" * 4000}, {"role": "assistant", "content": "Noted."}]
    user = {"role": "user", "content": "Go on."}
    tools = [*CHAT_TOOLS, {"type": "function", "function": {"name": "list_dir", "parameters": READ}}]
    small = post(stub, "/v1/chat/completions", {"model": "m+context=5000", "messages": [system, *filler, user], "tools": tools})
    assert small.status_code == 200 and small.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "list_dir"
    over = post(stub, "/v1/chat/completions", {"model": "m+context=500", "messages": [system, *filler, user], "tools": tools})
    assert_openai_error(over, "maximum context length is 500 tokens")
    assert over.json()["error"]["code"] == "context_length_exceeded"
    cut = post(stub, "/v1/chat/completions", {"model": "m+context=500+truncate-context", "messages": [system, *filler, user], "tools": tools})
    assert cut.status_code == 200
    message = cut.json()["choices"][0]["message"]
    assert not message.get("tool_calls") and message["content"]  # the tools and the system prompt were cut: no call
    assert_anthropic_error(messages_api(stub, [{"role": "user", "content": "x" * 4000}], model="m+context=500"), "prompt is too long")
