"""Every command ends as documented: exit 0-3 (130 on Ctrl-C), one line, never a traceback, whatever goes wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.mocked_gateway import CANARY_KEY
from tests.unit.test_cli_endings import ROOT, cli, lines, parsed, record_and_registry_files
from tests.unit.test_promote import AGENTS, write_record

UNUSED = "http://127.0.0.1:9/v1"  # nothing listens: a usage error must stop before any call anyway


@pytest.fixture
def files(sdk_through_responses: None, tmp_path: Path) -> Path:
    """As the unit tier builds them: the agent-client check's SDK calls answered by the `responses` mocks."""
    return record_and_registry_files(tmp_path)


# Replaces one function by one that raises, then runs the console script as a user does (its last-resort handler too).
PATCHED = """
import importlib, sys
module, name, kind = sys.argv[1:4]
def boom(*_a, **_k):
    raise (KeyboardInterrupt() if kind == "interrupt" else RuntimeError("simulated bug, key {key}"))
setattr(importlib.import_module(module), name, boom)
sys.argv = ["approval", *sys.argv[4:]]
if module == "approval.frontends.action":
    import runpy
    runpy.run_path("{entrypoint}", run_name="__main__")
from approval.frontends.cli import console
console()
""".replace("{key}", CANARY_KEY).replace("{entrypoint}", str(ROOT / "entrypoint.py"))


def patched(module: str, name: str, kind: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-c", PATCHED, module, name, kind, *args], capture_output=True, text=True, env=full_env, cwd=cwd,
                          timeout=60, check=False)


# (what raises, the command) — one per subcommand, and for `run` before and after its settings are known
COMMANDS = [
    ("approval.settings.build", "build_settings", ["run", "--base-url", UNUSED, "--model", "m"]),
    ("approval.frontends.cli", "_run", ["run", "--base-url", UNUSED, "--model", "m", "--record-out", "out.json"]),
    ("approval.record.consistency", "record_problems", ["validate-record", "record.json"]),
    ("approval.record.diff", "diff_records", ["diff", "record.json", "record.json"]),
    ("approval.report.summary", "summarize", ["summarize", "records"]),
    ("approval.lifecycle.promote", "promote_text", ["promote", "--record", "record.json", "--registry", "AGENTS.md"]),
]


@pytest.mark.parametrize(("module", "name", "args"), COMMANDS, ids=[f"{c[2][0]}-{c[1]}" for c in COMMANDS])
def test_a_bug_in_any_command_is_exit_3_and_one_line_naming_it_and_where_to_report_it(files, module, name, args):
    proc = patched(module, name, "bug", *args, cwd=files, env={"GATEWAY_API_KEY": CANARY_KEY})
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert CANARY_KEY not in proc.stdout + proc.stderr
    errors = lines(proc.stderr)
    assert len(errors) == 1 and errors[0].startswith("error: ") and "internal error" in errors[0], proc.stderr
    assert "simulated bug" in errors[0] and "report it" in errors[0]
    if name == "_run":  # the run's record says it too: failing, no verdict, internal error
        record = json.loads((files / "out.json").read_text(encoding="utf-8"))
        assert record["overall_result"] == "fail" and record["notes"].startswith("internal error, no verdict reached")
        assert "a failing record was written to out.json" in errors[0]
    if name == "promote_text":
        assert (files / "AGENTS.md").read_text(encoding="utf-8") == AGENTS


@pytest.mark.parametrize(("module", "name", "args"), COMMANDS, ids=[f"{c[2][0]}-{c[1]}" for c in COMMANDS])
def test_ctrl_c_in_any_command_is_one_line_and_exit_130(files, module, name, args):
    proc = patched(module, name, "interrupt", *args, cwd=files, env={"GATEWAY_API_KEY": CANARY_KEY})
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert lines(proc.stderr) == ["error: interrupted: no verdict"]


def test_the_actions_container_ends_with_the_same_handler(tmp_path):
    proc = patched("approval.frontends.action", "main", "bug", cwd=tmp_path)
    assert proc.returncode == 3 and "Traceback" not in proc.stdout + proc.stderr
    out = lines(proc.stdout)
    assert len(out) == 1 and out[0].startswith("::error title=Model approval%3A no verdict::internal error in approval")
    assert "report it" in out[0] and CANARY_KEY not in out[0]


@pytest.mark.parametrize("target", ["/dev/stdout", "/dev/null", "fifo"])
def test_record_out_must_be_a_regular_file(tmp_path, target):
    if target == "fifo":
        target = str(tmp_path / "record.fifo")
        os.mkfifo(target)
    proc = cli("run", "--base-url", UNUSED, "--model", "m", "--record-out", target, cwd=tmp_path, env={"GATEWAY_API_KEY": CANARY_KEY})
    assert proc.returncode == 2 and lines(proc.stderr)[0].endswith("the record is replaced atomically") and len(lines(proc.stderr)) == 1


