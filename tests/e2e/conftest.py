"""End-to-end fixtures: a real LiteLLM proxy on 127.0.0.1 and the installed `approval` command."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.action_container import ContainerImage, ImageBuildError, build_image
from tests.support.commands import approval_command, require_e2e
from tests.support.peer_gateway import RunningLiteLLM, find_litellm, start_litellm

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
def image(tmp_path_factory: pytest.TempPathFactory) -> ContainerImage:
    """The Dockerfile, followed once per session: a fresh venv with `pip install` of requirements/runtime.txt, plus COPY."""
    try:
        return build_image(ROOT, tmp_path_factory.mktemp("image"))
    except ImageBuildError as exc:
        pytest.fail(f"could not build the action's image from the Dockerfile: {exc}", pytrace=False)


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
