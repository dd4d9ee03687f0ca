"""Verdict integrity, class by class, through the installed `approval` command, against three gateways: LiteLLM (a real
third-party proxy), the fault gateway and a small hand-written echo gateway, all on 127.0.0.1.

Each class is a principle, not an example:
- approve only on evidence about this candidate, gathered in this run;
- blame the right party (config, infrastructure, gateway, model);
- keep the record true (self-consistent, secret-free, replaced only whole, by a run that finished);
- say it plainly.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from harness.commands import CliRun, approval_command, run_approval
from harness.echo_gateway import echo_gateway
from harness.fault_gateway import FaultGateway

pytestmark = pytest.mark.integration

KEY = "sk-canary-integrity/9f+8e=7d6c5b4a"  # with /, + and =: they encode differently in each form


def approve(base_url: str, tmp_path: Path, model: str, *extra: str, key: str = KEY, name: str = "record") -> tuple[CliRun, dict[str, Any] | None]:
    record = tmp_path / f"{name}.json"
    result = run_approval(["run", "--base-url", base_url, "--model", model, "--record-out", str(record), "--timeout", "30", *extra], key=key)
    assert "Traceback" not in result.all_text, result.all_text
    assert key not in result.all_text
    data = json.loads(record.read_text()) if record.exists() else None
    if data is not None:
        assert key not in record.read_text()
        check = run_approval(["validate-record", str(record)], key=key)
        assert check.code == 0, check.all_text  # every record the tool writes is true to itself
    return result, data


def statuses(record: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["status"], c["category"]) for c in record["checks"]}


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "gateway.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- Approve only on evidence about this candidate, from this run ---------------------------------------------------


@pytest.mark.parametrize("checks", ["approved-list", "bounded-retry", "approved-list,bounded-retry", "agent-client", "error-path",
                                    "reachability,error-path,model-echo,latency", "streaming", "tool-calling,structured-output"])
def test_a_selection_without_a_check_on_the_candidates_answers_cannot_approve(tmp_path: Path, checks: str) -> None:
    """approved-list calls nothing; agent-client (and bounded-retry, which runs as it) calls through the SDK, whose
    answers are not checked for who served them; error-path, reachability, model-echo and latency judge the gateway
    and the clock: an approval rests on happy-path, the check on the candidate's own answers (seen: `--checks
    error-path` alone approved with "0 passed, 1 warning" and output_non_empty false)."""
    with echo_gateway() as gw:
        result, record = approve(gw.base_url, tmp_path, "echo-model", "--checks", checks)
        assert result.code == 2, result.all_text
        assert "judge no answer of the model's own (happy-path)" in result.stderr and record is None
        assert gw.requests == []  # a configuration error: nothing was sent


@pytest.mark.parametrize("served", ["other-model", "echo-model-002"])
def test_answers_another_model_gave_pass_no_check_on_the_echo_gateway(tmp_path: Path, served: str) -> None:
    with echo_gateway(served_model=served) as gw:
        result, record = approve(gw.base_url, tmp_path, "echo-model", "--checks", "reachability,happy-path,streaming")
    assert result.code == 1 and record is not None
    assert {name: s for name, (s, _) in statuses(record).items()} == {"reachability": "error", "happy-path": "error", "streaming": "error"}
    if served == "echo-model-002":  # said for what it is: another version, not a "silent fallback"
        assert "a different version than the one requested" in result.stdout and "silent fallback" not in result.stdout


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_a_stream_that_falls_back_mid_way_approves_nothing_on_the_echo_gateway(tmp_path: Path, endpoint: str) -> None:
    """The first chunk names the candidate, the rest another model (a mid-stream fallback): no check passes on it."""
    with echo_gateway(midstream_model="other-model") as gw:
        result, record = approve(gw.base_url, tmp_path, "echo-model", "--checks", "happy-path,model-echo,streaming", "--endpoint", endpoint)
    assert result.code == 1 and record is not None, result.all_text
    # the plain answers were the candidate's own (happy-path passes on them); the stream was not
    assert statuses(record) == {"happy-path": ("pass", "none"), "model-echo": ("fail", "gateway"), "streaming": ("error", "gateway")}
    assert "'other-model'" in result.stdout


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_an_answer_another_model_gave_the_agents_client_approves_nothing(tmp_path: Path, endpoint: str) -> None:
    """The raw probes are answered by the candidate, the openai SDK's calls by another model: agent-client cannot pass
    on what the SDK got."""
    with echo_gateway(sdk_served_model="other-model") as gw:
        result, record = approve(gw.base_url, tmp_path, "echo-model", "--checks", "happy-path,model-echo,streaming,agent-client",
                                 "--endpoint", endpoint)
    assert result.code == 1 and record is not None, result.all_text
    assert statuses(record) == {"happy-path": ("pass", "none"), "model-echo": ("pass", "none"), "streaming": ("pass", "none"),
                                "agent-client": ("error", "gateway")}
    assert "the SDK's answer call was answered elsewhere" in result.stdout and "'other-model'" in result.stdout


def test_a_gateways_own_fallback_header_taints_the_stream_on_the_fault_gateway(tmp_path: Path) -> None:
    with FaultGateway() as gw:
        gw.set_fault("fallback-header", model="good-model")
        result, record = approve(gw.base_url, tmp_path, "good-model", "--checks", "happy-path,streaming")
    assert result.code == 1 and record is not None
    assert statuses(record)["streaming"] == ("error", "gateway")


def test_measurements_are_taken_over_usable_answers_only(tmp_path: Path) -> None:
    """A 200 with no content is no answer: no latency, no output length, no time to first token — null, not a number."""
    with FaultGateway() as gw:
        gw.set_fault("content-null", model="good-model")
        result, record = approve(gw.base_url, tmp_path, "good-model", "--checks", "happy-path,latency,streaming")
    assert result.code == 1 and record is not None
    checks = {c["name"]: c for c in record["checks"]}
    assert record["latency_ms"] is None and checks["latency"]["status"] == "error" and checks["latency"]["metrics"]["p50_ms"] is None
    assert checks["happy-path"]["metrics"]["output_chars"] is None
    assert checks["streaming"]["metrics"]["ttft_ms"] is None
    assert record["happy_path_status"] == "fail"


def test_required_names_a_check_that_is_not_selected(tmp_path: Path) -> None:
    with echo_gateway() as gw:
        cfg = config(tmp_path, "required: [error-path.empty-messages]\n")
        result, record = approve(gw.base_url, tmp_path, "echo-model", "--checks", "happy-path", "--config", cfg)
        assert result.code == 2 and record is None and gw.requests == []
    assert "'error-path.empty-messages' names the check 'error-path', which is not selected" in result.stderr


def test_a_baseline_equal_to_a_candidate_is_said(tmp_path: Path) -> None:
    with echo_gateway() as gw:
        result, record = approve(gw.base_url, tmp_path, "echo-model", "--baseline-model", "echo-model", "--checks", "happy-path")
    assert result.code == 0 and record is not None
    assert "is also a candidate" in result.stdout and "is also a candidate" in record["notes"]


# -- Blame the right party -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "retried"), [("401", False), ("html-502", True), ("429", True), ("hang", False)])
def test_the_error_path_proves_nothing_when_access_or_the_gateway_fails(tmp_path: Path, fault: str, retried: bool) -> None:
    """A refused key, a gateway that is down, rate-limiting or hanging: every request fails alike, so its answers to
    malformed requests say nothing about its error handling."""
    cfg = config(tmp_path, "retries: {max_attempts: 2, backoff_seconds: 0.05, max_retry_after_seconds: 0.1}\n")
    with FaultGateway(max_stall_s=10.0) as gw:
        gw.set_fault(fault)
        result, record = approve(gw.base_url, tmp_path, "good-model", "--config", cfg, "--checks", "happy-path,reachability,error-path",
                                 "--timeout", "4")
    assert result.code == 1 and record is not None
    assert statuses(record)["error-path"] == ("error", "infrastructure"), result.stdout
    assert record["error_path_status"] == "fail"
    assert any(gap.startswith("error-path:") for gap in record["evidence_gaps"])


def test_the_error_path_proves_nothing_on_a_port_where_nothing_listens(tmp_path: Path) -> None:
    with echo_gateway() as gw:
        base = gw.base_url
    result, record = approve(base, tmp_path, "echo-model", "--checks", "happy-path,reachability,error-path")
    assert result.code == 1 and record is not None
    assert statuses(record) == {"happy-path": ("error", "infrastructure"), "reachability": ("error", "infrastructure"),
                                "error-path": ("error", "infrastructure")}


@pytest.mark.parametrize("fault", ["hang", "drip", "headers-only"])
def test_a_call_cut_by_the_runs_deadline_says_so_and_is_an_error_in_every_check(tmp_path: Path, fault: str) -> None:
    cfg = config(tmp_path, "timeouts: {request_seconds: 60}\n")
    with FaultGateway(max_stall_s=10.0) as gw:
        gw.set_fault(fault, model="good-model")
        result, record = approve(gw.base_url, tmp_path, "good-model", "--config", cfg, "--timeout", "3",
                                 "--checks", "reachability,happy-path,latency,streaming", "--samples", "1")
    assert result.code == 1 and record is not None
    assert "the run's deadline of 3 s" in result.stdout
    assert "within the request timeout" not in result.stdout
    assert {s for s, _ in statuses(record).values()} == {"error"}, result.stdout


# -- Keep the record true --------------------------------------------------------------------------------------------


def test_validate_record_rejects_records_that_contradict_themselves(tmp_path: Path) -> None:
    with FaultGateway() as gw:
        gw.set_fault("content-null", model="good-model")
        _, record = approve(gw.base_url, tmp_path, "good-model", "--checks", "happy-path,latency")
    assert record is not None and record["overall_result"] == "fail"
    edits: dict[str, dict[str, Any]] = {
        "verdict": {"overall_result": "pass"},
        "gaps": {"evidence_gaps": []},
        "categories": {"failure_categories": ["infrastructure"]},
        "template": {"happy_path_status": "200"},
        "latency": {"latency_ms": 412.0},
        "output": {"output_non_empty": True},
    }
    for label, change in edits.items():
        path = tmp_path / f"edited-{label}.json"
        path.write_text(json.dumps({**record, **change}), encoding="utf-8")
        checked = run_approval(["validate-record", str(path)], key=KEY)
        assert checked.code == 1, (label, checked.all_text)
        assert "invalid record" in checked.stderr


def test_a_pass_its_own_checks_do_not_support_is_neither_valid_nor_promoted(tmp_path: Path) -> None:
    """Edits of a passing record that keep every field well-formed: a failing check slipped in beside the passing one
    of the same name, a required check that warned, a pass left resting on approved-list alone."""
    with echo_gateway() as gw:
        _, record = approve(gw.base_url, tmp_path, "echo-model", "--checks", "happy-path,latency,approved-list", "--config",
                            config(tmp_path, "approved_models: [echo-model]\n"))
    assert record is not None and record["overall_result"] == "pass"
    latency = next(c for c in record["checks"] if c["name"] == "latency")
    forged: dict[str, dict[str, Any]] = {
        "twice": {"checks": [{**latency, "status": "fail", "category": "model"}, *record["checks"]]},
        "required": {"checks": [{**c, "status": "warn", "category": "model"} if c is latency else c for c in record["checks"]],
                     "policy": {"warnings_block": False, "required": ["latency"]}},
        "nothing-observed": {"checks": [c for c in record["checks"] if c["name"] == "approved-list"], "happy_path_status": "not_run",
                             "latency_ms": None, "output_non_empty": False},
    }
    registry = tmp_path / "AGENTS.md"
    registry.write_text("<!-- approved-models:start -->\n<!-- approved-models:end -->\n", encoding="utf-8")
    for label, change in forged.items():
        path = tmp_path / f"forged-{label}.json"
        path.write_text(json.dumps({**record, **change}), encoding="utf-8")
        checked = run_approval(["validate-record", str(path)], key=KEY)
        assert checked.code == 1 and "invalid record" in checked.stderr, (label, checked.all_text)
        promoted = run_approval(["promote", "--record", str(path), "--registry", str(registry)], key=KEY)
        assert promoted.code == 1 and "not promoted" in promoted.stderr, (label, promoted.all_text)
        assert "echo-model" not in registry.read_text()


def _every_escape_read(text: str) -> str:
    import html
    import re
    from urllib.parse import unquote

    text = html.unescape(text.replace("\\\\", "\\"))
    return unquote(re.sub(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1) or m.group(2), 16)), text))


def test_a_key_echoed_with_its_characters_escaped_reaches_no_output(tmp_path: Path) -> None:
    """The fault gateway answers 401 echoing the key as hex, HTML entities, \\u / \\x escapes, percent-encoded per
    character and a mix of them: the terminal, the record and the markdown report show the evidence, never the key."""
    report = tmp_path / "report.md"
    with FaultGateway() as gw:
        result, record = approve(gw.base_url, tmp_path, "fault:echo-key-escaped", "--checks", "reachability,happy-path",
                                 "--report-out", str(report))
    assert record is not None and result.code == 1
    texts = [result.all_text, json.dumps(record), report.read_text(encoding="utf-8")]
    assert "bad credentials: *** / ***" in texts[1] and "bad credentials:" in texts[2]  # the evidence, masked
    pieces = [KEY[i : i + 10] for i in range(len(KEY) - 9)]
    for text in texts:
        assert not [p for p in pieces if p in _every_escape_read(text) or p.encode().hex() in text.lower()], text


@pytest.mark.parametrize("encode", [lambda k: k, lambda k: base64.b64encode(f"Bearer {k}".encode()).decode(),
                                    lambda k: quote(k, safe=""), lambda k: json.dumps(k).replace("/", "\\/"), lambda k: k.encode().hex(),
                                    lambda k: "".join(f"&#x{ord(c):x};" if i % 2 else c for i, c in enumerate(k)),
                                    lambda k: "".join(f"\\u{ord(c):04x}" if i % 3 == 0 else c for i, c in enumerate(k))],
                         ids=["verbatim", "base64", "percent", "json-escaped", "hex", "html-entities-mixed", "u-escapes-mixed"])
def test_validate_record_rejects_a_record_holding_the_key(tmp_path: Path, encode: Any) -> None:
    with echo_gateway() as gw:
        _, record = approve(gw.base_url, tmp_path, "echo-model", "--checks", "happy-path")
    assert record is not None
    path = tmp_path / "pasted.json"
    path.write_text(json.dumps({**record, "notes": f"debug: {encode(KEY)}"}), encoding="utf-8")
    checked = run_approval(["validate-record", str(path)], key=KEY)
    assert checked.code == 1 and "contains the API key" in checked.stderr
    assert KEY not in checked.all_text


def test_diff_refuses_a_file_that_is_not_a_record_and_says_not_measured(tmp_path: Path) -> None:
    with FaultGateway() as gw:
        _, good = approve(gw.base_url, tmp_path, "good-model", "--checks", "happy-path,latency", name="good")
        gw.set_fault("content-null", model="good-model")
        _, bad = approve(gw.base_url, tmp_path, "good-model", "--checks", "happy-path,latency", name="bad")
    assert good is not None and bad is not None
    other = tmp_path / "package.json"
    other.write_text('{"name": "x"}', encoding="utf-8")
    refused = run_approval(["diff", str(other), str(tmp_path / "bad.json")])
    assert refused.code == 2 and "is not an approval record" in refused.stderr and "package.json" in refused.stderr
    shown = run_approval(["diff", str(tmp_path / "good.json"), str(tmp_path / "bad.json")])
    assert shown.code == 0 and "ms → not measured" in shown.stdout and "None" not in shown.stdout


def test_a_closed_stdout_does_not_change_the_verdict(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "GITHUB_"))}
    env["GATEWAY_API_KEY"] = KEY
    with echo_gateway() as gw:
        args = [*approval_command(), "run", "--base-url", gw.base_url, "--model", "echo-model", "--checks", "happy-path",
                "--record-out", str(tmp_path / "r.json")]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader went away (`approval run … | head -0`)
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    assert code == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert json.loads((tmp_path / "r.json").read_text())["overall_result"] == "pass"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_report_that_cannot_be_written_does_not_change_the_verdict(tmp_path: Path) -> None:
    with echo_gateway() as gw:
        result, record = approve(gw.base_url, tmp_path, "echo-model", "--checks", "happy-path", "--report-out", "/dev/full")
    assert result.code == 0 and record is not None and record["overall_result"] == "pass"
    assert "the report could not be written to /dev/full" in result.stderr and "the verdict stands" in result.stderr


def test_a_record_out_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    with echo_gateway() as gw:
        result, _ = approve(gw.base_url, tmp_path, "echo-model", "--checks", "happy-path", "--record-out", "/dev/null")
        assert result.code == 2 and "is not a regular file" in result.stderr and gw.requests == []


def test_an_interrupted_run_leaves_the_earlier_record_whole(tmp_path: Path) -> None:
    """The record is replaced by rename at the end of a finished run: killing a run mid-way leaves the old one."""
    import signal
    import time

    record = tmp_path / "approval-record.json"
    earlier = '{"earlier": true}\n'
    record.write_text(earlier, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "GITHUB_"))}
    env["GATEWAY_API_KEY"] = KEY
    with FaultGateway(max_stall_s=10.0) as gw:
        gw.set_fault("hang", model="good-model")
        proc = subprocess.Popen([*approval_command(), "run", "--base-url", gw.base_url, "--model", "good-model", "--record-out", str(record),
                                 "--timeout", "20"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        for _ in range(100):  # until the hanging calls are in flight (bounded: 10 s)
            if len(gw.requests) >= 2:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert record.read_text(encoding="utf-8") == earlier
    assert not list(tmp_path.glob(".approval-*"))


# -- Say it plainly --------------------------------------------------------------------------------------------------


def test_a_failing_line_never_ends_in_warning_and_names_the_warning_probe(tmp_path: Path) -> None:
    """The echo gateway rejects a missing model with 400 but LiteLLM-like acceptance of empty messages is made a
    failure here by a 5xx to unknown models: the check fails, and the one probe that is only a warning says so."""
    with FaultGateway() as gw:
        gw.set_fault("html-500", model="approval-gate-no-such-model-7f3c9e")
        result, record = approve(gw.base_url, tmp_path, "good-model", "--checks", "happy-path,reachability,error-path")
    assert record is not None and statuses(record)["error-path"] == ("fail", "gateway")
    line = next(line for line in result.stdout.splitlines() if "error-path" in line and "FAIL" in line)
    assert not line.rstrip().endswith("(warning)")


def test_a_stream_answered_with_plain_json_says_so(tmp_path: Path) -> None:
    with echo_gateway(stream_as_json=True) as gw:
        result, record = approve(gw.base_url, tmp_path, "echo-model", "--checks", "happy-path,streaming")
    assert record is not None and statuses(record)["streaming"] == ("fail", "gateway")
    assert "with a plain JSON body" in result.stdout and "before `data: [DONE]`" not in result.stdout


def test_durations_include_the_retries_and_waits(tmp_path: Path) -> None:
    cfg = config(tmp_path, "retries: {max_attempts: 3, backoff_seconds: 0.2, max_retry_after_seconds: 0.2}\n")
    with FaultGateway() as gw:
        gw.set_fault("429", model="good-model")
        _, record = approve(gw.base_url, tmp_path, "good-model", "--config", cfg, "--checks", "happy-path,streaming", "--samples", "1")
    assert record is not None
    for check in record["checks"]:
        assert check["duration_ms"] >= 400, check  # two waits of 0.2 s at least, whatever the attempts themselves took


def test_schema_messages_speak_the_users_language(tmp_path: Path) -> None:
    cfg = config(tmp_path, "paths: {chat: api/chat}\n")
    result = run_approval(["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--config", cfg], key=KEY)
    assert result.code == 2
    assert "`paths.chat` must start with /" in result.stderr and "^/" not in result.stderr
