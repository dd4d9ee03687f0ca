"""The action's image in figures, for bench/run.py: what a job pays before and around the approval itself.

- build without cache: `docker build --no-cache` of the Dockerfile on its base (the base is already there, as the
  runner's pull of it is not the project's cost), which is what a Dockerfile action costs in every job;
- the project's own layers (everything above the base) and the whole image, uncompressed;
- container start → first gateway request: `docker run` the way the runner starts the action (tests/support/
  action_container.py: its flags, mounts, HOME, file commands, `INPUT_` names), timed from the spawn of `docker run`
  to the first request the stub gateway sees, and the whole run's wall time.

Needs a container engine (DOCKER_HOST; `bash bench/run` starts one with scripts/container-engine).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from tests.support.action_container import (
    EngineError,
    RunnerJob,
    action_input_env,
    build_image,
    engine_problem,
    inspect_image,
    own_layers_bytes,
    parse_output_file,
    python_base,
)

ROOT: Final = Path(__file__).resolve().parents[1]
BENCH_TAG: Final = "model-approval-gate:bench"
RUN_TIMEOUT_S: Final = 120.0
MB: Final = 1_000_000


class Gateway(Protocol):
    """The stub gateway of bench/run.py, as far as this module reads it."""

    lock: threading.Lock
    arrivals: list[float]

    @property
    def base_url(self) -> str: ...

    def reset(self) -> None: ...


@dataclass
class ContainerRun:
    ok: bool
    wall_s: float  # spawn of `docker run` → its exit
    first_request_ms: float | None  # spawn of `docker run` → the gateway saw the first request
    note: str = ""


@dataclass
class ImageFigures:
    base: str
    build_no_cache_s: float
    own_layers_mb: float
    image_mb: float
    runs: list[ContainerRun] = field(default_factory=list)

    def median(self, attr: str) -> float | None:
        values = [getattr(r, attr) for r in self.runs if r.ok and getattr(r, attr) is not None]
        return statistics.median(values) if values else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["median"] = {a: self.median(a) for a in ("wall_s", "first_request_ms")}
        return data


def run_action_container(image: str, gateway: Gateway, model: str, scratch: Path) -> ContainerRun:
    """One approval of `model` on `gateway` by the action's container, started as the runner starts it."""
    job = RunnerJob.create(Path(tempfile.mkdtemp(prefix="job-", dir=scratch)))
    (job.workflow / "event.json").write_text(json.dumps({"inputs": {}}), encoding="utf-8")
    output, summary = (job.file_commands / f"{name}_{uuid.uuid4()}" for name in ("set_output", "step_summary"))
    output.touch()
    summary.touch()
    given = {"gateway-base-url": gateway.base_url, "api-key": "sk-bench", "candidate-model-id": model, "comment": "false",
             "upload-artifact": "false"}
    env = {
        **action_input_env(ROOT / "action.yml", given, {"github.token": "", "github.actor": "bench"}),
        "HOME": str(job.home), "GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_EVENT_PATH": str(job.workflow / "event.json"),
        "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": str(job.workspace),
        "GITHUB_REPOSITORY": "example/agent-service", "GITHUB_RUN_ID": "1", "GITHUB_ACTOR": "bench", "RUNNER_TEMP": str(job.temp),
    }
    gateway.reset()
    spawned = time.perf_counter()
    try:
        proc = job.run(image, env, timeout=RUN_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - a measurement: report the failure and go on
        return ContainerRun(False, time.perf_counter() - spawned, None, f"{type(exc).__name__}: {exc}")
    wall = time.perf_counter() - spawned
    with gateway.lock:
        first = min(gateway.arrivals, default=None)
    ok = proc.returncode == 0 and parse_output_file(output.read_text(encoding="utf-8")).get("result") == "pass"
    note = "" if ok else f"exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-300:]}"
    return ContainerRun(ok, wall, None if first is None else (first - spawned) * 1000, note)


def measure(gateway: Gateway, model: str, runs: int, scratch: Path, say: Callable[[str], None]) -> ImageFigures | str:
    """The figures, or why they could not be taken."""
    problem = engine_problem()
    if problem is not None:
        return problem
    try:
        base = python_base()
        say(f"bench: image: building the Dockerfile on {base} without cache")
        built = build_image(ROOT, BENCH_TAG, base=base, no_cache=True)
        figures = ImageFigures(base, built.seconds, own_layers_bytes(built.id, base) / MB, inspect_image(built.id)["Size"] / MB)
    except EngineError as exc:
        return str(exc)
    run_action_container(built.id, gateway, model, scratch)  # warm-up, not counted (page cache)
    for _ in range(runs):
        run = run_action_container(built.id, gateway, model, scratch)
        figures.runs.append(run)
        if not run.ok:
            say(f"bench:   ! the action's container: {run.note}")
    return figures


def report(figures: ImageFigures, say: Callable[[str], None], fmt: Callable[..., str]) -> None:
    say("image (the action's container, built and run by a real engine)")
    rows: Sequence[tuple[str, str]] = [
        ("base", figures.base),
        ("build without cache (base present)", f"{fmt(figures.build_no_cache_s, '.1f')} s"),
        ("the project's own layers", f"{fmt(figures.own_layers_mb, '.1f')} MB (whole image {fmt(figures.image_mb, '.0f')} MB, uncompressed)"),
        ("container start → first gateway request", f"{fmt(figures.median('first_request_ms'), '.0f')} ms (median of {len(figures.runs)})"),
        ("container run, spawn → exit (1 candidate)", f"{fmt(figures.median('wall_s'), '.2f')} s"),
    ]
    for label, value in rows:
        say(f"  {label:<44} {value}")
