"""Upload the approval record as a workflow-run artifact with the artifact service v4, without Node.

The protocol is the one `@actions/artifact` speaks (packages/artifact/src/internal in actions/toolkit):
CreateArtifact (Twirp, JSON; version 7 with the artifact's MIME type, as the current toolkit sends it) → one PUT of a
zip to the signed Azure blob URL, the blob's content type set to that MIME type as the toolkit's Azure client sets it
(`x-ms-blob-content-type`) → FinalizeArtifact with size and sha256. Twirp calls are retried on 429, 5xx and
connection errors only, with a bounded count, a capped backoff and an overall time budget. Every failure comes back
as a "skipped" outcome with a reason: the record stays in the workspace and its path is an output, so a later
`actions/upload-artifact` step can still upload it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import random
import secrets
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

import requests
from requests.auth import AuthBase

from approval.common.errors import ConfigError
from approval.common.redact import redact, register_secret
from approval.github.context import GitHubContext

SERVICE = "github.actions.results.api.v1.ArtifactService"
ARTIFACT_VERSION = 7  # what @actions/artifact sends since 6.0: the artifact carries its MIME type (4: zip, no type)
ZIP_MIME_TYPE = "application/zip"
MAX_ATTEMPTS = 5
BASE_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 8.0
TIME_BUDGET_SECONDS = 60.0
TIMEOUT = (10.0, 60.0)  # connect, read
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
CONFLICT = 409  # Twirp `already_exists`: the name is taken in this workflow run
FORBIDDEN_NAME_CHARS = ('"', ":", "<", ">", "|", "*", "?", "\r", "\n", "\\", "/")
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class ArtifactOutcome:
    artifact_id: str
    url: str
    action: Literal["uploaded", "skipped"]
    message: str


class _UploadError(Exception):
    """A step failed; the message is the user-facing reason; `status` the HTTP status that ended it, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def conflict_free_name(name: str, environ: Mapping[str, str]) -> str:
    """Another name for an artifact whose name is taken in this workflow run: a re-run of the job (names are unique
    per run, across attempts) or a matrix job using the same name. Job and attempt say which, a short random part
    keeps two matrix jobs apart."""
    job = "".join(c for c in environ.get("GITHUB_JOB", "") if c not in FORBIDDEN_NAME_CHARS)[:60]
    attempt = environ.get("GITHUB_RUN_ATTEMPT", "").strip()
    parts = [name, job, f"attempt{attempt}" if attempt.isdigit() else "", secrets.token_hex(3)]
    return "-".join(p for p in parts if p)


class OnlyAuthorization(AuthBase):
    """Sets exactly this Authorization header, or none at all; a session's auth or a ~/.netrc cannot override it."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        if self.value is not None:
            request.headers["Authorization"] = self.value
        return request


def validate_artifact_name(name: str) -> None:
    """Reject names the artifact service refuses: empty, or containing any of " : < > | * ? CR LF \\ /."""
    if not name.strip():
        raise ConfigError("input `artifact-name` is empty", "set `artifact-name` or leave it at its default")
    bad = sorted({repr(c)[1:-1] for c in FORBIDDEN_NAME_CHARS if c in name})
    if bad:
        raise ConfigError(
            f"input `artifact-name` contains characters the artifact service rejects: {' '.join(bad)}",
            'remove " : < > | * ? \\ / and line breaks from `artifact-name`',
        )


def backend_ids(runtime_token: str) -> tuple[str, str]:
    """(workflow_run_backend_id, workflow_job_run_backend_id) from the token's `scp` claim (no signature check)."""
    try:
        payload = runtime_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        scopes = claims["scp"].split(" ")
    except (IndexError, KeyError, AttributeError, TypeError, ValueError, binascii.Error) as exc:
        raise _UploadError("ACTIONS_RUNTIME_TOKEN is not a JWT with an `scp` claim") from exc
    for scope in scopes:
        parts = scope.split(":")
        if parts[0] == "Actions.Results":
            if len(parts) != 3 or not all(parts[1:]):
                break
            return parts[1], parts[2]
    raise _UploadError("ACTIONS_RUNTIME_TOKEN carries no `Actions.Results:<run>:<job>` scope")


