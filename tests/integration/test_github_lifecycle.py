"""The lifecycle's GitHub side against a mocked REST API (nothing leaves the process): the record store, the
previous records of `previous-record: auto`, registry-guard's base registry; and records kept in git for `diff`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from approval.frontends.cli import main
from tests.unit.test_github_lifecycle import record


def test_diff_reads_a_record_from_the_record_store_branch_through_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True, capture_output=True, timeout=30)

    git("init", "-q", "-b", "approval-records")
    stored = tmp_path / "llm.example.test" / "gpt-4o-mini" / "20250301T080001Z-chat-pass-0f1e2d3c.json"
    stored.parent.mkdir(parents=True)
    old = {**record(), "checks": [{"name": "latency", "status": "pass"}], "latency_ms": 100.0}
    stored.write_text(json.dumps(old))
    git("add", ".")
    git("commit", "-q", "-m", "record")
    stored.unlink()
    (tmp_path / "new.json").write_text(json.dumps({**old, "overall_result": "fail", "checks": [{"name": "latency", "status": "fail"}]}))
    monkeypatch.chdir(tmp_path)
    code = main(["diff", "approval-records:llm.example.test/gpt-4o-mini/20250301T080001Z-chat-pass-0f1e2d3c.json", "new.json", "--exit-code"])
    out = capsys.readouterr().out
    assert code == 1 and "verdict: pass → fail" in out and "check latency: pass → fail" in out
    assert main(["diff", "approval-records:nope.json", "new.json"]) == 2
    assert "is not a file, nor in git" in capsys.readouterr().err
