"""What the gate writes and reads cannot be forged or corrupted: names that identify the model, one record per
candidate, records that agree with themselves, bounded reads, one schema version."""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_record_integrity import BAD, BAD_NEEDLE, GIT_CONTENTS, _bad_file, record_files

RECORD_COMMANDS: dict[str, Any] = {
    "validate-record": lambda rec, r: ["validate-record", rec],
    "diff-old": lambda rec, r: ["diff", rec, str(r["good"])],
    "diff-new": lambda rec, r: ["diff", str(r["good"]), rec],
    "summarize": lambda rec, r: ["summarize", rec],
    "promote": lambda rec, r: ["promote", "--record", rec, "--registry", str(r["agents"])],
}


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return record_files(tmp_path_factory)


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    from harness.commands import approval_command, run_env

    return subprocess.run([*approval_command(), *args], capture_output=True, text=True, timeout=30, cwd=cwd, env=run_env(), check=False)


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


def test_a_git_show_that_never_ends_is_bounded(tmp_path: Path) -> None:
    from approval.common.userfile import read_command_output

    with pytest.raises(OverflowError):
        read_command_output(["cat", "/dev/zero"], 1024, 10)
    with pytest.raises(TimeoutError):
        read_command_output(["sleep", "5"], 1024, 0.3)
    assert read_command_output(["printf", "abc"], 1024, 10) == (0, b"abc", b"")


@pytest.mark.parametrize("content", sorted(GIT_CONTENTS))
def test_diff_reads_a_record_from_git_as_any_record_file(tmp_path: Path, records: dict[str, Path], content: str) -> None:
    """`approval diff REF:PATH`: the same bounded, strict reader as a file (the output of `git show` is read at most
    one byte past the limit)."""
    import shutil

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    make, code, needle = GIT_CONTENTS[content]
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.test", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], check=True, timeout=30)
    (repo / "approval-record.json").write_bytes(make(records["good"].read_bytes()))
    subprocess.run([*git, "add", "approval-record.json"], check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", "r"], check=True, timeout=30)
    result = _cli(["diff", "HEAD:approval-record.json", str(records["good"])], repo)
    assert result.returncode == code, result.stderr + result.stdout
    assert needle in result.stderr + result.stdout and "Traceback" not in result.stderr