def zip_single_file(name: str, data: bytes) -> bytes:
    """A zip holding one file, byte-identical for identical input (fixed timestamp, mode and compression)."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIMESTAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, so the mode below is honoured
    info.external_attr = 0o100644 << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, data, compresslevel=6)
    return buffer.getvalue()


def expires_at(retention_days: int | None, max_days: str, now: datetime | None = None) -> str | None:
    """RFC 3339 expiry, `retention_days` capped by the repository's maximum (GITHUB_RETENTION_DAYS); None: default."""
    if not retention_days or retention_days < 1:
        return None
    days = retention_days
    if max_days.strip().isdigit() and 0 < int(max_days) < days:
        days = int(max_days)
    moment = (now or datetime.now(UTC)) + timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_ghes(server_url: str) -> bool:
    """The artifact service v4 exists on github.com and GHE.com only, as in @actions/artifact's isGhes()."""
    host = (urlsplit(server_url).hostname or "").upper()
    return not (host == "GITHUB.COM" or host.endswith((".GHE.COM", ".LOCALHOST")))


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


class _Retrier:
    """Bounded retries shared by every call of one upload: attempts per call, and one time budget overall."""

    def __init__(self, sleep: Sleep, clock: Clock) -> None:
        self.sleep = sleep
        self.clock = clock
        self.deadline = clock() + TIME_BUDGET_SECONDS

    def call(self, what: str, send: Callable[[], requests.Response]) -> requests.Response:
        problem = ""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            wait: float | None = None
            try:
                response = send()
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__}"
            else:
                if response.ok:
                    return response
                problem = f"HTTP {response.status_code}{_service_message(response)}"
                if response.status_code not in RETRYABLE_STATUSES:
                    raise _UploadError(f"{what} failed: {problem}", response.status_code)
                wait = _retry_after(response)
            if attempt == MAX_ATTEMPTS:
                break
            backoff = BASE_BACKOFF_SECONDS * 1.5 ** (attempt - 1) * random.uniform(1.0, 1.5)
            delay = min(wait if wait is not None else backoff, MAX_BACKOFF_SECONDS)
            if self.clock() + delay > self.deadline:
                raise _UploadError(f"{what} failed: {problem} (gave up after {attempt} attempts, time budget spent)")
            self.sleep(delay)
        raise _UploadError(f"{what} failed after {MAX_ATTEMPTS} attempts: {problem}")


def _service_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("msg") or body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        return ""
    if "insufficient usage" in message:
        return " (the artifact storage quota is used up; free space or raise the limit in billing settings)"
    return f" ({' '.join(message.split())[:200]})"


