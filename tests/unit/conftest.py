"""The unit tier: in process only (enforced below), and the fixtures of the tests that talk to a mocked GitHub (REST
API, artifact service)."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from collections.abc import Callable, Iterator
from typing import NoReturn

import pytest

from approval.github import rest


@pytest.fixture(autouse=True)
def _no_write_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyGithub spaces writes by a second (GitHub's advice); mocked writes need no spacing."""
    monkeypatch.setattr(rest, "SECONDS_BETWEEN_WRITES", None)


@pytest.fixture(autouse=True)
def _sdk_through_responses(sdk_through_responses: None) -> None:
    """Every unit test: the agent-client check's SDK calls reach the `responses` mocks (tests/conftest.py)."""


# What a unit test (or a fixture of it, at any scope) tried that the tier does not allow. Recorded as well as raised:
# code under test that catches every exception (a connection error is an expected outcome for much of it) must not
# turn the attempt into a passing test.
_ESCAPES: list[str] = []
TIER_ADVICE = ("a unit test runs in process: move it to tests/integration (this project's loopback servers, the CLI "
               "as a subprocess, git) or tests/e2e (third-party programs: LiteLLM, Portkey, Node, the container engine)")


class OutsideUnitTier(AssertionError):
    """A unit test reached for a socket or a subprocess."""


def _refuse(what: str) -> Callable[..., NoReturn]:
    def refused(*args: object, **kwargs: object) -> NoReturn:
        detail = f"{what} {args[1:2]!r}" if args[1:2] else what
        _ESCAPES.append(detail)
        raise OutsideUnitTier(f"{detail}: {TIER_ADVICE}")
    return refused


@pytest.fixture(scope="package", autouse=True)
def _in_process_only() -> Iterator[None]:
    """For the whole unit package (package scope: before any module- or session-wide fixture of a unit test runs), a
    socket connection or bind (`responses` intercepts requests before any socket is made) and any subprocess launch
    fail loudly."""
    # The openai SDK names the platform in its headers: platform.processor() runs `uname -p` once per process and
    # caches it. Asked here, before the guard, so that it is not charged to whichever unit test first builds a client.
    platform.processor()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _refuse("connected a socket"))
        mp.setattr(socket.socket, "connect_ex", _refuse("connected a socket"))
        mp.setattr(socket.socket, "bind", _refuse("bound a socket"))
        mp.setattr(socket, "create_connection", _refuse("connected a socket"))
        mp.setattr(subprocess.Popen, "__init__", _refuse("started a subprocess"))
        mp.setattr(os, "posix_spawn", _refuse("started a subprocess"))
        mp.setattr(os, "posix_spawnp", _refuse("started a subprocess"))
        mp.setattr(os, "fork", _refuse("forked"))
        mp.setattr(os, "system", _refuse("started a shell"))
        yield


def _report_escapes(when: str) -> None:
    if _ESCAPES:
        found = sorted(set(_ESCAPES))
        _ESCAPES.clear()
        pytest.fail(f"{when}: " + "; ".join(found) + f": {TIER_ADVICE}", pytrace=False)


@pytest.fixture(autouse=True)
def _no_escape_goes_unnoticed(_in_process_only: None) -> Iterator[None]:
    """Fails the test whose run (or whose module's fixtures) tried what the tier refuses, even if the code under test
    caught the refusal."""
    _report_escapes("a fixture of this unit test")
    yield
    _report_escapes("this unit test")
