"""`approval summarize`: one table over the records of many runs (the legs of a matrix), and one exit code."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from approval.frontends.cli import main
from approval.report.summary import Row, render_markdown, render_text, row_from_record, summarize
from harness.mocked_gateway import BASE


@pytest.fixture
def record(passing_record: dict[str, Any]) -> dict[str, Any]:
    return passing_record


def variant(record: dict[str, Any], *, gateway: str = BASE, model: str = "cand-model", failed: str | None = None,
            at: str = "2026-11-01T10:00:00Z") -> dict[str, Any]:
    # the record of a run of `model`: every place its evidence names the model names that one (a record whose
    # candidate_model_id alone was edited contradicts its own checks, and is refused)
    text = json.dumps(record).replace('"cand-model"', json.dumps(model)).replace("'cand-model'", json.dumps(repr(model))[1:-1])
    data: dict[str, Any] = copy.deepcopy(json.loads(text))
    data.update(gateway_base_url=gateway, candidate_model_id=model, approved_at=at)
    if failed:
        data.update(overall_result="fail", failure_categories=["gateway"])
        for check in data["checks"]:
            if check["name"] == failed:
                check.update(status="fail", category="gateway", detail="silent fallback")
    return data


def write(folder: Path, name: str, data: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def matrix_artifacts(tmp_path: Path, record: dict[str, Any], *, fail: bool) -> Path:
    """What actions/download-artifact leaves: one folder per leg's artifact, records named as the action names them."""
    records = tmp_path / "records"
    write(records / "model-approval-record-litellm", "approval-record.good-model.json", variant(record, model="good-model"))
    write(records / "model-approval-record-litellm", "approval-record.other-model.json",
          variant(record, model="other-model", failed="model-echo" if fail else None))
    write(records / "model-approval-record-openrouter", "approval-record.json", variant(record, gateway="https://openrouter.example/api/v1"))
    write(records / "model-approval-record-openrouter", "unrelated.json", {"not": "a record"})
    return records


