"""Agent profiles end to end: the installed `approval` command against the echo gateway on 127.0.0.1 — the profile
chosen on the command line decides the endpoint and is named in the record, the report and the terminal; `approval
promote` writes it into the registry; registry-guard fails a profile change without a passing run under the new
profile; a re-approval over entries naming several profiles is refused in one line."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import pytest

from harness.commands import run_approval
from harness.echo_gateway import echo_gateway

pytestmark = pytest.mark.e2e

MODEL = "echo-model"
CHECKS = "reachability,happy-path,model-echo"
BLOCK = "<!-- approved-models:start -->\n{}<!-- approved-models:end -->\n"


def sha_of(profile: str) -> str:
    return hashlib.sha256(resources.files("approval.profiles").joinpath(f"{profile}.yaml").read_bytes()).hexdigest()


def test_a_profile_decides_the_endpoint_is_named_everywhere_and_guards_the_registry(tmp_path: Path) -> None:
    with echo_gateway() as gw:
        run = run_approval(["run", "--base-url", gw.base_url, "--model", MODEL, "--profile", "codex-cli", "--checks", CHECKS,
                            "--record-out", "r.json", "--report-out", "r.md"], cwd=tmp_path, timeout=60)
        assert run.code == 0, run.all_text
        assert any(path.endswith("/responses") for _, path, _ in gw.requests), "codex-cli speaks the Responses API"
        assert not any(path.endswith("/chat/completions") for _, path, _ in gw.requests)
        record = json.loads((tmp_path / "r.json").read_text())
        assert record["endpoint_family"] == "responses" and record["schema_version"] == 3
        assert record["agent_profile"]["name"] == "codex-cli" and record["agent_profile"]["sha256"] == sha_of("codex-cli")
        assert f"RESULT: APPROVED for agent profile codex-cli (sha256 {sha_of('codex-cli')[:12]})" in run.stdout
        assert "approved for agent profile `codex-cli`" in (tmp_path / "r.md").read_text()

        # promote writes the profile into the entry
        base = tmp_path / "base"
        base.mkdir()
        old = (f"- {MODEL}  # approved_at=2025-03-01T08:00:01Z approved_by=octocat record_sha256={hashlib.sha256(b'old').hexdigest()} "
               f"profile=generic-tools profile_sha256={sha_of('generic-tools')}\n")
        (base / "AGENTS.md").write_text(BLOCK.format(old), encoding="utf-8")
        (tmp_path / "AGENTS.md").write_text(BLOCK.format(old), encoding="utf-8")
        (tmp_path / "gateway.yaml").write_text("approved_models_file: AGENTS.md\n", encoding="utf-8")
        promoted = run_approval(["promote", "--record", "r.json", "--registry", "AGENTS.md"], cwd=tmp_path)
        assert promoted.code == 0, promoted.all_text
        text = (tmp_path / "AGENTS.md").read_text()
        assert f"profile=codex-cli profile_sha256={sha_of('codex-cli')}" in text and text.count(MODEL) == 1

        # the change of profile passes with this run under the new profile...
        guarded = ["run", "--base-url", gw.base_url, "--model", MODEL, "--config", "gateway.yaml", "--checks", CHECKS,
                   "--registry-base", "base/AGENTS.md", "--record-out", "r.json"]
        under_new = run_approval([*guarded, "--profile", "codex-cli"], cwd=tmp_path, timeout=60)
        assert under_new.code == 0, under_new.all_text
        assert "registry-guard: PASS" in under_new.stdout

        # ...and fails under any other, naming the model, both profiles and the fix (promote rewrote the record: refresh)
        (tmp_path / "AGENTS.md").write_text(text, encoding="utf-8")
        under_old = run_approval([*guarded, "--record-out", "other.json"], cwd=tmp_path, timeout=60)
        assert under_old.code == 1, under_old.all_text
        assert (f"{MODEL}'s agent profile changes from generic-tools ({sha_of('generic-tools')[:12]}) to codex-cli "
                f"({sha_of('codex-cli')[:12]}) without a passing run under codex-cli (this run used generic-tools and passed)") in under_old.stdout
        assert "--profile codex-cli" in under_old.stdout and "Traceback" not in under_old.all_text


def test_a_reapproval_over_entries_naming_several_profiles_is_one_line_and_sends_nothing(tmp_path: Path) -> None:
    lines = "".join(f"- {model}  # approved_at=2025-03-01T08:00:01Z approved_by=octocat record_sha256={hashlib.sha256(model.encode()).hexdigest()} "
                    f"profile={profile} profile_sha256={sha_of(profile)}\n" for model, profile in (("a-model", "codex-cli"), ("b-model", "opencode")))
    (tmp_path / "AGENTS.md").write_text(BLOCK.format(lines), encoding="utf-8")
    (tmp_path / "gateway.yaml").write_text("approved_models_file: AGENTS.md\n", encoding="utf-8")
    with echo_gateway() as gw:
        run = run_approval(["run", "--base-url", gw.base_url, "--config", "gateway.yaml", "--reapprove"], cwd=tmp_path, timeout=60)
        assert run.code == 2 and gw.requests == []
        assert "the approved models name 2 agent profiles (codex-cli: a-model; opencode: b-model)" in run.stderr
        assert "--reapprove --profile NAME" in run.stderr and "Traceback" not in run.all_text
        # one run per profile: this one re-approves b-model under opencode, and says a-model is left to another run
        one = run_approval(["run", "--base-url", gw.base_url, "--config", "gateway.yaml", "--reapprove", "--profile", "opencode",
                            "--checks", CHECKS, "--record-out", "r.json"], cwd=tmp_path, timeout=60)
        assert one.code in (0, 1) and "Traceback" not in one.all_text
        assert {model for _, _, model in gw.requests if model} == {"b-model"}
        record = json.loads((tmp_path / "r.json").read_text())
        assert record["candidate_model_id"] == "b-model" and record["agent_profile"]["name"] == "opencode"
        assert "a-model (codex-cli)" in one.all_text and "a-model (codex-cli)" in record["notes"]
