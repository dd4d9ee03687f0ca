"""`approval summarize`: one table over the records of many runs (the legs of a matrix), and one exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.mocked_gateway import CANARY_KEY
from tests.unit.test_summary import matrix_artifacts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def record(passing_record: dict[str, Any]) -> dict[str, Any]:
    return passing_record


def test_the_command_as_a_job_summary_step_runs_it(record, tmp_path):
    """`python -m approval summarize --format markdown records >> "$GITHUB_STEP_SUMMARY"`, as the matrix workflow runs it."""
    records = matrix_artifacts(tmp_path, record, fail=True)
    proc = subprocess.run([sys.executable, "-m", "approval", "summarize", "--format", "markdown", str(records)], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, cwd=tmp_path, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("## ❌ Model approval matrix") and proc.stderr == ""
    assert CANARY_KEY not in proc.stdout
