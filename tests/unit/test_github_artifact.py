"""Artifact upload (service v4) against mocked Twirp and blob endpoints; responses intercepts every request."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses

from approval.github import artifact
from approval.github.artifact import ArtifactOutcome, backend_ids, expires_at, upload_record_artifact
from approval.github.context import GitHubContext

RESULTS = "http://127.0.0.1:9"
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




def _upload(record_file: Path, clock: Clock, **kwargs: Any) -> ArtifactOutcome:
    options: dict[str, Any] = {"name": "model-approval-record", "retention_days": 90, "ctx": CTX, "environ": ENV}
    options.update(kwargs)
    return upload_record_artifact(record_file, sleep=clock.sleep, clock=clock, **options)


@pytest.mark.parametrize("missing", ["ACTIONS_RUNTIME_TOKEN", "ACTIONS_RESULTS_URL"])
def test_skipped_without_runtime_env(api: responses.RequestsMock, record_file: Path, missing: str) -> None:
    env = {k: v for k, v in ENV.items() if k != missing}
    outcome = _upload(record_file, Clock(), environ=env)
    assert (outcome.action, outcome.artifact_id) == ("skipped", "")
    assert missing in outcome.message
    assert "record stays in the workspace" in outcome.message
    assert "`record-path`" in outcome.message and "actions/upload-artifact" in outcome.message
    assert len(api.calls) == 0


def test_skipped_on_ghes_and_for_bad_names(api: responses.RequestsMock, record_file: Path) -> None:
    ghes = GitHubContext(repository="acme/models", run_id="42", server_url="https://ghe.example.com")
    assert "Enterprise Server" in _upload(record_file, Clock(), ctx=ghes).message
    bad = _upload(record_file, Clock(), name="model:record/v1")
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


