"""Run the checks: plan probes for every model, send them concurrently under one deadline, evaluate, decide.

Probes run on a fixed pool of daemon worker threads, so a run costs about its slowest call, not the sum of its calls,
and a call stuck where no timeout reaches (a DNS lookup, say) can never keep the process from ending: the suite
stops waiting at the deadline, and the checks whose calls did not finish are `error`, never `pass`.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from approval.common.redact import excerpt, redact, redact_head
from approval.engine.agent_calls import SDK_GENERATION, AgentRun
from approval.engine.checks import BY_NAME, about_candidate, labels_read, plan_for
from approval.engine.checks.base import Evidence
from approval.engine.classify import generation, read_route
from approval.engine.deadline import Deadline
from approval.engine.gateway import Exchange, GatewayClient
from approval.engine.probes import Probe, is_generation, turn_label
from approval.engine.results import Category, CheckResult, Status, verdict
from approval.engine.routing import Finding
from approval.engine.served import describe, served_elsewhere, usable_answer
from approval.settings.build import Settings

# Seconds kept back from the total timeout for evaluating, writing the record and publishing.
RESERVE_FRACTION = 0.05
RESERVE_MAX_S = 2.0


@dataclass
class ModelOutcome:
    model: str
    role: str  # candidate | baseline
    checks: list[CheckResult]
    result: str  # pass | fail
    deadline_hit: bool
    sample_output: str | None = None  # only when the user opts in (include_model_output); never in the record
    answered_calls: int = 0  # generation calls the candidate itself answered usably in this run
    gaps: list[str] = field(default_factory=list)  # evidence missing beyond what the checks say

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)


@dataclass
class RunOutcome:
    settings: Settings
    run_id: str
    started_at: datetime
    elapsed_s: float
    candidates: list[ModelOutcome]
    baseline: ModelOutcome | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        results = [c.result for c in self.candidates]
        if not results:
            return "fail"
        if self.settings.pass_policy == "any":
            return "pass" if "pass" in results else "fail"
        return "pass" if all(r == "pass" for r in results) else "fail"


ProgressCallback = Callable[[str, CheckResult], None]


def not_about_candidate(check: CheckResult, foreign: dict[str, Finding], model: str) -> CheckResult:
    """A check that would pass or warn on answers another model or route gave is an evidence gap, not a pass."""
    if not foreign or not about_candidate(check.name) or check.status not in (Status.PASS, Status.WARN):
        return check
    label, found = next(iter(foreign.items()))
    detail = f"no evidence about {model!r}: the {label} call was answered elsewhere ({describe(found)})"
    return CheckResult(check.name, Status.ERROR, Category.GATEWAY, check.duration_ms, detail, unmeasured(check.metrics))


def unmeasured(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics with every measurement (times, lengths) emptied: what another model's answers measured is not a
    figure about the candidate. Counts, flags and the bounds the user set stay."""
    return {key: None if key.endswith(("_ms", "_chars")) and not key.startswith("bound") else value for key, value in metrics.items()}


class _ModelRun:
    def __init__(self, model: str, role: str, settings: Settings) -> None:
        self.model = model
        self.role = role
        self.settings = settings
        self.probes: list[Probe] = plan_for(settings, model, settings.checks)
        self.planned = {p.label for p in self.probes}
        self.exchanges: dict[str, Exchange] = {}
        self.agent: AgentRun | None = None
        self.done: dict[str, CheckResult] = {}

    def ready(self) -> list[str]:
        have = set(self.exchanges)
        return [c for c in self.settings.checks
                if c not in self.done and labels_read(c, self.planned) <= have and (c != "agent-client" or self.agent is not None)]

    def evidence(self, deadline_hit: bool, elapsed: float) -> Evidence:
        return Evidence(self.settings, self.model, dict(self.exchanges), deadline_hit, elapsed, self.agent)

    def evaluate(self, name: str, deadline_hit: bool, elapsed: float) -> CheckResult:
        check = BY_NAME[name].evaluate(self.evidence(deadline_hit, elapsed))
        if name != "agent-client":
            return not_about_candidate(check, self.foreign(labels_read(name, self.planned)), self.model)
        # agent-client's SDK calls send the same requests to the same route as the raw probes: another model answering
        # those answered the SDK too; and the SDK's own answers are read for who served them like the raw ones
        return not_about_candidate(check, {**self.foreign(set(self.exchanges)), **self.foreign_sdk()}, self.model)

    def foreign_sdk(self) -> dict[str, Finding]:
        """The SDK's well-formed calls (the answer, the stream) that another model or route answered."""
        found = {}
        for call in self.agent.calls if self.agent is not None else ():
            if call.name in SDK_GENERATION and call.raised is None and (call.identities or call.headers):
                served = read_route(dict(call.headers), call.identities, self.settings, self.model).served_elsewhere()
                if served is not None:
                    found[f"SDK's {call.name}"] = served
        return found

    def foreign(self, labels: set[str]) -> dict[str, Finding]:
        """The generation calls among `labels` that another model or route answered."""
        found = {}
        for label in sorted(labels):
            ex = self.exchanges.get(label)
            if ex is not None and is_generation(label):
                served = served_elsewhere(ex, self.settings, self.model)
                if served is not None:
                    found[label] = served
        return found

    def answered_calls(self) -> int:
        """Generation calls this model answered usably itself (not another model or route)."""
        foreign = self.foreign(set(self.exchanges))
        return sum(1 for label, ex in self.exchanges.items()
                   if is_generation(label) and label not in foreign and usable_answer(label, ex, self.settings.endpoint))


