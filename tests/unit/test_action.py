"""The action front end in process (approval.frontends.action.main) against the `responses` gateway: what reaches Settings
from the step's environment, where annotations point, and who owns the files it leaves in the workspace."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from approval.frontends import action
from approval.lifecycle.previous import drift_section, from_file
from harness.mocked_gateway import BASE, CANARY_KEY, FakeGateway, answer_with


def _env(workspace: Path, **inputs: str) -> dict[str, str]:
    env = {
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_OUTPUT": str(workspace.parent / "output"),
        "GITHUB_STEP_SUMMARY": str(workspace.parent / "summary"),
        "INPUT_API-KEY": CANARY_KEY,
        "INPUT_GATEWAY-BASE-URL": BASE,
        "INPUT_CANDIDATE-MODEL-ID": "cand-model",
        "INPUT_UPLOAD-ARTIFACT": "false",
        "INPUT_COMMENT": "false",
        "INPUT_TIMEOUT-SECONDS": "30",
    }
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    return env


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = tmp_path / "workspace"
    ws.mkdir()
    monkeypatch.chdir(ws)  # main() changes into working-directory; the fixture puts the process back afterwards
    return ws


def test_proxy_and_ca_variables_of_the_step_reach_settings() -> None:
    env = {"HTTPS_PROXY": "http://proxy.test:3128", "no_proxy": "internal.test", "REQUESTS_CA_BUNDLE": "/ca.pem",
           "SSL_CERT_FILE": "/c.pem", "HOME": "/github/home", "INPUT_API-KEY": "x", "ACTIONS_RUNTIME_TOKEN": "t"}
    passed = action._settings_environment(env, "key")
    assert passed == {"HTTPS_PROXY": "http://proxy.test:3128", "no_proxy": "internal.test", "REQUESTS_CA_BUNDLE": "/ca.pem",
                      "SSL_CERT_FILE": "/c.pem", "GATEWAY_API_KEY": "key"}


def test_annotations_point_at_files_from_the_repository_root(gateway: FakeGateway, workspace: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    sub = workspace / "services" / "agents"
    sub.mkdir(parents=True)
    (sub / "gateway.yaml").write_text("thresholds: {max_latency_ms: 30000}\n", encoding="utf-8")
    gateway.on(lambda body: body.get("model") == "cand-model" and bool(body.get("messages")), answer_with(503, "<html>down</html>"))
    code = action.main(_env(workspace, **{"working-directory": "services/agents", "config": "gateway.yaml"}))
    out = capsys.readouterr().out
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith("::error ")]
    assert errors, out
    assert all("file=services/agents/gateway.yaml" in line for line in errors), errors
    assert CANARY_KEY not in "\n".join(line for line in out.splitlines() if not line.startswith("::add-mask::"))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root, as in the action's container")
def test_files_left_in_the_workspace_belong_to_its_owner(gateway: FakeGateway, workspace: Path) -> None:
    os.chown(workspace, 4321, 4321)  # the runner's user owns the checkout; the container runs as root
    assert action.main(_env(workspace)) == 0
    for name in ("approval-record.json", "approval-report.md"):
        stat = (workspace / name).stat()
        assert (stat.st_uid, stat.st_gid) == (4321, 4321), name
        assert stat.st_mode & 0o044 == 0o044  # readable by the group and others too
    outputs = (workspace.parent / "output").read_text(encoding="utf-8")
    assert "record-path<<" in outputs and "approval-record.json" in outputs
    record = json.loads((workspace / "approval-record.json").read_text(encoding="utf-8"))
    assert record["overall_result"] == "pass"


def test_outputs_are_set_even_without_any_github_service(gateway: FakeGateway, workspace: Path) -> None:
    env = _env(workspace, **{"upload-artifact": "true", "comment": "true"})  # no runtime token, no PR, no API
    assert action.main(env) == 0
    outputs = (workspace.parent / "output").read_text(encoding="utf-8")
    assert "result<<" in outputs and "pass" in outputs


def _record(model: str = "cand-model", result: str = "pass", latency: float = 100.0, happy: str = "pass") -> dict[str, object]:
    return {"candidate_model_id": model, "overall_result": result, "latency_ms": latency, "tool_version": "0.1.0",
            "checks": [{"name": "happy-path", "status": happy, "detail": "d"}]}


def test_drift_section_says_what_changed_since_the_previous_record(tmp_path: Path) -> None:
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps(_record(latency=100.0)), encoding="utf-8")
    now = [(tmp_path / "r.json", _record(result="fail", latency=400.0, happy="fail"))]
    text = drift_section(from_file(str(previous), now), now)
    assert "What changed since the last approval" in text
    assert "verdict: pass → fail" in text
    assert "check happy-path: pass → fail" in text
    assert "latency p50: 100 ms → 400 ms (4.00×)" in text


def test_drift_section_without_a_usable_previous_record(tmp_path: Path) -> None:
    now = [(tmp_path / "r.json", _record())]
    assert drift_section(None, now) == ""
    assert "No previous record at that path yet" in drift_section(from_file(str(tmp_path / "missing.json"), now), now)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    assert "could not be used" in drift_section(from_file(str(tmp_path / "bad.json"), now), now)
    for name, text in (("twice.json", '{"a": 1, "a": 2}'), ("nan.json", '{"a": NaN}')):  # read as strictly as any record
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert "is not valid JSON" in drift_section(from_file(str(tmp_path / name), now), now)
    (tmp_path / "other.json").write_text(json.dumps(_record(model="other-model")), encoding="utf-8")
    assert "not a candidate of this run" in drift_section(from_file(str(tmp_path / "other.json"), now), now)
    (tmp_path / "same.json").write_text(json.dumps(_record()), encoding="utf-8")
    assert "Nothing: same verdict" in drift_section(from_file(str(tmp_path / "same.json"), now), now)


HEAD_SHA = "a" * 40
BASE_SHA = "b" * 40


def _fork_pr_target(workspace: Path, checked_out: str) -> dict[str, str]:
    (workspace / ".git" / "refs" / "heads").mkdir(parents=True)
    (workspace / ".git" / "HEAD").write_text(f"{checked_out}\n", encoding="utf-8")
    (workspace / "gateway.yaml").write_text("base_url: https://attacker.test/v1\n", encoding="utf-8")
    event = {"pull_request": {"number": 5, "head": {"sha": HEAD_SHA, "repo": {"full_name": "fork/models"}},
                              "base": {"sha": BASE_SHA, "repo": {"full_name": "acme/models"}}}}
    (workspace.parent / "event.json").write_text(json.dumps(event), encoding="utf-8")
    env = _env(workspace, config="gateway.yaml")
    del env["INPUT_GATEWAY-BASE-URL"]
    env.update({"GITHUB_EVENT_NAME": "pull_request_target", "GITHUB_EVENT_PATH": str(workspace.parent / "event.json"),
                "GITHUB_REPOSITORY": "acme/models", "GITHUB_SHA": BASE_SHA})
    return env


@pytest.mark.parametrize("checked_out", [HEAD_SHA, "c" * 40], ids=["the fork's head", "the merge commit"])
def test_pull_request_target_with_the_forks_code_checked_out_sends_nothing(gateway: FakeGateway, workspace: Path,
                                                                            capsys: pytest.CaptureFixture[str], checked_out: str) -> None:
    code = action.main(_fork_pr_target(workspace, checked_out))
    assert code == 2
    assert "the fork's config file would choose where the API key goes" in capsys.readouterr().out
    assert gateway.calls == []


def test_pull_request_target_with_the_base_checked_out_runs(gateway: FakeGateway, workspace: Path) -> None:
    env = _fork_pr_target(workspace, "ref: refs/heads/main")
    (workspace / ".git" / "refs" / "heads" / "main").write_text(BASE_SHA + "\n", encoding="utf-8")
    (workspace / "gateway.yaml").write_text(f"base_url: {BASE}\n", encoding="utf-8")
    assert action.main(env) == 0


def test_checked_out_commit_reads_detached_loose_and_packed_heads(tmp_path: Path) -> None:
    from approval.github.context import checked_out_commit

    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    assert checked_out_commit(tmp_path / "nowhere") is None
    (git / "HEAD").write_text(HEAD_SHA + "\n", encoding="utf-8")
    assert checked_out_commit(tmp_path) == HEAD_SHA
    sub = tmp_path / "config" / "gateway.yaml"  # found from a file below the checkout, as the config path is
    sub.parent.mkdir()
    assert checked_out_commit(sub) == HEAD_SHA
    (git / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{BASE_SHA} refs/heads/main\n", encoding="utf-8")
    assert checked_out_commit(tmp_path) == BASE_SHA
    (git / "refs" / "heads" / "main").write_text(HEAD_SHA + "\n", encoding="utf-8")
    assert checked_out_commit(tmp_path) == HEAD_SHA


def test_the_concurrency_input_reaches_settings_and_is_validated(gateway: FakeGateway, workspace: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert action._flags({"INPUT_CONCURRENCY": "2"}, reapprove=False).concurrency == "2"
    assert action.main(_env(workspace, concurrency="65")) == 2
    assert "concurrency is 65, outside 1..64" in capsys.readouterr().out
    assert gateway.calls == []


def test_the_comment_names_the_commit_it_evaluated(gateway: FakeGateway, workspace: Path) -> None:
    env = {**_env(workspace), "GITHUB_REPOSITORY": "acme/models", "GITHUB_SHA": BASE_SHA, "GITHUB_SERVER_URL": "https://ghe.example.test"}
    assert action.main(env) == 0
    report = (workspace / "approval-report.md").read_text(encoding="utf-8")
    assert f"commit [`{BASE_SHA[:12]}`](https://ghe.example.test/acme/models/commit/{BASE_SHA})" in report


def test_the_record_names_the_actor_run_and_job_when_approved_by_is_empty(gateway: FakeGateway, workspace: Path) -> None:
    env = {**_env(workspace), "GITHUB_ACTOR": "octocat", "GITHUB_RUN_ID": "4242", "GITHUB_JOB": "approve", "INPUT_APPROVED-BY": ""}
    assert action.main(env) == 0
    record = json.loads((workspace / "approval-record.json").read_text(encoding="utf-8"))
    assert record["approved_by"] == "octocat via run 4242/approve"
    assert action.main({**env, "INPUT_APPROVED-BY": "platform-team"}) == 0
    assert json.loads((workspace / "approval-record.json").read_text(encoding="utf-8"))["approved_by"] == "platform-team"


def test_a_deprecated_check_name_is_a_warning_annotation(gateway: FakeGateway, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert action.main(_env(workspace, checks="happy-path,bounded-retry")) == 0
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if line.startswith("::warning ")]
    assert len(warnings) == 1 and "bounded-retry" in warnings[0] and "agent-client" in warnings[0], out
