"""Artifact upload (service v4) against mocked Twirp and blob endpoints; responses intercepts every request."""

from __future__ import annotations

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
from tests.unit.test_github_artifact import ENV, JOB_ID, RESULTS, RUN_ID, TOKEN, Clock, _upload

TWIRP = f"{RESULTS}/twirp/github.actions.results.api.v1.ArtifactService"


SIG = "c2lnbmF0dXJlLXNlY3JldA%3D%3D"


BLOB = "https://127.0.0.1:9/blob/container/record.zip"


SIGNED_URL = f"{BLOB}?sv=2023-11-03&sig={SIG}&se=2030-01-01"


def _json(call: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(call.request.body)
    return body


def _happy(api: responses.RequestsMock) -> None:
    api.post(f"{TWIRP}/CreateArtifact", json={"ok": True, "signed_upload_url": SIGNED_URL})
    api.put(BLOB, status=201)
    api.post(f"{TWIRP}/FinalizeArtifact", json={"ok": True, "artifact_id": "987654"})


def test_create_upload_finalize(api: responses.RequestsMock, record_file: Path) -> None:
    _happy(api)
    clock = Clock()
    outcome = _upload(record_file, clock)
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
        assert archive.read("approval-record.json") == record_file.read_bytes()
    assert _json(finalize) == {
        "workflow_run_backend_id": RUN_ID,
        "workflow_job_run_backend_id": JOB_ID,
        "name": "model-approval-record",
        "size": str(len(uploaded)),
        "hash": "sha256:" + hashlib.sha256(uploaded).hexdigest(),
    }
    assert clock.sleeps == []
    assert SIG not in outcome.message and SIG not in outcome.url


def test_blob_put_drops_any_authorization(api: responses.RequestsMock, record_file: Path) -> None:
    _happy(api)
    session = requests.Session()
    session.auth = ("user", "netrc-like-password")
    session.headers["Authorization"] = "Bearer leaked-session-header"
    outcome = _upload(record_file, Clock(), session=session)
    assert outcome.action == "uploaded"
    assert "Authorization" not in api.calls[1].request.headers
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_retries_503_then_succeeds(api: responses.RequestsMock, record_file: Path) -> None:
    api.post(f"{TWIRP}/CreateArtifact", status=503, json={"code": "unavailable", "msg": "busy"})
    api.post(f"{TWIRP}/CreateArtifact", status=503, json={"code": "unavailable", "msg": "busy"})
    _happy(api)
    clock = Clock()
    outcome = _upload(record_file, clock)
    assert outcome.action == "uploaded"
    assert len(clock.sleeps) == 2
    assert all(0 < s <= artifact.MAX_BACKOFF_SECONDS for s in clock.sleeps)


def test_retries_are_bounded(api: responses.RequestsMock, record_file: Path) -> None:
    api.post(f"{TWIRP}/CreateArtifact", status=503, json={"code": "unavailable", "msg": "busy"})
    clock = Clock()
    outcome = _upload(record_file, clock)
    assert outcome.action == "skipped"
    assert len(api.calls) == artifact.MAX_ATTEMPTS
    assert len(clock.sleeps) == artifact.MAX_ATTEMPTS - 1
    assert sum(clock.sleeps) <= artifact.TIME_BUDGET_SECONDS
    assert "HTTP 503 (busy)" in outcome.message
    assert "record-path" in outcome.message


def test_time_budget_stops_retrying(api: responses.RequestsMock, record_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artifact, "TIME_BUDGET_SECONDS", 1.0)
    api.post(f"{TWIRP}/CreateArtifact", status=429, json={"code": "resource_exhausted", "msg": "slow down"}, headers={"Retry-After": "5"})
    clock = Clock()
    outcome = _upload(record_file, clock)
    assert outcome.action == "skipped"
    assert "time budget" in outcome.message
    assert len(api.calls) == 1 and clock.sleeps == []


def test_client_errors_fail_fast(api: responses.RequestsMock, record_file: Path) -> None:
    api.post(f"{TWIRP}/CreateArtifact", status=400, json={"code": "invalid_argument", "msg": "insufficient usage to create artifact"})
    clock = Clock()
    outcome = _upload(record_file, clock)
    assert outcome.action == "skipped"
    assert len(api.calls) == 1 and clock.sleeps == []
    assert "storage quota" in outcome.message


def test_connection_errors_are_retried(api: responses.RequestsMock, record_file: Path) -> None:
    api.post(f"{TWIRP}/CreateArtifact", body=requests.ConnectionError("reset"))
    _happy(api)
    clock = Clock()
    assert _upload(record_file, clock).action == "uploaded"
    assert len(clock.sleeps) == 1


def test_secrets_never_in_outcome(api: responses.RequestsMock, record_file: Path) -> None:
    api.post(f"{TWIRP}/CreateArtifact", json={"ok": True, "signed_upload_url": SIGNED_URL})
    api.put(BLOB, status=403, json={"msg": f"denied for {SIGNED_URL} with {TOKEN}"})
    outcome = _upload(record_file, Clock())
    assert outcome.action == "skipped"
    assert "HTTP 403" in outcome.message
    for secret in (TOKEN, SIG, "c2lnbmF0dXJlLXNlY3JldA=="):
        assert secret not in outcome.message


def test_a_name_taken_in_this_run_is_uploaded_under_another(api: responses.RequestsMock, record_file: Path) -> None:
    """A re-run of the job (artifact names are unique per run, across attempts) or a matrix job with the same name."""
    api.post(f"{TWIRP}/CreateArtifact", status=409, json={"code": "already_exists", "msg": "an artifact with this name already exists"})
    _happy(api)
    env = {**ENV, "GITHUB_JOB": "approve", "GITHUB_RUN_ATTEMPT": "2"}
    outcome = _upload(record_file, Clock(), environ=env)
    assert outcome.action == "uploaded", outcome.message
    first, second, _, finalize = api.calls
    assert _json(first)["name"] == "model-approval-record"
    renamed = _json(second)["name"]
    assert renamed.startswith("model-approval-record-approve-attempt2-") and len(renamed) == len("model-approval-record-approve-attempt2-") + 6
    assert _json(finalize)["name"] == renamed
    assert f"uploaded artifact {renamed}" in outcome.message and "was taken in this run" in outcome.message


def test_a_second_conflict_is_not_retried_forever(api: responses.RequestsMock, record_file: Path) -> None:
    api.post(f"{TWIRP}/CreateArtifact", status=409, json={"code": "already_exists", "msg": "exists"})
    api.post(f"{TWIRP}/CreateArtifact", status=409, json={"code": "already_exists", "msg": "exists"})
    outcome = _upload(record_file, Clock())
    assert outcome.action == "skipped"
    assert len(api.calls) == 2
    assert "HTTP 409" in outcome.message
