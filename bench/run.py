#!/usr/bin/env python3
"""Benchmark of `approval run` against its floor, against promptfoo, and of its start; see bench/README.md.

Starts the LiteLLM proxy on 127.0.0.1 with a fixed injected latency per completion (``mock_delay`` in
bench/litellm-bench.yaml) and a tiny exact-latency stub gateway in this process, runs every scenario a few times
(the median is reported), prints a table of ratios and PASS/MISS per target, and writes the raw figures to
bench/results/latest.json. A measurement: it exits 0 even when a target is missed; 2 when it cannot run at all.

    bash bench/run            # bootstraps .venv first when it is missing, then runs this file
    .venv/bin/python bench/run.py [--runs 3] [--skip-promptfoo] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from approval import __version__ as APPROVAL_VERSION  # noqa: E402
from approval.engine.checks import CATALOGUE, plan_for  # noqa: E402
from approval.engine.probes import Probe  # noqa: E402
from approval.engine.suite import run_suite  # noqa: E402
from approval.record.build import record_paths  # noqa: E402
from approval.settings.build import build_settings  # noqa: E402
from approval.settings.flags import Flags  # noqa: E402
from bench import image  # noqa: E402
from harness.peer_gateway import LiteLLMError, RunningLiteLLM, find_litellm, start_litellm, write_stub_litellm_config  # noqa: E402
from harness.stub_upstream import StubUpstream  # noqa: E402

BENCH: Final = ROOT / "bench"
LITELLM_CONFIG: Final = BENCH / "litellm-bench.yaml"
LAUNCHER: Final = BENCH / "launch.py"
PROMPTFOO_CONFIG: Final = BENCH / "promptfooconfig.yaml"
PROMPTFOO_VERSION: Final = "0.121.20"  # the newest promptfoo whose engines still accept Node 20.20 (0.122+ needs 22.22)
PROMPTFOO_PREFIX: Final = BENCH / ".tools" / "promptfoo"  # git-ignored (.tools/)
DEFAULT_JSON_OUT: Final = BENCH / "results" / "latest.json"  # git-ignored (bench/results/)
MASTER_KEY: Final = "sk-some-test-key"  # bench/litellm-bench.yaml's master key; the stub accepts any key
# The agent profile every run holds for: an agent without tools. The mocked models (LiteLLM's mock_response, the stub
# below) answer one text to everything, so they cannot carry a tool loop; the rows measure the single-turn suite.
PROFILE: Final = "plain-chat"
MODEL: Final = "bench-model"
MANY: Final = tuple(f"bench-model-{i:02d}" for i in range(1, 21))
DEFAULT_CONCURRENCY: Final = 8
WIDE_CONCURRENCY: Final = 64  # the maximum `--concurrency` accepts
CLOSED_PORT_PROXY: Final = "http://127.0.0.1:9"  # nothing listens there: a client that ignores NO_PROXY fails at once, locally
PROCESS_TIMEOUT_S: Final = 180.0
NPM_TIMEOUT_S: Final = 900.0

# Targets (from the issue).
WALL_FACTOR: Final = 1.25
WALL_SLACK_S: Final = 0.3
FIRST_REQUEST_MAX_MS: Final = 250.0
RSS_MAX_MB: Final = 80.0
MANY_MAX_RATIO: Final = 2.0
P50_TOLERANCE: Final = 0.05
# The agent-client check's SDK calls, each with the raw probe that sends the same payload: an SDK call carries the
# injected latency exactly when its twin does.
SDK_TWINS: Final = {"answer": "sample-1", "missing-model": "err-missing-model", "unknown-model": "err-unknown-model",
                    "empty-messages": "err-empty-messages"}
RAW_DEFAULT_CHECKS: Final = "reachability,happy-path,model-echo,error-path,latency"  # the default checks without agent-client


# -- small helpers ---------------------------------------------------------------------------------------------------


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def floor_s(delayed_calls: int, concurrency: int, latency_s: float) -> float:
    """The least wall time for independent calls of one latency each, at most `concurrency` at a time."""
    return math.ceil(delayed_calls / concurrency) * latency_s if delayed_calls else 0.0


def floor_with_sdk_s(delayed_calls: int, sdk_delayed: int, concurrency: int, latency_s: float, import_s: float) -> float:
    """The least wall time when the SDK's calls can only start once the SDK is imported: every latency-bearing call
    through the cap, and at least the import followed by the SDK's own calls."""
    return max(floor_s(delayed_calls + sdk_delayed, concurrency, latency_s), import_s + floor_s(sdk_delayed, concurrency, latency_s))


def say(text: str = "") -> None:
    print(text, flush=True)


def injected_latency_s(config: Path) -> float:
    doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    delays = {float(m["litellm_params"]["mock_delay"]) for m in doc["model_list"]}
    if len(delays) != 1:
        raise SystemExit(f"bench: every model in {config.name} must have the same mock_delay (found {sorted(delays)})")
    return delays.pop()


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a measured process: ours, minus anything that would steer it elsewhere."""
    dropped = ("GATEWAY_", "CANDIDATE_", "GITHUB_", "INPUT_", "OPENAI_", "PROMPTFOO_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(dropped)}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    env.update(extra or {})
    return env


@dataclass
class Measured:
    code: int
    spawned_at: float  # perf_counter (CLOCK_MONOTONIC, shared by all processes) just before the fork
    wall_s: float  # spawn → exit (reaped)
    max_rss_mb: float  # ru_maxrss of the process (and any children it reaped); bench/launch.py's ~9 MB is the floor
    stdout: str
    stderr: str


def run_measured(cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout_s: float = PROCESS_TIMEOUT_S) -> Measured:
    """Run a command to its end through bench/launch.py (see there why), which times spawn → exit and reads its peak
    RSS from wait4; the whole process group is killed after timeout_s."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "launch.json"
        launcher = [sys.executable, "-I", "-S", str(LAUNCHER), str(report), *cmd]
        proc = subprocess.Popen(launcher, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=dict(env), cwd=cwd, start_new_session=True)
        timer = threading.Timer(timeout_s, _kill_group, args=(proc.pid,))
        timer.daemon = True
        timer.start()
        try:
            proc.wait()
        finally:
            timer.cancel()
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {"spawned_at": 0.0, "exited_at": math.nan, "code": proc.returncode or -1, "max_rss_kb": 0}
        return Measured(int(data["code"]), float(data["spawned_at"]), float(data["exited_at"]) - float(data["spawned_at"]),
                        float(data["max_rss_kb"]) / 1024.0, _tail(out), _tail(err))


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _tail(handle: IO[bytes], limit: int = 2000) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", "replace")[-limit:]


