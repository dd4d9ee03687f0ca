"""What the gate writes and reads cannot be forged or corrupted: names that identify the model, one record per
candidate, records that agree with themselves, bounded reads, one schema version."""

from __future__ import annotations

import json
from typing import Any

import pytest

from approval.results import Status
from approval.suite import run_suite
from tests.conftest import answer_with as answer
from tests.conftest import chat_body, make_settings, responses_body

# -- 1. model-echo: a blank name identifies nothing; a name that differs only in case or whitespace is another name ---


def _stream(endpoint: str, model: str) -> str:
    if endpoint == "chat":
        chunks = [{"object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
                  {"object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
        return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    created = {"type": "response.created", "response": {**responses_body(model=model), "status": "in_progress", "output": []}}
    delta = {"type": "response.output_text.delta", "delta": "Hello"}
    completed = {"type": "response.completed", "response": responses_body(model=model)}
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in (created, delta, completed))


def _answers_naming(gateway: Any, endpoint: str, named: str, streamed: bool) -> None:
    body = chat_body(model=named) if endpoint == "chat" else responses_body(model=named)
    if streamed:  # only the stream names it; the plain answers name the candidate
        gateway.on(lambda b: b.get("stream") is True, answer(200, _stream(endpoint, named), {"Content-Type": "text/event-stream"}))
    else:
        gateway.on(lambda b: b.get("model") == "cand-model" and not b.get("stream"), answer(200, body))
        gateway.on(lambda b: b.get("stream") is True, answer(200, _stream(endpoint, "")))


SHAPES = [("chat", False), ("responses", False), ("chat", True), ("responses", True)]


@pytest.mark.parametrize(("endpoint", "streamed"), SHAPES, ids=[f"{e}-{'stream' if s else 'json'}" for e, s in SHAPES])
@pytest.mark.parametrize("named", ["", " ", "\t", "  \n"], ids=repr)
def test_a_blank_model_name_identifies_nothing(gateway: Any, endpoint: str, streamed: bool, named: str) -> None:
    body = chat_body(model=named) if endpoint == "chat" else responses_body(model=named)
    gateway.on(lambda b: b.get("model") == "cand-model" and not b.get("stream"), answer(200, body))
    gateway.on(lambda b: b.get("stream") is True, answer(200, _stream(endpoint, named), {"Content-Type": "text/event-stream"}))
    checks = "model-echo,happy-path,streaming" if streamed else "model-echo,happy-path"
    outcome = run_suite(make_settings(checks=checks, endpoint=endpoint))
    echo = outcome.candidates[0].check("model-echo")
    assert echo is not None and echo.status is Status.ERROR, echo
    assert "served as" not in echo.detail and "name no model" in echo.detail
    assert outcome.result == "fail"


SPELLINGS = ["Cand-Model", "CAND-MODEL", "cand-model ", " cand-model", "cand-model\t", "cand- model", "Cand-Model "]


@pytest.mark.parametrize(("endpoint", "streamed"), SHAPES, ids=[f"{e}-{'stream' if s else 'json'}" for e, s in SHAPES])
@pytest.mark.parametrize("named", SPELLINGS, ids=repr)
def test_a_name_that_differs_only_in_case_or_whitespace_is_accepted_only_as_an_alias(
    gateway: Any, tmp_path: Any, endpoint: str, streamed: bool, named: str
) -> None:
    _answers_naming(gateway, endpoint, named, streamed)
    if streamed:
        gateway.overrides.clear()
        gateway.on(lambda b: b.get("stream") is True, answer(200, _stream(endpoint, named), {"Content-Type": "text/event-stream"}))
    checks = "model-echo,happy-path,streaming" if streamed else "model-echo,happy-path"
    echo = run_suite(make_settings(checks=checks, endpoint=endpoint)).candidates[0].check("model-echo")
    assert echo is not None and echo.status is Status.FAIL, echo
    assert repr(named) in echo.detail and "differs only in case or whitespace" in echo.detail and "model_aliases" in echo.detail

    cfg = tmp_path / "g.yaml"
    cfg.write_text(json.dumps({"model_aliases": {"cand-model": [named]}}), encoding="utf-8")
    outcome = run_suite(make_settings(checks=checks, endpoint=endpoint, config=str(cfg)))
    echo = outcome.candidates[0].check("model-echo")
    assert echo is not None and echo.status is Status.PASS, echo
    assert f"served as {named!r}" in echo.detail if not streamed else repr(named) in echo.detail
