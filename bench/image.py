"""The action's image in figures, for bench/run.py: what a job pays before and around the approval itself.

- build without cache: `docker build --no-cache` of the Dockerfile on its base (the base is already there, as the
  runner's pull of it is not the project's cost), which is what a Dockerfile action costs in every job;
- the project's own layers (everything above the base) and the whole image, uncompressed;
- container start → first gateway request: `docker run` the way the runner starts the action (harness/
  action_container.py: its flags, mounts, HOME, file commands, `INPUT_` names), timed from the spawn of `docker run`
  to the first request the stub gateway sees, and the whole run's wall time;
- the prebuilt image: scripts/release-image pushes it to Debian's docker-registry on 127.0.0.1 (the stand-in for
  GHCR), the compressed size is what the registry's manifest lists (config + layers, one platform), and a job's
  overhead is `docker pull` by digest on an engine without the image or its base, plus the first container start
  → first gateway request after that pull. The base is saved beforehand and loaded back afterwards; the project's
  images (and, on this checkout's private engine, every image built on the base and the build cache) are removed,
  and rebuilt from the Dockerfile by the next test run. Layers another image still holds (on a shared engine) are
  reported as not pulled.

Needs a container engine (DOCKER_HOST; `bash bench/run` starts one with scripts/container-engine).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from approval import __version__
from harness.action_container import (
    EngineError,
    RunnerJob,
    action_input_env,
    build_image,
    docker,
    engine_problem,
    image_layers,
    inspect_image,
    own_layers_bytes,
    parse_output_file,
    python_base,
)
from harness.registry import RegistryError, start_registry

ROOT: Final = Path(__file__).resolve().parents[1]
BENCH_TAG: Final = "model-approval-gate:bench"
RELEASE_NAME: Final = "bench/model-approval-gate"
RUN_TIMEOUT_S: Final = 120.0
RELEASE_TIMEOUT_S: Final = 1200.0
MB: Final = 1_000_000
PREBUILT_OVERHEAD_MAX_S: Final = 5.0
COMPRESSED_MAX_MB: Final = 60.0


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


@dataclass
class ColdPull:
    """One job's view of the prebuilt image: a pull by digest onto an engine without it, then its first start."""

    pull_s: float
    layers_pulled: int
    layers_present: int  # held by another image on a shared engine, so not pulled
    first_run: ContainerRun

    @property
    def overhead_s(self) -> float | None:
        first = self.first_run.first_request_ms
        return None if first is None or not self.first_run.ok else self.pull_s + first / 1000


@dataclass
class PrebuiltFigures:
    reference: str
    compressed_mb: float
    release_s: float
    pulls: list[ColdPull] = field(default_factory=list)

    def median(self, value: Callable[[ColdPull], float | None]) -> float | None:
        values = [v for v in map(value, self.pulls) if v is not None]
        return statistics.median(values) if values else None

    @property
    def overhead_s(self) -> float | None:
        return self.median(lambda p: p.overhead_s)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "overhead_s": [p.overhead_s for p in self.pulls], "median_overhead_s": self.overhead_s}


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


def _ours(repository: str) -> bool:
    """An image of this project by its repository: the tests' and the bench's builds, and released copies."""
    return repository == "model-approval-gate" or repository.endswith(("/bench/model-approval-gate", "/example/model-approval-gate"))


def _private_engine() -> bool:
    """The engine scripts/container-engine started for this checkout: every image in it was made here."""
    return os.environ.get("DOCKER_HOST", "") == f"unix://{ROOT / '.tools' / 'docker' / 'docker.sock'}"


def _clear_for_pull(base: str, base_layers: set[str], reference: str) -> None:
    """Remove the base, the project's images and, on the private engine, every image holding the base's layers and
    the build cache, so that the pull starts from what a fresh runner has. On a shared engine, other images' layers
    stay (and are reported as not pulled)."""
    ids = docker(["image", "ls", "--all", "--quiet", "--no-trunc"]).stdout.split()
    images: list[dict[str, Any]] = json.loads(docker(["image", "inspect", *sorted(set(ids))]).stdout) if ids else []
    doomed = {reference, base}
    for image in images:
        repositories = {tag.rsplit(":", 1)[0] for tag in image.get("RepoTags") or []}
        repositories |= {digest.rsplit("@", 1)[0] for digest in image.get("RepoDigests") or []}
        if any(_ours(r) for r in repositories) or (_private_engine() and base_layers & set(image["RootFS"]["Layers"])):
            doomed.add(image["Id"])
    for _ in range(5):  # a parent goes only after its children: a few passes, bounded
        left = [name for name in sorted(doomed) if docker(["image", "inspect", name], check=False).returncode == 0]
        if not left:
            break
        for name in left:
            docker(["image", "rm", "--force", name], check=False)
    if _private_engine():  # BuildKit's cache holds the layers it built or built on: a pull would find them there
        docker(["builder", "prune", "--all", "--force"], timeout=600, check=False)


