"""Pure contract validators: each gateway deviation from the reference notes is recognised."""

from __future__ import annotations

import pytest

from approval.engine.contract import (
    error_in_success_body,
    model_matches,
    parse_chat_completion,
    parse_error_body,
    parse_json_text,
    parse_responses_object,
)
from approval.engine.results import Category
from harness.mocked_gateway import chat_body, responses_body


@pytest.mark.parametrize(
    ("body", "shape", "message"),
    [
        (
            {"error": {"message": "bad model", "type": "invalid_request_error", "param": None, "code": None}},
            "openai",
            "bad model",
        ),
        # LiteLLM: type/param as the string "None", code as a string, message a stringified dict
        (
            {
                "error": {
                    "message": "{'error': {'message': 'inner text'}}",
                    "type": "None",
                    "param": "None",
                    "code": "400",
                }
            },
            "openai",
            "inner text",
        ),
        ({"error": {"message": {"message": "dict message"}, "code": 400}}, "openai", "dict message"),
        (
            {"object": "error", "message": "vllm flat", "type": "BadRequestError", "param": None, "code": 400},
            "flat",
            "vllm flat",
        ),
        ({"error": {"message": "ollama", "code": None}}, "openai", "ollama"),
        ({"error": "plain string error"}, "string", "plain string error"),
        ({"detail": "Not Found"}, "detail", "Not Found"),
        (
            {"detail": [{"loc": ["body", "model"], "msg": "field required", "type": "missing"}]},
            "detail",
            "body.model: field required",
        ),
        ({"status": "failure", "message": "portkey says no"}, "status-failure", "portkey says no"),
        ({"message": "flat message only", "code": 404}, "flat", "flat message only"),
    ],
)
def test_every_known_error_shape_parses(body, shape, message):
    parsed = parse_error_body(body)
    assert parsed is not None
    assert parsed.shape == shape
    assert message in parsed.message


def test_litellm_none_strings_are_cleaned():
    parsed = parse_error_body({"error": {"message": "x", "type": "None", "param": "None", "code": "400"}})
    assert parsed is not None and parsed.type is None and parsed.code == "400"


@pytest.mark.parametrize(
    "body", [None, [], "text", {}, {"error": None}, {"error": {}}, {"choices": []}, {"detail": ""}, 42]
)
def test_non_errors_are_not_parsed_as_errors(body):
    assert parse_error_body(body) is None


def test_error_inside_a_200_body_is_found():
    assert error_in_success_body({"error": {"message": "upstream died", "code": 502}}) is not None
    assert error_in_success_body(chat_body()) is None
    assert error_in_success_body(responses_body()) is None  # `error: null` in a response object is normal


def test_good_chat_completion():
    gen = parse_chat_completion(chat_body(content="hi"))
    assert gen.ok and gen.text == "hi" and gen.model == "cand-model" and gen.finish_reason == "stop"


@pytest.mark.parametrize(
    ("body", "category", "needle"),
    [
        (chat_body() | {"choices": None}, Category.GATEWAY, "missing or null"),
        (chat_body() | {"choices": []}, Category.GATEWAY, "empty list"),
        (chat_body() | {"choices": "nope"}, Category.GATEWAY, "not a list"),
        (chat_body(content=None), Category.MODEL, "empty"),
        (chat_body(content="   "), Category.MODEL, "empty"),
        (chat_body(content=42), Category.GATEWAY, "not a string"),
        (chat_body(content="Error: upstream provider failed"), Category.GATEWAY, "error text"),
        (chat_body(content="<!DOCTYPE html><html>"), Category.GATEWAY, "error text"),
        ({"error": {"message": "rate limited upstream"}}, Category.GATEWAY, "carries an error"),
        ([1, 2], Category.GATEWAY, "not an object"),
    ],
)
def test_bad_chat_completions_fail_with_a_reason(body, category, needle):
    gen = parse_chat_completion(body)
    assert not gen.ok
    assert gen.category is category
    assert needle in gen.reason


def test_content_parts_are_joined_and_tool_calls_accepted_when_expected():
    gen = parse_chat_completion(chat_body(content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]))
    assert gen.ok and gen.text == "ab"
    body = chat_body(content=None)
    body["choices"][0]["message"]["tool_calls"] = [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    ]
    assert parse_chat_completion(body, tools_expected=True).ok
    assert not parse_chat_completion(body).ok


def test_responses_object_text_is_joined_from_output_items():
    body = responses_body(text="part one ")
    body["output"].append({"type": "message", "content": [{"type": "output_text", "text": "part two"}]})
    gen = parse_responses_object(body)
    assert gen.ok and gen.text == "part one part two"


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda b: b.update(status="failed"), "'failed'"),
        (
            lambda b: b.update(status="incomplete", incomplete_details={"reason": "max_output_tokens"}),
            "max_output_tokens",
        ),
        (lambda b: b.update(object="chat.completion"), "not 'response'"),
        (lambda b: b.update(output=None), "not a list"),
        (lambda b: b.update(output=[]), "empty"),
        (lambda b: b.update(error={"message": "boom"}), "carries an error"),
    ],
)
def test_bad_responses_objects_fail(mutate, needle):
    body = responses_body()
    mutate(body)
    gen = parse_responses_object(body)
    assert not gen.ok
    assert needle in gen.reason


@pytest.mark.parametrize(
    ("requested", "returned", "aliases", "ok"),
    [
        ("gpt-4o-mini", "gpt-4o-mini", (), True),
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", (), True),
        ("claude-3-5-sonnet", "claude-3-5-sonnet-20241022", (), True),
        ("openai/gpt-4o", "gpt-4o", (), True),
        ("gpt-4o", "openai/gpt-4o-2024-08-06", (), True),
        ("GPT-4o", "gpt-4o", (), False),  # a case-only difference is another name
            ("GPT-4o", "gpt-4o", ("gpt-4o",), True),  # unless model_aliases lists it
            ("gpt-4o", " ", (" ",), False),  # a blank name identifies nothing, alias or not
        ("good-model", "gpt-4o-mini", (), False),
        ("gpt-4o", "gpt-4o-mini", (), False),  # a different model, not a dated variant
        ("gpt-4o", "gpt-4o-mini-2024-07-18", (), False),
        ("my-alias", "vendor-model-x", ("vendor-model-x",), True),
        ("claude-3-opus", "claude-3-opus@20240229", (), True),
        ("gpt-4", "gpt-4-0613", (), True),
        ("openai/gpt-4o", "azure/gpt-4o", (), False),  # another provider's deployment is a fallback
        ("openrouter/openai/gpt-4o", "openai/gpt-4o", (), True),  # a router in front of the same provider
        ("openrouter/anthropic/claude-3-opus", "openai/gpt-4o", (), False),
        ("mistral-large", "mistral-large-v2", (), False),  # a version suffix names another model
        ("gpt-4o", "gpt-4o-latest", (), False),
        ("gemini-pro", "gemini-pro-preview", (), False),
        ("gpt-4o", "gpt-4o-latest", ("gpt-4o-latest",), True),
    ],
)
def test_model_matches(requested, returned, aliases, ok):
    assert model_matches(requested, returned, aliases) is ok


def test_json_text_accepts_one_code_fence():
    assert parse_json_text('{"a": 1}') == (True, {"a": 1})
    assert parse_json_text('```json\n{"a": 1}\n```') == (True, {"a": 1})
    assert parse_json_text("not json")[0] is False
