"""An in-memory GitHub on 127.0.0.1: just enough REST API and artifact service (v4) for `approval.github`.

What PyGithub calls for the sticky comment and the tracking issue, with the payload shapes it reads (see
github/Issue.py, IssueComment.py, Label.py, PaginatedList.py in PyGithub), and what `approval.github.artifact` calls
(the Twirp ArtifactService and one PUT to a signed blob URL):

- ``GET /user`` (403 for the workflow's installation token, or the token's user when ``token_user`` is given);
- ``GET /repos/{owner}/{repo}``, ``GET /repos/{owner}/{repo}/issues/{n}``, ``PATCH`` it (state, state_reason, ...);
- ``GET /repos/{owner}/{repo}/issues`` (state, labels, sort, direction, per_page, page; pull requests included, as
  GitHub does) and ``POST`` it;
- ``GET`` / ``POST /repos/{owner}/{repo}/issues/{n}/comments`` (paginated with a ``Link`` header whose URLs use
  ``/repositories/{id}/…``, as GitHub's do), ``GET`` / ``PATCH /repos/{owner}/{repo}/issues/comments/{id}``;
- ``GET /repos/{owner}/{repo}/labels/{name}``, ``POST /repos/{owner}/{repo}/labels`` (422 ``already_exists``);
- ``POST /twirp/github.actions.results.api.v1.ArtifactService/{CreateArtifact,FinalizeArtifact}`` and
  ``PUT /blob/…?…&sig=…`` (the "Azure" blob store, on the same server);
- a git repository: ``GET`` / ``PUT /repos/{owner}/{repo}/contents/{path}`` (``ref``; a file, or a directory's
  listing), ``GET /repos/{owner}/{repo}/git/ref/heads/{branch}``, ``POST …/git/refs``, ``POST …/git/trees``,
  ``POST …/git/commits`` — commits hold whole trees; ``add_commit()`` makes one (the base of a pull request, say);
- workflow runs and their artifacts: ``GET …/actions/runs/{id}``, ``GET …/actions/workflows/{id}/runs`` (``status``,
  newest first), ``GET …/actions/runs/{id}/artifacts``, ``GET …/actions/artifacts/{id}/zip`` (a 302 to a signed blob
  URL, which ``GET /blob/…`` then serves without any Authorization). A run is registered with ``start_run()`` under
  the backend id its runtime token carries, so the artifacts the action uploads (Twirp) belong to it.

Every request is recorded (method, path, query, headers, body). The API checks the GitHub token, Twirp the runtime
token (any Bearer token while ``runtime_tokens`` is empty), the blob store the ``sig`` query parameter. ``fail()``
makes chosen requests answer with an error status.

Every exchange is held to GitHub's published contract at the dispatch layer (harness/github_contract.py), so
any route added here is too: a request that is not a documented operation, or whose parameters or body the
description does not allow, and an answer whose status or body it does not allow, are kept in
``contract_violations`` and fail the test when the fake exits (``enforce_contract=False`` only keeps them, for the
tests of the checks themselves). The Twirp calls are checked against the toolkit's generated messages, the blob
upload against what the toolkit's Azure client sends.

By default the server speaks TLS with a certificate from a throw-away CA (``ca_file``): the action only uploads to
``https://`` signed URLs, so a client must trust that CA (``REQUESTS_CA_BUNDLE`` for requests and PyGithub)::

    with FakeGitHub("octo-org/octo-repo", token="ghs_…") as gh:
        gh.add_pull_request(7)
        ... run the action with GITHUB_API_URL=gh.api_url, ACTIONS_RESULTS_URL=gh.results_url ...
        assert gh.comments(7)[0].body.startswith("<!-- model-approval-gate:")
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shutil
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from harness import github_shapes as shapes
from harness.github_contract import Violation, check_blob_download, check_blob_upload, rest_contract, twirp_contract
from harness.tls import TLSHandlerMixin, TLSServerMixin, make_tls_files, server_context

__all__ = ["Artifact", "Blob", "FakeComment", "FakeCommit", "FakeGitHub", "FakeIssue", "FakeWorkflowRun", "RecordedRequest"]

TWIRP_PREFIX = "/twirp/github.actions.results.api.v1.ArtifactService/"
ACTIONS_BOT = ("github-actions[bot]", 41898282)
_EPOCH = shapes.EPOCH
_READ_TIMEOUT_S = 10.0
_MAX_BODY = 8 * 1024 * 1024


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # keys lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class FakeComment:
    id: int
    issue_number: int
    body: str
    user: tuple[str, int]
    created_at: datetime
    updated_at: datetime


@dataclass
class FakeIssue:
    number: int
    title: str
    body: str
    user: tuple[str, int]
    created_at: datetime
    updated_at: datetime
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None
    is_pull_request: bool = False


@dataclass
class Blob:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    data: bytes


@dataclass
class Artifact:
    name: str
    create_request: dict[str, Any]
    upload_path: str
    signature: str
    finalize_request: dict[str, Any] | None = None
    artifact_id: str = ""
    download_signature: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    created_at: datetime | None = None
    expired: bool = False


@dataclass
class FakeCommit:
    sha: str
    files: dict[str, bytes]  # the whole tree: path → content
    parents: list[str]
    message: str
    tree_sha: str
    created_at: datetime


@dataclass
class FakeWorkflowRun:
    id: int
    workflow_id: int
    backend_id: str  # the `Actions.Results:<run backend id>:…` part of the run's runtime token
    event: str
    head_sha: str
    head_branch: str
    run_number: int
    created_at: datetime
    run_attempt: int = 1
    status: str = "in_progress"
    conclusion: str | None = None


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    message: str
    remaining: int | None


class _Reply(Exception):
    """Raised by a route to answer with `status` and a JSON (or raw) body."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.raw = raw


