"""Fixtures of the unit tests that talk to a mocked GitHub (REST API, artifact service)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from approval.github import rest


@pytest.fixture(autouse=True)
def _no_write_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyGithub spaces writes by a second (GitHub's advice); mocked writes need no spacing."""
    monkeypatch.setattr(rest, "SECONDS_BETWEEN_WRITES", None)


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    """Every HTTP request is answered by `responses`, or fails: nothing leaves the process."""
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture(autouse=True)
def _sdk_through_responses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent-client check's SDK calls go through `requests` in unit tests, so the `responses` fake gateway (or a
    mocked failure) answers them too; the tests of the SDK's own transport run against loopback servers instead."""
    from approval import agent_sdk
    from tests.support.sdk_bridge import RequestsBridge

    monkeypatch.setattr(agent_sdk, "shared_transport", lambda settings: RequestsBridge())
