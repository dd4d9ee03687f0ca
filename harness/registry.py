"""Debian's `docker-registry` (the open-source distribution registry) on 127.0.0.1, standing in for GHCR.

``start_registry(storage)`` starts it on a free loopback port with its storage in ``storage`` (a private folder),
waits (bounded) until ``GET /v2/`` answers 200 and returns a ``RunningRegistry``, a context manager that stops the
process by its PID on exit. Docker speaks plain HTTP to a registry on 127.0.0.0/8 without extra configuration.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from harness.peer_gateway import free_port

__all__ = ["RegistryError", "RunningRegistry", "find_registry", "start_registry"]

READY_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 10.0


class RegistryError(Exception):
    """The registry could not be started; the message says why."""


def find_registry() -> str | None:
    return shutil.which("docker-registry") or next((p for p in ("/usr/bin/docker-registry",) if Path(p).exists()), None)


class RunningRegistry:
    def __init__(self, process: subprocess.Popen[bytes], port: int, storage: Path, log: Path) -> None:
        self.process = process
        self.port = port
        self.storage = storage
        self.log = log

    @property
    def host(self) -> str:
        """How docker and image references name it: 127.0.0.1:PORT."""
        return f"127.0.0.1:{self.port}"

    def get(self, path: str, accept: str = "*/*", method: str = "GET") -> tuple[dict[str, str], bytes]:
        """One request to its HTTP API (no proxy: it is on loopback)."""
        request = urllib.request.Request(f"http://{self.host}{path}", method=method, headers={"Accept": accept})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            return {k.lower(): v for k, v in response.headers.items()}, response.read()

    def tags(self, name: str) -> list[str]:
        _, body = self.get(f"/v2/{name}/tags/list")
        tags: list[str] = json.loads(body).get("tags") or []
        return tags

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def start_registry(storage: Path) -> RunningRegistry:
    binary = find_registry()
    if binary is None:
        raise RegistryError("docker-registry is not installed (Debian: apt-get install docker-registry; scripts/container-engine installs it)")
    storage.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = storage.parent / f"{storage.name}-config.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }), encoding="utf-8")
    log = storage.parent / f"{storage.name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    running = RunningRegistry(process, port, storage, log)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            running.get("/v2/")
            return running
        except (urllib.error.URLError, OSError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            running.stop()
            tail = log.read_text(encoding="utf-8", errors="replace").strip()[-1000:]
            raise RegistryError(f"docker-registry did not answer on {running.host} within {READY_TIMEOUT_S:.0f}s: {tail}")
        time.sleep(0.1)
