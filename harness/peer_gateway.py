"""Start and stop real third-party gateways on 127.0.0.1 for end-to-end tests and the demo: LiteLLM's proxy and
Portkey's open-source AI gateway.

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

The demo gateway (``examples/litellm.yaml``) routes ``good-model`` through LiteLLM's OpenAI translation to a stub
upstream model (harness/stub_upstream.py) whose base URL it reads from ``$APPROVAL_DEMO_UPSTREAM``:
``start_demo_gateway()`` starts both. Without that variable the proxy gets the closed discard port, so a config naming
it can never send a request off this machine. From a shell, in the foreground until Ctrl-C::

    python -m harness.peer_gateway --port 4000

Portkey's gateway (npm ``@portkey-ai/gateway``, pinned in ``requirements/portkey``; ``scripts/bootstrap`` installs it
into ``.tools/portkey``) runs under Node. ``start_portkey()`` starts
``node --require harness/loopback_only.cjs start-server.js --port=PORT --headless`` on a free port, in its own
process group, with an environment of PATH and HOME alone (no proxy, Redis, cloud credentials or trusted-host
settings reach it). Its start-up code listens on every interface and has no option to choose one; the preloaded
``loopback_only.cjs`` makes it listen on 127.0.0.1 and refuses any outgoing connection that is not to a loopback
address. Read in 1.15.2's ``build/start-server.js``: no telemetry or analytics call; ``--headless`` leaves out the
web UI and its log stream. Ready when ``GET /`` answers 200 (about a second). It routes each request by its headers
(``x-portkey-provider`` + ``x-portkey-custom-host``, or one ``x-portkey-config`` JSON)::

    with start_portkey() as portkey:
        requests.post(f"{portkey.base_url}/chat/completions", headers={"x-portkey-provider": "openai",
                      "x-portkey-custom-host": litellm.base_url, ...}, ...)
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Final, Self

import pytest

from harness.commands import require_e2e

if TYPE_CHECKING:
    from harness.stub_upstream import StubUpstream

__all__ = [
    "LITELLM_ENV",
    "LiteLLMError",
    "PeerError",
    "PortkeyError",
    "RunningLiteLLM",
    "RunningPeer",
    "RunningPortkey",
    "find_litellm",
    "find_portkey",
    "free_port",
    "litellm_env",
    "main",
    "portkey_env",
    "start_demo_gateway",
    "start_litellm",
    "start_portkey",
    "write_stub_litellm_config",
]

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
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


DEMO_CONFIG: Final = REPO_ROOT / "examples" / "litellm.yaml"
DEMO_UPSTREAM_ENV: Final = "APPROVAL_DEMO_UPSTREAM"  # the stub upstream's /v1 URL, read by the demo config's api_base
DEMO_STUB_MODELS: Final = ("good-model",)
CLOSED_UPSTREAM: Final = "http://127.0.0.1:9/v1"  # the discard port, closed: where an unset upstream variable points

STUB_MASTER_KEY: Final = "sk-stub-test-key"  # the master key of write_stub_litellm_config's configs

PORTKEY_VERSION: Final = "1.15.2"  # requirements/portkey/package.json
PORTKEY_SERVER: Final = REPO_ROOT / ".tools" / "portkey" / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
LOOPBACK_PRELOAD: Final = Path(__file__).resolve().with_name("loopback_only.cjs")
PORTKEY_READY_PATH: Final = "/"  # answers 200 "AI Gateway says hey!"
PORTKEY_READY_TIMEOUT_S: Final = 30.0


class PeerError(RuntimeError):
    """A peer gateway could not be found, or did not become ready."""


class LiteLLMError(PeerError):
    """LiteLLM could not be found, or did not become ready."""


class PortkeyError(PeerError):
    """Portkey's gateway (or Node) could not be found, or did not become ready."""


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
    env[DEMO_UPSTREAM_ENV] = CLOSED_UPSTREAM  # never unset: LiteLLM would fall back to the provider's public URL
    env.update(extra or {})
    return env


def _master_key(config_path: Path) -> str | None:
    """``general_settings.master_key`` from the config, read with a regex so no YAML library is needed."""
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^\s*[\"']?master_key[\"']?:\s*[\"']?([^\"'#\s,]+)", text, re.MULTILINE)  # YAML or JSON
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


@dataclass(kw_only=True)
class RunningPeer:
    """A started gateway process. Use as a context manager, or call ``stop()``."""

    name: str
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path
    started_in_s: float = 0.0
    _log_file: IO[bytes] | None = field(default=None, repr=False)

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
        """Terminate the process group it was started in (a session of its own), then kill if needed."""
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


@dataclass(kw_only=True)
class RunningLiteLLM(RunningPeer):
    """A started LiteLLM proxy."""

    config_path: Path
    master_key: str | None