# -- a bare HTTP client, for the gateway's own latency -----------------------------------------------------------------


def raw_call(base_url: str, probe: Probe, timeout_s: float = 30.0) -> tuple[int, float]:
    """(status, seconds) for one probe sent with http.client on a fresh connection: the gateway's latency, as bare as it gets."""
    url = urllib.parse.urlsplit(base_url)
    body = json.dumps(probe.payload).encode() if probe.payload is not None else None
    headers = {"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json", "Accept": "application/json"}
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=timeout_s)
    try:
        started = time.perf_counter()
        conn.request(probe.method, url.path + probe.path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        conn.close()


def planned(base_url: str, model: str, checks: str | None = None) -> list[Probe]:
    settings = build_settings(Flags(base_url=base_url, models=(model,), checks=checks, profile=PROFILE), {"GATEWAY_API_KEY": MASTER_KEY},
                              CATALOGUE)
    return plan_for(settings, model, settings.checks)


@dataclass(frozen=True)
class ToolLoopCalls:
    answered: int  # requests the stub model answered in one run (each carries its latency)
    longest_chain: int  # turns of the longest conversation: made one after the other, whatever the concurrency


def tool_loop_calls(base_url: str, model: str, stub: StubUpstream) -> ToolLoopCalls:
    """One in-process run of the default profile's standard set: how many requests reached the model and how many turns
    the longest conversation took (the suite's `converse`, observed), which together give the run's floor."""
    from approval.engine import suite

    chains: list[int] = []
    original = suite.converse

    def observed(client: Any, probe: Probe) -> list[Any]:
        turns = original(client, probe)
        chains.append(len(turns))
        return turns

    settings = build_settings(Flags(base_url=base_url, models=(model,), profile="generic-tools"), {"GATEWAY_API_KEY": MASTER_KEY}, CATALOGUE)
    started = time.time()
    suite.converse = observed
    try:
        run_suite(settings)
    finally:
        suite.converse = original
    answered = sum(1 for r in stub.requests if r.method == "POST" and r.time >= started)
    return ToolLoopCalls(answered, max(chains, default=1))


def concurrent_raw(base_url: str, probes: Sequence[Probe]) -> dict[str, float]:
    """Send all probes at once (one thread each, started together); seconds per label."""
    barrier = threading.Barrier(len(probes))
    out: dict[str, float] = {}
    lock = threading.Lock()

    def one(probe: Probe) -> None:
        barrier.wait(timeout=30)
        _, seconds = raw_call(base_url, probe)
        with lock:
            out[probe.label] = seconds

    threads = [threading.Thread(target=one, args=(p,), daemon=True) for p in probes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return out


# -- the exact-latency stub gateway ------------------------------------------------------------------------------------


class _StubServer(ThreadingHTTPServer):
    # 20 candidates at --concurrency 64 open well over a hundred connections at once (the raw probes and the SDK's
    # calls): the stdlib listen backlog of 5 would make the stub itself reset some, and every client retry them.
    request_queue_size = 1024


class StubGateway:
    """An OpenAI-compatible chat gateway on 127.0.0.1 in this process: answers a real completion after exactly
    `delay_s`, malformed requests at once with a structured 4xx; records when requests arrive and how many are in flight."""

    def __init__(self, delay_s: float, models: Sequence[str]) -> None:
        self.delay_s = delay_s
        self.models = frozenset(models)
        self.lock = threading.Lock()
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.server = _StubServer(("127.0.0.1", 0), _stub_handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def reset(self) -> None:
        with self.lock:
            self.arrivals.clear()
            self.max_in_flight = 0

    def enter(self) -> None:
        now = time.perf_counter()
        with self.lock:
            self.arrivals.append(now)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def __enter__(self) -> StubGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _stub_handler(stub: StubGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes: no Nagle/delayed-ACK stall between them
        timeout = 30  # an idle keep-alive connection is dropped after this

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, payload: Mapping[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str, code: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}})

        def do_GET(self) -> None:
            stub.enter()
            try:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "stub"} for m in sorted(stub.models)]})
                else:
                    self._error(404, "not found", "not_found")
            finally:
                stub.leave()

        def do_POST(self) -> None:
            stub.enter()
            try:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    request = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    request = None
                if not self.path.rstrip("/").endswith("/chat/completions") or not isinstance(request, dict):
                    self._error(404 if isinstance(request, dict) else 400, "not found or not JSON", "bad_request")
                    return
                model = request.get("model")
                if not model:
                    self._error(400, "model is required", "missing_model")
                elif model not in stub.models:
                    self._error(404, f"model {model!r} does not exist", "model_not_found")
                elif not request.get("messages"):
                    self._error(400, "messages must not be empty", "empty_messages")
                else:
                    time.sleep(stub.delay_s)
                    self._send(200, {
                        "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()), "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the stub gateway."}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16},
                    })
            finally:
                stub.leave()

    return Handler


