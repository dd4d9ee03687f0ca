"""Fixtures of the unit tests that talk to a mocked GitHub (REST API, artifact service)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
import responses

from approval.github import rest
from tests.support.github_contract import Exchange, check_exchanges

GHES_API_ROOT = "/api/v3"  # the unit tests' API URL is GHES-shaped; the description's paths are below it


@pytest.fixture(autouse=True)
def _no_write_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyGithub spaces writes by a second (GitHub's advice); mocked writes need no spacing."""
    monkeypatch.setattr(rest, "SECONDS_BETWEEN_WRITES", None)


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
    violations = check_exchanges([_exchange(call) for call in calls])
    assert not violations, "exchanges that break GitHub's published contract:\n  " + "\n  ".join(
        dict.fromkeys(str(v) for v in violations))


@pytest.fixture(autouse=True)
def _sdk_through_responses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent-client check's SDK calls go through `requests` in unit tests, so the `responses` fake gateway (or a
    mocked failure) answers them too; the tests of the SDK's own transport run against loopback servers instead."""
    from approval.engine import agent_sdk
    from tests.support.sdk_bridge import RequestsBridge

    monkeypatch.setattr(agent_sdk, "shared_transport", lambda settings: RequestsBridge())
