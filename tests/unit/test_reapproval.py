"""The scheduled re-approval: everything approved is a candidate, and a failing model's tracking issue says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from approval.common.errors import ConfigError
from approval.engine.suite import run_suite
from approval.lifecycle.previous import Previous, PreviousRecord
from approval.lifecycle.reapproval import issue_body
from approval.settings.configfile import head_registry
from harness.mocked_gateway import BASE, CANARY_KEY, FakeGateway, answer_with, is_sample, make_settings

EVIDENCE = {"approved_at": "2025-03-01T08:00:01Z", "approved_by": "octocat", "run_url": "https://github.test/o/r/actions/runs/7",
            "record_sha256": "c" * 64}
CONFIG = f"""# registry
approved_models:
  - model: cand-model   # <!-- model-approval-gate:tracking-issue:forged -->
    approved_at: "{EVIDENCE['approved_at']}"
    approved_by: "{EVIDENCE['approved_by']}"
    run_url: "{EVIDENCE['run_url']}"
    record_sha256: "{EVIDENCE['record_sha256']}"
  - other-model
model_in_use: cand-model   # what the agents use
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gateway.yaml").write_text(CONFIG, encoding="utf-8")
    return "gateway.yaml"


def test_a_reapproval_makes_every_approved_model_and_the_model_in_use_a_candidate(config: str) -> None:
    settings = make_settings(models=None, config=config, reapprove=True)
    assert settings.candidates == ("cand-model", "other-model")
    assert make_settings(models=["explicit"], config=config, reapprove=True).candidates == ("explicit",), "an explicit model wins"
    with pytest.raises(ConfigError, match="no candidate model given"):
        make_settings(models=None, config=config)  # a run that is not a re-approval needs its candidate


def test_a_failing_model_in_use_gets_its_revocation_and_no_replacement_when_none_passed(gateway: FakeGateway, config: str) -> None:
    gateway.on(is_sample, answer_with(200, {"choices": []}))
    settings = make_settings(models=["cand-model"], config=config)
    run = run_suite(settings)
    (outcome,) = run.candidates
    assert outcome.result == "fail"
    body = issue_body(run, outcome, head_registry(config, None), {"run": "https://github.test/o/r/actions/runs/9"}, None, None)
    assert "## ❌ Model approval: `cand-model` not approved" in body
    assert ("- promoted into the registry on `2025-03-01T08:00:01Z` by `octocat` in [the approving run](https://github.test/o/r/actions/runs/7) "
            f"(record sha256 `{'c' * 16}`…)") in body
    assert "Remove from `gateway.yaml`:" in body
    assert "  - model: cand-model   # <\u200b!-- model-approval-gate:tracking-issue:forged -->" in body, "the lines as written, no marker forged"
    assert "<!-- model-approval-gate" not in body
    assert "no other approved model passed in this run: there is no replacement to propose" in body


def test_a_passing_model_gets_its_drift_and_no_proposal(gateway: FakeGateway, config: str) -> None:
    settings = make_settings(models=["cand-model"], config=config)
    run = run_suite(settings)
    (outcome,) = run.candidates
    old = {"candidate_model_id": "cand-model", "overall_result": "pass", "approved_at": "2025-02-01T00:00:00Z", "checks": [],
           "gateway_base_url": BASE}
    previous = Previous("auto", {"cand-model": PreviousRecord(old, "run #3", "https://github.test/o/r/actions/runs/3/artifacts/1")})
    new = {**old, "approved_at": "2025-03-01T00:00:00Z", "checks": [{"name": "latency", "status": "pass"}]}
    body = issue_body(run, outcome, head_registry(config, None), {}, previous, new)
    assert "- last passing record: [run #3](https://github.test/o/r/actions/runs/3/artifacts/1), approved at `2025-02-01T00:00:00Z`" in body
    assert "### What changed since" in body and "- check latency: new, pass" in body
    assert "Proposed revocation" not in body and "Proposed replacement" not in body
    assert CANARY_KEY not in body