@dataclass(kw_only=True)
class RunningPortkey(RunningPeer):
    """A started Portkey gateway, on 127.0.0.1 and able to reach loopback addresses only."""

    version: str = PORTKEY_VERSION


def _log_file_for(prefix: str, log_path: str | Path | None) -> Path:
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix=f"{prefix}-", suffix=".log")
        os.close(fd)
        return Path(name)
    log = Path(log_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    return log


def _spawn(argv: list[str], env: Mapping[str, str], log: Path, error: type[PeerError]) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """Start ``argv`` in a session of its own (so ``stop()`` ends its whole group), output to ``log``."""
    log_file = log.open("wb")
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=dict(env),
                                   start_new_session=True)
    except OSError as exc:
        log_file.close()
        raise error(f"cannot start {argv[0]}: {exc}") from exc
    return process, log_file


def _ready(running: RunningPeer, path: str, started: float, timeout_s: float, error: type[PeerError]) -> None:
    """Wait (at most ``timeout_s`` after ``started``) until ``GET path`` answers 200; stop the peer if it does not."""
    deadline = started + timeout_s
    url = running.root_url + path
    try:
        while True:
            code = running.process.poll()
            if code is not None:
                raise error(f"{running.name} exited with code {code} before it was ready; log tail:\n{running.log_tail()}")
            if _http_status(url, timeout=2.0) == 200:
                break
            if time.monotonic() >= deadline:
                raise error(f"{running.name} not ready in time at {url}; log tail:\n{running.log_tail()}")
            time.sleep(0.25)
    except BaseException:
        running.stop()  # also on Ctrl-C while waiting: never leave a gateway behind
        raise
    running.started_in_s = time.monotonic() - started


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
    log = _log_file_for("litellm", log_path)
    started = time.monotonic()
    process, log_file = _spawn([str(exe), "--config", str(config), "--host", host, "--port", str(chosen_port)],
                               litellm_env(extra_env), log, LiteLLMError)
    running = RunningLiteLLM(name="litellm", process=process, host=host, port=chosen_port, log_path=log, _log_file=log_file,
                             config_path=config, master_key=_master_key(config))
    _ready(running, LIVENESS_PATH, started, ready_timeout_s, LiteLLMError)
    return running


@contextlib.contextmanager
def start_demo_gateway(config_path: str | Path = DEMO_CONFIG, port: int | None = None, log_path: str | Path | None = None,
                       *, ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S) -> Iterator[RunningLiteLLM]:
    """The demo gateway: a stub upstream model in this process (``DEMO_STUB_MODELS``) and LiteLLM started with
    ``config_path``, told the stub's URL in ``$APPROVAL_DEMO_UPSTREAM``; both stop on exit."""
    from harness.stub_upstream import StubUpstream  # here: only the demo gateway needs the stub model

    with StubUpstream(models=DEMO_STUB_MODELS) as stub, \
            start_litellm(config_path, port, log_path, ready_timeout_s=ready_timeout_s,
                          extra_env={DEMO_UPSTREAM_ENV: stub.base_url}) as running:
        yield running


def write_stub_litellm_config(path: str | Path, stub_root_url: str, models: Sequence[str], *, master_key: str = STUB_MASTER_KEY) -> Path:
    """Write a LiteLLM config routing each stub model (see harness/stub_upstream.py) through LiteLLM's own
    provider translation: ``openai-<model>`` to ``openai/<model>`` at ``<stub>/v1`` (chat and Responses as they are)
    and ``anthropic-<model>`` to ``anthropic/<model>`` at ``<stub>`` (LiteLLM appends ``/v1/messages``).

    The file is JSON, which YAML reads as it is. No ``mock_response``: every answer comes from the stub upstream.
    """
    root = stub_root_url.rstrip("/")
    model_list = []
    for model in models:
        model_list.append({"model_name": f"openai-{model}",
                           "litellm_params": {"model": f"openai/{model}", "api_key": "sk-stub-upstream", "api_base": f"{root}/v1"}})
        model_list.append({"model_name": f"anthropic-{model}",
                           "litellm_params": {"model": f"anthropic/{model}", "api_key": "sk-stub-upstream", "api_base": root}})
    config = {"model_list": model_list, "general_settings": {"master_key": master_key},
              "litellm_settings": {"telemetry": False, "num_retries": 0, "drop_params": False}}
    target = Path(path)
    target.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return target


def find_portkey() -> Path | None:
    """Portkey's ``start-server.js``: ``$PORTKEY_SERVER``, else the one ``scripts/bootstrap`` installed; or None.

    A ``PORTKEY_SERVER`` that does not name a file is a mistake and raises ``PortkeyError``.
    """
    configured = os.environ.get("PORTKEY_SERVER")
    if configured:
        path = Path(configured).expanduser()
        if path.is_file():
            return path
        raise PortkeyError(f"PORTKEY_SERVER={configured} is not a file")
    return PORTKEY_SERVER if PORTKEY_SERVER.is_file() else None


