"""Workflow commands on a stream, outputs and the job summary in files, as the runner reads them."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest

from approval.common.redact import register_secret
from approval.github import commands
from harness.action_container import parse_output_file

CANARY = "canary-3f9a1c7e5b2d4a60"


def test_escaping() -> None:
    assert commands.escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert commands.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_annotation_with_properties_is_one_line() -> None:
    out = io.StringIO()
    commands.error("first\n::add-mask::x", file="gateway.yaml", line=3, title="bad: config, really", stream=out)
    commands.warning("plain", stream=out)
    commands.notice("n", title="t", stream=out)
    assert out.getvalue().splitlines() == [
        "::error file=gateway.yaml,line=3,title=bad%3A config%2C really::first%0A::add-mask::x",
        "::warning::plain",
        "::notice title=t::n",
    ]


def test_group_and_endgroup() -> None:
    out = io.StringIO()
    commands.group("Checks\nmore", stream=out)
    commands.endgroup(stream=out)
    assert out.getvalue() == "::group::Checks%0Amore\n::endgroup::\n"


def test_add_mask_masks_each_line() -> None:
    out = io.StringIO()
    commands.add_mask("line-one-secret\n\nline-two-secret\n", stream=out)
    assert out.getvalue().splitlines() == ["::add-mask::line-one-secret", "::add-mask::line-two-secret"]


def test_outputs_multiline_values_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "output"
    path.write_text("earlier=1\n", encoding="utf-8")
    commands.set_outputs(
        str(path),
        {
            "result": "pass",
            "report": "# Title\n\nline with name<<EOF\nEOF\n",
            "latency-ms": 412,
            "flag": True,
            "x": None,
        },
    )
    assert parse_output_file(path.read_text(encoding="utf-8")) == {
        "earlier": "1",
        "result": "pass",
        "report": "# Title\n\nline with name<<EOF\nEOF\n",
        "latency-ms": "412",
        "flag": "true",
        "x": "",
    }


def test_output_delimiter_never_occurs_in_the_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = uuid.UUID(int=1)
    fresh = iter([taken, uuid.UUID(int=2)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(fresh))
    value = f"a value that contains ghadelimiter_{taken}\nand more"
    path = tmp_path / "output"
    commands.set_outputs(str(path), {"text": value})
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f"text<<ghadelimiter_{uuid.UUID(int=2)}\n")
    assert parse_output_file(text) == {"text": value}


def test_output_name_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid output name"):
        commands.set_outputs(str(tmp_path / "o"), {"bad\nname": "x"})


def test_empty_paths_are_a_local_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    commands.set_outputs("", {"result": "pass"})
    assert commands.append_summary("", "# hi") is False
    assert list(tmp_path.iterdir()) == []


def test_summary_appends(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    assert commands.append_summary(str(path), "# One") is False
    assert commands.append_summary(str(path), "two\n") is False
    assert path.read_text(encoding="utf-8") == "# One\ntwo\n"


def test_summary_respects_the_limit_including_what_is_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "SUMMARY_LIMIT_BYTES", 1000)
    path = tmp_path / "summary.md"
    path.write_text("x" * 300, encoding="utf-8")
    markdown = "".join(f"| row {i} | é€ |\n" for i in range(200))
    assert commands.append_summary(str(path), markdown) is True
    data = path.read_bytes()
    assert len(data) <= 1000
    text = data.decode("utf-8")  # never cut inside a multi-byte character
    assert text.endswith(commands.SUMMARY_TRUNCATED_NOTE)
    kept = text[300 : -len(commands.SUMMARY_TRUNCATED_NOTE)]
    assert kept and kept.endswith("|\n")  # whole lines only
    assert markdown.startswith(kept)


def test_summary_without_room_for_the_note_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "SUMMARY_LIMIT_BYTES", 100)
    path = tmp_path / "summary.md"
    path.write_text("x" * 90, encoding="utf-8")
    assert commands.append_summary(str(path), "y" * 50) is True
    assert path.read_text(encoding="utf-8") == "x" * 90


def test_canary_secret_never_emitted(tmp_path: Path) -> None:
    register_secret(CANARY)
    out = io.StringIO()
    commands.error(f"gateway said {CANARY}", title=CANARY, file=f"{CANARY}.yaml", stream=out)
    commands.warning(f"key={CANARY}", stream=out)
    commands.notice(CANARY, stream=out)
    commands.group(f"group {CANARY}", stream=out)
    outputs, summary = tmp_path / "output", tmp_path / "summary.md"
    commands.set_outputs(str(outputs), {"result": f"fail {CANARY}", "multi": f"a\n{CANARY}\nb"})
    commands.append_summary(str(summary), f"# Report\n\n{CANARY}\n")
    emitted = out.getvalue() + outputs.read_text(encoding="utf-8") + summary.read_text(encoding="utf-8")
    assert "***" in emitted
    assert CANARY not in emitted
