"""The `approval` command: exit codes, one clear line for user errors, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from approval import __version__
from harness.mocked_gateway import CANARY_KEY

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command in a subprocess; nothing is listening on the loopback port used."""
    full_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "approval", *args], capture_output=True, text=True, env=full_env, timeout=60, cwd=ROOT, check=False)


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and __version__ in proc.stdout


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["run", "--model", "m"], {"GATEWAY_API_KEY": CANARY_KEY}, "no gateway base URL"),
        (["run", "--base-url", "http://127.0.0.1:9/v1"], {"GATEWAY_API_KEY": CANARY_KEY}, "no candidate model"),
        (["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"], {}, "GATEWAY_API_KEY is not set"),
        (["run", "--base-url", "127.0.0.1:9", "--model", "m"], {"GATEWAY_API_KEY": CANARY_KEY}, "http:// or https://"),
        (["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--endpoint", "legacy"], {"GATEWAY_API_KEY": CANARY_KEY}, "invalid choice"),
        (["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--timeout", "soon"], {"GATEWAY_API_KEY": CANARY_KEY}, "timeout"),
        (["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--config", "nope.yaml"], {"GATEWAY_API_KEY": CANARY_KEY}, "does not exist"),
        (["run", "--bogus"], {}, "unrecognized arguments"),
        (["validate-record", "nope.json"], {}, "does not exist"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_no_traceback(args, env, needle):
    proc = run_cli(*args, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr + proc.stdout
    assert CANARY_KEY not in proc.stderr + proc.stdout


def test_unreachable_gateway_fails_as_infrastructure_within_the_deadline(tmp_path):
    record = tmp_path / "r.json"
    proc = run_cli("run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--timeout", "20", "--record-out", str(record),
                   env={"GATEWAY_API_KEY": CANARY_KEY})
    assert proc.returncode == 1, proc.stderr
    data = json.loads(record.read_text())
    assert data["overall_result"] == "fail" and data["failure_categories"] == ["infrastructure"]
    assert "refused" in proc.stdout
    assert CANARY_KEY not in proc.stdout + proc.stderr + record.read_text()
