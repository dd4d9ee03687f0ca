"""Start and stop a real LiteLLM proxy on 127.0.0.1, for end-to-end tests and the demo.

LiteLLM is a test and demo peer, never a runtime dependency: install it into its own venv, e.g.
``python -m venv .venv-gateway && .venv-gateway/bin/pip install -r requirements/gateway.txt`` (what scripts/bootstrap does).

``find_litellm()`` looks at ``$LITELLM_BIN``, then ``.venv-gateway/bin/litellm`` under the repository root, then
``PATH``. ``start_litellm(config)`` picks a free port, starts the proxy in its own process group with an environment
that keeps it off the network (``LITELLM_LOCAL_MODEL_COST_MAP=True``: otherwise it fetches its model cost map from
raw.githubusercontent.com at start; no database variables; ``NO_PROXY`` for loopback), waits (bounded) until
``GET /health/liveliness`` answers 200 and returns a ``RunningLiteLLM``, a context manager that stops the whole
process group on exit::

    with start_litellm("examples/litellm.yaml") as gw:
        requests.post(f"{gw.base_url}/chat/completions", headers={"Authorization": f"Bearer {gw.master_key}"}, ...)

From a shell, in the foreground until Ctrl-C::

    python -m tests.support.peer_gateway --config examples/litellm.yaml --port 4000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

__all__ = [
    "LITELLM_ENV",
    "LiteLLMError",
    "RunningLiteLLM",
    "find_litellm",
    "free_port",
    "litellm_env",
    "main",
    "start_litellm",
]

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_READY_TIMEOUT_S: Final = 60.0
DEFAULT_HOST: Final = "127.0.0.1"
LIVENESS_PATH: Final = "/health/liveliness"

# Set for the proxy process; each keeps it quiet and off the network.
LITELLM_ENV: Final[Mapping[str, str]] = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # use the bundled cost map, no fetch from GitHub at import time
    "LITELLM_LOG": "ERROR",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "LITELLM_TELEMETRY": "False",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "PYTHONUNBUFFERED": "1",
}
# Removed from the inherited environment: a database or a real provider key would change what the proxy does.
_DROPPED_ENV: Final = (
    "DATABASE_URL",
    "DIRECT_URL",
    "DATABASE_URL_READ_REPLICA",
    "REDIS_URL",
    "REDIS_HOST",
    "LITELLM_MASTER_KEY",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "LITELLM_MODEL_COST_MAP_URL",
)


class LiteLLMError(RuntimeError):
    """LiteLLM could not be found, or did not become ready."""


def find_litellm() -> Path | None:
    """The ``litellm`` executable: ``$LITELLM_BIN``, else ``.venv-gateway/bin/litellm``, else ``PATH``; or None.

    A ``LITELLM_BIN`` that does not name an executable file is a mistake and raises ``LiteLLMError``.
    """
    configured = os.environ.get("LITELLM_BIN")
    if configured:
        path = Path(configured).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise LiteLLMError(f"LITELLM_BIN={configured} is not an executable file")
    local = REPO_ROOT / ".venv-gateway" / "bin" / "litellm"
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which("litellm")
    return Path(found) if found else None


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def litellm_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for the proxy: the current one, minus database/provider settings, plus ``LITELLM_ENV``."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update(LITELLM_ENV)
    env.update(extra or {})
    return env


def _master_key(config_path: Path) -> str | None:
    """``general_settings.master_key`` from the config, read with a regex so no YAML library is needed."""
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^\s*master_key:\s*[\"']?([^\"'#\s]+)", text, re.MULTILINE)
    return match.group(1) if match else None


def _http_status(url: str, timeout: float) -> int | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP proxy
    try:
        with opener.open(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def _log_tail(path: Path, limit: int = 3000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return "(no log)"
    return data[-limit:].decode("utf-8", "replace")


@dataclass
class RunningLiteLLM:
    """A started LiteLLM proxy. Use as a context manager, or call ``stop()``."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    config_path: Path
    log_path: Path
    master_key: str | None
    started_in_s: float = 0.0
    _log_file: IO[bytes] | None = field(default=None, repr=False)
    _owns_log: bool = field(default=False, repr=False)

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ending in ``/v1``."""
        return f"{self.root_url}/v1"

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, limit: int = 3000) -> str:
        return _log_tail(self.log_path, limit)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the proxy's process group (it was started in a session of its own), then kill if needed."""
        if self.process.poll() is None:
            for sig, wait_s in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, sig)
                try:
                    self.process.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        else:
            # The leader exited; workers it left in its group are ours to end too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGTERM)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def start_litellm(
    config_path: str | Path,
    port: int | None = None,
    log_path: str | Path | None = None,
    *,
    host: str = DEFAULT_HOST,
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S,
    binary: str | Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> RunningLiteLLM:
    """Start ``litellm --config CONFIG`` on ``host:port`` (a free port by default) and wait until it is live.

    Output goes to ``log_path`` (a new temporary file by default). Raises ``LiteLLMError`` when the executable is
    missing, or when the proxy exits or is not live within ``ready_timeout_s``; it is stopped in that case.
    """
    config = Path(config_path).resolve()
    if not config.is_file():
        raise LiteLLMError(f"LiteLLM config not found: {config}")
    exe = Path(binary) if binary is not None else find_litellm()
    if exe is None:
        raise LiteLLMError(
            "litellm not found: set LITELLM_BIN, or install it into .venv-gateway "
            "(python -m venv .venv-gateway && .venv-gateway/bin/pip install -r requirements/gateway.txt)"
        )
    chosen_port = port if port is not None else free_port(host)
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="litellm-", suffix=".log")
        os.close(fd)
        log = Path(name)
    else:
        log = Path(log_path)
        log.parent.mkdir(parents=True, exist_ok=True)
    log_file = log.open("wb")
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            [str(exe), "--config", str(config), "--host", host, "--port", str(chosen_port)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=litellm_env(extra_env),
            start_new_session=True,
        )
    except OSError as exc:
        log_file.close()
        raise LiteLLMError(f"cannot start {exe}: {exc}") from exc
    running = RunningLiteLLM(
        process=process,
        host=host,
        port=chosen_port,
        config_path=config,
        log_path=log,
        master_key=_master_key(config),
        _log_file=log_file,
    )
    try:
        _wait_live(running, started + ready_timeout_s)
    except BaseException:
        running.stop()  # also on Ctrl-C while waiting: never leave a proxy behind
        raise
    running.started_in_s = time.monotonic() - started
    return running


