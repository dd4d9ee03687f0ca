"""What the gate writes and reads cannot be forged or corrupted: names that identify the model, one record per
candidate, records that agree with themselves, bounded reads, one schema version."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from approval.engine.results import Status
from approval.engine.suite import run_suite
from harness.mocked_gateway import answer_with as answer
from harness.mocked_gateway import chat_body, make_settings, responses_body

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
    """Answers that name `named`: the plain answers (and a stream naming the candidate), or only the stream."""
    if streamed:
        gateway.on(lambda b: b.get("stream") is True, answer(200, _stream(endpoint, named), {"Content-Type": "text/event-stream"}))
        return
    body = chat_body(model=named) if endpoint == "chat" else responses_body(model=named)
    gateway.on(lambda b: b.get("model") == "cand-model" and not b.get("stream"), answer(200, body))


SHAPES = [("chat", False), ("responses", False), ("chat", True), ("responses", True)]


@pytest.mark.parametrize(("endpoint", "streamed"), SHAPES, ids=[f"{e}-{'stream' if s else 'json'}" for e, s in SHAPES])
@pytest.mark.parametrize("named", ["", " ", "\t", "  \n"], ids=repr)
def test_a_blank_model_name_identifies_nothing(gateway: Any, endpoint: str, streamed: bool, named: str) -> None:
    for only_the_stream in (True, False):  # every answer names it: the plain ones and the stream
        _answers_naming(gateway, endpoint, named, only_the_stream)
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
    from approval.common.names import safe_name, unique_names
    from approval.record.build import record_paths

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
    from approval.common.names import safe_name, unique_names

    assert unique_names(models) == [safe_name(m) for m in models]
    assert all(len(n) <= len(m) for n, m in zip(unique_names(models), models, strict=True))


def test_there_is_one_model_name_sanitiser() -> None:
    """Every file, folder and artifact name built from a model ID goes through approval.common.names."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "approval"
    pattern = re.compile(r"isalnum\(\)|re\.sub\(r?[\"']\[\^")
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py") if p.name != "names.py" and pattern.search(p.read_text("utf-8"))]
    assert offenders == []


# -- 4. every file the tool reads: a regular file, bounded, clear errors; a byte-order mark accepted by every reader --

BOM = b"\xef\xbb\xbf"
TWO_GIB = 2 * 1024 * 1024 * 1024


def _bad_file(kind: str, tmp_path: Path) -> str:
    """/dev/zero (never ends), a FIFO nobody writes to (never starts), a 2 GiB sparse file (costs no disk)."""
    if kind == "dev-zero":
        return "/dev/zero"
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    else:
        with path.open("wb") as handle:
            handle.truncate(TWO_GIB)
    return str(path)


BAD = ["dev-zero", "fifo", "sparse-2gib"]
BAD_NEEDLE = {"dev-zero": "not a regular file", "fifo": "not a regular file", "sparse-2gib": "over the"}


def passing_record(checks: str = "reachability,happy-path,model-echo,error-path,latency") -> dict[str, Any]:
    """A record of a passing run, as the tool builds it (against the mocked gateway)."""
    import responses

    from approval.record.build import build_record
    from harness.mocked_gateway import FakeGateway

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        FakeGateway(rsps)
        outcome = run_suite(make_settings(approved_by="octocat", checks=checks))
    record = build_record(outcome, outcome.candidates[0], {"repository": "o/r", "commit": "abc", "run_url": "https://github.com/o/r/actions/runs/4"})
    assert record["overall_result"] == "pass", record["notes"]
    return record


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return record_files(tmp_path_factory)


