"""The local GitHub is held to GitHub's published contract: the checks catch what they exist to catch, and every
route of the fake answers as GitHub documents it (so a test can rely on the fake's shapes being GitHub's)."""

from __future__ import annotations

from harness.github_contract import (
    check_blob_upload,
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