def _wait_live(running: RunningLiteLLM, deadline: float) -> None:
    url = running.root_url + LIVENESS_PATH
    while True:
        code = running.process.poll()
        if code is not None:
            raise LiteLLMError(f"litellm exited with code {code} before it was live; log tail:\n{running.log_tail()}")
        if _http_status(url, timeout=2.0) == 200:
            return
        if time.monotonic() >= deadline:
            raise LiteLLMError(f"litellm not live in time at {url}; log tail:\n{running.log_tail()}")
        time.sleep(0.25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.peer_gateway",
        description="Run a LiteLLM proxy on 127.0.0.1 in the foreground until Ctrl-C.",
    )
    parser.add_argument("--config", default=str(REPO_ROOT / "examples" / "litellm.yaml"), help="LiteLLM config")
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument("--log", default=None, help="log file (default: a new temporary file)")
    parser.add_argument("--ready-timeout", type=float, default=DEFAULT_READY_TIMEOUT_S, help="seconds to wait")
    parser.add_argument("--max-hours", type=float, default=12.0, help="stop by itself after this long")
    args = parser.parse_args(argv)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Also when started in the background (SIGINT inherited as ignored) or stopped with SIGTERM: stop the proxy too.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        gateway = start_litellm(args.config, args.port, args.log, ready_timeout_s=args.ready_timeout)
    except LiteLLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    with gateway:
        print(f"LiteLLM ready in {gateway.started_in_s:.1f} s (pid {gateway.pid}, log {gateway.log_path})")
        print(f"base URL: {gateway.base_url}")
        if gateway.master_key:
            print(f"API key:  {gateway.master_key}")
        print("Ctrl-C to stop.", flush=True)
        try:
            gateway.process.wait(timeout=args.max_hours * 3600)
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
        except subprocess.TimeoutExpired:
            print(f"stopping after {args.max_hours} h", file=sys.stderr)
        if not gateway.is_running():
            code = gateway.process.returncode
            print(f"litellm exited with code {code}; log tail:\n{gateway.log_tail()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