# -- the tools under test ----------------------------------------------------------------------------------------------


def approval_command() -> list[str]:
    script = Path(sys.executable).parent / "approval"
    return [str(script)] if script.exists() else [sys.executable, "-m", "approval"]


@dataclass
class Run:
    """One measured run of one scenario."""

    ok: bool
    wall_s: float
    max_rss_mb: float
    p50_ms: float | None = None  # the latency the tool reports (median over its samples; over candidates for several)
    in_run_s: float | None = None  # the run's own duration (approval: the record's duration_s; promptfoo: its durationMs)
    first_request_ms: float | None = None  # spawn → the stub saw the first request
    max_in_flight: int | None = None
    sdk_import_ms: float | None = None  # agent-client: what importing the openai SDK cost in this run (its record's metrics)
    note: str = ""


def approval_run(base_url: str, models: Sequence[str], extra: Sequence[str], workdir: Path, stub: StubGateway | None = None) -> Run:
    record = workdir / "approval-record.json"
    for old in workdir.glob("approval-record*.json"):
        old.unlink()
    if stub is not None:
        stub.reset()
    cmd = [*approval_command(), "run", "--base-url", base_url, "--model", ",".join(models), "--record-out", str(record),
           "--profile", PROFILE, *extra]
    m = run_measured(cmd, env=child_env({"GATEWAY_API_KEY": MASTER_KEY}), cwd=workdir)
    records = []
    for path in record_paths(record, list(models)):
        with contextlib.suppress(OSError, ValueError):
            records.append(json.loads(path.read_text(encoding="utf-8")))
    ok = m.code == 0 and len(records) == len(models) and all(r.get("overall_result") == "pass" for r in records)
    p50 = median([r.get("latency_ms") for r in records])
    in_run = max((float(r.get("duration_s") or 0.0) for r in records), default=None)
    imports = [c["metrics"].get("sdk_import_ms") for r in records for c in r.get("checks", []) if c.get("name") == "agent-client"]
    run = Run(ok, m.wall_s, m.max_rss_mb, p50, in_run, note="" if ok else f"exit {m.code}: {(m.stdout + m.stderr)[-600:]}",
              sdk_import_ms=max((float(v) for v in imports if isinstance(v, int | float)), default=None))
    if stub is not None:
        with stub.lock:
            run.first_request_ms = (stub.arrivals[0] - m.spawned_at) * 1000 if stub.arrivals else None
            run.max_in_flight = stub.max_in_flight
    return run


def command_run(cmd: Sequence[str], workdir: Path) -> Run:
    m = run_measured(cmd, env=child_env(), cwd=workdir)
    return Run(m.code == 0, m.wall_s, m.max_rss_mb, note="" if m.code == 0 else f"exit {m.code}: {m.stderr[-300:]}")


def promptfoo_bin() -> Path:
    return PROMPTFOO_PREFIX / "node_modules" / ".bin" / "promptfoo"


def ensure_promptfoo() -> str | None:
    """Install the pinned promptfoo into bench/.tools/promptfoo when it is not there; None when ready, else why not."""
    package = PROMPTFOO_PREFIX / "node_modules" / "promptfoo" / "package.json"
    with contextlib.suppress(OSError, ValueError):
        if json.loads(package.read_text(encoding="utf-8")).get("version") == PROMPTFOO_VERSION and promptfoo_bin().exists():
            return None
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm or not node:
        return "npm/node not found"
    say(f"bench: installing promptfoo@{PROMPTFOO_VERSION} into bench/.tools/promptfoo (once; a minute or two)")
    PROMPTFOO_PREFIX.mkdir(parents=True, exist_ok=True)
    cmd = [npm, "install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(PROMPTFOO_PREFIX), f"promptfoo@{PROMPTFOO_VERSION}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False,
                              env=child_env({"npm_config_update_notifier": "false"}))
    except subprocess.TimeoutExpired:
        return f"npm install did not finish in {NPM_TIMEOUT_S:.0f} s"
    if done.returncode != 0 or not promptfoo_bin().exists():
        return f"npm install failed ({done.returncode}): {done.stderr.strip()[-400:]}"
    return None


def promptfoo_env(base_url: str, config_dir: Path) -> dict[str, str]:
    return child_env({
        "BENCH_GATEWAY_BASE_URL": base_url,
        "BENCH_GATEWAY_API_KEY": MASTER_KEY,
        "PROMPTFOO_CONFIG_DIR": str(config_dir),  # its database and logs stay in the scratch directory
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_DISABLE_SHARING": "1",
        "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1",
        "PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION": "1",
        "PROMPTFOO_DISABLE_RUNTIME_WARNINGS": "1",
        "PROMPTFOO_CACHE_ENABLED": "false",
        "NODE_NO_WARNINGS": "1",
        # promptfoo still posts one "telemetry disabled" event when telemetry is off; send it to a closed loopback
        # port instead of letting it resolve and reach the internet. The gateway itself is exempt through NO_PROXY.
        "HTTPS_PROXY": CLOSED_PORT_PROXY,
        "HTTP_PROXY": CLOSED_PORT_PROXY,
        "https_proxy": CLOSED_PORT_PROXY,
        "http_proxy": CLOSED_PORT_PROXY,
    })


