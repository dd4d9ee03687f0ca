"""Verdict integrity, class by class, through the installed `approval` command, against three gateways: LiteLLM (a real
third-party proxy), the fault gateway and a small hand-written echo gateway, all on 127.0.0.1.

Each class is a principle, not an example:
- approve only on evidence about this candidate, gathered in this run;
- blame the right party (config, infrastructure, gateway, model);
- keep the record true (self-consistent, secret-free, replaced only whole, by a run that finished);
- say it plainly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.commands import MASTER_KEY
from harness.peer_gateway import RunningLiteLLM
from tests.integration.test_verdict_integrity import approve, config, statuses

pytestmark = pytest.mark.e2e



def test_a_run_the_candidate_never_answered_cannot_approve_on_litellm(litellm: RunningLiteLLM, tmp_path: Path) -> None:
    """error-path alone on a model whose provider is down: the malformed requests got fine 400s, but the candidate
    answered nothing, so nothing in the run is evidence about it."""
    result, record = approve(litellm.base_url, tmp_path, "broken-model", "--checks", "happy-path,error-path", key=MASTER_KEY)
    assert result.code == 1, result.all_text
    assert record is not None and record["overall_result"] == "fail" and record["answered_calls"] == 0
    assert statuses(record)["error-path"][0] in ("pass", "warn")  # its required probes got fine 400s
    assert any("no generation call was answered" in gap for gap in record["evidence_gaps"])
    assert "not approved: no generation call was answered" in result.stdout


def test_answers_another_model_gave_pass_no_check_on_litellm(litellm: RunningLiteLLM, tmp_path: Path) -> None:
    """LiteLLM's fallback serves good-model for fallback-model; model-echo is not even selected."""
    result, record = approve(litellm.base_url, tmp_path, "fallback-model", "--checks", "happy-path,latency", "--samples", "1",
                             key=MASTER_KEY)
    assert result.code == 1
    assert record is not None
    assert statuses(record) == {"happy-path": ("error", "gateway"), "latency": ("error", "gateway")}
    assert "x-litellm-attempted-fallbacks" in result.stdout and record["answered_calls"] == 0
    # what another model's answers measured is no figure about the candidate
    latency = next(c for c in record["checks"] if c["name"] == "latency")
    assert record["latency_ms"] is None and latency["metrics"]["p50_ms"] is None


def test_a_wrong_path_is_a_config_problem_on_litellm(litellm: RunningLiteLLM, tmp_path: Path) -> None:
    cfg = config(tmp_path, "paths: {chat: /api/text/chat}\n")
    result, record = approve(litellm.base_url, tmp_path, "good-model", "--config", cfg, key=MASTER_KEY)
    assert result.code == 1 and record is not None
    checks = statuses(record)
    assert checks["reachability"] == ("error", "config") and checks["happy-path"] == ("error", "config")
    assert checks["error-path"] == ("error", "config")
    assert "check paths.chat and base_url" in result.stdout
    assert "rejected the call to this model" not in result.stdout
    assert record["failure_categories"] == ["config"]


def test_a_wrong_models_path_is_a_config_problem_on_litellm(litellm: RunningLiteLLM, tmp_path: Path) -> None:
    cfg = config(tmp_path, "paths: {models: /v2/models}\n")
    result, record = approve(litellm.base_url, tmp_path, "good-model", "--config", cfg, "--checks", "happy-path,reachability", key=MASTER_KEY)
    assert record is not None
    assert statuses(record)["reachability"] == ("warn", "config") and "paths.models" in result.stdout
    assert result.code == 0  # the listing is a warning unless required; the candidate itself answered


def test_a_wrong_key_on_litellm_leaves_the_error_path_unproven(litellm: RunningLiteLLM, tmp_path: Path) -> None:
    result, record = approve(litellm.base_url, tmp_path, "good-model", key="sk-wrong-key-0123456789abcdef")
    assert result.code == 1 and record is not None
    assert statuses(record)["error-path"][0] == "error"
    assert "model" not in record["failure_categories"]


def test_warnings_that_block_say_so(litellm: RunningLiteLLM, tmp_path: Path) -> None:
    cfg = config(tmp_path, "warnings_block: true\n")
    result, record = approve(litellm.base_url, tmp_path, "slow-model", "--config", cfg, "--checks", "happy-path,reachability,error-path",
                             key=MASTER_KEY)
    assert result.code == 1 and record is not None
    assert statuses(record)["error-path"][0] == "warn"  # LiteLLM's mock_response accepts empty messages
    assert "warnings block approval (warnings_block: true)" in result.stdout
    assert "warnings block approval" in record["notes"]
