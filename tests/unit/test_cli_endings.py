"""Every command ends as documented: exit 0-3 (130 on Ctrl-C), one line, never a traceback, whatever goes wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_promote import AGENTS, write_record

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "approval", *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=60,
                          check=False)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return record_and_registry_files(tmp_path)


def record_and_registry_files(tmp_path: Path) -> Path:
    """A record, an AGENTS.md and a folder of records in `tmp_path` (the `files` fixtures)."""
    write_record(tmp_path, "record.json")
    (tmp_path / "AGENTS.md").write_text(AGENTS, encoding="utf-8")
    (tmp_path / "records").mkdir()
    write_record(tmp_path / "records", "approval-record.json")
    return tmp_path


@pytest.mark.parametrize("errno_name", ["EACCES", "EROFS", "ENOSPC", "EPERM"])
def test_promote_that_cannot_write_the_registry_is_exit_2_and_leaves_it(files, monkeypatch, capsys, errno_name):
    import errno

    from approval.frontends.cli import main

    def refuse(*_a, **_k):
        raise OSError(getattr(errno, errno_name), os.strerror(getattr(errno, errno_name)))

    monkeypatch.setattr("approval.record.build.write_text_atomic", refuse)
    code = main(["promote", "--record", str(files / "record.json"), "--registry", str(files / "AGENTS.md")])
    err = lines(capsys.readouterr().err)
    assert code == 2 and len(err) == 1 and "AGENTS.md" in err[0] and "cannot be written" in err[0] and "writable" in err[0]
    assert (files / "AGENTS.md").read_text(encoding="utf-8") == AGENTS


# -- outputs: special files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/dev/stdout", "/dev/stderr", "/dev/fd/1", "fifo"])
def test_a_device_or_pipe_is_written_in_place_and_needs_no_writable_folder(tmp_path, monkeypatch, target):
    from approval.frontends import cli, pipeline

    if target == "fifo":
        target = str(tmp_path / "report.fifo")
        os.mkfifo(target)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: real_access(p, mode) and Path(p) != Path(target).parent)
    assert pipeline.written_in_place(Path(target))
    assert cli._output_path(target, "--report-out") == Path(target)


# -- flags that contradict each other ----------------------------------------------------------------------------


# -- diff REF:PATH ---------------------------------------------------------------------------------------------------


# -- every command the tool suggests runs as written -----------------------------------------------------------------


def parsed(command: str):
    """The suggested command as the shell splits it, parsed by the CLI's own parser (SystemExit on any error)."""
    import shlex

    from approval.frontends.cli import build_parser

    words = shlex.split(command)
    while words and "=" in words[0] and not words[0].startswith("-"):  # VAR=value prefixes
        words.pop(0)
    assert words[0] == "approval", command
    return build_parser().parse_args(words[1:])


@pytest.mark.parametrize("candidates", [["new-model"], ["new-model", "other"], ["odd;model$(x)", "new-model"]])
@pytest.mark.parametrize("registry_files", ["AGENTS.md", "gateway.yaml", "conf/gate way.yaml, docs/it's AGENTS.md"])
def test_the_promote_command_registry_guard_suggests_parses(candidates, registry_files):
    from approval.lifecycle.guard import Verdict, registry_guard
    from approval.settings.registry import Entry, Registry

    check = registry_guard(Registry(()), Registry((Entry(candidates[-1]),)), {m: Verdict("pass") for m in candidates},
                           registry_files=registry_files)
    command = check.result.detail.split("list it with `", 1)[1].split("`", 1)[0]
    args = parsed(command)
    assert args.command == "promote" and args.registry == registry_files.split(", ")[-1]
    assert args.record.startswith("approval-record") and args.record.endswith(".json")


def test_the_promote_commands_the_report_proposes_parse(tmp_path):
    from types import SimpleNamespace

    from approval.lifecycle.promote import proposed_lines
    from approval.report.render import Promotion, _approved_line
    from approval.settings.registry import Approval
    from harness.mocked_gateway import make_settings

    (tmp_path / "it's AGENTS.md").write_text(AGENTS, encoding="utf-8")
    registry = json.dumps(str(tmp_path / "it's AGENTS.md"))
    (tmp_path / "g.yaml").write_text(f"approved_models_file: {registry}\n", encoding="utf-8")
    settings = make_settings(config=str(tmp_path / "g.yaml"))
    run = SimpleNamespace(settings=settings, candidates=[SimpleNamespace(model="cand-model", result="pass")])
    evidence = Approval("2025-03-01T08:00:01Z", "octocat", "a" * 64, "https://github.com/o/r/actions/runs/1")
    promotions = {"cand-model": Promotion(tuple(proposed_lines("markdown", "cand-model", evidence)), "out dir/approval-record.json")}
    lines = _approved_line(run, promotions)  # type: ignore[arg-type]  # it reads the settings and each candidate's model and result
    commands = [line for line in lines if line.startswith("approval promote")]
    assert commands
    for command in commands:
        args = parsed(command)
        assert args.record == "out dir/approval-record.json" and args.registry == settings.approved_models_file