def promptfoo_run(base_url: str, workdir: Path, stub: StubGateway | None = None) -> Run:
    out = workdir / "promptfoo-out.json"
    out.unlink(missing_ok=True)
    if stub is not None:
        stub.reset()
    cmd = [str(promptfoo_bin()), "eval", "-c", str(PROMPTFOO_CONFIG), "--no-cache", "--no-write", "--no-table", "--no-progress-bar", "-o", str(out)]
    m = run_measured(cmd, env=promptfoo_env(base_url, workdir / "promptfoo-config"), cwd=workdir)
    results: list[dict[str, Any]] = []
    in_run = None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        doc = json.loads(out.read_text(encoding="utf-8"))
        results = list(doc["results"]["results"])
        in_run = float(doc["results"]["stats"]["durationMs"]) / 1000
    ok = m.code == 0 and len(results) == 3 and all(r.get("success") for r in results)
    p50 = median([float(r["latencyMs"]) for r in results if isinstance(r.get("latencyMs"), int | float)])
    run = Run(ok, m.wall_s, m.max_rss_mb, p50, in_run, note="" if ok else f"exit {m.code}: {(m.stdout + m.stderr)[-600:]}")
    if stub is not None:
        with stub.lock:
            run.first_request_ms = (stub.arrivals[0] - m.spawned_at) * 1000 if stub.arrivals else None
    return run


# -- scenarios -------------------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    key: str
    title: str
    calls: int | None = None  # calls the run makes
    delayed: int | None = None  # of which carry the injected latency
    concurrency: int | None = None
    floor: float | None = None  # seconds; None where a floor does not apply
    sdk_calls: int | None = None  # agent-client's SDK calls; None: the run does not select it
    sdk_delayed: int | None = None  # of which carry the latency
    latency_s: float = 0.0
    chain_s: float = 0.0  # the longest conversation's dependent turns one after the other: the floor cannot be lower
    runs: list[Run] = field(default_factory=list)

    def med(self, attr: str) -> float | None:
        return median([getattr(r, attr) for r in self.runs])

    @property
    def floor_sdk(self) -> float | None:
        """The floor plus the SDK's import measured in the same run (median over runs); the floor without agent-client."""
        if self.floor is None or self.sdk_delayed is None or self.delayed is None or self.concurrency is None:
            return self.floor
        return median([max(self.chain_s, floor_with_sdk_s(self.delayed, self.sdk_delayed, self.concurrency, self.latency_s,
                                                          (r.sdk_import_ms or 0.0) / 1000))
                       for r in self.runs])

    @property
    def wall(self) -> float | None:
        return self.med("wall_s")

    @property
    def all_ok(self) -> bool:
        return bool(self.runs) and all(r.ok for r in self.runs)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title, "calls": self.calls, "delayed_calls": self.delayed, "concurrency": self.concurrency, "floor_s": self.floor,
            "sdk_delayed_calls": self.sdk_delayed, "floor_with_sdk_import_s": self.floor_sdk, "all_ok": self.all_ok,
            "median": {a: self.med(a) for a in ("wall_s", "max_rss_mb", "p50_ms", "in_run_s", "first_request_ms", "max_in_flight", "sdk_import_ms")},
            "runs": [r.__dict__ for r in self.runs],
        }


def repeat(scenario: Scenario, times: int, once: Callable[[], Run]) -> Scenario:
    for i in range(times):
        run = once()
        scenario.runs.append(run)
        if not run.ok:
            say(f"bench:   ! {scenario.title}, run {i + 1}: {run.note}")
    wall = scenario.wall
    say(f"bench:   {scenario.title}: median {wall:.3f} s over {times} run(s)" if wall is not None else f"bench:   {scenario.title}: no runs")
    return scenario


@dataclass
class Calibration:
    calls: int
    delayed_labels: frozenset[str]
    sequential_ms: dict[str, float]
    probes: list[Probe]
    # The samples' p50 seen by a bare client sending the run's calls at once, right after each measured run.
    reference_p50s: list[float] = field(default_factory=list)

    @property
    def reference_p50_ms(self) -> float | None:
        return median(self.reference_p50s)

    def reference_rep(self, base_url: str) -> None:
        seen = concurrent_raw(base_url, self.probes)
        p50 = median([seconds * 1000 for label, seconds in seen.items() if label.startswith("sample-")])
        if p50 is not None:
            self.reference_p50s.append(p50)


def warm_up(gateway: RunningLiteLLM, models: Sequence[str]) -> None:
    """The proxy's first completion per deployment is slow (~1 s): pay it before measuring."""
    probes = {m: next(p for p in planned(gateway.base_url, m) if p.label == "sample-1") for m in models}
    threads = [threading.Thread(target=raw_call, args=(gateway.base_url, probes[m]), daemon=True) for m in models]
    for i in range(0, len(threads), DEFAULT_CONCURRENCY):
        batch = threads[i : i + DEFAULT_CONCURRENCY]
        for t in batch:
            t.start()
        for t in batch:
            t.join(timeout=60)


def calibrate(base_url: str, latency_s: float, model: str = MODEL) -> Calibration:
    """Which of the planned calls carry the injected latency (error answers and /models do not), timed one by one."""
    probes = planned(base_url, model)
    sequential = {}
    for probe in probes:
        status, seconds = raw_call(base_url, probe)
        sequential[probe.label] = seconds * 1000
        if status >= 500:
            raise SystemExit(f"bench: the gateway answered {probe.label} with HTTP {status}")
    delayed = frozenset(label for label, ms in sequential.items() if ms >= 0.5 * latency_s * 1000)
    return Calibration(len(probes), delayed, sequential, probes)


def count_delayed(probes: Sequence[Probe], delayed_labels: frozenset[str]) -> int:
    return sum(1 for p in probes if p.label in delayed_labels)


