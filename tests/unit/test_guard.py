"""registry-guard, the pure function: base registry × head registry × this run's outcomes."""

from __future__ import annotations

import hashlib
import json

from approval.engine.results import Category, Status
from approval.frontends.cli import main
from approval.lifecycle.guard import Verdict, guard_unavailable, registry_guard
from approval.settings.registry import Approval, Entry, Registry
from harness.mocked_gateway import BASE as GATEWAY
from harness.mocked_gateway import CANARY_KEY

PROOF = Approval("2025-03-01T08:00:01Z", "octocat", hashlib.sha256(b"a record").hexdigest(), "https://github.com/o/r/actions/runs/7")
BASE = Registry((Entry("old-model"), Entry("kept-model", PROOF)), model_in_use="old-model")


def head(*entries: Entry, in_use: str | None = "old-model") -> Registry:
    return Registry((Entry("old-model"), Entry("kept-model", PROOF), *entries), model_in_use=in_use)


def test_an_unchanged_registry_passes_and_says_so():
    check = registry_guard(BASE, BASE, {"cand": Verdict("pass")})
    assert check.result.status is Status.PASS and "unchanged" in check.result.detail
    assert "- no change" in check.lines


def test_a_model_added_with_evidence_that_passed_in_this_run_passes():
    check = registry_guard(BASE, head(Entry("new-model", PROOF)), {"new-model": Verdict("pass")})
    assert check.result.status is Status.PASS
    assert "added: new-model" in check.result.detail and check.result.metrics["added"] == 1
    assert "- added `new-model`: approved in this run, with evidence" in check.lines


def test_a_model_added_without_evidence_fails_as_config_naming_the_model_and_the_fix():
    check = registry_guard(BASE, head(Entry("new-model")), {"new-model": Verdict("pass")}, registry_files="AGENTS.md")
    assert check.result.status is Status.FAIL and check.result.category is Category.CONFIG
    assert "new-model enters the approved list without evidence" in check.result.detail
    assert "approval promote --record approval-record.json --registry AGENTS.md" in check.result.detail
    malformed = registry_guard(BASE, head(Entry("new-model", None, "record_sha256 is not the 64-hex sha256 of the record")),
                               {"new-model": Verdict("pass")})
    assert "without evidence (record_sha256 is not" in malformed.result.detail


def test_a_model_added_that_was_not_a_candidate_or_failed_fails():
    absent = registry_guard(BASE, head(Entry("new-model", PROOF)), {"cand": Verdict("pass")})
    assert absent.result.status is Status.FAIL and absent.result.category is Category.CONFIG
    assert "new-model is added but was not a candidate of this run" in absent.result.detail
    assert "**not a candidate of this run**" in "\n".join(absent.lines)
    failed = registry_guard(BASE, head(Entry("new-model", PROOF)), {"new-model": Verdict("fail", Category.GATEWAY)})
    assert failed.result.status is Status.FAIL and failed.result.category is Category.GATEWAY
    assert "new-model is added but failed in this run" in failed.result.detail


def test_model_in_use_may_change_only_to_a_model_approved_at_base_or_in_this_run():
    to_base = registry_guard(BASE, head(in_use="kept-model"), {})
    assert to_base.result.status is Status.PASS and "model_in_use: old-model → kept-model" in to_base.result.detail
    to_candidate = registry_guard(BASE, head(Entry("new-model", PROOF), in_use="new-model"), {"new-model": Verdict("pass")})
    assert to_candidate.result.status is Status.PASS
    to_stranger = registry_guard(BASE, head(in_use="stranger"), {"cand": Verdict("pass")}, base_label="base commit abc123")
    assert to_stranger.result.status is Status.FAIL and to_stranger.result.category is Category.CONFIG
    assert "model_in_use changes to stranger, approved neither at base commit abc123 nor in this run" in to_stranger.result.detail
    failing = registry_guard(BASE, head(in_use="cand"), {"cand": Verdict("fail", Category.MODEL)})
    assert failing.result.status is Status.FAIL


def test_removed_and_refreshed_models_are_listed_without_failing():
    refreshed = Approval("2025-04-01T08:00:01Z", "octocat", hashlib.sha256(b"another record").hexdigest())
    after = Registry((Entry("kept-model", refreshed),), model_in_use="kept-model")
    check = registry_guard(BASE, after, {})
    assert check.result.status is Status.PASS
    assert "removed: old-model" in check.result.detail and "evidence refreshed: kept-model" in check.result.detail
    assert "- removed `old-model`" in check.lines and "- evidence refreshed for `kept-model`" in check.lines


def test_several_findings_are_all_reported_and_config_wins_the_category():
    check = registry_guard(BASE, head(Entry("a"), Entry("b", PROOF), in_use="z"), {"b": Verdict("fail", Category.MODEL)})
    assert check.result.category is Category.CONFIG
    for needle in ("a enters the approved list without evidence", "a is added but was not a candidate", "b is added but failed",
                   "model_in_use changes to z"):
        assert needle in check.result.detail


def test_a_registry_that_could_not_be_read_is_an_evidence_gap_never_a_pass():
    check = guard_unavailable("GET contents at base commit: 403")
    assert check.result.status is Status.ERROR and check.result.category is Category.INFRASTRUCTURE and check.result.blocking


# --- the command line: `approval run --registry-base` ----------------------------------------------------------------


def test_cli_registry_base_fails_an_unproven_addition_then_passes_once_promoted(gateway, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    monkeypatch.chdir(tmp_path)
    block = "<!-- approved-models:start -->\n- old-model\n{}<!-- approved-models:end -->\n"
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "AGENTS.md").write_text(block.format(""))
    (tmp_path / "AGENTS.md").write_text(block.format("- cand-model\n"))  # added by hand, no evidence
    (tmp_path / "gateway.yaml").write_text("approved_models_file: AGENTS.md\n")
    args = ["run", "--base-url", GATEWAY, "--model", "cand-model", "--config", "gateway.yaml", "--checks", "reachability,happy-path",
            "--registry-base", "base/AGENTS.md", "--report-out", "report.md"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "registry-guard: FAIL (config) — cand-model enters the approved list without evidence" in out
    assert "RESULT: NOT APPROVED" in out
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("## ❌ Model approval: `cand-model` approved for agent profile `generic-tools` — registry-guard failed")
    assert "### ❌ registry-guard: fail (config)" in report
    assert json.loads((tmp_path / "approval-record.json").read_text())["overall_result"] == "pass", "the model's own record stays a pass"

    (tmp_path / "AGENTS.md").write_text(block.format(""))
    assert main(["promote", "--record", "approval-record.json", "--registry", "AGENTS.md"]) == 0
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "registry-guard: PASS — the approved list against the base (base/AGENTS.md): added: cand-model" in out
    assert "RESULT: APPROVED" in out


def test_cli_registry_base_must_cover_every_registry_file(gateway, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gateway.yaml").write_text("approved_models: [a]\nmodel_in_use: a\n")
    (tmp_path / "old.md").write_text("<!-- approved-models:start -->\n<!-- approved-models:end -->\n")
    code = main(["run", "--base-url", GATEWAY, "--model", "cand-model", "--config", "gateway.yaml", "--registry-base", "old.md"])
    assert code == 2
    assert "--registry-base has no base version of gateway.yaml" in capsys.readouterr().err
    assert not gateway.calls, "nothing was sent"