def measure_prebuilt(base: str, gateway: Gateway, model: str, runs: int, scratch: Path, say: Callable[[str], None]) -> PrebuiltFigures | str:
    """Release to a loopback registry, then what a job pays for the prebuilt image: pull by digest + first start,
    `runs` times from an engine without the image or its base."""
    try:
        registry = start_registry(scratch / "registry" / "storage")
    except RegistryError as exc:
        return str(exc)
    with registry:
        say(f"bench: prebuilt: scripts/release-image to the registry on {registry.host}")
        started = time.perf_counter()
        command = [sys.executable, str(ROOT / "scripts" / "release_image.py"), "image", "--registry", registry.host, "--name", RELEASE_NAME,
                   "--tag", f"v{__version__}", "--source", "https://github.com/example/model-approval-gate", "--base", base, "--network", "host"]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=RELEASE_TIMEOUT_S, check=False, cwd=ROOT)
        if proc.returncode != 0:
            return f"scripts/release-image failed: {proc.stderr.strip()[-500:]}"
        values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        figures = PrebuiltFigures(values["reference"], int(values.get("compressed-bytes") or 0) / MB, time.perf_counter() - started)
        saved = scratch / "base.tar"
        try:
            docker(["save", "-o", str(saved), base], timeout=600)
            base_layers = set(image_layers(base))
            for _ in range(runs):
                _clear_for_pull(base, base_layers, figures.reference)
                started = time.perf_counter()
                pulled = docker(["pull", figures.reference], timeout=600).stdout
                pull_s = time.perf_counter() - started
                present = len(re.findall(r"Already exists", pulled))
                first = run_action_container(figures.reference, gateway, model, scratch)
                figures.pulls.append(ColdPull(pull_s, len(image_layers(figures.reference)) - present, present, first))
                say(f"bench:   pull {pull_s:.1f} s, first start → request {first.first_request_ms or 0:.0f} ms")
                if not first.ok:
                    say(f"bench:   ! the prebuilt container: {first.note}")
        except EngineError as exc:
            return str(exc)
        finally:
            if saved.exists() and docker(["image", "inspect", base], check=False).returncode != 0:
                docker(["load", "-i", str(saved)], timeout=600)
            saved.unlink(missing_ok=True)
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


def report_prebuilt(figures: ImageFigures, prebuilt: PrebuiltFigures, say: Callable[[str], None], fmt: Callable[..., str]) -> None:
    say("a job's overhead: Dockerfile action vs the prebuilt image (pulled by digest from the registry on 127.0.0.1)")
    first_ms = figures.median("first_request_ms")
    dockerfile = None if first_ms is None else figures.build_no_cache_s + first_ms / 1000
    pulled = {(p.layers_pulled, p.layers_present) for p in prebuilt.pulls}
    rows = [
        ("Dockerfile action: build without cache + start → 1st request", f"{fmt(dockerfile, '.1f')} s"),
        ("prebuilt: pull by digest + start → 1st request", f"{fmt(prebuilt.overhead_s, '.1f')} s (median of {len(prebuilt.pulls)} cold pulls)"),
        ("  pull by digest", f"{fmt(prebuilt.median(lambda p: p.pull_s), '.1f')} s (layers pulled / already present: "
         f"{', '.join(f'{a}/{b}' for a, b in sorted(pulled))})"),
        ("  first container start → 1st request", f"{fmt(prebuilt.median(lambda p: p.first_run.first_request_ms), '.0f')} ms"),
        ("compressed image (config + layers, one platform)", f"{fmt(prebuilt.compressed_mb, '.1f')} MB"),
        ("release to the registry (build + push + digest)", f"{fmt(prebuilt.release_s, '.1f')} s, {prebuilt.reference}"),
    ]
    for label, value in rows:
        say(f"  {label:<62} {value}")


def prebuilt_targets(prebuilt: PrebuiltFigures, fmt: Callable[..., str]) -> list[tuple[str, bool | None, str]]:
    overhead = prebuilt.overhead_s
    return [
        (f"prebuilt image overhead ≤ {PREBUILT_OVERHEAD_MAX_S:g} s (pull by digest + start → first request)",
         None if overhead is None else overhead <= PREBUILT_OVERHEAD_MAX_S,
         f"{fmt(overhead, '.1f')} s: pull {fmt(prebuilt.median(lambda p: p.pull_s), '.1f')} s + start "
         f"{fmt(prebuilt.median(lambda p: p.first_run.first_request_ms), '.0f')} ms (medians)"),
        (f"compressed image ≤ {COMPRESSED_MAX_MB:g} MB", prebuilt.compressed_mb <= COMPRESSED_MAX_MB, f"{fmt(prebuilt.compressed_mb, '.1f')} MB"),
    ]
