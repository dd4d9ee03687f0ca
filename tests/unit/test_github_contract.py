"""The local GitHub is held to GitHub's published contract: the checks catch what they exist to catch, and every
route of the fake answers as GitHub documents it (so a test can rely on the fake's shapes being GitHub's)."""

from __future__ import annotations

import json

from harness.github_contract import (
    check_blob_upload,
    rest_contract,
)


def test_the_blob_upload_is_checked_against_what_the_toolkit_sends() -> None:
    create = {"version": 7, "mime_type": "application/zip"}
    good = {"x-ms-blob-type": "BlockBlob", "x-ms-blob-content-type": "application/zip", "Content-Type": "application/zip"}
    assert check_blob_upload(create, "PUT", good) == []
    found = [str(v) for v in check_blob_upload(create, "POST", {"Content-Type": "application/zip", "Authorization": "Bearer x"})]
    assert found == [
        "Azure Blob Storage/Put Blob: request method: POST, the signed URL takes a PUT [blob-upload]",
        "Azure Blob Storage/Put Blob: request header x-ms-blob-type: must be BlockBlob [blob-upload]",
        "Azure Blob Storage/Put Blob: request header authorization: sent with a SAS URL [blob-upload]",
        "Azure Blob Storage/Put Blob: request header x-ms-blob-content-type: none, but CreateArtifact declared mime_type "
        "'application/zip' (the toolkit sends it as the blob's content type) [blob-upload]",
    ]


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