def test_every_leg_passing_exits_0_with_one_row_per_candidate(record, tmp_path, capsys):
    records = matrix_artifacts(tmp_path, record, fail=False)
    capsys.readouterr()
    assert main(["summarize", str(records)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["gateway", "model", "endpoint", "result", "p50", "blocking", "checks"]
    assert [line.split()[:2] for line in lines[1:4]] == [
        [BASE, "good-model"], [BASE, "other-model"], ["https://openrouter.example/api/v1", "cand-model"]]
    assert all("APPROVED" in line for line in lines[1:4])
    assert lines[-1] == "RESULT: all 3 candidate(s) approved"


def test_one_failing_leg_exits_1_and_names_the_check(record, tmp_path, capsys):
    records = matrix_artifacts(tmp_path, record, fail=True)
    capsys.readouterr()
    assert main(["summarize", "--format", "markdown", str(records)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("## ❌ Model approval matrix: 2 of 3 candidate(s) approved")
    assert f"| `{BASE}` | `other-model` | chat | ❌ not approved |" in out
    assert out.count("✅ approved") == 2
    assert next(line for line in out.splitlines() if "other-model" in line).endswith("| model-echo |")


def test_a_rerun_replaces_the_earlier_record_of_the_same_candidate(record, tmp_path, capsys):
    first = write(tmp_path / "attempt1", "approval-record.json", variant(record, failed="latency", at="2026-11-01T10:00:00Z"))
    second = write(tmp_path / "attempt2", "approval-record.json", variant(record, at="2026-11-01T10:05:00Z"))
    for order in ([first, second], [second, first]):
        capsys.readouterr()
        assert main(["summarize", *map(str, order)]) == 0
        out = capsys.readouterr().out
        assert "1 older record(s) of the same candidate (re-runs) left out" in out
        assert out.rstrip().endswith("RESULT: all 1 candidate(s) approved")


def test_the_same_model_under_another_config_is_another_row(record, tmp_path, capsys):
    other = variant(record)
    other["config_sha256"] = "0" * 64
    paths = [write(tmp_path / "a", "approval-record.json", variant(record)), write(tmp_path / "b", "approval-record.json", other)]
    assert main(["summarize", *map(str, paths)]) == 0
    assert "all 2 candidate(s) approved" in capsys.readouterr().out


def test_an_unreadable_or_invalid_record_is_a_failing_row_not_a_crash(record, tmp_path, capsys):
    records = tmp_path / "records"
    write(records / "a", "approval-record.json", variant(record))
    write(records / "b", "approval-record.json", "{ cut off")
    broken = variant(record, model="broken-model")
    del broken["overall_result"]
    write(records / "c", "approval-record.json", broken)
    capsys.readouterr()
    assert main(["summarize", str(records)]) == 1
    out = capsys.readouterr().out
    assert out.count("INVALID RECORD") == 2
    assert "is not valid JSON" in out and "broken-model" in out and "overall_result" in out
    assert out.rstrip().endswith("RESULT: 1 of 3 candidate(s) approved")


@pytest.mark.parametrize(("paths", "needle"), [(["{tmp}/nowhere"], "does not exist"), (["{tmp}"], "no approval records"), ([], "required: PATH")])
def test_nothing_to_summarize_is_a_usage_error(tmp_path, capsys, paths, needle):
    try:
        code: object = main(["summarize", *(p.format(tmp=tmp_path) for p in paths)])
    except SystemExit as exc:  # argparse's own check, through the same one-line error
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and "Traceback" not in err


def test_a_verdict_its_own_checks_contradict_is_not_trusted(record, tmp_path, capsys):
    """A record hand-edited to "pass" over a failing check matches the schema; the summary still refuses it."""
    edited = variant(record, failed="model-echo")
    edited["overall_result"] = "pass"
    path = write(tmp_path / "records", "approval-record.json", edited)
    capsys.readouterr()
    assert main(["summarize", str(path)]) == 1
    out = capsys.readouterr().out
    assert "INVALID RECORD" in out and "overall_result is 'pass' but the checks model-echo block it" in out


def test_blocking_warnings_are_named_when_no_check_failed(record):
    data = variant(record)
    data["overall_result"] = "fail"
    next(c for c in data["checks"] if c["name"] == "error-path").update(status="warn")
    row = row_from_record(data, "r.json")
    assert row.result == "fail" and row.failed == ("error-path (warning)",)


def test_markdown_cells_cannot_break_the_table_or_mention_people():
    row = Row("https://gw.example/v1", "evil|model`@team", "chat", "fail", 12.0, ("<b>x</b> | @octocat",), "2026-11-01T10:00:00Z", "r.json")
    text = render_markdown(summarize([row]))
    table_row = text.splitlines()[4]
    assert table_row.count(" | ") == 5, table_row
    assert "@octocat" not in text and "<b>" not in text
    assert "| ``evil\\|model`@team`` |" in table_row  # a code span its back-tick cannot close, its pipe escaped
    assert "evil" in render_text(summarize([row]))


HOSTILE_IDS = ["m\nRESULT: all 1 candidate(s) approved", "m\x1b[2K\x1b[1GRESULT: APPROVED", "m\r::set-output name=approved::true",
               "::error::forged", "m\u202eDEVORPPA", "evil|model ✅ approved"]


@pytest.mark.parametrize("model", HOSTILE_IDS)
def test_a_records_model_id_cannot_forge_a_line_or_a_cell_of_the_summary(record, tmp_path, capsys, model):
    import unicodedata

    for i, data in enumerate((variant(record, model=model, failed="model-echo"), variant(record, model="other"))):
        (tmp_path / f"approval-record.{i}.json").write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["summarize", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "RESULT: 1 of 2 candidate(s) approved" and out.count("RESULT:") == 1 + ("RESULT" in model)
    lines = out.splitlines()
    assert len(lines) == 4, out  # header, two rows, result
    assert not [ch for ch in out if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf")]
    assert not [line for line in lines if line.lstrip().startswith("::")]
    assert main(["summarize", "--format", "markdown", str(tmp_path)]) == 1
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert len(rows) == 2 and all(row.count(" | ") == 5 for row in rows), rows