def run_suite(settings: Settings, on_check: ProgressCallback | None = None, *, client: GatewayClient | None = None) -> RunOutcome:
    """Run every selected check for every candidate (and the baseline) and reach a verdict within the deadline."""
    started_at = datetime.now(UTC)
    total = Deadline(settings.total_timeout_s)
    reserve = min(RESERVE_MAX_S, settings.total_timeout_s * RESERVE_FRACTION)
    calls_deadline = Deadline(max(0.1, settings.total_timeout_s - reserve))
    client = client or GatewayClient(settings, calls_deadline)
    runs = [_ModelRun(m, "candidate", settings) for m in settings.candidates]
    notes = []
    if settings.baseline_model and settings.baseline_model not in settings.candidates:
        runs.append(_ModelRun(settings.baseline_model, "baseline", settings))
    elif settings.baseline_model:
        notes.append(f"the baseline {settings.baseline_model!r} is also a candidate: it is judged as a candidate, and no separate "
                     f"baseline comparison is made")

    jobs: queue.Queue[tuple[_ModelRun, Probe] | None] = queue.Queue()
    results: queue.Queue[tuple[_ModelRun, Exchange | AgentRun | list[Exchange]]] = queue.Queue()
    # Interleave models so that, under the concurrency cap, every model's first calls start early.
    longest = max((len(r.probes) for r in runs), default=0)
    for i in range(longest):
        for run in runs:
            if i < len(run.probes):
                jobs.put((run, run.probes[i]))
    pending = jobs.qsize()
    workers = min(settings.concurrency, max(1, pending))
    for _ in range(workers):
        jobs.put(None)

    def work() -> None:
        while True:
            item = jobs.get()
            if item is None:
                return
            run, probe = item
            if probe.method == "GET":
                results.put((run, client.get(probe.label, probe.path)))
            elif probe.next_turn is None:
                results.put((run, client.post(probe.label, probe.path, probe.payload or {}, stream=probe.stream)))
            else:
                results.put((run, converse(client, probe)))

    for n in range(workers):
        threading.Thread(target=work, name=f"approval-probe-{n}", daemon=True).start()
    if "agent-client" in settings.checks:  # after the probes: the SDK's import (~0.4 s) is paid while they are in flight
        threading.Thread(target=_drive_agent, args=(settings, runs, calls_deadline, client.limiter, results), name="approval-agent",
                         daemon=True).start()
        pending += len(runs)

    def emit(run: _ModelRun, name: str, deadline_hit: bool) -> None:
        check = run.evaluate(name, deadline_hit, total.elapsed())
        run.done[name] = check
        if on_check is not None:
            on_check(run.model, check)

    for run in runs:  # checks that need no call (approved-list)
        for name in run.ready():
            emit(run, name, False)
    wait_until = calls_deadline.at + min(0.5, reserve / 2)
    while pending:
        timeout = wait_until - time.monotonic()
        if timeout <= 0:
            break
        try:
            run, answer = results.get(timeout=timeout)
        except queue.Empty:
            break
        pending -= 1
        if isinstance(answer, AgentRun):
            run.agent = answer
        elif isinstance(answer, list):  # a conversation's turns, delivered together
            run.exchanges.update({turn.label: turn for turn in answer})
        else:
            run.exchanges[answer.label] = answer
        for name in run.ready():
            emit(run, name, False)

    deadline_hit = pending > 0
    outcomes: list[ModelOutcome] = []
    for run in runs:
        for name in settings.checks:
            if name not in run.done:
                emit(run, name, deadline_hit)
        checks = [run.done[name] for name in settings.checks]
        checks = [promote_required(c, settings) for c in checks]
        answered = run.answered_calls()
        gaps = [] if answered else [f"no generation call was answered by {run.model!r} itself in this run: nothing here is evidence "
                                    f"about it, so it cannot be approved"]
        result = verdict(checks, settings.warnings_block) if answered else "fail"
        outcomes.append(ModelOutcome(run.model, run.role, checks, result, deadline_hit,
                                     sample_output(run.exchanges, settings) if settings.include_model_output else None, answered, gaps))
    notes[:0] = settings.notices
    if deadline_hit:
        notes.append(f"the run's deadline of {settings.total_timeout_s:g} s was reached with {pending} call(s) unfinished")
    stats = client.stats
    if stats.retries:
        notes.append(f"the gateway needed {stats.retries} retr{'y' if stats.retries == 1 else 'ies'} of this tool's calls (429/5xx/connection) "
                     f"over {stats.calls} calls, longest wait {stats.max_wait_s:.1f} s")
    candidates = [o for o in outcomes if o.role == "candidate"]
    baseline = next((o for o in outcomes if o.role == "baseline"), None)
    return RunOutcome(settings, str(uuid.uuid4()), started_at, total.elapsed(), candidates, baseline, notes)