class _Server(TLSServerMixin, ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGitHub

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Not printed as a traceback: a client hanging up is normal (a finished run drops its keep-alive connections);
        # anything else, such as a client refusing the certificate, is kept for the test to see.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError | ssl.SSLEOFError):
            return
        self.fake.errors.append(f"connection from {client_address}: {type(exc).__name__}: {exc}")


class _Handler(TLSHandlerMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "fake-github/1"
    sys_version = ""

    def setup(self) -> None:
        self.request.settimeout(_READ_TIMEOUT_S)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._send(_Reply(411, {"message": "chunked bodies are not supported by the fake"}), None)
            self.close_connection = True
            return
        size = int(length) if length and length.isdigit() else 0
        if size > _MAX_BODY:
            self._send(_Reply(413, {"message": "too large"}), None)
            self.close_connection = True
            return
        body = self.rfile.read(size) if size else b""
        parts = urlsplit(self.path)
        recorded = RecordedRequest(
            method=self.command,
            path=unquote(parts.path),
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        fake = self.server.fake
        try:
            fake.dispatch(recorded)
        except _Reply as reply:
            self._send(reply, recorded)
        except Exception as exc:  # noqa: BLE001 - a bug in the fake answers 500 and is kept for the test to see
            fake.errors.append(f"{recorded.method} {recorded.path}: {type(exc).__name__}: {exc}")
            self._send(_Reply(500, {"message": f"fake-github bug: {type(exc).__name__}"}), None)

    def _send(self, reply: _Reply, request: RecordedRequest | None) -> None:
        if reply.raw is not None:
            payload = reply.raw
            content_type = reply.headers.pop("Content-Type", "application/octet-stream")
        else:
            payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
            content_type = "application/json; charset=utf-8"
        if request is not None:
            self.server.fake.check_response(request, reply.status, {"content-type": content_type, **reply.headers}, payload)
        self.send_response(reply.status)
        if payload or reply.status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle


class FakeGitHub:
    """The fake; a context manager that serves on 127.0.0.1 on a free port until it exits."""

    def __init__(
        self,
        repository: str = "octo-org/octo-repo",
        *,
        token: str = "ghs_fake0token0for0the0fake0github0api00",
        runtime_tokens: set[str] | None = None,
        server_url: str = "https://github.com",
        repo_id: int = 123456789,
        tls: bool = True,
        enforce_contract: bool = True,
        token_user: tuple[str, int] | None = None,
    ) -> None:
        owner, _, name = repository.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"repository must be owner/name, got {repository!r}")
        self.repository = repository
        self.token = token
        self.runtime_tokens: set[str] = set(runtime_tokens or ())  # empty: any Bearer token is accepted
        self.server_url = server_url.rstrip("/")
        self.repo_id = repo_id
        self.tls = tls
        self.token_user = token_user  # None: the token is the workflow's (an app installation's), which has no user
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []
        # Every exchange is held to GitHub's published contract (harness/github_contract.py); what breaks it is
        # kept here and fails the test when the fake exits, unless `enforce_contract` is False (tests of the checks).
        self.enforce_contract = enforce_contract
        self.contract_violations: list[Violation] = []
        self.contract_checked = 0  # requests and answers held to the contract (blob uploads included)
        rest_contract(), twirp_contract()  # loaded now: a missing contract fails the test before anything runs
        self.issues: dict[int, FakeIssue] = {}
        self.comment_store: dict[int, FakeComment] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        self.artifacts: list[Artifact] = []
        self.blobs: dict[str, Blob] = {}
        self.faults: list[_Fault] = []
        self.commits: dict[str, FakeCommit] = {}
        self.branches: dict[str, str] = {}  # branch → commit sha
        self.default_branch = "main"
        self.workflows: dict[int, tuple[str, str]] = {}  # id → (path, name)
        self.runs: dict[int, FakeWorkflowRun] = {}
        self._trees: dict[str, dict[str, bytes]] = {}  # trees created through the API, not yet committed
        self._lock = threading.RLock()
        self._clock = 0
        self._next_number = 1
        self._next_comment_id = 2_400_000_001
        self._next_artifact_id = 3_100_000_001
        self._next_label_id = 7_000_000_001
        self._dir: Path | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.ca_file: Path | None = None

    # --- life cycle -------------------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._dir = Path(tempfile.mkdtemp(prefix="fake-github-"))
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        if self.tls:
            self.ca_file, cert_file, key_file = make_tls_files(self._dir)
            server.tls_context = server_context(cert_file, key_file)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="fake-github", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        if exc_type is None and self.enforce_contract:
            self.assert_contract_kept()

    def assert_contract_kept(self) -> None:
        """Fails (AssertionError) naming each request the action sent, or answer the fake gave, that GitHub's
        published contract does not allow."""
        with self._lock:
            found = list(dict.fromkeys(str(v) for v in self.contract_violations))
        if found:
            listing = "\n  ".join(found[:40]) + (f"\n  … and {len(found) - 40} more" if len(found) > 40 else "")
            raise AssertionError(f"{len(found)} exchange(s) with the local GitHub break GitHub's published contract:\n  {listing}")

    # --- the contract ---------------------------------------------------------------------------------------------

    def check_request(self, req: RecordedRequest) -> None:
        if req.path.startswith("/blob/"):  # the blob upload is checked by `_blob`
            return
        if req.path.startswith(TWIRP_PREFIX):
            found = twirp_contract().check_request(req.path, req.headers, req.body)
        else:
            found = rest_contract().check_request(req.method, req.path, req.query, req.headers, req.body)
        with self._lock:
            self.contract_checked += 1
            self.contract_violations.extend(found)

    def check_response(self, req: RecordedRequest, status: int, headers: dict[str, str], body: bytes) -> None:
        if req.path.startswith("/blob/"):
            return
        if req.path.startswith(TWIRP_PREFIX):
            found = twirp_contract().check_response(req.path, status, headers, body)
        else:
            found = rest_contract().check_response(req.method, req.path, status, headers, body, req.headers.get("accept", ""))
        with self._lock:
            self.contract_checked += 1
            self.contract_violations.extend(found)

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeGitHub is not running: use it as a context manager")
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.origin

    @property
    def results_url(self) -> str:
        return self.origin + "/"

    # --- test set-up and inspection ---------------------------------------------------------------------------------

    def _now(self) -> datetime:
        with self._lock:
            self._clock += 1
            return _EPOCH + timedelta(seconds=self._clock)

    def add_pull_request(self, number: int, title: str = "Switch the agent to a new model", user: str = "octocat") -> FakeIssue:
        """A pull request (which is an issue too, sharing the number sequence)."""
        with self._lock:
            now = self._now()
            issue = FakeIssue(number, title, "", (user, 583231), now, now, is_pull_request=True)
            self.issues[number] = issue
            self._next_number = max(self._next_number, number + 1)
            return issue

    def add_comment(self, number: int, body: str, user: tuple[str, int] = ("someone-else", 1234567)) -> FakeComment:
        with self._lock:
            if number not in self.issues:
                raise KeyError(f"no issue or pull request #{number}")
            now = self._now()
            comment = FakeComment(self._next_comment_id, number, body, user, now, now)
            self._next_comment_id += 1
            self.comment_store[comment.id] = comment
            return comment

    def fail(self, method: str, path_pattern: str, status: int, message: str, times: int | None = None) -> None:
        """Answer requests whose method matches and whose path matches `path_pattern` (re.search) with an error."""
        self.faults.append(_Fault(method.upper(), re.compile(path_pattern), status, message, times))

    def add_commit(self, files: Mapping[str, str | bytes], *, sha: str | None = None, branch: str | None = None, parents: list[str] | None = None,
                   message: str = "A commit") -> str:
        """A commit holding exactly `files` (its whole tree); moves `branch` to it when given."""
        with self._lock:
            tree = {path: data.encode("utf-8") if isinstance(data, str) else data for path, data in files.items()}
            tree_sha = _tree_sha(tree)
            commit_sha = sha or _git_sha("commit", f"{tree_sha}\n{parents}\n{message}\n{self._now()}".encode())
            self.commits[commit_sha] = FakeCommit(commit_sha, tree, list(parents or []), message, tree_sha, self._now())
            if branch is not None:
                self.branches[branch] = commit_sha
            return commit_sha

    def file_at(self, ref: str, path: str) -> bytes | None:
        commit = self.commits.get(self.branches.get(ref, ref))
        return None if commit is None else commit.files.get(path)

    def branch_files(self, branch: str) -> dict[str, bytes]:
        sha = self.branches.get(branch)
        return dict(self.commits[sha].files) if sha else {}

    def add_workflow(self, path: str, name: str) -> int:
        with self._lock:
            workflow_id = 161_335_000 + len(self.workflows) + 1
            self.workflows[workflow_id] = (path, name)
            return workflow_id

    def start_run(self, run_id: int, workflow_id: int, backend_id: str, *, event: str, head_sha: str, head_branch: str) -> FakeWorkflowRun:
        """A workflow run in progress; artifacts uploaded with a runtime token for `backend_id` belong to it."""
        with self._lock:
            number = 1 + sum(1 for r in self.runs.values() if r.workflow_id == workflow_id)
            run = FakeWorkflowRun(run_id, workflow_id, backend_id, event, head_sha, head_branch, number, self._now())
            self.runs[run_id] = run
            return run

    def finish_run(self, run_id: int, conclusion: str) -> None:
        with self._lock:
            run = self.runs[run_id]
            run.status, run.conclusion = "completed", conclusion

    def comments(self, number: int) -> list[FakeComment]:
        with self._lock:
            return sorted((c for c in self.comment_store.values() if c.issue_number == number), key=lambda c: c.id)

    def requests_matching(self, method: str, path_pattern: str) -> list[RecordedRequest]:
        pattern = re.compile(path_pattern)
        return [r for r in list(self.requests) if r.method == method and pattern.search(r.path)]

    # --- JSON shapes ------------------------------------------------------------------------------------------------

    def _repo_api(self) -> str:
        return f"{self.api_url}/repos/{self.repository}"

    def _user(self, user: tuple[str, int]) -> dict[str, Any]:
        return shapes.simple_user(self.api_url, self.server_url, *user)

    def _label_json(self, name: str) -> dict[str, Any]:
        return self.labels.get(name) or shapes.label(self.api_url, self.repository, name, 0)

    def _issue_json(self, issue: FakeIssue) -> dict[str, Any]:
        return shapes.issue(
            self.api_url, self.server_url, self.repository, issue.number, title=issue.title, body=issue.body or None,
            user=self._user(issue.user), labels=[self._label_json(n) for n in issue.labels], state=issue.state,
            state_reason=issue.state_reason, comments=len(self.comments(issue.number)), created_at=issue.created_at,
            updated_at=issue.updated_at, closed_at=issue.closed_at, pull_request=issue.is_pull_request,
        )

    def _comment_json(self, comment: FakeComment) -> dict[str, Any]:
        return shapes.issue_comment(
            self.api_url, self.server_url, self.repository, comment.issue_number, comment.id, body=comment.body,
            user=self._user(comment.user), created_at=comment.created_at, updated_at=comment.updated_at,
            pull_request=self.issues[comment.issue_number].is_pull_request,
        )

    def _repo_json(self) -> dict[str, Any]:
        open_issues = sum(1 for i in self.issues.values() if i.state == "open")
        return shapes.full_repository(self.api_url, self.server_url, self.repository, self.repo_id, open_issues=open_issues)

    # --- dispatch ---------------------------------------------------------------------------------------------------

    def dispatch(self, req: RecordedRequest) -> None:
        self.check_request(req)
        with self._lock:
            self.requests.append(req)
            for fault in self.faults:
                if fault.method == req.method and fault.pattern.search(req.path) and fault.remaining != 0:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    raise _Reply(fault.status, {"message": fault.message, "documentation_url": "https://docs.github.com/rest",
                                                "status": str(fault.status)})
        if req.path.startswith(TWIRP_PREFIX):
            self._twirp(req)
        if req.path.startswith("/blob/"):
            self._blob(req)
        with self._lock:
            self._api(req)

    def _api(self, req: RecordedRequest) -> None:
        if req.headers.get("authorization", "") not in (f"token {self.token}", f"Bearer {self.token}"):
            raise _Reply(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
        if req.path == "/user" and req.method == "GET":
            self._authenticated_user()
        owner, name = self.repository.split("/")
        prefixes = (f"/repos/{owner}/{name}", f"/repositories/{self.repo_id}")
        rest = next((req.path[len(p):] for p in prefixes if req.path == p or req.path.startswith(p + "/")), None)
        if rest is None:
            raise _not_found()
        routes: list[tuple[str, str, Callable[..., None]]] = [
            ("GET", r"", lambda: self._ok(self._repo_json())),
            ("GET", r"/issues", lambda: self._list_issues(req)),
            ("POST", r"/issues", lambda: self._create_issue(req)),
            ("GET", r"/issues/(\d+)", lambda n: self._ok(self._issue_json(self._issue(n)))),
            ("PATCH", r"/issues/(\d+)", lambda n: self._edit_issue(req, n)),
            ("GET", r"/issues/(\d+)/comments", lambda n: self._list_comments(req, n)),
            ("POST", r"/issues/(\d+)/comments", lambda n: self._create_comment(req, n)),
            ("GET", r"/issues/comments/(\d+)", lambda i: self._ok(self._comment_json(self._comment(i)))),
            ("PATCH", r"/issues/comments/(\d+)", lambda i: self._edit_comment(req, i)),
            ("GET", r"/labels/([^/]+)", lambda n: self._ok(self._get_label(n))),
            ("POST", r"/labels", lambda: self._create_label(req)),
            ("GET", r"/contents(?:/(.*))?", lambda path: self._get_contents(req, path or "")),
            ("PUT", r"/contents/(.+)", lambda path: self._put_contents(req, path)),
            ("GET", r"/git/ref/heads/(.+)", lambda branch: self._ok(self._ref_json(branch))),
            ("POST", r"/git/refs", lambda: self._create_ref(req)),
            ("POST", r"/git/trees", lambda: self._create_tree(req)),
            ("POST", r"/git/commits", lambda: self._create_git_commit(req)),
            ("GET", r"/git/commits/([0-9a-f]{40})", lambda sha: self._ok(self._git_commit(sha))),
            ("GET", r"/actions/runs/(\d+)", lambda n: self._ok(self._run_json(self._run(n)))),
            ("GET", r"/actions/workflows/([^/]+)/runs", lambda w: self._list_runs(req, w)),
            ("GET", r"/actions/runs/(\d+)/artifacts", lambda n: self._list_artifacts(req, n)),
            ("GET", r"/actions/artifacts/(\d+)/zip", self._download_artifact),
        ]
        for method, pattern, handler in routes:
            match = re.fullmatch(pattern, rest)
            if match:
                if method != req.method:
                    continue
                handler(*match.groups())
        raise _not_found()

    def _authenticated_user(self) -> None:
        """`GET /user`: an installation token (the workflow's) is refused with 403, as GitHub does."""
        if self.token_user is None:
            raise _Reply(403, {"message": "Resource not accessible by integration", "status": "403",
                               "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user"})
        self._ok(shapes.public_user(self.api_url, self.server_url, *self.token_user))

    @staticmethod
    def _ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        base = {"X-GitHub-Media-Type": "github.v3; format=json", "X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "999",
                "X-RateLimit-Reset": "4102444800", "X-RateLimit-Used": "1", "X-RateLimit-Resource": "core",
                "X-GitHub-Request-Id": secrets.token_hex(8).upper()}
        raise _Reply(status, data, {**base, **(headers or {})})

    def _issue(self, number: str) -> FakeIssue:
        issue = self.issues.get(int(number))
        if issue is None:
            raise _not_found()
        return issue

    def _comment(self, comment_id: str) -> FakeComment:
        comment = self.comment_store.get(int(comment_id))
        if comment is None:
            raise _not_found()
        return comment

    def _body(self, req: RecordedRequest) -> dict[str, Any]:
        try:
            data = req.json()
        except (UnicodeDecodeError, ValueError):
            raise _problems_parsing_json() from None
        if not isinstance(data, dict):
            raise _problems_parsing_json()
        return data

    def _page(self, req: RecordedRequest, items: list[dict[str, Any]], path: str, params: dict[str, str]) -> None:
        """One page and GitHub's Link header (per_page default 30, max 100; URLs under /repositories/{id})."""
        try:
            per_page = min(max(int(req.param("per_page") or 30), 1), 100)
            page = max(int(req.param("page") or 1), 1)
        except ValueError:
            raise _validation_failed() from None
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page: page * per_page]
        base = f"{self.api_url}/repositories/{self.repo_id}{path}"

        def link(n: int, rel: str) -> str:
            query = urlencode({**params, "per_page": str(per_page), "page": str(n)})
            return f'<{base}?{query}>; rel="{rel}"'

        links = []
        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        self._ok(chunk, headers={"Link": ", ".join(links)} if links else None)

    def _list_issues(self, req: RecordedRequest) -> None:
        state = req.param("state") or "open"
        wanted = [n for n in (req.param("labels") or "").split(",") if n]
        issues = [i for i in self.issues.values() if (state == "all" or i.state == state) and all(n in i.labels for n in wanted)]
        key = (lambda i: i.updated_at) if req.param("sort") == "updated" else (lambda i: i.created_at)
        issues.sort(key=key, reverse=(req.param("direction") or "desc") == "desc")
        params = {k: v for k in ("state", "labels", "sort", "direction") if (v := req.param(k) or "")}
        self._page(req, [self._issue_json(i) for i in issues], "/issues", params)

    def _ensure_labels(self, names: list[str]) -> None:
        for label in names:  # GitHub creates missing labels named on an issue, with a default colour
            if label not in self.labels:
                self.labels[label] = shapes.label(self.api_url, self.repository, label, self._next_label_id)
                self._next_label_id += 1

    def _create_issue(self, req: RecordedRequest) -> None:
        data = self._body(req)
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _validation_failed({"resource": "Issue", "code": "missing_field", "field": "title"})
        labels = [str(n) for n in data.get("labels") or []]
        self._ensure_labels(labels)
        now = self._now()
        issue = FakeIssue(self._next_number, title, str(data.get("body") or ""), ACTIONS_BOT, now, now, labels=labels)
        self._next_number += 1
        self.issues[issue.number] = issue
        self._ok(self._issue_json(issue), 201, {"Location": self._issue_json(issue)["url"]})

    def _edit_issue(self, req: RecordedRequest, number: str) -> None:
        issue, data = self._issue(number), self._body(req)
        if "state" in data:
            if data["state"] not in ("open", "closed"):
                raise _validation_failed({"resource": "Issue", "code": "invalid", "field": "state"})
            issue.state = data["state"]
            issue.closed_at = self._now() if issue.state == "closed" else None
            issue.state_reason = data.get("state_reason") or ("completed" if issue.state == "closed" else "reopened")
        for attr in ("title", "body"):
            if isinstance(data.get(attr), str):
                setattr(issue, attr, data[attr])
        if isinstance(data.get("labels"), list):
            issue.labels = [str(n) for n in data["labels"]]
            self._ensure_labels(issue.labels)
        issue.updated_at = self._now()
        self._ok(self._issue_json(issue))

    def _list_comments(self, req: RecordedRequest, number: str) -> None:
        issue = self._issue(number)
        self._page(req, [self._comment_json(c) for c in self.comments(issue.number)], f"/issues/{issue.number}/comments", {})

    def _create_comment(self, req: RecordedRequest, number: str) -> None:
        issue, data = self._issue(number), self._body(req)
        body = data.get("body")
        if not isinstance(body, str) or not body:
            raise _validation_failed({"resource": "IssueComment", "code": "missing_field", "field": "body"})
        if len(body) > 65536:
            raise _validation_failed({"resource": "IssueComment", "code": "custom", "field": "body",
                                      "message": "body is too long (maximum is 65536 characters)"})
        comment = self.add_comment(issue.number, body, ACTIONS_BOT)
        issue.updated_at = comment.created_at
        self._ok(self._comment_json(comment), 201, {"Location": self._comment_json(comment)["url"]})

    def _edit_comment(self, req: RecordedRequest, comment_id: str) -> None:
        comment, data = self._comment(comment_id), self._body(req)
        body = data.get("body")
        if not isinstance(body, str) or not body or len(body) > 65536:
            raise _validation_failed({"resource": "IssueComment", "code": "invalid", "field": "body"})
        comment.body = body
        comment.updated_at = self._now()
        self._ok(self._comment_json(comment))

    def _get_label(self, name: str) -> dict[str, Any]:
        label = self.labels.get(name)
        if label is None:
            raise _not_found()
        return label

    def _create_label(self, req: RecordedRequest) -> None:
        data = self._body(req)
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise _validation_failed({"resource": "Label", "code": "missing_field", "field": "name"})
        if name in self.labels:
            raise _validation_failed({"resource": "Label", "code": "already_exists", "field": "name"},
                                     "https://docs.github.com/rest/issues/labels#create-a-label")
        self.labels[name] = shapes.label(self.api_url, self.repository, name, self._next_label_id, str(data.get("color") or "ededed"),
                                         data.get("description"))
        self._next_label_id += 1
        self._ok(self.labels[name], 201, {"Location": self.labels[name]["url"]})

    # --- git: contents, refs, trees, commits -------------------------------------------------------------------------

    def _commit_for(self, ref: str | None) -> FakeCommit:
        name = ref or self.default_branch
        commit = self.commits.get(self.branches.get(name, name))
        if commit is None:
            raise _Reply(404, {"message": f"No commit found for the ref {name}", "documentation_url": "https://docs.github.com/rest/repos/contents#get-repository-content",
                               "status": "404"})
        return commit

    def _entry_json(self, path: str, data: bytes | None, ref: str) -> dict[str, Any]:
        sha = _git_sha("blob", data) if data is not None else _git_sha("tree", path.encode())
        return shapes.content_entry(self.api_url, self.server_url, self.repository, path, ref, sha=sha, size=None if data is None else len(data))

    def _get_contents(self, req: RecordedRequest, path: str) -> None:
        ref = req.param("ref") or self.default_branch
        commit = self._commit_for(ref)
        path = path.strip("/")
        data = commit.files.get(path)
        if data is not None:
            self._ok(shapes.content_file(self.api_url, self.server_url, self.repository, path, ref, sha=_git_sha("blob", data), data=data))
        prefix = f"{path}/" if path else ""
        below = sorted({p[len(prefix):].split("/", 1)[0] + ("/" if "/" in p[len(prefix):] else "") for p in commit.files if p.startswith(prefix)})
        if not below:
            raise _not_found()
        entries = [self._entry_json(prefix + n.rstrip("/"), None if n.endswith("/") else commit.files[prefix + n], ref) for n in below]
        self._ok(entries)

    def _put_contents(self, req: RecordedRequest, path: str) -> None:
        data = self._body(req)
        message, content = data.get("message"), data.get("content")
        if not isinstance(message, str) or not message or not isinstance(content, str):
            raise _Reply(422, {"message": "Invalid request.\n\n\"message\", \"content\" weren't supplied.", "status": "422"})
        branch = str(data.get("branch") or self.default_branch)
        if branch not in self.branches:
            raise _Reply(404, {"message": f"Branch {branch} not found", "status": "404"})
        parent = self.commits[self.branches[branch]]
        old = parent.files.get(path)
        if old is not None and data.get("sha") != _git_sha("blob", old):
            if data.get("sha") is None:
                raise _Reply(422, {"message": "Invalid request.\n\n\"sha\" wasn't supplied.", "status": "422"})
            raise _Reply(409, {"message": f"{path} does not match {data.get('sha')}", "status": "409"})
        try:
            blob = base64.b64decode(content, validate=True)
        except ValueError:
            raise _Reply(422, {"message": "content is not valid Base64", "status": "422"}) from None
        sha = self.add_commit({**parent.files, path: blob}, branch=branch, parents=[parent.sha], message=message)
        entry = self._entry_json(path, blob, branch)
        self._ok(shapes.file_commit(entry, self._git_commit_json(self.commits[sha])), 200 if old is not None else 201)

    def _git_commit_json(self, commit: FakeCommit) -> dict[str, Any]:
        return shapes.git_commit(self.api_url, self.server_url, self.repository, commit.sha, tree_sha=commit.tree_sha, parents=commit.parents,
                                 message=commit.message, when=commit.created_at)

    def _git_commit(self, sha: str) -> dict[str, Any]:
        commit = self.commits.get(sha)
        if commit is None:
            raise _not_found()
        return self._git_commit_json(commit)

    def _ref_json(self, branch: str) -> dict[str, Any]:
        sha = self.branches.get(branch)
        if sha is None:
            raise _not_found()
        return shapes.git_ref(self.api_url, self.repository, branch, sha)

    def _create_ref(self, req: RecordedRequest) -> None:
        data = self._body(req)
        ref, sha = data.get("ref"), data.get("sha")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2 or not isinstance(sha, str):
            raise _Reply(422, {"message": "Reference name must start with 'refs/' and have at least two slashes.", "status": "422"})
        if sha not in self.commits:
            raise _Reply(422, {"message": "Object does not exist", "status": "422"})
        if not ref.startswith("refs/heads/"):
            raise _Reply(422, {"message": "the fake keeps branches only", "status": "422"})
        branch = ref[len("refs/heads/"):]
        if branch in self.branches:
            raise _Reply(422, {"message": "Reference already exists", "status": "422"})
        self.branches[branch] = sha
        self._ok(self._ref_json(branch), 201)

    def _create_tree(self, req: RecordedRequest) -> None:
        data = self._body(req)
        items = data.get("tree")
        if not isinstance(items, list) or data.get("base_tree") is not None:
            raise _Reply(422, {"message": "the fake makes trees from whole contents only (no base_tree)", "status": "422"})
        tree: dict[str, bytes] = {}
        for item in items:
            if not isinstance(item, dict) or item.get("type") != "blob" or item.get("mode") != "100644" or not isinstance(item.get("content"), str):
                raise _Reply(422, {"message": "tree items must be blobs with content (mode 100644)", "status": "422"})
            tree[str(item["path"])] = item["content"].encode("utf-8")
        sha = _tree_sha(tree)
        self._trees[sha] = tree
        blobs = [(path, _git_sha("blob", blob), len(blob)) for path, blob in sorted(tree.items())]
        self._ok(shapes.git_tree(self.api_url, self.repository, sha, blobs), 201)

    def _create_git_commit(self, req: RecordedRequest) -> None:
        data = self._body(req)
        tree_sha, parents, message = data.get("tree"), data.get("parents", []), data.get("message")
        if not isinstance(message, str) or not isinstance(tree_sha, str) or not isinstance(parents, list):
            raise _Reply(422, {"message": "Invalid request.", "status": "422"})
        tree = self._trees.get(tree_sha) or next((c.files for c in self.commits.values() if c.tree_sha == tree_sha), None)
        if tree is None or any(p not in self.commits for p in parents):
            raise _Reply(422, {"message": "Tree or parent SHA does not exist", "status": "422"})
        sha = self.add_commit(dict(tree), parents=[str(p) for p in parents], message=message)
        self._ok(self._git_commit_json(self.commits[sha]), 201)

    # --- actions: workflow runs and artifacts -----------------------------------------------------------------------

    def _run(self, run_id: str) -> FakeWorkflowRun:
        run = self.runs.get(int(run_id))
        if run is None:
            raise _not_found()
        return run

    def _run_json(self, run: FakeWorkflowRun) -> dict[str, Any]:
        path, name = self.workflows[run.workflow_id]
        commit = self.commits.get(run.head_sha)
        return shapes.workflow_run(self.api_url, self.server_url, self.repository, self.repo_id, run_id=run.id, workflow_id=run.workflow_id,
                                   name=name, path=path, event=run.event, head_sha=run.head_sha, head_branch=run.head_branch,
                                   run_number=run.run_number, run_attempt=run.run_attempt, status=run.status, conclusion=run.conclusion,
                                   created_at=run.created_at, head_message=commit.message if commit else "A commit")

    def _list_runs(self, req: RecordedRequest, workflow: str) -> None:
        wanted = next((i for i, (path, _) in self.workflows.items() if workflow in (str(i), path.rsplit("/", 1)[-1])), None)
        if wanted is None:
            raise _not_found()
        status = req.param("status")
        runs = [r for r in self.runs.values() if r.workflow_id == wanted and (not status or status in (r.status, r.conclusion))]
        runs.sort(key=lambda r: r.created_at, reverse=True)
        self._list_page(req, "workflow_runs", [self._run_json(r) for r in runs])

    def _artifact_json(self, artifact: Artifact, run: FakeWorkflowRun) -> dict[str, Any]:
        blob = self.blobs.get(artifact.upload_path)
        return shapes.artifact(self.api_url, self.repository, self.repo_id, artifact_id=int(artifact.artifact_id), name=artifact.name,
                               size=len(blob.data) if blob else 0, run_id=run.id, head_sha=run.head_sha, head_branch=run.head_branch,
                               expired=artifact.expired, created_at=artifact.created_at or run.created_at,
                               expires_at=artifact.create_request.get("expires_at"), digest=(artifact.finalize_request or {}).get("hash"))

    def _artifacts_of(self, run: FakeWorkflowRun) -> list[Artifact]:
        return [a for a in self.artifacts if a.artifact_id and a.create_request["workflow_run_backend_id"] == run.backend_id]

    def _list_artifacts(self, req: RecordedRequest, run_id: str) -> None:
        run = self._run(run_id)
        name = req.param("name")
        found = [a for a in self._artifacts_of(run) if not name or a.name == name]
        found.sort(key=lambda a: int(a.artifact_id), reverse=True)
        self._list_page(req, "artifacts", [self._artifact_json(a, run) for a in found])

    def _list_page(self, req: RecordedRequest, key: str, items: list[dict[str, Any]]) -> None:
        try:
            per_page = min(max(int(req.param("per_page") or 30), 1), 100)
            page = max(int(req.param("page") or 1), 1)
        except ValueError:
            raise _Reply(422, {"message": "Validation Failed"}) from None
        self._ok({"total_count": len(items), key: items[(page - 1) * per_page: page * per_page]})

    def _download_artifact(self, artifact_id: str) -> None:
        artifact = next((a for a in self.artifacts if a.artifact_id == artifact_id), None)
        if artifact is None:
            raise _not_found()
        if artifact.expired:
            raise _Reply(410, {"message": "Artifact has expired", "documentation_url": "https://docs.github.com/rest/actions/artifacts#download-an-artifact",
                               "status": "410"})
        query = urlencode({"sv": "2023-11-03", "se": "2030-01-01T00:00:00Z", "sr": "b", "sp": "r", "sig": artifact.download_signature})
        raise _Reply(302, None, {"Location": f"{self.origin}{artifact.upload_path}?{query}"})

    # --- artifact service v4 ----------------------------------------------------------------------------------------

    @staticmethod
    def _twirp_error(status: int, code: str, msg: str) -> _Reply:
        return _Reply(status, {"code": code, "msg": msg})

    def _twirp(self, req: RecordedRequest) -> None:
        if req.method != "POST":
            raise self._twirp_error(404, "bad_route", "twirp methods are POST")
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or (self.runtime_tokens and auth[len("Bearer "):] not in self.runtime_tokens):
            raise self._twirp_error(401, "unauthenticated", "invalid or missing runtime token")
        if not req.headers.get("content-type", "").startswith("application/json"):  # Twirp: a bad route, served as 404
            raise self._twirp_error(404, "bad_route", "unexpected Content-Type")
        data = self._body(req)
        method = req.path[len(TWIRP_PREFIX):]
        for key in ("workflow_run_backend_id", "workflow_job_run_backend_id", "name"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise self._twirp_error(400, "invalid_argument", f"{key} is required")
        with self._lock:
            if method == "CreateArtifact":
                if data.get("version") not in (4, 7):
                    raise self._twirp_error(400, "invalid_argument", "unsupported version")
                run = data["workflow_run_backend_id"]
                if any(a.name == data["name"] and a.create_request["workflow_run_backend_id"] == run and a.finalize_request is not None
                       for a in self.artifacts):
                    raise self._twirp_error(409, "already_exists", "an artifact with this name already exists on the workflow run")
                signature = secrets.token_urlsafe(24)
                path = f"/blob/actions-results-{secrets.token_hex(4)}/workflow-job-run-{data['workflow_job_run_backend_id']}/{quote(data['name'])}.zip"
                self.artifacts.append(Artifact(data["name"], data, path, signature))
                query = urlencode({"sv": "2023-11-03", "se": "2030-01-01T00:00:00Z", "sr": "b", "sp": "cw", "sig": signature})
                raise _Reply(200, {"ok": True, "signed_upload_url": f"{self.origin}{path}?{query}"})
            if method == "FinalizeArtifact":
                artifact = next((a for a in reversed(self.artifacts) if a.name == data["name"] and a.finalize_request is None
                                 and a.create_request["workflow_run_backend_id"] == data["workflow_run_backend_id"]), None)
                if artifact is None:
                    raise self._twirp_error(404, "not_found", "no artifact to finalize")
                if not str(data.get("size", "")).isdigit() or not str(data.get("hash", "")).startswith("sha256:"):
                    raise self._twirp_error(400, "invalid_argument", "size and hash are required")
                artifact.finalize_request = data
                artifact.created_at = self._now()
                artifact.artifact_id = str(self._next_artifact_id)
                self._next_artifact_id += 1
                raise _Reply(200, {"ok": True, "artifact_id": artifact.artifact_id})
        raise self._twirp_error(404, "bad_route", f"no method {method}")

    def _blob(self, req: RecordedRequest) -> None:
        def azure_error(status: int, code: str) -> _Reply:
            xml = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{code}</Message></Error>'
            return _Reply(status, raw=xml.encode(), headers={"Content-Type": "application/xml"})

        with self._lock:
            artifact = next((a for a in self.artifacts if a.upload_path == unquote(req.path)), None)
            if artifact is not None and req.method == "GET" and req.param("sig") == artifact.download_signature:
                self.contract_checked += 1
                self.contract_violations.extend(check_blob_download(req.method, req.headers))
                if "authorization" in req.headers:
                    raise azure_error(400, "InvalidAuthenticationInfo")
                stored = self.blobs.get(artifact.upload_path)
                if stored is None:
                    raise azure_error(404, "BlobNotFound")
                raise _Reply(200, raw=stored.data, headers={"Content-Type": "application/zip"})
            if artifact is None or req.param("sig") != artifact.signature:
                raise azure_error(403, "AuthenticationFailed")
            self.contract_checked += 1
            self.contract_violations.extend(check_blob_upload(artifact.create_request, req.method, req.headers))
            if "authorization" in req.headers:  # a SAS URL with an Authorization header is rejected by Azure
                raise azure_error(400, "InvalidAuthenticationInfo")
            if req.method != "PUT":
                raise azure_error(405, "UnsupportedHttpVerb")
            if req.headers.get("x-ms-blob-type") != "BlockBlob":
                raise azure_error(400, "MissingRequiredHeader")
            self.blobs[artifact.upload_path] = Blob(req.path, req.query, req.headers, req.body)
        md5 = hashlib.md5(req.body, usedforsecurity=False).digest()
        raise _Reply(201, raw=b"", headers={"ETag": f'"0x{secrets.token_hex(8).upper()}"', "Content-MD5": base64.b64encode(md5).decode(),
                                            "x-ms-request-id": secrets.token_hex(16), "x-ms-version": "2023-11-03",
                                            "x-ms-request-server-encrypted": "true"})


def _git_sha(kind: str, data: bytes) -> str:
    """The SHA-1 git gives an object of this kind and content."""
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data, usedforsecurity=False).hexdigest()


def _tree_sha(files: dict[str, bytes]) -> str:
    listing = "".join(f"100644 blob {_git_sha('blob', data)}\t{path}\n" for path, data in sorted(files.items()))
    return _git_sha("tree", listing.encode("utf-8"))


def _validation_failed(error: dict[str, str] | None = None, documentation_url: str = shapes.DOCS) -> _Reply:
    return _Reply(422, shapes.validation_failed(error, documentation_url))


def _problems_parsing_json() -> _Reply:
    return _Reply(400, {"message": "Problems parsing JSON", "documentation_url": "https://docs.github.com/rest", "status": "400"})


def _not_found() -> _Reply:
    return _Reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"})
