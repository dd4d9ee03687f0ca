"""The command as a user who is not root (CI runs the tests as root): what such a user names as an output works, and
what that user may not write ends with exit 2 and one line."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from harness.echo_gateway import echo_gateway
from harness.mocked_gateway import CANARY_KEY
from harness.unprivileged import run_unprivileged
from tests.unit.test_promote import AGENTS

ROOT = Path(__file__).resolve().parents[2]


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def reachable(folder: Path) -> None:
    """Let the unprivileged user enter `folder` (pytest's temporary folders belong to root)."""
    for parent in [folder, *folder.parents]:
        if parent == Path(parent.anchor):
            break
        parent.chmod(parent.stat().st_mode | stat.S_IXOTH)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A passing record of a real run (the echo gateway, one check) in `tmp_path`."""
    with echo_gateway() as gw:
        proc = subprocess.run([sys.executable, "-m", "approval", "run", "--base-url", gw.base_url, "--model", "echo-model", "--checks",
                               "happy-path", "--record-out", str(tmp_path / "record.json"), "--quiet"], capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "GATEWAY_API_KEY": CANARY_KEY}, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return tmp_path


def test_promote_into_a_read_only_folder_as_a_user_who_is_not_root(files):
    registry = files / "locked" / "AGENTS.md"
    registry.parent.mkdir()
    registry.write_text(AGENTS, encoding="utf-8")
    (files / "record.json").chmod(0o644)
    registry.chmod(0o644)
    registry.parent.chmod(0o555)  # the file is readable, its folder is not writable: no temporary file can go beside it
    files.chmod(0o755)
    reachable(files)
    try:
        proc = run_unprivileged(["promote", "--record", str(files / "record.json"), "--registry", str(registry)], cwd=files, env={})
    finally:
        registry.parent.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    err = lines(proc.stderr)
    assert len(err) == 1 and str(registry) in err[0] and "cannot be written" in err[0]
    assert registry.read_text(encoding="utf-8") == AGENTS



def test_report_out_dev_stdout_works_for_a_user_who_is_not_root(tmp_path):
    tmp_path.chmod(0o777)
    reachable(tmp_path)
    with echo_gateway() as gw:
        proc = run_unprivileged(["run", "--base-url", gw.base_url, "--model", "echo-model", "--checks", "happy-path", "--timeout", "30",
                                 "--record-out", "record.json", "--report-out", "/dev/stdout"], cwd=tmp_path,
                                env={"GATEWAY_API_KEY": CANARY_KEY})
    assert proc.returncode == 0, proc.stderr
    assert "Model approval" in proc.stdout and "happy-path" in proc.stdout  # the markdown report, on stdout
    assert json.loads((tmp_path / "record.json").read_text())["overall_result"] == "pass"
