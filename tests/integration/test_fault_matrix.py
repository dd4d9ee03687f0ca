"""Every fault of the fault gateway, through the real `approval` command in a subprocess.

For each fault: the run ends by its deadline plus a small margin, the exit code and the failure categories are
right (infrastructure or gateway, not model, unless the model is at fault), the record is written and valid, the
retries stay within their bound, the child's peak memory stays bounded, and the canary key appears in no output.

Deadline margin (documented in SECURITY.md too): the run's own clock (`duration_s` in the record) must stay within
`--timeout`; the process as a whole may take up to `DEADLINE_MARGIN_S` longer, for interpreter start-up and imports
(before the run's clock starts), writing the record and report, and exiting.

The cases run in parallel (a small thread pool, each with its own gateway and its own temporary directory); the
measured table is printed at the end of the session and written next to the cases' files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from approval.record.build import validate_record
from harness.fault_gateway import FAULTS, FaultGateway
from harness.measured_runs import CANARY, ChildRun, child_env, is_sdk_request, leaks_canary, markdown_table, publish_table, run_cli, tool_retry_note

TIMEOUT_S = 10.0
DEADLINE_MARGIN_S = 2.0
SAMPLES = 2
MAX_ATTEMPTS = 3  # the default of retries.max_attempts
RETRY_CAP_S = 10.0  # the default of retries.max_retry_after_seconds
CHECKS = "reachability,happy-path,model-echo,error-path,latency,agent-client,streaming"
PROBES = 2 + SAMPLES + 3 + 1  # reach + models, samples, three error-path probes, one stream
SDK_CALLS = 1 + 1 + 3  # agent-client through the openai SDK: the prompt, its stream, the three malformed requests
SDK_ATTEMPTS = 3  # the SDK's own policy: max_retries 2
PEAK_RSS_BOUND_MB = 150.0  # the client caps bodies at max_response_bytes (default 8 MiB); huge-body sends 30 MiB
# Each case's process needs about a second of CPU (the openai SDK's import for agent-client alone ~0.4 s): with more
# cases at once than this machine has cores, the deadline assertions would measure the machine's load, not the tool.
WORKERS = 2

INFRA = frozenset({"infrastructure"})
GATEWAY = frozenset({"gateway"})
MODEL = frozenset({"model"})
NONE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Case:
    fault: str
    categories: frozenset[str]  # the record's failure_categories, exactly
    endpoint: str = "chat"
    scope: str = "model"  # model: every call naming the candidate; all: every request, /models and error probes too
    exit_code: int = 1
    checks: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # check → (status, category) that must hold
    retried: bool = False  # the client must have retried (429 / 502 / 503 / connection lost) — else it must not have
    min_seconds: float = 0.0
    config: str = ""  # a gateway.yaml for this case (--config), e.g. other retry bounds
    max_attempts: int = MAX_ATTEMPTS
    retry_cap_s: float = RETRY_CAP_S
    label: str = ""  # tells apart cases of one fault that differ only in their config
    secrets: tuple[str, ...] = ()  # besides the key: values that must appear in no output
    shown: tuple[str, ...] = ()  # plain words that the outputs must show as they are (redaction masks secrets, not words)

    @property
    def id(self) -> str:
        return f"{self.fault}[{self.endpoint}{'' if self.scope == 'model' else ',all'}{',' + self.label if self.label else ''}]"


# Configured headers that the echo-headers fault sends back: three secrets (by name, inside a JSON value, marked) that
# must be masked, and a plain routing word that must not be.
HEADER_SECRETS = ("hdr-4d1c/8e2f+7a9b=BY-NAME", "hdr-5e2d/9f3a+8b0c=IN-JSON", "hdr-6f3e/0a4b+9c1d=MARKED")
ECHOED_HEADERS = (
    "headers:\n"
    "  x-portkey-provider: openai\n"
    f"  x-api-key: '{HEADER_SECRETS[0]}'\n"
    f"  x-portkey-config: '{{\"provider\": \"openai\", \"api_key\": \"{HEADER_SECRETS[1]}\"}}'\n"
    f"  x-route-note: {{value: '{HEADER_SECRETS[2]}', secret: true}}\n"
)


def happy(status: str, category: str) -> dict[str, tuple[str, str]]:
    return {"happy-path": (status, category), "reachability": (status, category)}


CHAT_CASES = [
    Case("hang", INFRA, checks=happy("error", "infrastructure")),
    Case("hang", INFRA, scope="all"),
    Case("close", INFRA, retried=True, checks=happy("error", "infrastructure")),
    Case("reset-mid-body", INFRA, retried=True, checks=happy("error", "infrastructure")),
    Case("reset-mid-body", INFRA, scope="all", retried=True, checks={"error-path": ("error", "infrastructure")}),
    Case("drip", INFRA),
    Case("drip", INFRA, scope="all"),
    Case("headers-only", INFRA),
    Case("html-500", INFRA, checks=happy("error", "infrastructure")),
    Case("html-502", INFRA, retried=True, checks=happy("error", "infrastructure")),
    Case("html-503", INFRA, retried=True, checks=happy("error", "infrastructure")),
    # the gateway is down for every request: its 5xx to a malformed one says nothing about how it handles errors
    Case("html-502", INFRA, scope="all", retried=True, checks={"error-path": ("error", "infrastructure"), "agent-client": ("error", "infrastructure")}),
    Case("429", INFRA, retried=True, checks=happy("error", "infrastructure")),
    Case("429-retry-after", INFRA, retried=True, checks=happy("error", "infrastructure"), min_seconds=1.0),
    Case("429-absurd", INFRA, checks=happy("error", "infrastructure")),
    Case("429-absurd-date", INFRA, checks=happy("error", "infrastructure")),
    Case("429-bad-retry-after", INFRA, retried=True, checks=happy("error", "infrastructure")),
    Case("200-error-envelope", GATEWAY, checks=happy("fail", "gateway")),
    Case("status-failed", GATEWAY, checks=happy("fail", "gateway")),
    Case("choices-null", GATEWAY, checks={**happy("fail", "gateway"), "streaming": ("fail", "gateway")}),
    Case("choices-empty", GATEWAY, checks={**happy("fail", "gateway"), "streaming": ("fail", "gateway")}),
    Case("content-null", MODEL, checks={**happy("fail", "model"), "streaming": ("fail", "model")}),
    Case("wrong-types", GATEWAY, checks={**happy("fail", "gateway"), "streaming": ("fail", "gateway")}),
    Case("wrong-types-choices", GATEWAY, checks={**happy("fail", "gateway"), "streaming": ("fail", "gateway")}),
    Case("invalid-json", GATEWAY, checks={**happy("fail", "gateway"), "streaming": ("fail", "gateway")}),
    Case("empty-200", GATEWAY, checks=happy("fail", "gateway")),
    Case("huge-body", GATEWAY, checks={**happy("fail", "gateway"), "streaming": ("fail", "gateway")}),
    Case("huge-body", GATEWAY, scope="all"),
    Case("sse-cut", GATEWAY, checks={"streaming": ("fail", "gateway"), "happy-path": ("pass", "none"),
                                     "agent-client": ("fail", "gateway")}),  # the SDK hands the cut answer over as complete
    Case("sse-comments", NONE, exit_code=0, checks={"streaming": ("pass", "none")}),
    Case("sse-error-event", GATEWAY, checks={"streaming": ("fail", "gateway")}),
    Case("sse-failed-event", GATEWAY, checks={"streaming": ("fail", "gateway")}),
    Case("redirect", GATEWAY, checks=happy("fail", "gateway")),
    Case("redirect", GATEWAY, scope="all", checks={"error-path": ("error", "gateway")}),
    Case("echo-key", INFRA, checks=happy("error", "infrastructure")),
    Case("echo-key", INFRA, scope="all"),
    Case("echo-key-encoded", INFRA, checks=happy("error", "infrastructure")),
    Case("echo-key-encoded", INFRA, scope="all"),
    Case("echo-key-escaped", INFRA, checks=happy("error", "infrastructure")),
    Case("echo-headers", INFRA, checks=happy("error", "infrastructure"), config=ECHOED_HEADERS, secrets=HEADER_SECRETS,
         shown=("x-portkey-provider=openai",)),
    # answers another model gave are no evidence about the candidate, in any check built on them
    Case("fallback", GATEWAY, checks={"model-echo": ("fail", "gateway"), "happy-path": ("error", "gateway"), "latency": ("error", "gateway")}),
    Case("fallback-header", GATEWAY, checks={"model-echo": ("fail", "gateway"), "happy-path": ("error", "gateway"),
                                             "streaming": ("error", "gateway")}),
    Case("slow:1500", NONE, exit_code=0, checks={"latency": ("pass", "none")}, min_seconds=1.5),
    # Configured bounds instead of the defaults.
    Case("429-retry-after", INFRA, retried=True, label="5 attempts, waits capped at 0.3s", max_attempts=5, retry_cap_s=0.3,
         config="retries: {max_attempts: 5, max_retry_after_seconds: 0.3, backoff_seconds: 0.05}\n"),
    Case("html-503", INFRA, label="1 attempt", max_attempts=1, config="retries: {max_attempts: 1}\n"),
    Case("huge-body", GATEWAY, scope="all", label="1 MiB cap", config="max_response_bytes: 1048576\n"),
    Case("401", INFRA, checks=happy("error", "infrastructure")),
    Case("403", INFRA, checks=happy("error", "infrastructure")),
    Case("404-unknown-model", MODEL, checks=happy("fail", "model")),
]
# The Responses family for every fault whose shape differs there.
RESPONSES_CASES = [
    Case("hang", INFRA, endpoint="responses"),
    Case("status-failed", GATEWAY, endpoint="responses", checks=happy("fail", "gateway")),
    Case("choices-null", GATEWAY, endpoint="responses", checks={**happy("fail", "gateway"), "streaming": ("fail", "gateway")}),
    Case("choices-empty", GATEWAY, endpoint="responses", checks={**happy("fail", "gateway"), "streaming": ("fail", "gateway")}),
    Case("content-null", MODEL, endpoint="responses", checks={**happy("fail", "model"), "streaming": ("fail", "model")}),
    Case("wrong-types", GATEWAY, endpoint="responses", checks={**happy("fail", "gateway"), "streaming": ("fail", "gateway")}),
    Case("wrong-types-choices", GATEWAY, endpoint="responses", checks={**happy("fail", "gateway"), "streaming": ("fail", "gateway")}),
    Case("invalid-json", GATEWAY, endpoint="responses", checks=happy("fail", "gateway")),
    Case("huge-body", GATEWAY, endpoint="responses", checks={**happy("fail", "gateway"), "streaming": ("fail", "gateway")}),
    Case("sse-cut", GATEWAY, endpoint="responses", checks={"streaming": ("fail", "gateway")}),
    Case("sse-comments", NONE, endpoint="responses", exit_code=0),
    Case("sse-error-event", GATEWAY, endpoint="responses", checks={"streaming": ("fail", "gateway")}),
    Case("sse-failed-event", GATEWAY, endpoint="responses", checks={"streaming": ("fail", "gateway")}),
    Case("fallback", GATEWAY, endpoint="responses", checks={"model-echo": ("fail", "gateway")}),
    Case("fallback-header", GATEWAY, endpoint="responses", checks={"model-echo": ("fail", "gateway")}),
]
CASES = CHAT_CASES + RESPONSES_CASES


@dataclass
class Outcome:
    case: Case
    run: ChildRun
    record_text: str
    record: dict[str, Any] | None
    report_text: str
    requests: int  # this tool's raw probes, retries included
    sdk_requests: int  # the agent-client check's SDK, retries included
    key_seen_by_gateway: bool
    redirected: list[Mapping[str, str]]
    handler_errors: list[str]

    @property
    def leaked(self) -> bool:
        return leaks_canary(self.run.stdout + self.run.stderr + self.record_text + self.report_text)

    def check(self, name: str) -> dict[str, Any]:
        assert self.record is not None
        found: list[dict[str, Any]] = [c for c in self.record["checks"] if c["name"] == name]
        assert found, f"no {name} check in the record"
        return found[0]

    @property
    def retries(self) -> int | None:
        """This tool's own retries, from the run's notes."""
        return tool_retry_note(self.record["notes"])[0] if self.record is not None else None


def run_case(case: Case, workdir: Path) -> Outcome:
    workdir.mkdir(parents=True, exist_ok=True)
    record_path, report_path = workdir / "record.json", workdir / "report.md"
    config = ["--config", "gateway.yaml"] if case.config else []
    if case.config:
        (workdir / "gateway.yaml").write_text(case.config, encoding="utf-8")
    with FaultGateway(max_stall_s=30.0) as gw:
        gw.set_fault(case.fault, model=None if case.scope == "all" else "good-model")
        args = ["run", "--base-url", gw.base_url, "--model", "good-model", "--endpoint", case.endpoint, "--timeout", f"{TIMEOUT_S:g}",
                "--samples", str(SAMPLES), "--max-latency-ms", "5000", "--checks", CHECKS,
                "--record-out", str(record_path), "--report-out", str(report_path), *config]
        run = run_cli(args, env=child_env(), cwd=workdir, hard_timeout=TIMEOUT_S + 30)
        seen = gw.requests
        target = gw.redirect_target
        redirected = [r.headers for r in target.requests] if target is not None else []
        errors = gw.handler_errors
    record_text = record_path.read_text(encoding="utf-8") if record_path.exists() else ""
    report_text = report_path.read_text(encoding="utf-8") if report_path.exists() else ""
    record = json.loads(record_text) if record_text else None
    sdk = [r for r in seen if is_sdk_request(r.header("user-agent"))]
    return Outcome(case, run, record_text, record, report_text, len(seen) - len(sdk), len(sdk),
                   any(r.authorization == f"Bearer {CANARY}" for r in seen), redirected, errors)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    base = tmp_path_factory.mktemp("fault-matrix")
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        outcomes = list(pool.map(lambda ic: run_case(ic[1], base / f"case-{ic[0]:02d}"), enumerate(CASES)))
    rows = []
    for o in outcomes:
        cats = ", ".join(o.record["failure_categories"]) if o.record else "(no record)"
        run_s = f"{o.record['duration_s']:.2f}" if o.record else "?"
        rows.append([o.case.fault + (f" ({o.case.label})" if o.case.label else ""), o.case.endpoint, o.case.scope, o.run.code, cats or "—",
                     f"{o.run.seconds:.2f}", run_s, o.retries if o.retries is not None else "?", o.requests, o.sdk_requests,
                     f"{o.run.peak_rss_mb:.0f}", "YES" if o.leaked else "no"])
    header = ["fault", "family", "scope", "exit", "failure categories", "process s", "run s", "retries", "requests", "SDK requests",
              "peak RSS MB", "key leaked"]
    note = (f"\n--timeout {TIMEOUT_S:g}s (margin {DEADLINE_MARGIN_S:g}s), --samples {SAMPLES}, checks {CHECKS}; "
            f"{WORKERS} cases at a time on this machine.\n")
    publish_table("fault-matrix", base, markdown_table(header, rows) + note)
    return {o.case.id: o for o in outcomes}


def test_every_fault_of_the_gateway_is_in_the_matrix() -> None:
    covered = {c.fault.partition(":")[0] for c in CASES}
    assert covered == set(FAULTS)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, matrix: dict[str, Outcome]) -> None:
    o = matrix[case.id]
    run = o.run
    context = f"{case.id}: exit {run.code}\n--- stdout\n{run.stdout[-3000:]}\n--- stderr\n{run.stderr[-2000:]}"

    # Ends by its deadline, without a traceback, with the right exit code.
    assert not run.killed, context
    assert run.seconds <= TIMEOUT_S + DEADLINE_MARGIN_S, context
    assert run.seconds >= case.min_seconds, context
    assert "Traceback" not in run.output, context
    assert run.code == case.exit_code, context

    # The record is written, valid, and says the same as the exit code.
    assert o.record is not None, context
    validate_record(o.record)
    assert o.record["candidate_model_id"] == "good-model"
    assert o.record["overall_result"] == ("pass" if case.exit_code == 0 else "fail")
    assert o.record["duration_s"] <= TIMEOUT_S, context
    assert set(o.record["failure_categories"]) == case.categories, context
    for name, (status, category) in case.checks.items():
        check = o.check(name)
        assert (check["status"], check["category"]) == (status, category), f"{name}: {check}\n{context}"
    assert o.report_text.startswith("## "), context

    # This tool's retries: within the configured bound, counted by the client (the run's notes) and by the gateway alike.
    retries, longest_wait = tool_retry_note(o.record["notes"])
    assert 0 <= retries <= PROBES * (case.max_attempts - 1), o.record["notes"]
    assert longest_wait <= case.retry_cap_s + 0.05, o.record["notes"]
    assert o.requests <= PROBES * case.max_attempts, context
    abandoned = "unfinished" in o.record["notes"]  # calls abandoned at the deadline are not counted by the client
    assert o.requests >= retries if abandoned else o.requests == PROBES + retries, f"the gateway saw {o.requests} requests\n{context}"
    assert (retries > 0) == case.retried, o.record["notes"]
    # The agent's SDK: its own retry policy, never more than its attempts per call.
    assert o.sdk_requests <= SDK_CALLS * SDK_ATTEMPTS, context
    assert o.check("agent-client")["metrics"].get("attempts", 0) <= SDK_CALLS * SDK_ATTEMPTS

    # Memory stays bounded (the body cap, not the size of what the gateway sends).
    assert run.peak_rss_mb < PEAK_RSS_BOUND_MB, f"{run.peak_rss_mb:.0f} MB"

    # The key was sent to the gateway, and appears in no output: stdout, stderr, record, report.
    assert o.key_seen_by_gateway
    assert not o.leaked, context
    everything = run.stdout + run.stderr + o.record_text + o.report_text
    for secret in case.secrets:
        assert secret not in everything, f"{secret} leaked\n{context}"
    for word in case.shown:
        assert word in run.stdout and word in o.report_text, f"{word} was masked\n{context}"

    # Nothing ever reaches another host after a redirect (so neither does the Authorization header).
    assert o.redirected == [], o.redirected
    assert o.handler_errors == []


def test_absurd_retry_after_does_not_stall_the_run(matrix: dict[str, Outcome]) -> None:
    """Retry-After of three years, or a date in 9999: no retry is attempted that would pass the deadline."""
    for fault in ("429-absurd", "429-absurd-date"):
        o = matrix[f"{fault}[chat]"]
        assert o.run.seconds < TIMEOUT_S / 2, (fault, o.run.seconds)
        assert "would pass the deadline" in o.run.stdout  # the skipped retry is named in the evidence


def test_echoed_key_is_masked_not_dropped(matrix: dict[str, Outcome]) -> None:
    """The gateway's error text, which quoted the key, is still shown as evidence, with the key masked."""
    o = matrix["echo-key[chat]"]
    assert "Incorrect API key provided" in o.run.stdout
    assert "***" in o.run.stdout and "***" in o.record_text