def test_a_regular_file_behind_dev_stdout_is_appended_to_not_truncated(tmp_path):
    out = tmp_path / "out.txt"
    script = "from pathlib import Path; from approval.frontends.pipeline import write_text_file; print('progress', flush=True); " \
             "write_text_file(Path('/dev/stdout'), 'report\\n')"
    with out.open("w") as handle:
        subprocess.run([sys.executable, "-c", script], stdout=handle, env={"PYTHONPATH": str(ROOT)}, check=True, timeout=60)
    assert out.read_text() == "progress\nreport\n"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--reapprove", "--model", "m"], "--reapprove and --model"),
        (["--model", "m", "--reapprove"], "--reapprove and --model"),
        (["--reapprove"], "the registry lists no model"),
        (["--model", "m", "--include-model-output"], "no --report-out"),
    ],
)
def test_flags_that_contradict_each_other_are_a_usage_error(tmp_path, args, needle):
    proc = cli("run", "--base-url", UNUSED, *args, cwd=tmp_path, env={"GATEWAY_API_KEY": CANARY_KEY, "CANDIDATE_MODEL_ID": "env-model"})
    err = lines(proc.stderr)
    assert proc.returncode == 2 and len(err) == 1 and needle in err[0], proc.stderr
    assert not (tmp_path / "approval-record.json").exists()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    write_record(tmp_path, "record.json")
    (tmp_path / "big.json").write_text("[" + "0," * 1_100_000 + "0]", encoding="utf-8")
    for step in (["init", "-q"], ["add", "record.json", "big.json"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "records"]):
        subprocess.run(["git", *step], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=60)
    return tmp_path


def test_diff_reads_a_record_from_git(repo):
    proc = cli("diff", "HEAD:record.json", "record.json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "no differences" in proc.stdout


@pytest.mark.parametrize(
    "spec",
    [
        "--output={out}:record.json",
        "--output={out} HEAD:record.json",
        "-o{out}:record.json",
        "--exec-path={out}:record.json",
        "HEAD:../record.json",
        "HEAD:./../../etc/passwd.json",
        "HEAD:/etc/x.json",
        "HEAD:big.json",
        "no-such-ref:record.json",
    ],
)
def test_diff_ref_path_is_never_an_option_to_git_nor_outside_the_tree_nor_unbounded(repo, tmp_path, spec):
    out = tmp_path / "written-by-git"
    spec = spec.format(out=out)
    proc = cli("diff", "--", spec, "record.json", cwd=repo)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert not out.exists()
    err = lines(proc.stderr)
    assert len(err) == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("flags", "config"),
    [
        ({}, None),
        ({"models": ["a-model/with'quote", "b;rm&x"], "baseline_model": "old$(id)"}, None),
        ({"samples": "5", "max_latency_ms": "1234.5", "timeout": "42", "concurrency": "2", "checks": "happy-path,latency"}, None),
        ({"endpoint": "responses"}, "base_url: http://gateway.test/v1\napproved_models_file: \"it's AGENTS.md\"\n"),
        ({}, "auth:\n  scheme: none\n"),
    ],
)
def test_the_reproduce_command_parses_and_names_this_runs_values(tmp_path, monkeypatch, flags, config):
    from types import SimpleNamespace

    from approval.report.render import reproduce_command
    from harness.mocked_gateway import make_settings

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a prompt `x`.md").write_text("Say hi.", encoding="utf-8")
    (tmp_path / "it's AGENTS.md").write_text(AGENTS, encoding="utf-8")
    if config is not None:
        (tmp_path / "my gateway's.yaml").write_text(config, encoding="utf-8")
        flags = {**flags, "config": "my gateway's.yaml"}
    settings = make_settings(prompt_file="a prompt `x`.md", **flags)
    command = reproduce_command(SimpleNamespace(settings=settings))  # type: ignore[arg-type]  # it reads the settings only
    args = parsed(command)
    assert args.command == "run" and args.base_url == settings.base_url and args.endpoint == settings.endpoint
    assert ",".join(args.models) == ",".join(settings.candidates) and args.prompt_file == "a prompt `x`.md"
    assert args.config == settings.config_path and args.baseline_model == settings.baseline_model
    assert args.checks == ",".join(settings.checks)
    if not config:
        assert float(args.samples or 3) == settings.latency_samples and float(args.max_latency_ms or 30000) == settings.max_latency_ms
        assert float(args.timeout or 300) == settings.total_timeout_s and int(args.concurrency or 8) == settings.concurrency
    assert CANARY_KEY not in command
    # the key comes from the environment as written: the shell stops with a clear message when it is not set
    if settings.auth.scheme != "none":
        proc = subprocess.run(["bash", "-c", command.replace("approval run", "true", 1)], capture_output=True, text=True, env={}, timeout=10,
                              check=False)
        assert proc.returncode != 0 and "set it to the gateway key" in proc.stderr
