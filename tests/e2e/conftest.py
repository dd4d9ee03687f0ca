"""End-to-end fixtures: real gateways on 127.0.0.1 (LiteLLM, and Portkey's in front of it) and the installed `approval`
command."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.action_container import BuiltImage, EngineError, build_image, engine_problem, python_base
from tests.support.commands import approval_command, require_e2e
from tests.support.peer_gateway import RunningLiteLLM, RunningPortkey, find_litellm, find_portkey, start_litellm, start_portkey

ROOT = Path(__file__).resolve().parents[2]
MASTER_KEY = "sk-some-test-key"  # examples/litellm.yaml's master key: also the canary grepped in every output
IMAGE_TAG = "model-approval-gate:e2e"  # the action's image as the tests build it


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


@pytest.fixture(scope="session")
def image() -> BuiltImage:
    """The repository's Dockerfile, built once per session by the container engine (layers cached between sessions)."""
    problem = engine_problem()
    if problem is not None:
        if require_e2e():
            pytest.fail(f"APPROVAL_REQUIRE_E2E=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    try:
        return build_image(ROOT, IMAGE_TAG, base=python_base())
    except EngineError as exc:
        pytest.fail(f"could not build the action's image: {exc}", pytrace=False)


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
