"""The local GitHub is held to GitHub's published contract: the checks catch what they exist to catch, and every
route of the fake answers as GitHub documents it (so a test can rely on the fake's shapes being GitHub's)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.fake_github import TWIRP_PREFIX, FakeGitHub
from harness.github_contract import (
    ANY_OPERATION_STATUSES,
    provenance,
    rest_contract,
    twirp_contract,
)

ROOT = Path(__file__).resolve().parents[2]
REPO = "octo-org/octo-repo"
JSON = {"Content-Type": "application/json"}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(REPO, enforce_contract=False) as fake:  # the tests look at the violations themselves
        yield fake


def _session(fake: FakeGitHub) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # neither a proxy nor REQUESTS_CA_BUNDLE from the environment
    session.verify = str(fake.ca_file)
    session.headers["Authorization"] = f"token {fake.token}"
    return session


def _found(fake: FakeGitHub) -> list[str]:
    return [str(v) for v in fake.contract_violations]


# --- the checks can fail --------------------------------------------------------------------------------------------


def test_the_contract_is_the_pinned_published_one() -> None:
    lock = json.loads((ROOT / "scripts" / "github-contract" / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    pinned = {name: lock[f"node_modules/{name}"]["version"] for name in ("@octokit/openapi", "@actions/artifact")}
    assert provenance() == pinned, "bootstrap installs what the lock pins"
    assert rest_contract().document["info"]["x-github-plan"] == "api.github.com"
    assert "CreateArtifact" in twirp_contract().services["github.actions.results.api.v1.ArtifactService"]


def test_an_undocumented_request_is_caught(github: FakeGitHub) -> None:
    http = _session(github)
    http.put(f"{github.api_url}/repos/{REPO}/issues/comments/1", json={"body": "x"}, timeout=10)
    http.get(f"{github.api_url}/repos/{REPO}/no-such-thing", timeout=10)
    found = _found(github)
    assert any("PUT /repos/octo-org/octo-repo/issues/comments/1: request method and path: not an operation" in v
               and "documented for DELETE, GET, PATCH" in v for v in found), found
    assert any("GET /repos/octo-org/octo-repo/no-such-thing: request method and path: not an operation" in v for v in found), found


def test_an_invalid_body_or_query_is_caught_naming_operation_field_and_schema_path(github: FakeGitHub) -> None:
    github.add_pull_request(7)
    http = _session(github)
    http.post(f"{github.api_url}/repos/{REPO}/issues/7/comments", json={"body": "ok", "bdy": "typo"}, timeout=10)
    http.patch(f"{github.api_url}/repos/{REPO}/issues/7", json={"state": "closed", "state_reason": "fixed"}, timeout=10)
    http.get(f"{github.api_url}/repos/{REPO}/issues", params={"state": "opened", "perpage": "100"}, timeout=10)
    found = _found(github)
    expected = [
        "issues/create-comment (POST /repos/{owner}/{repo}/issues/{issue_number}/comments): request body: "
        "Additional properties are not allowed ('bdy' was unexpected)",
        "issues/update (PATCH /repos/{owner}/{repo}/issues/{issue_number}): request body/state_reason: 'fixed' is not one of",
        "issues/list-for-repo (GET /repos/{owner}/{repo}/issues): request query state: 'opened' is not one of",
        "issues/list-for-repo (GET /repos/{owner}/{repo}/issues): request query perpage: not a documented query parameter",
    ]
    for text in expected:
        assert any(v.startswith(text) for v in found), (text, found)
    assert any(v.endswith("[#/paths/~1repos~1{owner}~1{repo}~1issues~1{issue_number}/patch/requestBody/content/"
                          "application~1json/schema/properties/state_reason/enum]") for v in found), found


def test_an_invalid_answer_of_the_fake_is_caught(github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    github.add_pull_request(7)
    github.add_comment(7, "hello")
    thin = {"id": 1, "body": "hello", "user": {"login": "octocat", "id": 1}}
    monkeypatch.setattr(github, "_comment_json", lambda comment: thin)
    _session(github).get(f"{github.api_url}/repos/{REPO}/issues/7/comments", timeout=10)
    found = _found(github)
    assert "issues/list-comments (GET /repos/{owner}/{repo}/issues/{issue_number}/comments): response 200 body/0: "\
           "'node_id' is a required property [#/components/schemas/issue-comment/required]" in found, found
    assert any("body/0/user: 'avatar_url' is a required property [#/components/schemas/nullable-simple-user/required]" in v
               for v in found), found


def test_an_undocumented_status_is_caught_but_any_operation_statuses_are_allowed(github: FakeGitHub) -> None:
    github.add_pull_request(7)
    github.fail("GET", r"/issues/7/comments$", 418, "I'm a teapot")
    github.fail("POST", r"/issues/7/comments$", 502, "Server Error")
    http = _session(github)
    http.get(f"{github.api_url}/repos/{REPO}/issues/7/comments", timeout=10)
    http.post(f"{github.api_url}/repos/{REPO}/issues/7/comments", json={"body": "x"}, timeout=10)
    found = _found(github)
    assert any("response 418 status: 418 is not a documented status of the operation (200, 404, 410)" in v for v in found), found
    assert not [v for v in found if "response 502" in v]
    assert {401, 403, 429, 500, 502, 503, 504} == ANY_OPERATION_STATUSES


def test_a_fake_that_breaks_the_contract_fails_the_test_on_exit() -> None:
    expected = (r"1 exchange\(s\) with the local GitHub break GitHub's published contract:\n"
                r"  DELETE /repos/octo-org/octo-repo/issues/7/labels/a/b: request method and path: not an operation")
    with pytest.raises(AssertionError, match=expected), FakeGitHub(REPO) as fake:
        _session(fake).delete(f"{fake.api_url}/repos/{REPO}/issues/7/labels/a/b", timeout=10)


def test_twirp_messages_are_checked_against_the_toolkit_declarations(github: FakeGitHub) -> None:
    token = f"{_b64({'typ': 'JWT'})}.{_b64({'scp': 'Actions.Results:r:j'})}.c2ln"
    http = _session(github)
    http.headers.pop("Authorization")
    auth = {"Authorization": f"Bearer {token}", **JSON}
    url = f"{github.origin}{TWIRP_PREFIX}"
    http.post(f"{url}CreateArtifact", json={"workflow_run_backend_id": "r", "workflowJobRunBackendId": "j", "name": "n",
                                            "version": "7", "expires_at": "2030-01-01", "retention": 3}, headers=auth, timeout=10)
    http.post(f"{url}FinalizeArtifact", json={"workflow_run_backend_id": "r", "workflow_job_run_backend_id": "j", "name": "n",
                                              "size": 12, "hash": {"value": "sha256:00"}}, headers=auth, timeout=10)
    http.post(f"{url}DownloadArtifact", json={}, headers=auth, timeout=10)
    found = _found(github)
    create, finalize = "ArtifactService/CreateArtifact: request", "ArtifactService/FinalizeArtifact: request"
    expected = [
        f"{create} body/workflowJobRunBackendId: the JSON name; the toolkit sends the proto name 'workflow_job_run_backend_id'",
        f"{create} body/version: '7' is not a int32 in proto3 JSON (a number)",
        f"{create} body/expires_at: '2030-01-01' is not a Timestamp in proto3 JSON",
        f"{create} body/retention: not a field of github.actions.results.api.v1.CreateArtifactRequest",
        f"{finalize} body/size: 12 is not a int64 in proto3 JSON (a decimal string, as the toolkit sends it)",
        f"{finalize} body/hash: {{\"value\": \"sha256:00\"}} is not a string (a JSON string) (google.protobuf.StringValue is its plain value in JSON)",
        "/twirp/github.actions.results.api.v1.ArtifactService/DownloadArtifact: request method: not a method of the artifact service",
    ]
    for text in expected:
        assert any(v.startswith(text) for v in found), (text, found)


def test_twirp_answers_are_checked_too() -> None:
    path = f"{TWIRP_PREFIX}FinalizeArtifact"
    twirp = twirp_contract()
    assert twirp.check_response(path, 200, {}, b'{"ok": true, "artifact_id": "12"}') == []
    wrong = [str(v) for v in twirp.check_response(path, 200, {}, b'{"ok": "yes", "artifact_id": 12}')]
    assert any("body/ok: 'yes' is not a bool" in v for v in wrong) and any("body/artifact_id: 12 is not a int64" in v for v in wrong)
    assert [str(v) for v in twirp.check_response(path, 415, {}, b'{"code": "bad_route", "msg": "x"}')] == [
        "ArtifactService/FinalizeArtifact: response 415 status: Twirp serves code bad_route with HTTP 404, not 415 [twirp/errors]"]
    assert twirp.check_response(path, 409, {}, b'{"code": "already_exists", "msg": "taken"}') == []


# --- every route of the fake answers as GitHub documents it ---------------------------------------------------------


def test_every_route_of_the_fake_answers_as_documented() -> None:
    with FakeGitHub(REPO) as fake:  # checked on exit: no violation may be left
        fake.add_pull_request(7)
        comment = fake.add_comment(7, "hello")
        http = _session(fake)
        api = f"{fake.api_url}/repos/{REPO}"
        answers = [
            http.get(f"{fake.api_url}/user", timeout=10),  # 403: the workflow's token has no user
            http.get(api, timeout=10),
            http.get(f"{api}/issues/7", timeout=10),
            http.get(f"{api}/issues/99", timeout=10),
            http.post(f"{api}/issues", json={"title": "Tracking", "body": "b", "labels": ["model-approval"]}, timeout=10),
            http.post(f"{api}/issues", json={"title": ""}, timeout=10),
            http.get(f"{api}/issues", params={"state": "open", "labels": "model-approval", "per_page": "1"}, timeout=10),
            http.patch(f"{api}/issues/8", json={"state": "closed", "state_reason": "completed"}, timeout=10),
            http.get(f"{api}/issues/7/comments", params={"per_page": "100"}, timeout=10),
            http.post(f"{api}/issues/7/comments", json={"body": "hi"}, timeout=10),
            http.post(f"{api}/issues/7/comments", json={"body": "x" * 65537}, timeout=10),
            http.get(f"{api}/issues/comments/{comment.id}", timeout=10),
            http.patch(f"{api}/issues/comments/{comment.id}", json={"body": "edited"}, timeout=10),
            http.get(f"{api}/labels/model-approval", timeout=10),
            http.get(f"{api}/labels/absent", timeout=10),
            http.post(f"{api}/labels", json={"name": "model-approval", "color": "d93f0b"}, timeout=10),
            http.post(f"{api}/labels", json={"name": "another", "color": "d93f0b", "description": "d"}, timeout=10),
            http.get(f"{fake.api_url}/repositories/{fake.repo_id}/issues/7/comments", params={"page": "1"}, timeout=10),
        ]
        statuses = [r.status_code for r in answers]
        assert statuses == [403, 200, 200, 404, 201, 422, 200, 200, 200, 201, 422, 200, 200, 200, 404, 422, 201, 200], statuses
        assert len(fake.requests) == len(answers)
        assert fake.contract_checked == 2 * len(answers), "every request and every answer was checked"
    with FakeGitHub(REPO, token_user=("octocat", 583231)) as personal:
        assert _session(personal).get(f"{personal.api_url}/user", timeout=10).json()["login"] == "octocat"


def test_operations_other_routes_use_are_matched_and_checked_too() -> None:
    """File contents, git refs, workflow runs and artifact downloads: multi-segment paths, a 302, a raw media type."""
    rest = rest_contract()
    api = "/repos/o/r"
    assert rest.match("GET", f"{api}/contents/config/gateway.yaml")[0:2] == (
        rest.operation("GET", "/repos/{owner}/{repo}/contents/{path}"), {"owner": "o", "repo": "r", "path": "config/gateway.yaml"})
    assert rest.match("GET", f"{api}/git/ref/heads/model-approval-records")[1]["ref"] == "heads/model-approval-records"
    json_header = {"content-type": "application/json"}
    put = [str(v) for v in rest.check_request("PUT", f"{api}/contents/records/a.json", {}, json_header,
                                              json.dumps({"content": "e30=", "branch": "records"}).encode())]
    assert put == ["repos/create-or-update-file-contents (PUT /repos/{owner}/{repo}/contents/{path}): request body: 'message' is a "
                   "required property [#/paths/~1repos~1{owner}~1{repo}~1contents~1{path}/put/requestBody/content/application~1json/schema/required]"]
    assert rest.check_request("POST", f"{api}/git/refs", {}, json_header, json.dumps({"ref": "refs/heads/x", "sha": "a" * 40}).encode()) == []
    runs = rest.check_request("GET", f"{api}/actions/workflows/model-approval.yml/runs", {"status": ["success"], "per_page": ["5"]}, {}, b"")
    assert runs == []
    download = f"{api}/actions/artifacts/5/zip"
    assert rest.check_response("GET", download, 302, {"Location": "https://blob.example/a.zip?sig=x"}, b"") == []
    assert [v.message for v in rest.check_response("GET", download, 302, {}, b"")] == ["documented, not sent"]
    assert [v.message for v in rest.check_response("GET", download, 200, {}, b"PK")] == ["200 is not a documented status of the operation (302, 410)"]
    raw = {"content-type": "application/vnd.github.raw; charset=utf-8"}
    assert rest.check_response("GET", f"{api}/contents/a.yaml", 200, raw, b"gateway: {}", "application/vnd.github.raw+json") == []
    assert [v.field for v in rest.check_response("GET", f"{api}/contents/a.yaml", 200, raw, b"gateway: {}")] == ["header content-type"]
