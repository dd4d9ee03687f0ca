"""Artifact upload (service v4) against mocked Twirp and blob endpoints; responses intercepts every request."""

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
import requests
import responses

from approval.github import artifact
from approval.github.artifact import ArtifactOutcome, backend_ids, expires_at, upload_record_artifact
from approval.github.context import GitHubContext

RESULTS = "http://127.0.0.1:9"
TWIRP = f"{RESULTS}/twirp/github.actions.results.api.v1.ArtifactService"
SIG = "c2lnbmF0dXJlLXNlY3JldA%3D%3D"
BLOB = "https://127.0.0.1:9/blob/container/record.zip"
SIGNED_URL = f"{BLOB}?sv=2023-11-03&sig={SIG}&se=2030-01-01"
RUN_ID, JOB_ID = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def make_token(scp: str) -> str:
    return f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{_b64({'scp': scp, 'exp': 2000000000})}.c2lnbmF0dXJl"


TOKEN = make_token(f"Actions.ExampleScope Actions.Results:{RUN_ID}:{JOB_ID}")
CTX = GitHubContext(repository="acme/models", run_id="42", server_url="https://github.com")
ENV = {"ACTIONS_RUNTIME_TOKEN": TOKEN, "ACTIONS_RESULTS_URL": f"{RESULTS}/some/path/", "GITHUB_RETENTION_DAYS": "30"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def record(tmp_path: Path) -> Path:
    path = tmp_path / "approval-record.json"
    path.write_text('{"overall_result": "pass"}\n', encoding="utf-8")
    return path


def _upload(record: Path, clock: Clock, **kwargs: Any) -> ArtifactOutcome:
    options: dict[str, Any] = {"name": "model-approval-record", "retention_days": 90, "ctx": CTX, "environ": ENV}
    options.update(kwargs)
    return upload_record_artifact(record, sleep=clock.sleep, clock=clock, **options)


def _json(call: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(call.request.body)
    return body


def _happy(api: responses.RequestsMock) -> None:
    api.post(f"{TWIRP}/CreateArtifact", json={"ok": True, "signed_upload_url": SIGNED_URL})
    api.put(BLOB, status=201)
    api.post(f"{TWIRP}/FinalizeArtifact", json={"ok": True, "artifact_id": "987654"})


def test_create_upload_finalize(api: responses.RequestsMock, record: Path) -> None:
    _happy(api)
    clock = Clock()
    outcome = _upload(record, clock)
    assert outcome.action == "uploaded", outcome.message
    assert outcome.artifact_id == "987654"
    assert outcome.url == "https://github.com/acme/models/actions/runs/42/artifacts/987654"
    create, put, finalize = api.calls
    assert create.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert create.request.headers["Content-Type"] == "application/json"
    sent = _json(create)
    expiry = datetime.strptime(sent.pop("expires_at"), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert 29.9 < (expiry - datetime.now(UTC)).total_seconds() / 86400 <= 30  # 90 capped by GITHUB_RETENTION_DAYS
    assert sent == {
        "workflow_run_backend_id": RUN_ID,
        "workflow_job_run_backend_id": JOB_ID,
        "name": "model-approval-record",
        "version": 7,
        "mime_type": "application/zip",
    }
    assert put.request.headers["x-ms-blob-type"] == "BlockBlob"
    assert put.request.headers["x-ms-blob-content-type"] == "application/zip", "the blob's type is the declared mime_type"
    assert "Authorization" not in put.request.headers
    uploaded = put.request.body
    assert isinstance(uploaded, bytes)
    with zipfile.ZipFile(io.BytesIO(uploaded)) as archive:
        assert archive.namelist() == ["approval-record.json"]
        assert archive.read("approval-record.json") == record.read_bytes()
    assert _json(finalize) == {
        "workflow_run_backend_id": RUN_ID,
        "workflow_job_run_backend_id": JOB_ID,
        "name": "model-approval-record",
        "size": str(len(uploaded)),
        "hash": "sha256:" + hashlib.sha256(uploaded).hexdigest(),
    }
    assert clock.sleeps == []
    assert SIG not in outcome.message and SIG not in outcome.url


def test_blob_put_drops_any_authorization(api: responses.RequestsMock, record: Path) -> None:
    _happy(api)
    session = requests.Session()
    session.auth = ("user", "netrc-like-password")
    session.headers["Authorization"] = "Bearer leaked-session-header"
    outcome = _upload(record, Clock(), session=session)
    assert outcome.action == "uploaded"
    assert "Authorization" not in api.calls[1].request.headers
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_retries_503_then_succeeds(api: responses.RequestsMock, record: Path) -> None:
    api.post(f"{TWIRP}/CreateArtifact", status=503, json={"code": "unavailable", "msg": "busy"})
    api.post(f"{TWIRP}/CreateArtifact", status=503, json={"code": "unavailable", "msg": "busy"})
    _happy(api)
    clock = Clock()
    outcome = _upload(record, clock)
    assert outcome.action == "uploaded"
    assert len(clock.sleeps) == 2
    assert all(0 < s <= artifact.MAX_BACKOFF_SECONDS for s in clock.sleeps)


def test_retries_are_bounded(api: responses.RequestsMock, record: Path) -> None:
    api.post(f"{TWIRP}/CreateArtifact", status=503, json={"code": "unavailable", "msg": "busy"})
    clock = Clock()
    outcome = _upload(record, clock)
    assert outcome.action == "skipped"
    assert len(api.calls) == artifact.MAX_ATTEMPTS
    assert len(clock.sleeps) == artifact.MAX_ATTEMPTS - 1
    assert sum(clock.sleeps) <= artifact.TIME_BUDGET_SECONDS
    assert "HTTP 503 (busy)" in outcome.message
    assert "record-path" in outcome.message


def test_time_budget_stops_retrying(api: responses.RequestsMock, record: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artifact, "TIME_BUDGET_SECONDS", 1.0)
    api.post(f"{TWIRP}/CreateArtifact", status=429, json={"code": "resource_exhausted", "msg": "slow down"}, headers={"Retry-After": "5"})
    clock = Clock()
    outcome = _upload(record, clock)
    assert outcome.action == "skipped"
    assert "time budget" in outcome.message
    assert len(api.calls) == 1 and clock.sleeps == []


def test_client_errors_fail_fast(api: responses.RequestsMock, record: Path) -> None:
    api.post(f"{TWIRP}/CreateArtifact", status=400, json={"code": "invalid_argument", "msg": "insufficient usage to create artifact"})
    clock = Clock()
    outcome = _upload(record, clock)
    assert outcome.action == "skipped"
    assert len(api.calls) == 1 and clock.sleeps == []
    assert "storage quota" in outcome.message


def test_connection_errors_are_retried(api: responses.RequestsMock, record: Path) -> None:
    api.post(f"{TWIRP}/CreateArtifact", body=requests.ConnectionError("reset"))
    _happy(api)
    clock = Clock()
    assert _upload(record, clock).action == "uploaded"
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize("missing", ["ACTIONS_RUNTIME_TOKEN", "ACTIONS_RESULTS_URL"])
def test_skipped_without_runtime_env(api: responses.RequestsMock, record: Path, missing: str) -> None:
    env = {k: v for k, v in ENV.items() if k != missing}
    outcome = _upload(record, Clock(), environ=env)
    assert (outcome.action, outcome.artifact_id) == ("skipped", "")
    assert missing in outcome.message
    assert "record stays in the workspace" in outcome.message
    assert "`record-path`" in outcome.message and "actions/upload-artifact" in outcome.message
    assert len(api.calls) == 0


def test_skipped_on_ghes_and_for_bad_names(api: responses.RequestsMock, record: Path) -> None:
    ghes = GitHubContext(repository="acme/models", run_id="42", server_url="https://ghe.example.com")
    assert "Enterprise Server" in _upload(record, Clock(), ctx=ghes).message
    bad = _upload(record, Clock(), name="model:record/v1")
    assert bad.action == "skipped"
    assert "artifact-name" in bad.message and ":" in bad.message and "/" in bad.message
    assert len(api.calls) == 0


def test_backend_ids() -> None:
    assert backend_ids(TOKEN) == (RUN_ID, JOB_ID)
    for bad in ("not-a-jwt", make_token("Actions.Other"), make_token("Actions.Results:only-one")):
        with pytest.raises(artifact._UploadError):
            backend_ids(bad)


def test_zip_is_deterministic() -> None:
    first = artifact.zip_single_file("r.json", b"{}")
    assert first == artifact.zip_single_file("r.json", b"{}")
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.getinfo("r.json").date_time == (1980, 1, 1, 0, 0, 0)


def test_expiry() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert expires_at(90, "", now) == "2026-04-01T00:00:00Z"
    assert expires_at(90, "7", now) == "2026-01-08T00:00:00Z"
    assert expires_at(5, "400", now) == "2026-01-06T00:00:00Z"
    assert expires_at(None, "30", now) is None


def test_secrets_never_in_outcome(api: responses.RequestsMock, record: Path) -> None:
    api.post(f"{TWIRP}/CreateArtifact", json={"ok": True, "signed_upload_url": SIGNED_URL})
    api.put(BLOB, status=403, json={"msg": f"denied for {SIGNED_URL} with {TOKEN}"})
    outcome = _upload(record, Clock())
    assert outcome.action == "skipped"
    assert "HTTP 403" in outcome.message
    for secret in (TOKEN, SIG, "c2lnbmF0dXJlLXNlY3JldA=="):
        assert secret not in outcome.message


def test_a_name_taken_in_this_run_is_uploaded_under_another(api: responses.RequestsMock, record: Path) -> None:
    """A re-run of the job (artifact names are unique per run, across attempts) or a matrix job with the same name."""
    api.post(f"{TWIRP}/CreateArtifact", status=409, json={"code": "already_exists", "msg": "an artifact with this name already exists"})
    _happy(api)
    env = {**ENV, "GITHUB_JOB": "approve", "GITHUB_RUN_ATTEMPT": "2"}
    outcome = _upload(record, Clock(), environ=env)
    assert outcome.action == "uploaded", outcome.message
    first, second, _, finalize = api.calls
    assert _json(first)["name"] == "model-approval-record"
    renamed = _json(second)["name"]
    assert renamed.startswith("model-approval-record-approve-attempt2-") and len(renamed) == len("model-approval-record-approve-attempt2-") + 6
    assert _json(finalize)["name"] == renamed
    assert f"uploaded artifact {renamed}" in outcome.message and "was taken in this run" in outcome.message


def test_a_second_conflict_is_not_retried_forever(api: responses.RequestsMock, record: Path) -> None:
    api.post(f"{TWIRP}/CreateArtifact", status=409, json={"code": "already_exists", "msg": "exists"})
    api.post(f"{TWIRP}/CreateArtifact", status=409, json={"code": "already_exists", "msg": "exists"})
    outcome = _upload(record, Clock())
    assert outcome.action == "skipped"
    assert len(api.calls) == 2
    assert "HTTP 409" in outcome.message