# -- report ----------------------------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".3f", suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def print_table(scenarios: Sequence[Scenario]) -> None:
    head = (f"{'scenario':<46} {'calls':>11} {'conc':>4} {'floor s':>7} {'SDK imp ms':>10} {'floor+SDK s':>11} {'wall s':>7} "
            f"{'wall/floor':>10} {'in-run s':>8} {'p50 ms':>7} {'1st req ms':>10} {'RSS MB':>6}")
    say(head)
    say("-" * len(head))
    for s in scenarios:
        calls = f"{s.calls}({s.delayed})" if s.calls is not None else "—"
        if s.sdk_calls is not None:
            calls += f"+{s.sdk_calls}({s.sdk_delayed})"
        flag = "" if s.all_ok else "  (!)"
        with_sdk = s.floor_sdk if s.sdk_delayed is not None else None
        say(f"{s.title:<46} {calls:>11} {fmt(s.concurrency, 'd'):>4} {fmt(s.floor, '.2f'):>7} {fmt(s.med('sdk_import_ms'), '.0f'):>10} "
            f"{fmt(with_sdk, '.2f'):>11} {fmt(s.wall):>7} {fmt(ratio(s.wall, s.floor_sdk), '.2f', '×'):>10} {fmt(s.med('in_run_s')):>8} "
            f"{fmt(s.med('p50_ms'), '.1f'):>7} {fmt(s.med('first_request_ms'), '.0f'):>10} {fmt(s.med('max_rss_mb'), '.1f'):>6}{flag}")


@dataclass
class Target:
    name: str
    ok: bool | None  # None: not measured
    detail: str

    def line(self) -> str:
        word = {True: "PASS", False: "MISS", None: "n/a "}[self.ok]
        return f"  {word}  {self.name}: {self.detail}"


def wall_target(s: Scenario) -> Target:
    """wall ≤ 1.25 × floor + 0.3 s; with agent-client the floor includes the SDK's import measured in the same run."""
    sdk = s.sdk_delayed is not None
    name = f"wall ≤ {WALL_FACTOR} × {'(floor + SDK import)' if sdk else 'floor'} + {WALL_SLACK_S} s [{s.title}]"
    floor = s.floor_sdk
    if s.wall is None or floor is None or s.floor is None:
        return Target(name, None, "not measured")
    bound = WALL_FACTOR * floor + WALL_SLACK_S
    how = f"floor {s.floor:.2f} s" + (f", SDK import {fmt(s.med('sdk_import_ms'), '.0f')} ms: {floor:.2f} s" if sdk else "")
    return Target(name, s.wall <= bound, f"{s.wall:.3f} s vs {bound:.3f} s ({how})")


def gateway_floor_target(s: Scenario, reference_ms: float | None) -> Target:
    """The wall bound with the floor at the gateway's own latency: a bare client's p50 for the same model under the
    same load, in place of the injected latency, for each round of the cap or each dependent turn of a conversation,
    whichever are more (LiteLLM adds its own time to every call, and a conversation's turns wait for each other); with
    agent-client the floor also holds the SDK's import, measured in the same runs (as in wall_target)."""
    name = f"wall ≤ {WALL_FACTOR} × (floor + SDK import) + {WALL_SLACK_S} s, floor at the gateway's own latency [{s.title}]"
    if s.wall is None or reference_ms is None or s.delayed is None or s.concurrency is None or not s.latency_s:
        return Target(name, None, "not measured")
    turns = max(s.chain_s / s.latency_s, math.ceil((s.delayed + (s.sdk_delayed or 0)) / s.concurrency))
    own = replace(s, latency_s=reference_ms / 1000, chain_s=turns * reference_ms / 1000)
    floor = own.floor_sdk
    if floor is None:
        return Target(name, None, "not measured")
    bound = WALL_FACTOR * floor + WALL_SLACK_S
    return Target(name, s.wall <= bound, f"{s.wall:.3f} s vs {bound:.3f} s (floor {floor:.3f} s: {turns:.0f} latency-bearing round(s), the cap's "
                                         f"or a conversation's, at a bare client's p50 of {reference_ms:.0f} ms under the same load, "
                                         f"the SDK's import {fmt(s.med('sdk_import_ms'), '.0f')} ms)")


def p50_target(name: str, measured: float | None, reference: float | None) -> Target:
    if measured is None or reference is None:
        return Target(name, None, "not measured")
    off = measured / reference - 1
    return Target(name, abs(off) <= P50_TOLERANCE, f"{measured:.1f} ms vs {reference:.1f} ms ({off:+.1%})")


