"""What the gate writes and reads cannot be forged or corrupted: names that identify the model, one record per
candidate, records that agree with themselves, bounded reads, one schema version."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path
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

    from approval.record import build_record
    from tests.conftest import FakeGateway

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        FakeGateway(rsps)
        outcome = run_suite(make_settings(approved_by="octocat", checks=checks))
    record = build_record(outcome, outcome.candidates[0], {"repository": "o/r", "commit": "abc", "run_url": "https://github.com/o/r/actions/runs/4"})
    assert record["overall_result"] == "pass", record["notes"]
    return record


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from approval.record import write_json

    folder = tmp_path_factory.mktemp("records")
    good = folder / "good.json"
    write_json(good, passing_record())
    bom = folder / "bom.json"
    bom.write_bytes(BOM + good.read_bytes())
    return {"good": good, "bom": bom, "agents": folder / "AGENTS.md"}


RECORD_COMMANDS: dict[str, Any] = {
    "validate-record": lambda rec, r: ["validate-record", rec],
    "diff-old": lambda rec, r: ["diff", rec, str(r["good"])],
    "diff-new": lambda rec, r: ["diff", str(r["good"]), rec],
    "summarize": lambda rec, r: ["summarize", rec],
    "promote": lambda rec, r: ["promote", "--record", rec, "--registry", str(r["agents"])],
}


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    from tests.support.commands import approval_command

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "CANDIDATE_", "GITHUB_", "INPUT_"))}
    return subprocess.run([*approval_command(), *args], capture_output=True, text=True, timeout=30, cwd=cwd, env=env, check=False)


@pytest.mark.parametrize("kind", BAD)
@pytest.mark.parametrize("command", sorted(RECORD_COMMANDS))
def test_every_command_that_reads_a_record_refuses_what_never_ends_or_is_too_big(
    tmp_path: Path, records: dict[str, Path], command: str, kind: str
) -> None:
    from tests.unit.test_promote import AGENTS

    records["agents"].write_text(AGENTS, encoding="utf-8")
    before = records["agents"].read_bytes()
    started = time.monotonic()
    result = _cli(RECORD_COMMANDS[command](_bad_file(kind, tmp_path), records), tmp_path)  # a hang fails on the timeout
    assert time.monotonic() - started < 20
    assert result.returncode == (1 if command == "summarize" else 2), result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout and "MemoryError" not in result.stderr
    assert BAD_NEEDLE[kind] in result.stderr + result.stdout
    assert records["agents"].read_bytes() == before  # nothing promoted


@pytest.mark.parametrize("command", sorted(RECORD_COMMANDS))
def test_every_command_that_reads_a_record_accepts_a_byte_order_mark(tmp_path: Path, records: dict[str, Path], command: str) -> None:
    from tests.unit.test_promote import AGENTS

    records["agents"].write_text(AGENTS, encoding="utf-8")
    result = _cli(RECORD_COMMANDS[command](str(records["bom"]), records), tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    if command == "promote":  # the evidence is of the file as it is, byte for byte
        assert hashlib.sha256(records["bom"].read_bytes()).hexdigest() in records["agents"].read_text(encoding="utf-8")


def _readers(tmp_path: Path) -> dict[str, Any]:
    from approval.config import load_config_file
    from approval.prompt import load_prompt
    from approval.registry import load_registry_entries
    from approval.userfile import read_record_file

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
    from approval.errors import ConfigError

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


def test_a_git_show_that_never_ends_is_bounded(tmp_path: Path) -> None:
    from approval.userfile import read_command_output

    with pytest.raises(OverflowError):
        read_command_output(["cat", "/dev/zero"], 1024, 10)
    with pytest.raises(TimeoutError):
        read_command_output(["sleep", "5"], 1024, 0.3)
    assert read_command_output(["printf", "abc"], 1024, 10) == (0, b"abc", b"")
