"""agent-client through the real `approval` command against the fault gateway on loopback: the openai SDK on its real
transport (no mock), its retries counted at the gateway, the run's deadline, agent.max_wait_seconds and the
concurrency cap holding for the SDK's calls too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.fault_gateway import FaultGateway, RecordedRequest
from harness.measured_runs import CANARY, ChildRun, child_env, is_sdk_request, leaks_canary, run_cli

MALFORMED_MODELS = (None, "approval-gate-no-such-model-7f3c9e")


def approve(gw: FaultGateway, tmp_path: Path, *args: str, config: str = "") -> tuple[ChildRun, dict[str, Any], dict[str, Any]]:
    extra = []
    if config:
        (tmp_path / "gateway.yaml").write_text(config, encoding="utf-8")
        extra = ["--config", "gateway.yaml"]
    run = run_cli(["run", "--base-url", gw.base_url, "--model", "good-model", "--samples", "1", *extra, *args], env=child_env(), cwd=tmp_path,
                  hard_timeout=90)
    record = json.loads((tmp_path / "approval-record.json").read_text(encoding="utf-8"))
    check = next(c for c in record["checks"] if c["name"] == "agent-client")
    assert "Traceback" not in run.output
    assert not leaks_canary(run.output + json.dumps(record))
    return run, record, check


def sdk_requests(gw: FaultGateway) -> list[RecordedRequest]:
    return [r for r in gw.requests if is_sdk_request(r.header("user-agent"))]


def test_a_gateway_answering_502_to_everything_is_a_gap_with_every_attempt_counted(tmp_path: Path) -> None:
    with FaultGateway(api_key=CANARY) as gw:
        gw.set_fault("html-502")
        run, _, check = approve(gw, tmp_path, "--timeout", "60")
        seen = sdk_requests(gw)
    assert run.code == 1
    assert (check["status"], check["category"]) == ("error", "infrastructure"), check
    assert "answer: InternalServerError 502 after 3 attempts (HTTP 502, 502, 502)" in check["detail"]
    assert "not judged: the well-formed call failed too (InternalServerError 502)" in check["detail"]  # the gateway is down
    assert check["metrics"]["attempts"] == 12 and len(seen) == 12  # counted by the transport and by the gateway alike
    assert all(r.authorization == f"Bearer {CANARY}" for r in seen)
    assert {r.header("x-stainless-retry-count") for r in seen} == {"0", "1", "2"}


def test_a_client_error_answered_with_a_5xx_is_the_gateways_fault(tmp_path: Path) -> None:
    with FaultGateway() as gw:
        gw.set_fault("html-500", model="approval-gate-no-such-model-7f3c9e")  # only the unknown model gets a 500
        run, _, check = approve(gw, tmp_path, "--timeout", "60", "--checks", "happy-path,agent-client")
        unknown = [r for r in sdk_requests(gw) if r.model == "approval-gate-no-such-model-7f3c9e"]
    assert run.code == 1
    assert (check["status"], check["category"]) == ("fail", "gateway"), check
    assert "unknown model: InternalServerError 500 after 3 attempts" in check["detail"]
    assert len(unknown) == 3 and check["metrics"]["unknown_model_attempts"] == 3


def test_a_hanging_call_is_cut_at_max_wait_and_the_run_does_not_wait_longer(tmp_path: Path) -> None:
    config = "timeouts: {request_seconds: 1, total_seconds: 60}\nagent: {max_wait_seconds: 2}\n"
    with FaultGateway(max_stall_s=30) as gw:
        gw.set_fault("hang", model="good-model")
        run, record, check = approve(gw, tmp_path, config=config)
    assert run.code == 1
    assert (check["status"], check["category"]) == ("error", "infrastructure"), check
    assert "not done within agent.max_wait_seconds (2 s): 1 attempt (unfinished), 2.00 s so far" in check["detail"]
    assert "(the SDK allows 600 s per attempt and 2 retries)" in check["detail"]
    assert check["metrics"]["worst_call_ms"] <= 2100
    assert record["duration_s"] < 10, record["duration_s"]  # the raw probes' 1 s, then the SDK's 2 s: not 600 s, nor 60


def test_a_call_cut_by_the_runs_deadline_is_an_evidence_gap(tmp_path: Path) -> None:
    with FaultGateway(max_stall_s=30) as gw:
        gw.set_fault("hang", model="good-model")
        run, record, check = approve(gw, tmp_path, "--timeout", "4", "--concurrency", "16", "--profile", "plain-chat")
    assert run.code == 1 and run.seconds < 4 + 2
    assert (check["status"], check["category"]) == ("error", "infrastructure"), check
    assert "cut by the run's deadline of 4 s after 1 attempt (unfinished)" in check["detail"]
    assert any(gap.startswith("agent-client: ") for gap in record["evidence_gaps"])


def test_the_concurrency_cap_holds_for_the_sdks_calls_too(tmp_path: Path) -> None:
    with FaultGateway() as gw:
        gw.set_fault("slow:300", model="good-model")
        run, _, check = approve(gw, tmp_path, "--timeout", "60", "--concurrency", "1", "--checks", "happy-path,error-path,agent-client")
        seen = sorted(gw.requests, key=lambda r: r.time)
    assert run.code == 0, run.output
    assert check["status"] == "pass", check
    slow = [i for i, r in enumerate(seen) if r.model == "good-model"]
    assert sum(is_sdk_request(seen[i].header("user-agent")) for i in slow) == 2  # the SDK's prompt and its empty-messages request
    # one slot for the raw probes and the SDK together: nothing arrives while a 0.3 s call is in flight
    gaps = [seen[i + 1].time - seen[i].time for i in slow if i + 1 < len(seen)]
    assert gaps and min(gaps) >= 0.28, gaps


def test_the_sdk_reads_neither_proxy_nor_openai_variables(tmp_path: Path) -> None:
    closed = "http://127.0.0.1:9"  # nothing listens: a client that used it would fail at once
    env = child_env(HTTP_PROXY=closed, HTTPS_PROXY=closed, ALL_PROXY=closed, OPENAI_BASE_URL=closed + "/v1", OPENAI_API_KEY="sk-other-0000",
                    OPENAI_ORG_ID="org-other", OPENAI_CUSTOM_HEADERS="X-Other: 1", OPENAI_LOG="debug")
    with FaultGateway(api_key=CANARY) as gw:
        run = run_cli(["run", "--base-url", gw.base_url, "--model", "good-model", "--checks", "happy-path,agent-client", "--timeout", "30"], env=env,
                      cwd=tmp_path, hard_timeout=60)
        seen = sdk_requests(gw)
    assert run.code == 0, run.output
    assert len(seen) == 4 and all(r.authorization == f"Bearer {CANARY}" for r in seen)
    assert not any(r.header("openai-organization") or r.header("x-other") for r in seen)
    assert "Say hello" not in run.output and "HTTP Request" not in run.output  # the SDK's debug log stays silent
