"""The lifecycle's GitHub side against a mocked REST API (nothing leaves the process): the record store, the
previous records of `previous-record: auto`, registry-guard's base registry; and records kept in git for `diff`."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from approval.common.errors import ConfigError
from approval.engine.results import Category, Status
from approval.engine.suite import RunOutcome
from approval.github.base_registry import evaluate, read_base_registry
from approval.github.context import GitHubContext
from approval.github.last_runs import fetch_previous, records_in_zip
from approval.github.record_store import README, latest_records, store_path, store_records, validate_branch
from approval.github.rest import make_client
from harness import github_shapes as shapes
from harness.mocked_gateway import make_settings

API = "http://127.0.0.1:9/api/v3"
WEB = "https://github.test"
REPO = f"{API}/repos/acme/models"
REPO_ID = 4242
TOKEN = "ghs_" + "L" * 36
GATEWAY = "https://llm.example.test/v1"


def ctx(**overrides: Any) -> GitHubContext:
    event = {"repository": {"default_branch": "main"},
             "pull_request": {"head": {"ref": "switch-model"}, "base": {"ref": "release", "sha": "b" * 40}}}
    values: dict[str, Any] = {"event_name": "pull_request", "event": event, "repository": "acme/models", "ref": "refs/pull/7/merge",
                              "run_id": "5001", "api_url": API, "server_url": WEB}
    values.update(overrides)
    return GitHubContext(**values)


def record(model: str = "gpt-4o-mini", result: str = "pass", run_id: str = "0f1e2d3c-aaaa-bbbb-cccc-000000000000") -> dict[str, Any]:
    return {"record_type": "model_candidate_approval", "run_id": run_id, "gateway_base_url": GATEWAY, "candidate_model_id": model,
            "endpoint_family": "chat", "overall_result": result, "approved_at": "2025-03-01T08:00:01Z"}


NOT_FOUND = {"message": "Not Found", "documentation_url": shapes.DOCS, "status": "404"}
FORBIDDEN = {"message": "Resource not accessible by integration", "documentation_url": shapes.DOCS, "status": "403"}


def file_answer(path: str, data: bytes, ref: str) -> dict[str, Any]:
    return shapes.content_file(API, WEB, "acme/models", path, ref, sha="9" * 40, data=data)


def stored_answer(path: str) -> dict[str, Any]:
    entry = shapes.content_entry(API, WEB, "acme/models", path, "approval-records", sha="8" * 40, size=100)
    return shapes.file_commit(entry, shapes.git_commit(API, WEB, "acme/models", "7" * 40, tree_sha="6" * 40, parents=["c" * 40], message="record"))


def _sent(call: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(call.request.body)
    return data


# --- record store ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("branch", ["main", "switch-model", "release", "../x", "has space", "a..b", "ends/", "x.lock", "-x", "a:b"])
def test_the_record_store_refuses_branches_people_work_on_and_names_git_refuses(branch: str) -> None:
    with pytest.raises(ConfigError, match="record-store"):
        validate_branch(branch, ctx())


def test_the_record_store_refuses_the_branch_a_push_runs_on() -> None:
    with pytest.raises(ConfigError, match="a branch people work on"):
        validate_branch("develop", ctx(event={}, ref="refs/heads/develop"))
    validate_branch("approval-records", ctx())


def test_a_record_is_stored_by_gateway_model_and_time() -> None:
    assert store_path(record()) == "llm.example.test/gpt-4o-mini/20250301T080001Z-chat-pass-0f1e2d3c.json"
    odd = {**record("openai/gpt 4o"), "gateway_base_url": "http://127.0.0.1:4000/v1", "overall_result": "fail"}
    own = hashlib.sha256(b"openai/gpt 4o").hexdigest()[:8]  # a name that lost characters keeps its file to itself
    assert store_path(odd) == f"127.0.0.1_4000/openai_gpt_4o/20250301T080001Z-chat-fail-0f1e2d3c-{own}.json"
    twins = [store_path({**odd, "candidate_model_id": m}) for m in ("openai/gpt 4o", "openai:gpt 4o", "openai_gpt_4o", "openai_gpt 4o")]
    assert len(set(twins)) == len(twins)


def test_store_creates_an_orphan_branch_then_commits_each_record_byte_for_byte(api: responses.RequestsMock, tmp_path: Path) -> None:
    path = tmp_path / "approval-record.json"
    path.write_bytes(json.dumps(record()).encode() + b"\n")
    where = "llm.example.test/gpt-4o-mini/20250301T080001Z-chat-pass-0f1e2d3c.json"
    api.get(f"{REPO}/git/ref/heads/approval-records", status=404, json=NOT_FOUND)
    tree = api.post(f"{REPO}/git/trees", status=201, json=shapes.git_tree(API, "acme/models", "d" * 40, [("README.md", "e" * 40, len(README))]))
    commit = api.post(f"{REPO}/git/commits", status=201, json=shapes.git_commit(API, WEB, "acme/models", "c" * 40, tree_sha="d" * 40,
                                                                                parents=[], message="start"))
    ref = api.post(f"{REPO}/git/refs", status=201, json=shapes.git_ref(API, "acme/models", "approval-records", "c" * 40))
    put = api.put(f"{REPO}/contents/{where}", status=201, json=stored_answer(where))
    messages = store_records(TOKEN, ctx(), "approval-records", [(path, record())])
    assert messages == ["created branch approval-records for the approval records",
                        "stored the record of gpt-4o-mini at approval-records:llm.example.test/gpt-4o-mini/20250301T080001Z-chat-pass-0f1e2d3c.json"]
    assert _sent(tree.calls[0]) == {"tree": [{"path": "README.md", "mode": "100644", "type": "blob", "content": README}]}
    assert _sent(commit.calls[0])["parents"] == [] and _sent(commit.calls[0])["tree"] == "d" * 40
    assert _sent(ref.calls[0]) == {"ref": "refs/heads/approval-records", "sha": "c" * 40}
    sent = _sent(put.calls[0])
    assert sent["branch"] == "approval-records" and base64.b64decode(sent["content"]) == path.read_bytes()


def test_store_tries_again_when_the_branch_moved_and_reports_a_refusal_without_raising(api: responses.RequestsMock, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record()))
    api.get(f"{REPO}/git/ref/heads/approval-records", json=shapes.git_ref(API, "acme/models", "approval-records", "c" * 40))
    url = f"{REPO}/contents/{store_path(record())}"
    api.put(url, status=409, json={"message": "is at abc but expected def", "documentation_url": shapes.DOCS, "status": "409"})
    api.put(url, status=201, json=stored_answer(store_path(record())))
    assert store_records(TOKEN, ctx(), "approval-records", [(path, record())])[-1].startswith("stored the record of gpt-4o-mini")

    api.put(url, status=403, json=FORBIDDEN)
    (message,) = store_records(TOKEN, ctx(), "approval-records", [(path, record())])
    assert message.startswith("could not store the records on branch approval-records: the token is read-only (403")
    assert "permissions: contents: write" in message


def test_the_newest_passing_record_of_a_model_is_read_back_from_the_store(api: responses.RequestsMock) -> None:
    folder = f"{REPO}/contents/llm.example.test/gpt-4o-mini"
    names = ["20250101T000000Z-chat-pass-11111111.json", "20250201T000000Z-chat-fail-22222222.json", "20250115T000000Z-chat-pass-33333333.json",
             "20250301T000000Z-responses-pass-44444444.json"]
    listing = [shapes.content_entry(API, WEB, "acme/models", f"llm.example.test/gpt-4o-mini/{n}", "approval-records", sha="f" * 40, size=100)
               for n in names]
    api.get(folder, json=listing, match=[matchers.query_param_matcher({"ref": "approval-records"})])
    newest = {**record(run_id="33333333"), "approved_at": "2025-01-15T00:00:00Z"}
    api.get(f"{folder}/{names[2]}", json=file_answer(f"llm.example.test/gpt-4o-mini/{names[2]}", json.dumps(newest).encode(), "approval-records"))
    found, notes = latest_records(TOKEN, ctx(), "approval-records", ["gpt-4o-mini"], GATEWAY, "chat")
    assert notes == [] and found["gpt-4o-mini"].record == newest
    assert found["gpt-4o-mini"].url == f"https://github.test/acme/models/blob/approval-records/llm.example.test/gpt-4o-mini/{names[2]}"


# --- previous-record: auto -------------------------------------------------------------------------------------------


def test_records_are_read_from_an_artifact_zip_and_anything_else_is_skipped() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("approval-record.json", json.dumps(record()))
        archive.writestr("notes.json", json.dumps({"not": "a record"}))
        archive.writestr("broken.json", "{")
        archive.writestr("approval-report.md", "# report")
    assert records_in_zip(buffer.getvalue()) == [record()]


def test_previous_records_that_cannot_be_fetched_are_a_note_never_a_failure(api: responses.RequestsMock) -> None:
    api.get(f"{REPO}/actions/runs/5001", status=403, json=FORBIDDEN)
    previous = fetch_previous(TOKEN, ctx(), "model-approval-record", ["gpt-4o-mini"], GATEWAY, "chat")
    assert previous.by_model == {}
    assert any("actions: read" in note and "403" in note for note in previous.notes), previous.notes
    assert previous.notes[-1] == "No earlier record of `gpt-4o-mini` on this gateway."


def test_previous_records_match_model_gateway_and_endpoint_and_prefer_a_re_runs_artifact(api: responses.RequestsMock) -> None:
    def zipped(*records: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for number, rec in enumerate(records):
                archive.writestr(f"approval-record.{number}.json", json.dumps(rec))
        return buffer.getvalue()

    def run(run_id: int, number: int, status: str = "completed", conclusion: str | None = "success") -> dict[str, Any]:
        return shapes.workflow_run(API, WEB, "acme/models", REPO_ID, run_id=run_id, workflow_id=77, name="Model re-approval",
                                   path=".github/workflows/model-reapproval.yml", event="schedule", head_sha="a" * 40, head_branch="main",
                                   run_number=number, status=status, conclusion=conclusion)

    def artifact(artifact_id: int, name: str, hour: int) -> dict[str, Any]:
        return shapes.artifact(API, "acme/models", REPO_ID, artifact_id=artifact_id, name=name, size=500, run_id=4000, head_sha="a" * 40,
                               created_at=shapes.EPOCH.replace(hour=hour))

    api.get(f"{REPO}/actions/runs/5001", json=run(5001, 10, "in_progress", None))
    api.get(f"{REPO}/actions/workflows/77/runs", json={"total_count": 1, "workflow_runs": [run(4000, 9)]},
            match=[matchers.query_param_matcher({"status": "success", "per_page": "20"})])
    artifacts = [artifact(1, "model-approval-record", 8), artifact(2, "model-approval-record-approve-attempt2-a1b2c3", 9),
                 artifact(3, "other-artifact", 10)]
    api.get(f"{REPO}/actions/runs/4000/artifacts", json={"total_count": 3, "artifacts": artifacts})
    api.get(f"{REPO}/actions/artifacts/2/zip", status=302, headers={"Location": "https://results-receiver.blob.test/blob/2?sig=SECRETSIG"})
    rerun = {**record(run_id="rerun"), "approved_at": "2025-03-01T09:00:00Z"}
    other_gateway = {**record(), "gateway_base_url": "https://elsewhere.test/v1"}
    api.get("https://results-receiver.blob.test/blob/2", body=zipped(other_gateway, rerun), match=[matchers.query_param_matcher({"sig": "SECRETSIG"})])
    previous = fetch_previous(TOKEN, ctx(), "model-approval-record", ["gpt-4o-mini"], GATEWAY, "chat")
    found = previous.by_model["gpt-4o-mini"]
    assert found.record == rerun, "the re-run's artifact is the newer one; another gateway's record is not this model's"
    assert found.url == f"{WEB}/acme/models/actions/runs/4000/artifacts/2"
    blob_call = next(c for c in api.calls if str(c.request.url).startswith("https://results-receiver.blob.test/"))
    assert "Authorization" not in blob_call.request.headers, "the storage URL is signed: no token goes there"
    assert previous.notes == []


# --- registry-guard's base registry ----------------------------------------------------------------------------------


def test_the_base_registry_is_read_at_the_base_commit_and_a_missing_commit_is_an_evidence_gap(api: responses.RequestsMock, tmp_path: Path,
                                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sha = "b" * 40
    at_base = [matchers.query_param_matcher({"ref": sha})]
    config = "approved_models_file: docs/AGENTS.md\nmodel_in_use: a\n"
    block = "<!-- approved-models:start -->\n- a\n<!-- approved-models:end -->\n"
    api.get(f"{REPO}/git/commits/{sha}", json=shapes.git_commit(API, WEB, "acme/models", sha, tree_sha="d" * 40, parents=[], message="base"))
    api.get(f"{REPO}/contents/gateway.yaml", json=file_answer("gateway.yaml", config.encode(), sha), match=at_base)
    api.get(f"{REPO}/contents/docs/AGENTS.md", json=file_answer("docs/AGENTS.md", block.encode(), sha), match=at_base)
    registry = read_base_registry(make_client(TOKEN, API), "acme/models", sha, "gateway.yaml", tmp_path)
    assert registry.models == ("a",) and registry.model_in_use == "a"

    api.get(f"{REPO}/git/commits/{sha}", status=404, json=NOT_FOUND)
    with pytest.raises(ValueError, match="not in the repository"):
        read_base_registry(make_client(TOKEN, API), "acme/models", sha, "gateway.yaml", tmp_path)

    (tmp_path / "gateway.yaml").write_text("approved_models: [a]\n")
    api.get(f"{REPO}/git/commits/{sha}", status=403, json=FORBIDDEN)
    settings = make_settings(config=str(tmp_path / "gateway.yaml"))
    check = evaluate(settings, RunOutcome(settings, "r", datetime.now(UTC), 0.0, []), ctx(), TOKEN, tmp_path)
    assert check.result.status is Status.ERROR and check.result.category is Category.INFRASTRUCTURE
    assert "contents: read" in check.result.detail


# --- `approval diff` with a record kept in git -----------------------------------------------------------------------