def record_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A passing record, the same with a byte-order mark, and where an AGENTS.md goes (the `records` fixtures)."""
    from approval.record.build import write_json

    folder = tmp_path_factory.mktemp("records")
    good = folder / "good.json"
    write_json(good, passing_record())
    bom = folder / "bom.json"
    bom.write_bytes(BOM + good.read_bytes())
    return {"good": good, "bom": bom, "agents": folder / "AGENTS.md"}


def _readers(tmp_path: Path) -> dict[str, Any]:
    from approval.common.userfile import read_record_file
    from approval.settings.configfile import load_config_file, load_registry_entries
    from approval.settings.prompt import load_prompt

    return {
        "config": (load_config_file, b"endpoint: chat\n"),
        "prompt": (load_prompt, b"Write a function that adds two numbers.\n"),
        "approved_models_file": (load_registry_entries, b"<!-- approved-models:start -->\n- `m`\n<!-- approved-models:end -->\n"),
        "record": (read_record_file, json.dumps({"record_type": "model_candidate_approval"}).encode()),
    }


READERS = ["config", "prompt", "approved_models_file", "record"]


@pytest.mark.parametrize("kind", BAD)
@pytest.mark.parametrize("reader", READERS)
def test_every_reader_refuses_devices_fifos_and_huge_files_with_one_line(tmp_path: Path, reader: str, kind: str) -> None:
    from approval.common.errors import ConfigError

    read, _ = _readers(tmp_path)[reader]
    path = _bad_file(kind, tmp_path)
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        read(path)
    assert time.monotonic() - started < 5
    assert BAD_NEEDLE[kind] in caught.value.problem and path in caught.value.problem


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_accepts_a_byte_order_mark_alike(tmp_path: Path, reader: str) -> None:
    read, content = _readers(tmp_path)[reader]
    plain, marked = tmp_path / "plain.md", tmp_path / "marked.md"
    if reader == "config":
        plain, marked = tmp_path / "plain.yaml", tmp_path / "marked.yaml"
    plain.write_bytes(content)
    marked.write_bytes(BOM + content)
    first, second = read(str(plain)), read(str(marked))
    if reader == "prompt":
        assert second.messages == first.messages and "\ufeff" not in json.dumps(second.messages)
    elif reader == "record":
        assert second[0] == first[0] and second[1] == BOM + first[1]  # the bytes (and their sha256) are the file's
    else:
        assert second == first or second[0] == first[0]


# -- 3. validate-record refuses what the tool never writes -----------------------------------------------------------


def _edit(record: dict[str, Any], how: str) -> str:
    """The record's JSON text, edited as a forger or a broken disk would."""
    data = json.loads(json.dumps(record))
    echo = next(c for c in data["checks"] if c["name"] == "model-echo")
    text_edits = {
        "NaN latency": lambda t: t.replace(f'"latency_ms": {json.dumps(record["latency_ms"])}', '"latency_ms": NaN'),
        "Infinity duration": lambda t: t.replace(f'"duration_s": {json.dumps(record["duration_s"])}', '"duration_s": Infinity'),
        "-Infinity in a metric": lambda t: t.replace('"gateway_retried_calls": 0', '"gateway_retried_calls": -Infinity'),
        "1e999 timeout": lambda t: t.replace(f'"timeout_s": {json.dumps(record["timeout_s"])}', '"timeout_s": 1e999'),
        "duplicate top-level key": lambda t: t.replace('"overall_result": "pass"', '"overall_result": "fail", "overall_result": "pass"'),
        "duplicate key in a check": lambda t: t.replace('"name": "model-echo"', '"name": "model-echo", "status": "fail"', 1),
        "duplicate key in metrics": lambda t: t.replace('"gateway_retried_calls": 0', '"gateway_retried_calls": 0, "gateway_retried_calls": 3'),
        "duplicate key in policy": lambda t: t.replace('"warnings_block": false', '"warnings_block": true, "warnings_block": false'),
    }
    if how in text_edits:
        edited: str = text_edits[how](json.dumps(record))
        assert edited != json.dumps(record), how
        return edited
    if how.startswith("approved_at "):
        data["approved_at"] = how.removeprefix("approved_at ")
    elif how == "a date in ci":
        data["ci"]["started_at"] = "2025-13-01T00:00:00Z"
    elif how == "unknown check":
        data["checks"].append({**echo, "name": "vibes"})
    elif how == "unknown baseline check":
        data["baseline"] = {"model_id": "b", "overall_result": "pass", "latency_ms": None, "checks": [{**echo, "name": "vibes-check"}]}
        data["baseline_model_id"] = "b"
    elif how == "bounded-retry in schema 2":
        data["checks"].append({**echo, "name": "bounded-retry"})
    elif how == "another candidate":
        data["candidate_model_id"] = "evil-model"
    elif how == "another candidate, echo metrics kept":
        data["candidate_model_id"] = "evil-model"
        echo["detail"] = "served as 'evil-model' in 4 response(s)"
    elif how == "another candidate, everything but the served model":
        data = json.loads(json.dumps(data).replace("cand-model", "evil-model"))
        next(c for c in data["checks"] if c["name"] == "model-echo")["metrics"]["served_model"] = "cand-model"
    elif how == "schema_version 4":
        data["schema_version"] = 4
    elif how == "schema_version true":
        data["schema_version"] = True
    else:
        raise AssertionError(how)
    return json.dumps(data)


