"""Fixtures every tier shares. Helpers live in the `harness` package (one copy, also used by the demo and the bench)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
import responses

from approval.frontends.cli import main
from harness.commands import require_e2e
from harness.github_contract import ContractUnavailable, Exchange, check_exchanges
from harness.measured_runs import TABLES
from harness.mocked_gateway import BASE, CANARY_KEY, FakeGateway

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "e2e")
GHES_API_ROOT = "/api/v3"  # the tests' API URL is GHES-shaped; the description's paths are below it


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    """A well-behaved OpenAI-compatible gateway on `responses`: nothing leaves the process."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeGateway(rsps)


@pytest.fixture
def sdk_through_responses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent-client check's SDK calls go through `requests`, so the `responses` fake gateway (or a
    mocked failure) answers them too; the tests of the SDK's own transport run against loopback servers instead."""
    from approval.engine import agent_sdk
    from harness.sdk_bridge import RequestsBridge

    monkeypatch.setattr(agent_sdk, "shared_transport", lambda settings: RequestsBridge())


@pytest.fixture
def record_file(tmp_path: Path) -> Path:
    """A record file as the action uploads it (the artifact tests)."""
    path = tmp_path / "approval-record.json"
    path.write_text('{"overall_result": "pass"}\n', encoding="utf-8")
    return path


@pytest.fixture
def passing_record(sdk_through_responses: None, gateway: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A real record of a passing run (against the `responses` fake gateway)."""
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    path = tmp_path / "seed.json"
    assert main(["run", "--base-url", BASE, "--model", "cand-model", "--record-out", str(path), "--quiet"]) == 0
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _exchange(call: responses.Call) -> Exchange:
    request = call.request
    parts = urlsplit(request.url or "")
    path = unquote(parts.path)
    if path.startswith(GHES_API_ROOT + "/"):
        path = path[len(GHES_API_ROOT):]
    body = request.body or b""
    answer = call.response if isinstance(call.response, requests.Response) else None
    return Exchange(
        method=request.method or "",
        path=path,
        query=parse_qs(parts.query, keep_blank_values=True),
        headers=dict(request.headers),
        body=body.encode("utf-8") if isinstance(body, str) else bytes(body),
        status=answer.status_code if answer is not None else None,
        response_headers=dict(answer.headers) if answer is not None else {},
        response_body=answer.content if answer is not None else b"",
    )


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    """Every HTTP request is answered by `responses`, or fails: nothing leaves the process. Every request the code
    sent, and every answer the test mocked, is then held to GitHub's published contract (github_contract.py)."""
    with responses.RequestsMock() as mock:
        yield mock
        calls = list(mock.calls)  # before the mock's exit, which forgets them
    try:
        violations = check_exchanges([_exchange(call) for call in calls])
    except ContractUnavailable as exc:
        if require_e2e():  # the whole suite (CI): the contract is installed, and checked
            raise
        # the fast loop (scripts/test --fast, no npm): the test's own assertions held; the contract is checked by the
        # full suite, which installs it
        warnings.warn(f"GitHub's published contract not checked here: {exc}", stacklevel=1)
        return
    assert not violations, "exchanges that break GitHub's published contract:\n  " + "\n  ".join(
        dict.fromkeys(str(v) for v in violations))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test carries the marker of its tier, its folder (`-m unit`, `-m "not e2e"`)."""
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
        if parts and parts[0] in TIERS:
            item.add_marker(parts[0])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The measured tables the fault-gateway tests published (harness/measured_runs.py), at the end of the session."""
    for name, (path, text) in TABLES.items():
        terminalreporter.section(f"{name} (written to {path})")
        terminalreporter.write(text)