def _twirp(session: requests.Session, retrier: _Retrier, base: str, token: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
    url = f"{base}/twirp/{SERVICE}/{method}"
    auth = OnlyAuthorization(f"Bearer {token}")
    response = retrier.call(method, lambda: session.post(url, json=body, auth=auth, timeout=TIMEOUT))
    try:
        data = response.json()
    except ValueError as exc:
        raise _UploadError(f"{method} answered with a body that is not JSON") from exc
    if not isinstance(data, dict) or data.get("ok") is not True:
        raise _UploadError(f"{method}: the artifact service did not answer ok")
    return data


def _register_signed_url(url: str) -> None:
    for signature in parse_qs(urlsplit(url).query).get("sig", []):
        register_secret(signature)
        register_secret(quote(signature, safe=""))


def upload_record_artifact(
    record_path: str | os.PathLike[str],
    name: str,
    retention_days: int | None,
    ctx: GitHubContext,
    environ: Mapping[str, str],
    *,
    session: requests.Session | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> ArtifactOutcome:
    """Upload `record_path` zipped as artifact `name`. Never raises: any failure is a "skipped" outcome."""
    path = Path(record_path)
    keep = f"the record stays in the workspace at {path}; hand the `record-path` output to actions/upload-artifact"
    token = environ.get("ACTIONS_RUNTIME_TOKEN", "").strip()
    results_url = environ.get("ACTIONS_RESULTS_URL", "").strip()
    register_secret(token)
    if not token or not results_url:
        unset = [n for n, v in (("ACTIONS_RUNTIME_TOKEN", token), ("ACTIONS_RESULTS_URL", results_url)) if not v]
        why = f"{' and '.join(unset)} not set (not in GitHub Actions, or a runner before v2.308.0)"
        return _skipped(f"artifact not uploaded: {why}; {keep}")
    if is_ghes(ctx.server_url):
        return _skipped(f"artifact not uploaded: GitHub Enterprise Server has no artifact service v4; {keep}")
    try:
        validate_artifact_name(name)
    except ConfigError as exc:
        return _skipped(f"artifact not uploaded: {exc.line()}; {keep}")
    own_session = session is None
    http = session or requests.Session()
    try:
        run_id, job_id = backend_ids(token)
        try:
            content = zip_single_file(path.name, path.read_bytes())
        except OSError as exc:
            raise _UploadError(f"cannot read the record ({exc.strerror or type(exc).__name__})") from exc
        parts = urlsplit(results_url)
        base = f"{parts.scheme}://{parts.netloc}"
        retrier = _Retrier(sleep, clock)
        ids = {"workflow_run_backend_id": run_id, "workflow_job_run_backend_id": job_id, "name": name}
        renamed = ""

        create: dict[str, Any] = {**ids, "version": ARTIFACT_VERSION, "mime_type": ZIP_MIME_TYPE}
        expiry = expires_at(retention_days, environ.get("GITHUB_RETENTION_DAYS", ""))
        if expiry:
            create["expires_at"] = expiry
        try:
            created = _twirp(http, retrier, base, token, "CreateArtifact", create)
        except _UploadError as exc:
            if exc.status != CONFLICT:
                raise
            taken, name = name, conflict_free_name(name, environ)
            ids["name"] = create["name"] = name
            created = _twirp(http, retrier, base, token, "CreateArtifact", create)
            renamed = f" (the name {taken} was taken in this run: a re-run or a matrix job)"
        upload_url = created.get("signed_upload_url") or created.get("signedUploadUrl")
        if not isinstance(upload_url, str) or not upload_url.startswith("https://"):
            raise _UploadError("CreateArtifact returned no signed upload URL")
        _register_signed_url(upload_url)

        blob_headers = {"x-ms-blob-type": "BlockBlob", "x-ms-blob-content-type": ZIP_MIME_TYPE, "Content-Type": ZIP_MIME_TYPE}
        retrier.call(
            "blob upload",
            lambda: http.put(upload_url, data=content, headers=blob_headers, auth=OnlyAuthorization(None), timeout=TIMEOUT),
        )

        digest = hashlib.sha256(content).hexdigest()
        finalize = {**ids, "size": str(len(content)), "hash": f"sha256:{digest}"}
        finalized = _twirp(http, retrier, base, token, "FinalizeArtifact", finalize)
        artifact_id = str(finalized.get("artifact_id") or finalized.get("artifactId") or "")
        if not artifact_id.isdigit():
            raise _UploadError("FinalizeArtifact returned no artifact id")
    except _UploadError as exc:
        return _skipped(f"artifact not uploaded: {exc}; {keep}")
    except Exception as exc:  # noqa: BLE001 - a publisher never breaks the verdict; it reports why
        return _skipped(f"artifact not uploaded: unexpected {type(exc).__name__}; {keep}")
    finally:
        if own_session:
            http.close()
    url = f"{ctx.server_url}/{ctx.repository}/actions/runs/{ctx.run_id}/artifacts/{artifact_id}"
    message = f"uploaded artifact {name} ({len(content)} bytes, sha256:{digest}){renamed}"
    return ArtifactOutcome(artifact_id, redact(url), "uploaded", redact(message))


def _skipped(message: str) -> ArtifactOutcome:
    return ArtifactOutcome("", "", "skipped", redact(message))