# -- main ------------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario; the median is reported (default 3)")
    parser.add_argument("--skip-promptfoo", action="store_true", help="leave promptfoo out (no npm install)")
    parser.add_argument("--json-out", type=Path, default=DEFAULT_JSON_OUT, help="raw figures (default bench/results/latest.json)")
    parser.add_argument("--skip-image", action="store_true", help="leave out the action's image (no container engine needed)")
    args = parser.parse_args(argv)
    runs = max(1, min(args.runs, 50))

    if find_litellm() is None:
        say("bench: litellm is not installed: run `bash scripts/bootstrap` (or `bash bench/run`), or set LITELLM_BIN")
        return 2
    latency = injected_latency_s(LITELLM_CONFIG)
    clock = time.get_clock_info("perf_counter").implementation
    if "CLOCK_MONOTONIC" not in clock:
        say(f"bench: perf_counter is {clock}, not CLOCK_MONOTONIC: spawn → first request compares two processes' clocks and may be off")
    promptfoo_missing = "skipped (--skip-promptfoo)" if args.skip_promptfoo else ensure_promptfoo()
    if promptfoo_missing:
        say(f"bench: promptfoo left out: {promptfoo_missing}")

    scenarios: dict[str, Scenario] = {}
    with tempfile.TemporaryDirectory(prefix="approval-bench-") as scratch_text, contextlib.ExitStack() as stack:
        scratch = Path(scratch_text)
        say(f"bench: starting LiteLLM on 127.0.0.1 (injected latency {latency * 1000:.0f} ms per completion)")
        try:
            gateway = stack.enter_context(start_litellm(LITELLM_CONFIG, log_path=scratch / "litellm.log"))
        except LiteLLMError as exc:
            say(f"bench: {exc}")
            return 2
        base = gateway.base_url
        say(f"bench: LiteLLM live in {gateway.started_in_s:.1f} s; warming up {1 + len(MANY)} models")
        warm_up(gateway, [MODEL, *MANY])
        cal = calibrate(base, latency)
        delayed_one = len(cal.delayed_labels)
        say(f"bench: one candidate = {cal.calls} calls, {delayed_one} with the injected latency ({', '.join(sorted(cal.delayed_labels))})")

        def approval_scenario(key: str, title: str, models: Sequence[str], extra: Sequence[str], conc: int, checks: str | None = None,
                              after: Callable[[], None] | None = None) -> None:
            per_model = count_delayed(planned(base, MODEL, checks), cal.delayed_labels)
            calls = len(planned(base, MODEL, checks)) * len(models)
            s = Scenario(key, title, calls, per_model * len(models), conc, floor_s(per_model * len(models), conc, latency), latency_s=latency)
            if checks is None:  # the default checks: agent-client's SDK calls too, once the SDK is imported
                s.sdk_calls = len(SDK_TWINS) * len(models)
                s.sdk_delayed = sum(1 for twin in SDK_TWINS.values() if twin in cal.delayed_labels) * len(models)

            def once() -> Run:
                run = approval_run(base, models, extra, scratch)
                if after is not None:
                    after()
                return run

            approval_run(base, models, extra, scratch)  # warm-up, not counted (bytecode, page cache, proxy)
            scenarios[key] = repeat(s, runs, once)

        approval_scenario("one", "approval, 1 candidate (default conc 8)", [MODEL], [], DEFAULT_CONCURRENCY,
                          after=lambda: cal.reference_rep(base))
        approval_scenario("one_raw", "approval, 1 candidate, without agent-client", [MODEL], ["--checks", RAW_DEFAULT_CHECKS],
                          DEFAULT_CONCURRENCY, RAW_DEFAULT_CHECKS)
        approval_scenario("one_seq", "approval, 1 candidate, --concurrency 1", [MODEL], ["--concurrency", "1"], 1)
        approval_scenario("one_3calls", "approval --checks happy-path,latency (3)", [MODEL], ["--checks", "happy-path,latency"],
                          DEFAULT_CONCURRENCY, "happy-path,latency")
        if not promptfoo_missing:
            s = Scenario("promptfoo", f"promptfoo {PROMPTFOO_VERSION}, 3 samples + asserts", 3, 3, DEFAULT_CONCURRENCY,
                         floor_s(3, DEFAULT_CONCURRENCY, latency))
            promptfoo_run(base, scratch)  # warm-up: creates its database in the scratch config dir
            scenarios["promptfoo"] = repeat(s, runs, lambda: promptfoo_run(base, scratch))
        approval_scenario("many", "approval, 20 candidates (default conc 8)", MANY, [], DEFAULT_CONCURRENCY)
        approval_scenario("many_wide", "approval, 20 candidates, --concurrency 64", MANY, ["--concurrency", str(WIDE_CONCURRENCY)],
                          WIDE_CONCURRENCY)

        say(f"bench: exact-latency stub gateway on 127.0.0.1 ({latency * 1000:.0f} ms per completion, in this process)")
        stub = stack.enter_context(StubGateway(latency, [MODEL, *MANY]))
        stub_probes = planned(stub.base_url, MODEL)
        stub_delayed = sum(1 for p in stub_probes if p.label == "reach" or p.label.startswith("sample-"))
        # agent-client on the stub: the SDK's prompt carries the latency; the stub rejects empty messages at once
        s = Scenario("stub_one", "approval on the stub, 1 candidate", len(stub_probes), stub_delayed, DEFAULT_CONCURRENCY,
                     floor_s(stub_delayed, DEFAULT_CONCURRENCY, latency), latency_s=latency, sdk_calls=len(SDK_TWINS), sdk_delayed=1)
        approval_run(stub.base_url, [MODEL], [], scratch, stub)
        scenarios["stub_one"] = repeat(s, runs, lambda: approval_run(stub.base_url, [MODEL], [], scratch, stub))
        s = Scenario("stub_many", "approval on the stub, 20 candidates", len(stub_probes) * 20, stub_delayed * 20, DEFAULT_CONCURRENCY,
                     floor_s(stub_delayed * 20, DEFAULT_CONCURRENCY, latency), latency_s=latency, sdk_calls=len(SDK_TWINS) * 20, sdk_delayed=20)
        scenarios["stub_many"] = repeat(s, runs, lambda: approval_run(stub.base_url, MANY, [], scratch, stub))
        s = Scenario("stub_many_wide", "approval on the stub, 20 candidates, conc 64", len(stub_probes) * 20, stub_delayed * 20, WIDE_CONCURRENCY,
                     floor_s(stub_delayed * 20, WIDE_CONCURRENCY, latency), latency_s=latency, sdk_calls=len(SDK_TWINS) * 20, sdk_delayed=20)
        wide_args = ["--concurrency", str(WIDE_CONCURRENCY)]
        scenarios["stub_many_wide"] = repeat(s, runs, lambda: approval_run(stub.base_url, MANY, wide_args, scratch, stub))
        if not promptfoo_missing:
            s = Scenario("stub_promptfoo", "promptfoo on the stub, 3 samples", 3, 3, DEFAULT_CONCURRENCY, floor_s(3, DEFAULT_CONCURRENCY, latency))
            scenarios["stub_promptfoo"] = repeat(s, runs, lambda: promptfoo_run(stub.base_url, scratch, stub))

        say(f"bench: the default agent profile's tool loop: LiteLLM's translation to the stub tool-using model ({latency * 1000:.0f} ms per answer)")
        tool_stub = stack.enter_context(StubUpstream(models=(MODEL,), latency_s=latency))
        tool_config = write_stub_litellm_config(scratch / "litellm-tools.json", tool_stub.root_url, [MODEL], master_key=MASTER_KEY)
        tool_gateway = stack.enter_context(start_litellm(tool_config, log_path=scratch / "litellm-tools.log"))
        tool_model = f"openai-{MODEL}"
        loop = tool_loop_calls(tool_gateway.base_url, tool_model, tool_stub)
        say(f"bench: one candidate under generic-tools = {loop.answered} answered by the model; longest conversation {loop.longest_chain} turns")
        # agent-client's SDK calls reach the model too (in `answered`): at least one of them after the SDK's import
        chain = loop.longest_chain * latency
        s = Scenario("tools_one", "approval, generic-tools (tool loop, LiteLLM → stub)", loop.answered, loop.answered - 1, DEFAULT_CONCURRENCY,
                     max(floor_s(loop.answered, DEFAULT_CONCURRENCY, latency), chain), latency_s=latency, chain_s=chain,
                     sdk_calls=len(SDK_TWINS), sdk_delayed=1)
        tool_args = ["--profile", "generic-tools"]
        tool_cal = calibrate(tool_gateway.base_url, latency, tool_model)

        def tools_once() -> Run:
            run = approval_run(tool_gateway.base_url, [tool_model], tool_args, scratch)
            tool_cal.reference_rep(tool_gateway.base_url)
            return run

        approval_run(tool_gateway.base_url, [tool_model], tool_args, scratch)  # warm-up
        scenarios["tools_one"] = repeat(s, runs, tools_once)

        say("bench: start-up")
        version_cmd = [*approval_command(), "--version"]
        command_run(version_cmd, scratch)
        scenarios["version"] = repeat(Scenario("version", "approval --version"), max(runs, 5), lambda: command_run(version_cmd, scratch))
        scenarios["python"] = repeat(Scenario("python", "python -c pass (interpreter start, reference)"), max(runs, 5),
                                     lambda: command_run([sys.executable, "-c", "pass"], scratch))
        prebuilt: image.PrebuiltFigures | str = "skipped (--skip-image)"
        if args.skip_image:
            figures: image.ImageFigures | str = "skipped (--skip-image)"
        else:
            say("bench: the action's image")
            figures = image.measure(stub, MODEL, runs, scratch, say)
            prebuilt = image.measure_prebuilt(figures.base, stub, MODEL, runs, scratch, say) if isinstance(figures, image.ImageFigures) else figures
        litellm_version = _litellm_version(gateway)

    # -- table, ratios, targets ------------------------------------------------------------------------------------
    sc = scenarios
    say()
    say(f"approval {APPROVAL_VERSION} · Python {platform.python_version()} · LiteLLM {litellm_version} · injected latency {latency * 1000:.0f} ms · "
        f"median of {runs} run(s) · {os.cpu_count()} CPU(s)")
    say("calls = calls made (of which carry the injected latency); floor = ceil(latency-bearing calls / concurrency) × latency; "
        "for the tool loop at least its longest conversation's turns, one after the other")
    print_table(list(sc.values()))

    one, seq, three, many, wide = (sc[k].wall for k in ("one", "one_seq", "one_3calls", "many", "many_wide"))
    stub_one, stub_wide = sc["stub_one"].wall, sc["stub_many_wide"].wall
    pf = sc["promptfoo"].wall if "promptfoo" in sc else None
    say()
    say("ratios")
    rows = [
        ("approval wall / floor, 1 candidate", ratio(one, sc["one"].floor)),
        ("approval wall / (floor + SDK import), 1 candidate", ratio(one, sc["one"].floor_sdk)),
        ("approval without agent-client: wall / floor, 1 candidate", ratio(sc["one_raw"].wall, sc["one_raw"].floor)),
        ("default / without agent-client, 1 candidate (the SDK's cost)", ratio(one, sc["one_raw"].wall)),
        ("--concurrency 1 / default (what concurrency buys)", ratio(seq, one)),
        ("promptfoo / approval, same 3-call work", ratio(pf, three)),
        ("promptfoo (3 calls) / approval full default (8 calls)", ratio(pf, one)),
        ("20 candidates / 1 candidate, conc 8", ratio(many, one)),
        ("20 candidates / 1 candidate, conc 64", ratio(wide, one)),
        ("20 candidates / 1 candidate, conc 64, exact stub", ratio(stub_wide, stub_one)),
        ("20 candidates wall / floor, conc 8", ratio(many, sc["many"].floor)),
        ("reported p50 / injected latency, stub", ratio(sc["stub_one"].med("p50_ms"), latency * 1000)),
        ("reported p50 / injected latency, LiteLLM", ratio(sc["one"].med("p50_ms"), latency * 1000)),
        ("reported p50 / bare client's p50, LiteLLM", ratio(sc["one"].med("p50_ms"), cal.reference_p50_ms)),
    ]
    for label, value in rows:
        say(f"  {label:<56} {fmt(value, '.2f', '×')}")

    first = sc["stub_one"].med("first_request_ms")
    rss = max((v for v in (sc["one"].med("max_rss_mb"), sc["many"].med("max_rss_mb")) if v is not None), default=None)
    cap_seen = max((r.max_in_flight or 0 for r in sc["stub_many"].runs), default=0)
    targets = [wall_target(sc[k]) for k in ("one", "one_raw", "one_seq", "one_3calls", "many", "many_wide", "stub_one", "stub_many",
                                            "stub_many_wide", "tools_one")]
    # The same bound with the floor taken from what the gateway itself needs under the same load (a bare client's
    # p50): separates the tool's overhead from the proxy's own (LiteLLM adds tens of ms to each of 8 concurrent calls).
    targets += [gateway_floor_target(sc["one"], cal.reference_p50_ms), gateway_floor_target(sc["tools_one"], tool_cal.reference_p50_ms)]
    targets += [
        Target(f"start → first request ≤ {FIRST_REQUEST_MAX_MS:.0f} ms", None if first is None else first <= FIRST_REQUEST_MAX_MS,
               f"{fmt(first, '.0f')} ms (`approval --version`: {fmt(_ms(sc['version'].wall), '.0f')} ms; "
               f"interpreter alone {fmt(_ms(sc['python'].wall), '.0f')} ms)"),
        Target(f"peak RSS ≤ {RSS_MAX_MB:.0f} MB", None if rss is None else rss <= RSS_MAX_MB,
               f"{fmt(rss, '.1f')} MB (largest of the 1- and 20-candidate runs)"),
        Target("faster than promptfoo on the same work", None if pf is None or three is None else three < pf,
               f"approval {fmt(three)} s vs promptfoo {fmt(pf)} s for 3 samples + latency/non-empty assertions"
               + (f"; approval's full 8-call default {fmt(one)} s" if one is not None else "")),
        Target(f"20 candidates ≤ {MANY_MAX_RATIO:g} × 1 candidate at the default cap", None if many is None or one is None else many <= MANY_MAX_RATIO * one,
               f"{fmt(many)} s vs {fmt(None if one is None else MANY_MAX_RATIO * one)} s — the cap makes {sc['many'].delayed} latency-bearing calls "
               f"take ≥ {fmt(sc['many'].floor, '.1f')} s, so this cannot hold at conc 8 (see wall/floor above)"),
        Target(f"20 candidates ≤ {MANY_MAX_RATIO:g} × 1 candidate, cap not binding (conc {WIDE_CONCURRENCY})",
               None if wide is None or one is None else wide <= MANY_MAX_RATIO * one,
               f"LiteLLM {fmt(wide)} s vs {fmt(None if one is None else MANY_MAX_RATIO * one)} s (p50 {fmt(sc['many_wide'].med('p50_ms'), '.0f')} ms: "
               f"the proxy saturates); exact stub {fmt(stub_wide)} s vs {fmt(None if stub_one is None else MANY_MAX_RATIO * stub_one)} s"),
        Target(f"concurrency cap {DEFAULT_CONCURRENCY} respected (20 candidates, stub)", cap_seen <= DEFAULT_CONCURRENCY if cap_seen else None,
               f"at most {cap_seen} request(s) in flight"),
        p50_target("reported p50 within 5 % of the injected latency (stub, exact latency)", sc["stub_one"].med("p50_ms"), latency * 1000),
        p50_target("reported p50 within 5 % of the gateway's own (LiteLLM, bare client, same load)", sc["one"].med("p50_ms"), cal.reference_p50_ms),
    ]
    say()
    if isinstance(figures, image.ImageFigures):
        image.report(figures, say, fmt)
        if isinstance(prebuilt, image.PrebuiltFigures):
            say()
            image.report_prebuilt(figures, prebuilt, say, fmt)
            targets += [Target(*t) for t in image.prebuilt_targets(prebuilt, fmt)]
        else:
            say(f"prebuilt image figures left out: {prebuilt}")
    else:
        say(f"image figures left out: {figures}")
    say()
    say("targets")
    for t in targets:
        say(t.line())
    invalid = [s.title for s in sc.values() if not s.all_ok]
    if invalid:
        say(f"  note: some runs did not end as expected (marked (!)): {', '.join(invalid)}")

    data = {
        "approval_version": APPROVAL_VERSION,
        "python": platform.python_version(),
        "litellm": litellm_version,
        "promptfoo": None if promptfoo_missing else PROMPTFOO_VERSION,
        "cpus": os.cpu_count(),
        "injected_latency_s": latency,
        "runs_per_scenario": runs,
        "calibration": {"calls_per_candidate": cal.calls, "latency_bearing_labels": sorted(cal.delayed_labels),
                        "sequential_ms": cal.sequential_ms, "bare_client_concurrent_p50_ms": cal.reference_p50_ms},
        "scenarios": {k: s.to_json() for k, s in sc.items()},
        "ratios": dict(rows),
        "targets": [{"name": t.name, "ok": t.ok, "detail": t.detail} for t in targets],
        "image": figures.to_json() if isinstance(figures, image.ImageFigures) else {"left_out": figures},
        "prebuilt": prebuilt.to_json() if isinstance(prebuilt, image.PrebuiltFigures) else {"left_out": prebuilt},
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    shown = args.json_out.resolve()
    say(f"\nraw figures: {shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown}")
    return 0


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _litellm_version(gateway: RunningLiteLLM) -> str:
    exe = Path(str(gateway.process.args[0])) if isinstance(gateway.process.args, list) else None
    python = exe.parent / "python" if exe is not None else None
    if python is None or not python.exists():
        return "?"
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        done = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                              capture_output=True, text=True, timeout=30, check=False)
        if done.returncode == 0:
            return done.stdout.strip()
    return "?"


if __name__ == "__main__":
    sys.exit(main())