def converse(client: GatewayClient, probe: Probe) -> list[Exchange]:
    """A conversation's turns, one after the other: each next request is made from the answers so far. It ends when
    the probe says so, at `max_turns`, or at the first turn that got no answer (the run's deadline included)."""
    assert probe.next_turn is not None
    turns = [client.post(probe.label, probe.path, probe.payload or {}, stream=probe.stream)]
    while len(turns) < probe.max_turns and turns[-1].ok_transport:
        following = probe.next_turn(turns)
        if following is None:
            break
        turns.append(client.post(turn_label(probe.label, len(turns) + 1), probe.path, following.payload, stream=following.stream))
    return turns


def _drive_agent(settings: Settings, runs: list[_ModelRun], deadline: Deadline, limiter: threading.BoundedSemaphore,
                 results: queue.Queue[tuple[_ModelRun, Exchange | AgentRun]]) -> None:
    """The agent-client check's SDK calls for every model, each model in its own thread; the SDK is imported here."""
    started = time.monotonic()
    try:
        # the openai SDK (~0.4 s to import) only in runs that select agent-client, while the probes are in flight
        from approval.engine import agent_sdk

        agent_sdk.load_family(settings)
        import_ms = (time.monotonic() - started) * 1000
        transport = agent_sdk.shared_transport(settings)
    except Exception as exc:  # noqa: BLE001 - an SDK that cannot be set up is this check's evidence gap, not the run's end
        why = excerpt(f"{type(exc).__name__}: {exc}", 160)
        for run in runs:
            results.put((run, AgentRun((), "openai", (time.monotonic() - started) * 1000, 0, None, setup_error=why)))
        return

    def one(run: _ModelRun) -> None:
        try:
            found = agent_sdk.drive(settings, run.model, deadline, limiter, transport, import_ms)
        except Exception as exc:  # noqa: BLE001 - as above
            found = AgentRun((), "openai", import_ms, 0, None, setup_error=excerpt(f"{type(exc).__name__}: {exc}", 160))
        results.put((run, found))

    for run in runs:
        threading.Thread(target=one, args=(run,), name=f"approval-agent-{run.role}", daemon=True).start()


def sample_output(exchanges: dict[str, Exchange], settings: Settings, limit: int = 2000) -> str | None:
    """The first sample's answer, truncated, for users who opted in to see it."""
    sample = exchanges.get("sample-1")
    if sample is None:
        return None
    gen = generation(sample, settings.endpoint)
    if not gen.ok:
        return None
    return redact(gen.text) if len(gen.text) <= limit else redact_head(gen.text, limit) + "\n… (truncated)"


def promote_required(check: CheckResult, settings: Settings) -> CheckResult:
    """A warning on a check the user listed under `required:` blocks approval."""
    if check.status is Status.WARN and check.name in settings.required:
        return CheckResult(check.name, Status.FAIL, check.category, check.duration_ms, check.detail + " (required)", check.metrics)
    return check
