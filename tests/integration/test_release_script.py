"""scripts/release_image.py without an engine: the version check, the action metadata it writes, the release notes,
the major tag, and how it asks a registry (with a bearer token, as GHCR wants) for the digest of a tag."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from approval import __version__
from harness.commands import approval_command
from tests.unit.test_release_script import DIGEST, ROOT, SCRIPT, release


def test_cli_version_is_the_package_version() -> None:
    proc = subprocess.run([*approval_command(), "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == f"approval {__version__}"
    assert release.project_version((ROOT / "approval" / "__init__.py").read_text(encoding="utf-8")) == __version__
    assert 'version = { attr = "approval.__version__" }' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_release_of_another_version_stops_before_building_anything(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no docker, no git: reaching either would fail differently (exit 1)
    proc = subprocess.run([sys.executable, str(SCRIPT), "image", "--registry", "127.0.0.1:9", "--name", "example/gate", "--tag", "v99.0.0"],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and proc.stderr.splitlines() == [
        f"error: release tag v99.0.0 does not match the version in approval/__init__.py ({__version__}): "
        f'set __version__ = "99.0.0" and add its CHANGELOG section, or tag v{__version__}']


class _Registry(BaseHTTPRequestHandler):
    """A registry that wants a bearer token (as GHCR does), granted for user:secret on its /token realm."""

    token = "registry-token-5e0c"
    seen: ClassVar[list[tuple[str, str, str]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        self.seen.append((self.command, self.path, auth))
        host = f"http://{self.headers['Host']}"
        if self.path.startswith("/token?"):
            good = "Basic " + base64.b64encode(b"user:secret").decode()
            if auth != good or "scope=repository%3Aexample%2Fgate%3Apull" not in self.path:
                self._reply(401, {})
            else:
                self._reply(200, {"Content-Type": "application/json"}, json.dumps({"token": self.token}).encode())
        elif auth != f"Bearer {self.token}":
            challenge = f'Bearer realm="{host}/token",service="registry.test",scope="repository:example/gate:pull"'
            self._reply(401, {"WWW-Authenticate": challenge})
        elif self.path == "/v2/example/gate/manifests/v1.2.3":
            self._reply(200, {"Docker-Content-Digest": DIGEST, "Content-Type": "application/vnd.oci.image.index.v1+json"}, b"{}")
        else:
            self._reply(404, {})


@pytest.fixture
def token_registry() -> Iterator[str]:
    _Registry.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_digest_is_asked_with_the_token_the_registry_grants(token_registry: str) -> None:
    registry = release.Registry(token_registry, "user", "secret")
    assert registry.digest("example/gate", "v1.2.3") == DIGEST
    methods = [(method, path.split("?")[0], auth.split(" ")[0]) for method, path, auth in _Registry.seen]
    assert methods == [("HEAD", "/v2/example/gate/manifests/v1.2.3", ""), ("GET", "/token", "Basic"),
                       ("HEAD", "/v2/example/gate/manifests/v1.2.3", "Bearer")]


def test_refused_credentials_and_unknown_tags_are_named(token_registry: str) -> None:
    with pytest.raises(release.ReleaseError, match=r"no token from http://127\.0\.0\.1:\d+/token"):
        release.Registry(token_registry, "user", "wrong").digest("example/gate", "v1.2.3")
    with pytest.raises(release.ReleaseError, match=r"GET /v2/example/gate/manifests/v9 answered 404|HEAD /v2/example/gate/manifests/v9 answered 404"):
        release.Registry(token_registry, "user", "secret").digest("example/gate", "v9")
