"""End-to-end fixtures: a real LiteLLM proxy on 127.0.0.1 and the installed `approval` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.peer_gateway import RunningLiteLLM, find_litellm, start_litellm

ROOT = Path(__file__).resolve().parents[2]
MASTER_KEY = "sk-some-test-key"  # examples/litellm.yaml's master key: also the canary grepped in every output


def _require_e2e() -> bool:
    return os.environ.get("APPROVAL_REQUIRE_E2E") == "1"


@pytest.fixture(scope="session")
def litellm() -> Iterator[RunningLiteLLM]:
    if find_litellm() is None:
        if _require_e2e():
            pytest.fail("APPROVAL_REQUIRE_E2E=1 but litellm is not installed (run scripts/bootstrap)")
        pytest.skip("litellm is not installed: run scripts/bootstrap, or set LITELLM_BIN")
    with start_litellm(ROOT / "examples" / "litellm.yaml") as running:
        yield running


def approval_command() -> list[str]:
    """The installed console script beside this interpreter (what users run)."""
    script = Path(sys.executable).parent / "approval"
    if script.exists():
        return [str(script)]
    found = shutil.which("approval")
    if found:
        return [found]
    if _require_e2e():
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
    import time

    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "CANDIDATE_", "GITHUB_", "INPUT_"))}
    full_env["GATEWAY_API_KEY"] = key
    full_env.update(env or {})
    started = time.monotonic()
    proc = subprocess.run([*approval_command(), *args], capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=cwd or ROOT, check=False)
    return CliRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
