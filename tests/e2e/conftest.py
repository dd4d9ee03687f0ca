"""End-to-end fixtures: real gateways on 127.0.0.1 (LiteLLM, and Portkey's in front of it) and the installed `approval`
command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.action_container import BuiltImage, EngineError, build_image, engine_problem, python_base
from harness.commands import require_e2e
from harness.peer_gateway import (
    RunningLiteLLM,
    RunningPortkey,
    find_portkey,
    need_litellm,
    start_demo_gateway,
    start_portkey,
)
from harness.stub_upstream import StubUpstream

ROOT = Path(__file__).resolve().parents[2]
IMAGE_TAG = "model-approval-gate:e2e"  # the action's image as the tests build it


@pytest.fixture(scope="session")
def litellm() -> Iterator[RunningLiteLLM]:
    need_litellm()
    with start_demo_gateway() as running:
        yield running


@pytest.fixture(scope="module")
def stub() -> Iterator[StubUpstream]:
    """Stub upstream models on 127.0.0.1 (harness/stub_upstream.py), one for the module; it must end without a
    handler error (a request it could not read)."""
    with StubUpstream() as upstream:
        yield upstream
        assert upstream.handler_errors == []


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
