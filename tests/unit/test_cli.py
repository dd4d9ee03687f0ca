"""The `approval` command: exit codes, one clear line for user errors, files written."""

from __future__ import annotations

import json

from approval.frontends.cli import main
from harness.mocked_gateway import BASE, CANARY_KEY, is_sample


def test_run_writes_record_and_report_and_exits_0(gateway, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    record, report = tmp_path / "out" / "rec.json", tmp_path / "rep.md"
    code = main(["run", "--base-url", BASE, "--model", "cand-model", "--record-out", str(record), "--report-out", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    assert "RESULT: APPROVED" in out and "PASS  reachability" in out
    assert json.loads(record.read_text())["overall_result"] == "pass"
    assert "Model approval" in report.read_text()
    assert main(["validate-record", str(record)]) == 0


def test_run_exits_1_when_not_approved(gateway, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    gateway.on(is_sample, lambda _b, _r: (200, {}, json.dumps({"choices": []})))
    code = main(["run", "--base-url", BASE, "--model", "cand-model", "--record-out", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 1 and "NOT APPROVED" in out and "happy-path (gateway)" in out


def test_env_fills_base_url_and_model(gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    monkeypatch.setenv("GATEWAY_BASE_URL", BASE)
    monkeypatch.setenv("CANDIDATE_MODEL_ID", "cand-model")
    assert main(["run", "--record-out", str(tmp_path / "r.json"), "--quiet"]) == 0


def test_internal_error_gives_exit_3_and_a_failing_record(gateway, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)

    def boom(*_a, **_k):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("approval.frontends.pipeline.run_suite", boom)
    record = tmp_path / "r.json"
    code = main(["run", "--base-url", BASE, "--model", "cand-model", "--record-out", str(record)])
    assert code == 3
    data = json.loads(record.read_text())
    assert data["overall_result"] == "fail" and "internal error" in data["notes"]
    assert f"a failing record was written to {record}" in capsys.readouterr().err


def test_record_out_directory_is_a_config_error(gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    assert main(["run", "--base-url", BASE, "--model", "cand-model", "--record-out", str(tmp_path)]) == 2


def test_record_out_in_a_folder_that_cannot_be_made_is_a_config_error_before_any_call(gateway, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["run", "--base-url", BASE, "--model", "cand-model", "--record-out", str(blocker / "sub" / "r.json")]) == 2
    assert "cannot be created" in capsys.readouterr().err
    assert gateway.calls == []


def test_record_out_in_a_new_folder_is_created(gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    record = tmp_path / "approvals" / "2026" / "r.json"
    assert main(["run", "--base-url", BASE, "--model", "cand-model", "--record-out", str(record)]) == 0
    assert json.loads(record.read_text())["overall_result"] == "pass"


def test_validate_and_diff_commands(gateway, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    old = tmp_path / "old.json"
    main(["run", "--base-url", BASE, "--model", "cand-model", "--record-out", str(old), "--quiet"])
    new = tmp_path / "new.json"
    data = json.loads(old.read_text())
    data["overall_result"] = "fail"
    new.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["diff", str(old), str(new)]) == 0
    assert "verdict: pass → fail" in capsys.readouterr().out
    assert main(["diff", "--exit-code", str(old), str(new)]) == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"record_type": "x"}))
    assert main(["validate-record", str(bad)]) == 1


def test_a_deprecated_check_name_runs_as_its_successor_with_a_warning(gateway, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    record = tmp_path / "r.json"
    code = main(["run", "--base-url", BASE, "--model", "cand-model", "--checks", "happy-path,bounded-retry", "--record-out", str(record)])
    captured = capsys.readouterr()
    assert code == 0, captured.out
    warning = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and "'bounded-retry' is deprecated and runs as 'agent-client'" in warning[0]
    assert "checks: happy-path, agent-client;" in captured.out
    data = json.loads(record.read_text())
    assert [c["name"] for c in data["checks"]] == ["happy-path", "agent-client"]
    assert "'bounded-retry' is deprecated" in data["notes"]