NEVER_WRITTEN = {
    "NaN latency": "NaN is not a number JSON allows",
    "Infinity duration": "Infinity is not a number JSON allows",
    "-Infinity in a metric": "-Infinity is not a number JSON allows",
    "1e999 timeout": "too large to be a number",
    "duplicate top-level key": "'overall_result' appears twice",
    "duplicate key in a check": "'status' appears twice",
    "duplicate key in metrics": "'gateway_retried_calls' appears twice",
    "duplicate key in policy": "'warnings_block' appears twice",
    "approved_at 2025-02-30T10:00:00Z": "approved_at '2025-02-30T10:00:00Z' is not a real date",
    "approved_at 2025-03-01T25:00:00Z": "not a real date",
    "approved_at 2025-03-01T10:61:00Z": "not a real date",
    "approved_at 2023-02-29T00:00:00Z": "not a real date",
    "approved_at 2025-04-31T00:00:00Z": "not a real date",
    "a date in ci": "ci",
    "unknown check": "'vibes', which is no check of this tool",
    "unknown baseline check": "'vibes-check', which is no check of this tool",
    "bounded-retry in schema 2": "'bounded-retry', which is no check of this tool",
    "another candidate": "candidate_model_id is 'evil-model' but",
    "another candidate, echo metrics kept": "model-echo checked the answers to 'cand-model'",
    "another candidate, everything but the served model": "model-echo passed on answers naming 'cand-model'",
    "schema_version 4": "invalid record",
    "schema_version true": "invalid record",
}


@pytest.fixture(scope="module")
def good_record() -> dict[str, Any]:
    return passing_record()


@pytest.mark.parametrize("how", sorted(NEVER_WRITTEN))
def test_validate_record_refuses_what_the_tool_never_writes(tmp_path: Path, good_record: dict[str, Any], how: str, capsys: Any) -> None:
    from approval.frontends.cli import main

    untouched = tmp_path / "good.json"
    untouched.write_text(json.dumps(good_record), encoding="utf-8")
    assert main(["validate-record", str(untouched)]) == 0
    capsys.readouterr()
    path = tmp_path / "edited.json"
    path.write_text(_edit(good_record, how), encoding="utf-8")
    code = main(["validate-record", str(path)])
    err = capsys.readouterr().err
    assert code in (1, 2) and NEVER_WRITTEN[how] in err, err
    assert "valid approval record" not in err
    registry = tmp_path / "AGENTS.md"
    registry.write_text("<!-- approved-models:start -->\n- `old-model`\n<!-- approved-models:end -->\n", encoding="utf-8")
    assert main(["promote", "--record", str(path), "--registry", str(registry)]) in (1, 2)  # nothing promoted
    assert "evil-model" not in registry.read_text(encoding="utf-8") and "cand-model" not in registry.read_text(encoding="utf-8")
    assert main(["summarize", str(path)]) == 1


@pytest.mark.parametrize("checks", ["approved-list", "agent-client", "error-path", "reachability", "latency", "model-echo",
                                    "reachability,error-path,model-echo,latency", "streaming", "tool-calling", "structured-output",
                                    "error-path,approved-list", "bounded-retry"])
def test_a_selection_without_a_check_on_the_candidates_answers_is_a_usage_error_and_sends_nothing(gateway: Any, checks: str) -> None:
    from approval.common.errors import ConfigError
    from approval.engine.checks import CATALOGUE

    with pytest.raises(ConfigError) as caught:
        make_settings(checks=checks)
    assert "judge no answer of the model's own (happy-path)" in caught.value.problem
    assert gateway.calls == []
    assert CATALOGUE.grounding == ("happy-path",)
    make_settings(checks=f"{checks},happy-path")  # with it, the same selection is accepted


