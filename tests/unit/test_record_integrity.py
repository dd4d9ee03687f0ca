"""What the gate writes and reads cannot be forged or corrupted: names that identify the model, one record per
candidate, records that agree with themselves, bounded reads, one schema version."""

from __future__ import annotations

import json
import re
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


# -- 2. one record (one artifact) per candidate, always -------------------------------------------------------------

COLLIDING = [
    ["vendor/m", "vendor:m", "vendor_m"],
    ["vendor/m", "Vendor/M"],  # apart on a case-insensitive file system too
    ["org/m:1", "org/m_1", "org_m/1", "b"],
    ["...", "///", "::"],  # nothing readable left
    ["a b", "a\tb", "a_b", "A_B", "a.b"],
    ["modèle", "mod_le", "modéle"],
    ["x" * 200 + "/a", "x" * 200 + ":a"],
]


@pytest.mark.parametrize("models", COLLIDING, ids=lambda m: "|".join(x[:12] for x in m))
def test_every_candidate_gets_its_own_record_file_and_artifact_name(tmp_path: Any, models: list[str]) -> None:
    from approval.names import safe_name, unique_names
    from approval.record import record_paths

    paths = record_paths(tmp_path / "approval-record.json", models)
    names = unique_names(models)
    for given in (paths, names):
        shown = [str(p).casefold() for p in given]
        assert len(set(shown)) == len(models), given
    assert paths == record_paths(tmp_path / "approval-record.json", models)  # deterministic
    assert dict(zip(models, names, strict=True)) == dict(zip(models[::-1], unique_names(models[::-1]), strict=True))  # order-free
    for model, name in zip(models, names, strict=True):
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", name), name  # a file and artifact name every system accepts
        assert name.startswith(safe_name(model).strip("_")[:1] or "model") or name.startswith("model-")  # still readable


@pytest.mark.parametrize("models", [["good-model", "vendor/other"], ["a", "b", "c/d"]])
def test_names_that_do_not_collide_stay_as_they_were(tmp_path: Any, models: list[str]) -> None:
    from approval.names import safe_name, unique_names

    assert unique_names(models) == [safe_name(m) for m in models]
    assert all(len(n) <= len(m) for n, m in zip(unique_names(models), models, strict=True))


def test_there_is_one_model_name_sanitiser() -> None:
    """Every file, folder and artifact name built from a model ID goes through approval.names."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "approval"
    pattern = re.compile(r"isalnum\(\)|re\.sub\(r?[\"']\[\^")
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py") if p.name != "names.py" and pattern.search(p.read_text("utf-8"))]
    assert offenders == []
