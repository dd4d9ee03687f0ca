"""End-to-end fixtures: real gateways on 127.0.0.1 (LiteLLM, and Portkey's in front of it) and the installed `approval`
command."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.commands import approval_command, require_e2e
from tests.support.peer_gateway import RunningLiteLLM, RunningPortkey, find_litellm, find_portkey, start_litellm, start_portkey

ROOT = Path(__file__).resolve().parents[2]
MASTER_KEY = "sk-some-test-key"  # examples/litellm.yaml's master key: also the canary grepped in every output


@pytest.fixture(scope="session")
def litellm() -> Iterator[RunningLiteLLM]:
    if find_litellm() is None:
        if require_e2e():
            pytest.fail("APPROVAL_REQUIRE_E2E=1 but litellm is not installed (run scripts/bootstrap)")
        pytest.skip("litellm is not installed: run scripts/bootstrap, or set LITELLM_BIN")
    with start_litellm(ROOT / "examples" / "litellm.yaml") as running:
        yield running


@pytest.fixture(scope="session")
def portkey() -> Iterator[RunningPortkey]:
    if find_portkey() is None:
        if require_e2e():
            pytest.fail("APPROVAL_REQUIRE_E2E=1 but Portkey's gateway is not installed (run scripts/bootstrap; it needs npm)")
        pytest.skip("Portkey's gateway is not installed: run scripts/bootstrap (it needs npm)")
    with start_portkey() as running:
        yield running


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