def portkey_env() -> dict[str, str]:
    """The whole environment Portkey gets: where to find programs, a home, a locale. Nothing it would act on."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8",
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def start_portkey(
    port: int | None = None,
    log_path: str | Path | None = None,
    *,
    ready_timeout_s: float = PORTKEY_READY_TIMEOUT_S,
    server: str | Path | None = None,
) -> RunningPortkey:
    """Start Portkey's gateway on 127.0.0.1 (a free port by default), loopback-only, and wait until it answers.

    Raises ``PortkeyError`` when Node or the gateway is missing, or when it exits or does not answer within
    ``ready_timeout_s``; it is stopped in that case.
    """
    script = Path(server) if server is not None else find_portkey()
    if script is None:
        raise PortkeyError("Portkey's gateway is not installed: run scripts/bootstrap (npm ci of requirements/portkey into .tools/portkey)")
    node = shutil.which("node")
    if node is None:
        raise PortkeyError("node not found on PATH: Portkey's gateway runs under Node (20 or newer)")
    chosen_port = port if port is not None else free_port(DEFAULT_HOST)
    log = _log_file_for("portkey", log_path)
    started = time.monotonic()
    argv = [node, "--require", str(LOOPBACK_PRELOAD), str(script), f"--port={chosen_port}", "--headless"]
    process, log_file = _spawn(argv, portkey_env(), log, PortkeyError)
    running = RunningPortkey(name="portkey", process=process, host=DEFAULT_HOST, port=chosen_port, log_path=log, _log_file=log_file)
    _ready(running, PORTKEY_READY_PATH, started, ready_timeout_s, PortkeyError)
    return running


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.peer_gateway",
        description="Run a LiteLLM proxy (and optionally Portkey's gateway in front of it) on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--config", default=str(DEMO_CONFIG), help="LiteLLM config (default: the demo gateway's; the stub upstream "
                        f"model it routes to is started too, its URL in ${DEMO_UPSTREAM_ENV})")
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument("--log", default=None, help="log file (default: a new temporary file)")
    parser.add_argument("--ready-timeout", type=float, default=DEFAULT_READY_TIMEOUT_S, help="seconds to wait")
    parser.add_argument("--max-hours", type=float, default=12.0, help="stop by itself after this long")
    parser.add_argument("--portkey", action="store_true", help="also start Portkey's gateway, routing to this LiteLLM")
    args = parser.parse_args(argv)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Also when started in the background (SIGINT inherited as ignored) or stopped with SIGTERM: stop the proxy too.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    with contextlib.ExitStack() as stack:
        try:
            gateway = stack.enter_context(start_demo_gateway(args.config, args.port, args.log, ready_timeout_s=args.ready_timeout))
            portkey = stack.enter_context(start_portkey()) if args.portkey else None
        except PeerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        print(f"LiteLLM ready in {gateway.started_in_s:.1f} s (pid {gateway.pid}, log {gateway.log_path})")
        print(f"base URL: {gateway.base_url}")
        if gateway.master_key:
            print(f"API key:  {gateway.master_key}")
        if portkey is not None:
            print(f"Portkey {portkey.version} ready in {portkey.started_in_s:.1f} s (pid {portkey.pid}, log {portkey.log_path})")
            print(f"Portkey base URL: {portkey.base_url}; in gateway.yaml:")
            print(f"  headers: {{x-portkey-provider: openai, x-portkey-custom-host: '{gateway.base_url}'}}")
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


def need_litellm() -> None:
    """LiteLLM must be installed: a skip, or under APPROVAL_REQUIRE_E2E=1 (CI) a failure naming the fix."""
    if find_litellm() is None:
        if require_e2e():
            pytest.fail("APPROVAL_REQUIRE_E2E=1 but litellm is not installed (run scripts/bootstrap)")
        pytest.skip("litellm is not installed: run scripts/bootstrap, or set LITELLM_BIN")


@contextlib.contextmanager
def litellm_in_front_of(stub: StubUpstream, models: Sequence[str]) -> Iterator[RunningLiteLLM]:
    """A real LiteLLM translating to `stub`, every model routed as `openai-<model>` and `anthropic-<model>`
    (write_stub_litellm_config); one a module, since a start costs ~10 s."""
    need_litellm()
    with tempfile.TemporaryDirectory(prefix="stub-litellm-") as tmp, \
            start_litellm(write_stub_litellm_config(Path(tmp) / "litellm.json", stub.root_url, models)) as running:
        yield running