def test_the_record_check_and_the_run_rule_use_one_list_of_answer_checks() -> None:
    """Both ask the checks' own declarations (SPEC.grounds_approval): a record passing on error-path alone is refused,
    as the same selection is refused before a run."""
    from approval.engine.checks import CATALOGUE
    from approval.record.consistency import record_problems

    grounded = {c.name for c in CATALOGUE.checks if c.grounds_approval}
    assert set(CATALOGUE.grounding) == grounded == {"happy-path"}
    record = passing_record()
    assert record_problems(record) == []
    record["checks"] = [c for c in record["checks"] if c["name"] != "happy-path"]
    assert any("happy-path" in problem for problem in record_problems(record))


@pytest.mark.parametrize("model", ["good-model", "vendor/m", "o'brien-model", 'x"y'])
def test_a_record_the_tool_writes_is_valid_whatever_the_model_is_called(gateway: Any, model: str) -> None:
    """The model-naming evidence the record check reads is the candidate's own in every record the tool writes."""
    from approval.record.build import build_record
    from approval.record.consistency import record_problems

    gateway.model = model
    outcome = run_suite(make_settings(models=[model], checks="happy-path,model-echo,approved-list,reachability"))
    record = build_record(outcome, outcome.candidates[0])
    assert record_problems(record) == []


# -- 5. one schema version ------------------------------------------------------------------------------------------


def test_the_builder_the_schema_and_the_validator_agree_on_the_schema_version(good_record: dict[str, Any]) -> None:
    from approval.frontends.pipeline import fallback_record
    from approval.record.build import SCHEMA_VERSION, SCHEMA_VERSIONS, record_schema
    from approval.record.consistency import record_problems

    schema = record_schema()
    assert schema["properties"]["schema_version"]["enum"] == list(SCHEMA_VERSIONS)
    assert max(SCHEMA_VERSIONS) == SCHEMA_VERSION
    latest_rules = next(rule for rule in schema["allOf"] if rule["if"]["properties"]["schema_version"] == {"const": SCHEMA_VERSION})
    assert "answered_calls" in latest_rules["then"]["required"]
    assert good_record["schema_version"] == SCHEMA_VERSION
    assert fallback_record(make_settings(), "why", None)["schema_version"] == SCHEMA_VERSION
    assert record_problems({**good_record, "schema_version": SCHEMA_VERSION + 1}) != []


GIT_CONTENTS = {
    "byte-order mark": (lambda good: BOM + good, 0, "no differences"),
    "NaN": (lambda good: good.replace(b'"duration_s": ', b'"duration_s": NaN, "x_duration_s": ', 1), 2, "NaN is not a number JSON allows"),
    "duplicate key": (lambda good: good.replace(b'"overall_result": "pass"', b'"overall_result": "fail", "overall_result": "pass"'), 2,
                      "appears twice"),
    "over the limit": (lambda good: good[:-2] + b', "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}', 2, "over the"),
}


@pytest.mark.parametrize("content", sorted(GIT_CONTENTS))
def test_previous_records_from_an_artifact_and_a_file_are_read_as_any_record(tmp_path: Path, records: dict[str, Path], content: str) -> None:
    """`previous-record: auto` (records in an artifact's zip) and `previous-record: <path>`: the same reader."""
    import io
    import zipfile

    from approval.github.last_runs import records_in_zip
    from approval.lifecycle.previous import from_file

    make, code, _ = GIT_CONTENTS[content]
    data = make(records["good"].read_bytes())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("approval-record.json", data)
    found = records_in_zip(buffer.getvalue())
    assert len(found) == (1 if code == 0 else 0)
    path = tmp_path / "previous.json"
    path.write_bytes(data)
    own = json.loads(records["good"].read_text(encoding="utf-8"))
    previous = from_file(str(path), [(records["good"], own)])
    assert bool(previous.by_model) == (code == 0), previous.notes
