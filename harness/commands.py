"""The `approval` console script as the tests run it: the one installed beside this interpreter (what users run), in a
subprocess, with the key checked absent from every output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MASTER_KEY = "sk-some-test-key"  # examples/litellm.yaml's master key: also the canary grepped in every output
RUN_SETTINGS = ("GATEWAY_", "CANDIDATE_", "GITHUB_", "INPUT_")  # the variables a run reads its settings from


def run_env(*also: str) -> dict[str, str]:
    """This process's environment without the variables a run would take settings from (RUN_SETTINGS, and the
    prefixes `also` names): a child run gets only what it is given."""
    return {k: v for k, v in os.environ.items() if not k.startswith((*RUN_SETTINGS, *also))}


def require_e2e() -> bool:
    """True when a missing peer (LiteLLM, the console script) must fail the run instead of skipping (CI sets it)."""
    return os.environ.get("APPROVAL_REQUIRE_E2E") == "1"


def approval_command() -> list[str]:
    script = Path(sys.executable).parent / "approval"
    if script.exists():
        return [str(script)]
    found = shutil.which("approval")
    if found:
        return [found]
    if require_e2e():
        pytest.fail("the `approval` console script is not installed in this environment (pip install -e .)")
    pytest.skip("the `approval` console script is not installed (pip install -e .)")


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def all_text(self) -> str:
        return self.stdout + self.stderr


def run_approval(args: list[str], *, key: str = MASTER_KEY, timeout: float = 120, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> CliRun:
    full_env = run_env()
    full_env["GATEWAY_API_KEY"] = key
    full_env.update(env or {})
    started = time.monotonic()
    proc = subprocess.run([*approval_command(), *args], capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=cwd or ROOT, check=False)
    return CliRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def approve_at(base_url: str, tmp_path: Path, model: str, *extra: str, key: str = MASTER_KEY) -> tuple[CliRun, Any]:
    """`approval run` against `base_url`; the record (validated), and the key checked absent from every output."""
    record = tmp_path / f"{model.replace(',', '_')}.json"
    report = tmp_path / "report.md"
    result = run_approval(["run", "--base-url", base_url, "--model", model, "--record-out", str(record),
                           "--report-out", str(report), "--timeout", "60", *extra], key=key)
    texts = [result.all_text]
    data = None
    if record.exists():
        texts.append(record.read_text())
        data = json.loads(record.read_text())
        assert run_approval(["validate-record", str(record)]).code == 0
    if report.exists():
        texts.append(report.read_text())
    for text in texts:
        assert key not in text, "the API key leaked into an output"
    assert "Traceback" not in result.all_text
    return result, data


def statuses(record: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["status"], c["category"]) for c in record["checks"]}
