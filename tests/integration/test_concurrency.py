"""Many approvals in one process, through the library API (build_settings + run_suite), 50 threads at once against
one fault gateway with mixed faults: each run sees only its own model, key, headers, retries and verdict, and a
run stuck on a hanging or dripping gateway cannot hold up the others or push anyone past their deadline."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from approval.engine.checks import CATALOGUE
from approval.engine.suite import RunOutcome, run_suite
from approval.record.build import build_record, validate_record
from approval.report.render import render_markdown
from approval.settings.build import build_settings
from harness import fault_gateway
from harness.fault_gateway import FaultGateway
from harness.measured_runs import CANARY, is_sdk_request, markdown_table, publish_table, tool_retries
from harness.mocked_gateway import as_flags

RUNS = 50
TIMEOUT_S = 10.0
MARGIN_S = 2.0
QUICK_S = TIMEOUT_S / 2  # a run on a healthy path finishes well before the deadline, whatever the others do
PROBES = 2 + 1 + 3 + 1  # reach + models, one sample, three error-path probes, agent-envelope's plain call
MAX_ATTEMPTS = 3
SDK_CALLS = 1 + 3  # agent-client: the prompt, the three malformed requests
SDK_ATTEMPTS = 3  # the SDK's own max_retries (2) + 1
RUN_HEADER = "x-approval-run"

# fault → (verdict, failure categories, retried?)
MIX: list[tuple[str | None, str, set[str], bool]] = [
    (None, "pass", set(), False),
    ("slow:300", "pass", set(), False),
    ("hang", "fail", {"infrastructure"}, False),
    ("429-retry-after", "fail", {"infrastructure"}, True),
    ("html-502", "fail", {"infrastructure"}, True),
    ("fallback", "fail", {"gateway"}, False),
    ("choices-null", "fail", {"gateway"}, False),
    ("drip", "fail", {"infrastructure"}, False),
    ("echo-key", "fail", {"infrastructure"}, False),
    ("content-null", "fail", {"model"}, False),
]


@dataclass
class Run:
    index: int
    model: str
    key: str
    tag: str
    fault: str | None
    config_sha: str
    seconds: float = 0.0
    outcome: RunOutcome | None = None


def _model(i: int) -> str:
    return f"m-{i:02d}"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Run], FaultGateway]]:
    directory = tmp_path_factory.mktemp("concurrency")
    runs = []
    for i in range(RUNS):
        fault = MIX[i % len(MIX)][0]
        tag = f"run-{i:02d}-tag"
        config = directory / f"gateway-{i:02d}.yaml"
        # an agent without tools: the fault gateway answers one text to everything, it is no tool-using model
        config.write_text(f"headers: {{X-Approval-Run: {tag}}}\nagent: {{profile: plain-chat}}\n", encoding="utf-8")
        runs.append(Run(i, _model(i), f"key-{i:02d}-{CANARY}", tag, fault, hashlib.sha256(config.read_bytes()).hexdigest()))
    # 50 runs open about 300 connections at once; the stdlib listen backlog of 5 would make the loopback server itself
    # drop some (resets, which the client rightly retries). A real gateway has a real backlog: give this one too.
    backlog = fault_gateway._Server.request_queue_size
    fault_gateway._Server.request_queue_size = 1024
    try:
        gw = FaultGateway(models=[r.model for r in runs], max_stall_s=TIMEOUT_S + 10, drip_interval_s=0.5).start()
    finally:
        fault_gateway._Server.request_queue_size = backlog
    for run in runs:
        if run.fault is not None:
            gw.set_fault(run.fault, model=run.model)
    start = threading.Barrier(RUNS, timeout=30)

    def approve(run: Run) -> Run:
        settings = build_settings(as_flags({"base_url": gw.base_url, "models": [run.model], "timeout": f"{TIMEOUT_S:g}", "samples": "1",
                                   "config": str(directory / f"gateway-{run.index:02d}.yaml")}), {"GATEWAY_API_KEY": run.key}, CATALOGUE)
        start.wait()
        began = time.monotonic()
        run.outcome = run_suite(settings)
        run.seconds = time.monotonic() - began
        return run

    try:
        with ThreadPoolExecutor(max_workers=RUNS) as pool:
            futures = [pool.submit(approve, run) for run in runs]
            done = [f.result(timeout=TIMEOUT_S + 30) for f in futures]
        rows = []
        for fault, *_ in MIX:
            group = [r for r in done if r.fault == fault and r.outcome is not None]
            records = [build_record(r.outcome, r.outcome.candidates[0]) for r in group if r.outcome is not None]
            retries = [tool_retries(rec["notes"]) for rec in records]
            rows.append([fault or "(none)", len(group), ", ".join(sorted({rec["overall_result"] for rec in records})),
                         ", ".join(sorted({c for rec in records for c in rec["failure_categories"]})) or "—",
                         f"{min(r.seconds for r in group):.2f}–{max(r.seconds for r in group):.2f}", max(retries, default=0)])
        publish_table("concurrency", directory, markdown_table(["fault", "runs", "verdict", "categories", "seconds", "max retries"], rows)
                      + f"\n{RUNS} runs started together (library API, one process), --timeout {TIMEOUT_S:g}s each.\n")
        yield done, gw
    finally:
        gw.stop()


def test_every_run_ends_by_its_deadline_and_healthy_ones_are_not_held_up(fleet: tuple[list[Run], FaultGateway]) -> None:
    runs, _ = fleet
    slowest = max(r.seconds for r in runs)
    assert slowest <= TIMEOUT_S + MARGIN_S, [(r.model, r.fault, round(r.seconds, 2)) for r in runs]
    healthy = [r for r in runs if r.fault in (None, "slow:300")]
    assert healthy and all(r.seconds < QUICK_S for r in healthy), [(r.model, round(r.seconds, 2)) for r in healthy]
    stuck = [r for r in runs if r.fault in ("hang", "drip")]
    assert all(r.outcome is not None and r.outcome.elapsed_s <= TIMEOUT_S for r in stuck)


def test_each_run_has_its_own_verdict_categories_and_retries(fleet: tuple[list[Run], FaultGateway]) -> None:
    runs, _ = fleet
    expected = {fault: (verdict, cats, retried) for fault, verdict, cats, retried in MIX}
    for run in runs:
        assert run.outcome is not None
        [outcome] = run.outcome.candidates
        assert outcome.model == run.model
        verdict, categories, retried = expected[run.fault]
        record = build_record(run.outcome, outcome)
        validate_record(record)
        context = f"{run.model} ({run.fault}): {json.dumps(record['checks'])[:1500]}"
        assert record["overall_result"] == verdict, context
        assert set(record["failure_categories"]) == categories, context
        assert record["candidate_model_id"] == run.model and record["config_sha256"] == run.config_sha
        retries = tool_retries(record["notes"])
        assert (retries > 0) == retried, context
        assert retries <= PROBES * (MAX_ATTEMPTS - 1)


def test_requests_carry_only_their_own_runs_key_headers_and_model(fleet: tuple[list[Run], FaultGateway]) -> None:
    runs, gw = fleet
    by_tag = {r.tag: r for r in runs}
    seen: dict[str, int] = {}
    by_sdk: dict[str, int] = {}
    requests = gw.requests
    assert requests
    for request in requests:
        tag = request.header(RUN_HEADER)
        assert tag in by_tag, f"a request without its run's header: {request.method} {request.path}"
        run = by_tag[tag]
        assert request.authorization == f"Bearer {run.key}", (tag, request.authorization)
        if request.model is not None and request.model.startswith("m-"):
            assert request.model == run.model, (tag, request.model)
        counts = by_sdk if is_sdk_request(request.header("user-agent")) else seen
        counts[tag] = counts.get(tag, 0) + 1
    assert set(seen) == set(by_tag) and set(by_sdk) <= set(by_tag)
    assert all(count <= PROBES * MAX_ATTEMPTS for count in seen.values()), seen
    assert all(count <= SDK_CALLS * SDK_ATTEMPTS for count in by_sdk.values()), by_sdk


def test_no_key_appears_in_any_record_or_report(fleet: tuple[list[Run], FaultGateway]) -> None:
    runs, _ = fleet
    keys = [r.key for r in runs]
    for run in runs:
        assert run.outcome is not None
        text = json.dumps(build_record(run.outcome, run.outcome.candidates[0])) + render_markdown(run.outcome)
        leaked = [k for k in keys if k in text] + ([CANARY] if CANARY in text else [])
        assert leaked == [], (run.model, run.fault)


def test_the_written_records_round_trip(fleet: tuple[list[Run], FaultGateway], tmp_path: Path) -> None:
    """Records from concurrent runs are written side by side and stay valid on disk."""
    from approval.record.build import write_json

    runs, _ = fleet
    for run in runs[:10]:
        assert run.outcome is not None
        path = tmp_path / f"{run.model}.json"
        write_json(path, build_record(run.outcome, run.outcome.candidates[0]))
        validate_record(json.loads(path.read_text(encoding="utf-8")))
