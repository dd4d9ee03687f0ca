"""The approval lifecycle end to end: candidate pull request → verdict → `approval promote` → registry-guard on the
reviewed change; monthly re-approval of everything approved → one tracking issue per failing model, proposing the
revocation and a replacement; records found again (`previous-record: auto`, `record-store`).

Through the action as its container runs it (harness/action_runs.py's Runner), against a real LiteLLM
and the local GitHub (harness/fake_github.py); `approval promote` and `approval run` as installed commands.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from approval.common.markdown import md_cell
from harness.action_container import BuiltImage
from harness.action_runs import MARKER, PR_EVENT, PR_NUMBER, REPOSITORY, SERVER_URL, Runner
from harness.commands import run_approval
from harness.fake_github import FakeGitHub
from harness.peer_gateway import RunningLiteLLM

pytestmark = pytest.mark.e2e

BASE_SHA: str = PR_EVENT["pull_request"]["base"]["sha"]
CONFIG = """# The gateway this repository gates; its approved list lives in AGENTS.md.
approved_models_file: AGENTS.md
model_in_use: good-model   # what the agents use today
agent: {profile: plain-chat}   # json-model and slow-model are LiteLLM mocks answering one text: no tool loop to carry
"""
BLOCK = "# Agents\n\nOnly these models.\n\n<!-- approved-models:start -->\n{}<!-- approved-models:end -->\n"


def agents(*lines: str) -> str:
    return BLOCK.format("".join(f"{line}\n" for line in lines))


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(REPOSITORY, token=f"ghs_{secrets.token_hex(18)}", repo_id=PR_EVENT["repository"]["id"]) as fake:
        fake.add_pull_request(PR_NUMBER, PR_EVENT["pull_request"]["title"], PR_EVENT["pull_request"]["user"]["login"])
        fake.add_commit({"config/gateway.yaml": CONFIG, "AGENTS.md": agents("- good-model")}, sha=BASE_SHA, branch="main")
        yield fake


@pytest.fixture
def runner(image: BuiltImage, github: FakeGitHub, litellm: RunningLiteLLM, tmp_path: Path) -> Runner:
    return Runner(image.tag, github, litellm, tmp_path, github.token)


def our_comment(github: FakeGitHub) -> str:
    """The sticky comment last written (one per candidate set: a new candidate gets its own)."""
    ours = [c for c in github.comments(PR_NUMBER) if MARKER in c.body]
    return max(ours, key=lambda c: c.updated_at).body


# --- candidate pull request → verdict → promote → registry-guard ------------------------------------------------------


def test_a_pull_request_listing_an_unapproved_model_fails_registry_guard_and_passes_once_the_candidate_is_promoted(
        runner: Runner, github: FakeGitHub) -> None:
    config = {"config": "config/gateway.yaml"}

    # 1. the approved list gains json-model by hand, while the run approves good-model only
    by_hand = runner.run("pull_request", "good-model", inputs=config,
                         checkout={"config/gateway.yaml": CONFIG, "AGENTS.md": agents("- good-model", "- json-model")})
    assert by_hand.code == 1, by_hand.log
    assert by_hand.outputs["result"] == "fail"
    assert by_hand.record()["overall_result"] == "pass", "good-model's own record stays a pass"
    body = our_comment(github)
    assert body.splitlines()[1] == "## ❌ Model approval: `good-model` approved for agent profile `plain-chat` — registry-guard failed"
    assert "### ❌ registry-guard: fail (config)" in body
    assert "json-model enters the approved list without evidence" in body and "json-model is added but was not a candidate" in body
    assert "- added `json-model`: **not a candidate of this run**, **without evidence**" in body
    assert re.search(r"^::error file=AGENTS\.md,title=Model approval%3A registry-guard fail::", by_hand.stdout, re.MULTILINE)
    read = github.requests_matching("GET", rf"^/repos/{REPOSITORY}/contents/(config/gateway\.yaml|AGENTS\.md)$")
    assert sorted(r.path.rsplit("/", 1)[-1] for r in read) == ["AGENTS.md", "gateway.yaml"]
    assert {r.param("ref") for r in read} == {BASE_SHA}, "the registry is read at the pull request's base commit"

    # 2. the pull request makes json-model the candidate: it passes, and the comment shows the exact line to add
    candidate = runner.run("pull_request", "json-model", inputs=config,
                           checkout={"config/gateway.yaml": CONFIG, "AGENTS.md": agents("- good-model")})
    assert candidate.code == 0, candidate.log
    body = our_comment(github)
    record_bytes = (candidate.workspace / "approval-record.json").read_bytes()
    record = json.loads(record_bytes)
    approver = record["approved_by"]  # "octocat via run 9000000002/approve": quoted, since it has spaces
    assert approver.startswith("octocat")
    shown = json.dumps(approver) if " " in approver else approver
    profile = record["agent_profile"]  # the agent the approval holds for, kept beside the evidence
    line = (f"- json-model  # approved_at={record['approved_at']} approved_by={shown} "
            f"run_url={SERVER_URL}/{REPOSITORY}/actions/runs/9000000002 record_sha256={hashlib.sha256(record_bytes).hexdigest()} "
            f"profile={profile['name']} profile_sha256={profile['sha256']}")
    assert f"```markdown\n{line}\n```" in body
    assert "approval promote --record approval-record.json --registry AGENTS.md" in body
    assert "### ✅ registry-guard: pass" in body and "- no change" in body

    # 3. `approval promote` with that run's record writes exactly that line
    promoted = run_approval(["promote", "--record", "approval-record.json", "--registry", "AGENTS.md"], cwd=candidate.workspace)
    assert promoted.code == 0, promoted.all_text
    assert promoted.stdout.splitlines()[-1] == f"+ {line}"
    listed = (candidate.workspace / "AGENTS.md").read_text(encoding="utf-8")
    assert listed == agents("- good-model", line)

    # 4. the same pull request, now listing json-model with its evidence: registry-guard passes
    reviewed = runner.run("pull_request", "json-model", inputs=config, checkout={"config/gateway.yaml": CONFIG, "AGENTS.md": listed})
    assert reviewed.code == 0, reviewed.log
    assert reviewed.outputs["result"] == "pass"
    body = our_comment(github)
    assert body.splitlines()[1] == "## ✅ Model approval: `json-model` approved for agent profile `plain-chat`"
    assert "- added `json-model`: approved in this run, with evidence" in body
    assert "To record the approval" not in body, "nothing left to add"


def test_model_in_use_switched_to_a_model_approved_nowhere_fails(runner: Runner, github: FakeGitHub) -> None:
    switched = CONFIG.replace("model_in_use: good-model", "model_in_use: slow-model")
    run = runner.run("pull_request", "good-model", inputs={"config": "config/gateway.yaml"},
                     checkout={"config/gateway.yaml": switched, "AGENTS.md": agents("- good-model")})
    assert run.code == 1, run.log
    body = our_comment(github)
    assert md_cell(f"model_in_use changes to slow-model, approved neither at the base commit {BASE_SHA[:12]} nor in this run") in body


# --- promote: idempotent, comments kept --------------------------------------------------------------------------------


def test_promote_is_idempotent_on_agents_md_and_on_gateway_yaml_and_keeps_their_comments(litellm: RunningLiteLLM, tmp_path: Path) -> None:
    run = run_approval(["run", "--base-url", litellm.base_url, "--model", "good-model", "--checks", "reachability,happy-path,model-echo",
                        "--record-out", "approval-record.json"], cwd=tmp_path)
    assert run.code == 0, run.all_text
    sha = hashlib.sha256((tmp_path / "approval-record.json").read_bytes()).hexdigest()
    block = BLOCK.format("- `old-model`  <!-- kept for the batch jobs -->\n")
    (tmp_path / "AGENTS.md").write_text(block, encoding="utf-8")
    gateway = (f"# Gateway under approval\nbase_url: {litellm.base_url}   # LiteLLM on loopback\n"
               "approved_models:   # reviewed like code\n  - old-model   # until June\nmodel_in_use: old-model\n")
    (tmp_path / "gateway.yaml").write_text(gateway, encoding="utf-8")
    for registry in ("AGENTS.md", "gateway.yaml"):
        first = run_approval(["promote", "--record", "approval-record.json", "--registry", registry], cwd=tmp_path)
        assert first.code == 0, first.all_text
        after_first = (tmp_path / registry).read_text(encoding="utf-8")
        again = run_approval(["promote", "--record", "approval-record.json", "--registry", registry], cwd=tmp_path)
        assert again.code == 0 and "nothing changed" in again.stdout
        assert (tmp_path / registry).read_text(encoding="utf-8") == after_first
        assert after_first.count("good-model") == 1 and sha in after_first
    assert (tmp_path / "AGENTS.md").read_text(encoding="utf-8").startswith(block.split("<!-- approved-models:end -->")[0])
    text = (tmp_path / "gateway.yaml").read_text(encoding="utf-8")
    for comment in ("# Gateway under approval", "# LiteLLM on loopback", "# reviewed like code", "# until June"):
        assert comment in text
    assert yaml.safe_load(text)["approved_models"][1]["record_sha256"] == sha
    # the edited gateway.yaml is a configuration the tool runs with: good-model now counts as approved
    check = run_approval(["run", "--config", "gateway.yaml", "--model", "good-model", "--checks", "happy-path,approved-list"], cwd=tmp_path)
    assert check.code == 0 and "'good-model' is already in approved_models" in check.stdout, check.all_text


# --- a registry changed past its grammar: refused by promote and by registry-guard alike -----------------------------


HIDDEN_SECOND_BLOCK = BLOCK.format("- good-model\n") + "\n<!-- approved-models:start -->\n- json-model\n<!-- approved-models:end -->\n"
DUPLICATE_KEY = "approved_models: [good-model]\nendpoint: chat\napproved_models:\n  - json-model\n"


@pytest.mark.parametrize(("registry", "text", "needle"), [
    ("AGENTS.md", HIDDEN_SECOND_BLOCK, "AGENTS.md line 9: a second approved-models block (the first starts at line 5)"),
    ("gateway.yaml", DUPLICATE_KEY, "the key 'approved_models' appears twice in one mapping (lines 1 and 3)"),
])
def test_a_hidden_second_block_or_a_duplicate_key_is_refused_by_promote_and_by_registry_guard(
        litellm: RunningLiteLLM, tmp_path: Path, registry: str, text: str, needle: str) -> None:
    run = run_approval(["run", "--base-url", litellm.base_url, "--model", "good-model", "--checks", "reachability,happy-path",
                        "--record-out", "approval-record.json"], cwd=tmp_path)
    assert run.code == 0, run.all_text
    (tmp_path / registry).write_text(text, encoding="utf-8")
    promoted = run_approval(["promote", "--record", "approval-record.json", "--registry", registry], cwd=tmp_path)
    assert promoted.code == 2, promoted.all_text
    assert promoted.stderr.strip().splitlines() == [promoted.stderr.strip()] and needle in promoted.stderr
    assert (tmp_path / registry).read_text(encoding="utf-8") == text, "nothing written"

    # registry-guard on the command line: the same text at the head, then at the base, is exit 2, before anything is sent
    (tmp_path / "base").mkdir()
    clean = BLOCK.format("- good-model\n") if registry == "AGENTS.md" else "approved_models: [good-model]\n"
    config = "approved_models_file: AGENTS.md\n" if registry == "AGENTS.md" else None
    for head, base in ((text, clean), (clean, text)):
        (tmp_path / registry).write_text(head, encoding="utf-8")
        (tmp_path / "base" / registry).write_text(base, encoding="utf-8")
        if config:
            (tmp_path / "gateway.yaml").write_text(config, encoding="utf-8")
        guard = run_approval(["run", "--base-url", litellm.base_url, "--model", "json-model", "--config", "gateway.yaml",
                              "--registry-base", f"base/{registry}", "--record-out", "guarded.json"], cwd=tmp_path)
        assert guard.code == 2, guard.all_text
        assert needle.replace("AGENTS.md", f"base/{registry}" if head == clean else "AGENTS.md") in guard.stderr
        assert not (tmp_path / "guarded.json").exists(), "refused before the run"


# --- monthly re-approval of everything approved ----------------------------------------------------------------------


REGISTRY = {"config/gateway.yaml": CONFIG.replace("model_in_use: good-model", "model_in_use: json-model"),
            "AGENTS.md": agents("- good-model", "- json-model", "- slow-model")}
# This month the team expects no JSON in answers to the representative prompt: json-model (it answers {"answer": "ok"}) fails.
EXPECT = '\nexpect:\n  not_contains: [\'"answer"\']\n'


def test_schedule_reapproves_a_three_model_registry_and_opens_one_issue_for_the_one_that_fails(runner: Runner, github: FakeGitHub) -> None:
    inputs = {"config": "config/gateway.yaml", "previous-record": "auto"}
    before = runner.run("schedule", "", inputs=inputs, checkout=REGISTRY)  # last month: all three pass
    assert before.code == 0, before.log
    assert "::notice title=Model approval%3A previous records::This workflow has no earlier successful run." in before.stdout
    assert before.outputs["record-path"].splitlines() == [f"approval-record.{m}.json" for m in ("good-model", "json-model", "slow-model")]
    assert not [i for i in github.issues.values() if not i.is_pull_request]

    stricter = {**REGISTRY, "config/gateway.yaml": REGISTRY["config/gateway.yaml"] + EXPECT}
    now = runner.run("schedule", "", inputs=inputs, checkout=stricter)
    assert now.code == 1, now.log
    results = {}
    for path in now.outputs["record-path"].splitlines():
        record = json.loads((now.workspace / path).read_text(encoding="utf-8"))
        results[record["candidate_model_id"]] = record["overall_result"]
    assert results == {"good-model": "pass", "json-model": "fail", "slow-model": "pass"}, "each model has its own record"
    issues = [i for i in github.issues.values() if not i.is_pull_request]
    assert [i.title for i in issues] == ["Model approval failing: json-model (chat)"], "one issue, for the model that fails"
    (issue,) = issues
    assert now.outputs["issue-url"] == f"{SERVER_URL}/{REPOSITORY}/issues/{issue.number}"
    assert not github.comments(PR_NUMBER), "a scheduled run comments on no pull request"
    body = issue.body
    assert body.startswith(MARKER) and "## ❌ Model approval: `json-model` not approved" in body
    artifact = next(a for a in github.artifacts if a.name == "model-approval-record-json-model")
    assert (f"- last passing record: [run #1, artifact model-approval-record-json-model]"
            f"({SERVER_URL}/{REPOSITORY}/actions/runs/9000000001/artifacts/{artifact.artifact_id})") in body
    assert "### What changed since" in body and "- check output-quality: new, fail" in body and "- config\\_sha256: " in body
    assert "### Proposed revocation" in body and "Remove from `AGENTS.md`:\n\n```text\n- json-model\n```" in body
    assert "### Proposed replacement" in body and "`good-model` is approved and passed in this same run" in body
    assert ("in `config/gateway.yaml` replace\n\n```yaml\nmodel_in_use: json-model   # what the agents use today\n```\n\nwith\n\n"
            "```yaml\nmodel_in_use: good-model   # what the agents use today\n```") in body

    # the expectation is dropped again: json-model recovers and its issue is closed; the others never had one
    recovered = runner.run("schedule", "", inputs=inputs, checkout=REGISTRY)
    assert recovered.code == 0, recovered.log
    assert (issue.state, issue.state_reason) == ("closed", "completed")
    assert github.comments(issue.number)[-1].body.startswith("✅ **Recovered**")
    assert [i.number for i in github.issues.values() if not i.is_pull_request] == [issue.number]


# --- previous-record: auto, record-store -----------------------------------------------------------------------------


def test_previous_record_auto_finds_the_last_successful_runs_records_then_the_record_store(runner: Runner, github: FakeGitHub) -> None:
    registry = {"config/gateway.yaml": CONFIG, "AGENTS.md": agents("- good-model", "- json-model")}
    inputs = {"config": "config/gateway.yaml", "record-store": "approval-records"}
    first = runner.run("schedule", "", inputs=inputs, checkout=registry)
    assert first.code == 0, first.log
    stored = github.branch_files("approval-records")
    assert "README.md" in stored and b"approval promote" in stored["README.md"]
    paths = sorted(p for p in stored if p.endswith(".json"))
    assert [p.split("/")[:2] for p in paths] == [["127.0.0.1_" + str(runner.gateway.port), "good-model"],
                                                 ["127.0.0.1_" + str(runner.gateway.port), "json-model"]]
    assert all(re.fullmatch(r"[^/]+/[^/]+/\d{8}T\d{6}Z-chat-pass-[0-9a-f]{8}\.json", p) for p in paths), paths
    assert stored[paths[0]] == (first.workspace / "approval-record.good-model.json").read_bytes(), "the record, byte for byte"
    assert "stored the record of good-model at approval-records:" in first.summary

    second = runner.run("schedule", "", inputs={**inputs, "previous-record": "auto"}, checkout=registry)
    assert second.code == 0, second.log
    good = next(a for a in github.artifacts if a.name == "model-approval-record-good-model")
    assert (f"### What changed since the last approval of `good-model` ([run #1, artifact model-approval-record-good-model]"
            f"({SERVER_URL}/{REPOSITORY}/actions/runs/9000000001/artifacts/{good.artifact_id}))") in second.summary
    listed = github.requests_matching("GET", r"/actions/workflows/\d+/runs$")
    assert [r.param("status") for r in listed] == ["success"]
    downloads = github.requests_matching("GET", r"/actions/artifacts/\d+/zip$")
    blobs = github.requests_matching("GET", r"^/blob/")
    assert len(downloads) == len(blobs) == 2 and all("authorization" not in r.headers for r in blobs)

    # the artifacts expire; the records branch still has them
    for artifact in github.artifacts:
        artifact.expired = True
    third = runner.run("schedule", "", inputs={**inputs, "previous-record": "auto"}, checkout=registry)
    assert third.code == 0, third.log
    assert re.search(r"### What changed since the last approval of `good-model` \(\[record store approval-records\]"
                     rf"\({re.escape(SERVER_URL)}/{REPOSITORY}/blob/approval-records/127\.0\.0\.1_\d+/good-model/\d{{8}}T\d{{6}}Z-chat-pass-",
                     third.summary), third.summary


def test_record_store_refuses_a_branch_people_work_on(runner: Runner, github: FakeGitHub) -> None:
    run = runner.run("schedule", "good-model", inputs={"record-store": "main"})
    assert run.code == 2, run.log
    assert "record-store 'main' is a branch people work on" in run.summary
    assert not github.requests, "refused before anything was sent or published"
