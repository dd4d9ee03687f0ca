"""Files of the repository through the REST contents API: what the workflow's checkout does not hold (the pull
request's base commit: a shallow checkout has no history; the record store's branch, never checked out)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from github import Github


class NotAFile(ValueError):
    """The path names a directory, a submodule or a file too large for the contents API."""


def api_get(client: Github, path: str, **params: str) -> Any:
    """GET an API path (`/repos/…`) with the client's token, retries and timeouts; GithubException on failure."""
    _, data = client.requester.requestJsonAndCheck("GET", path, parameters=params or None)
    return data


def api_send(client: Github, verb: str, path: str, body: dict[str, Any]) -> Any:
    _, data = client.requester.requestJsonAndCheck(verb, path, input=body)
    return data


def contents_path(repository: str, path: str) -> str:
    return f"/repos/{repository}/contents/{quote(path.strip('/'))}"


def read_text(client: Github, repository: str, path: str, ref: str) -> str | None:
    """The file at `path` in commit (or branch) `ref`, or None when it does not exist there."""
    # PyGithub (~400 ms to import) only where a GitHub call is made
    from github.GithubException import GithubException

    try:
        data = api_get(client, contents_path(repository, path), ref=ref)
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise
    if not isinstance(data, dict) or data.get("type") != "file":
        raise NotAFile(f"{path} is not a file at {ref[:12]}")
    if data.get("encoding") != "base64" or not isinstance(data.get("content"), str):
        raise NotAFile(f"{path} at {ref[:12]} is too large for the contents API")
    return base64.b64decode(data["content"]).decode("utf-8")


def list_names(client: Github, repository: str, path: str, ref: str) -> list[str]:
    """The names in directory `path` at `ref` ([] when it does not exist)."""
    # PyGithub (~400 ms to import) only where a GitHub call is made
    from github.GithubException import GithubException

    try:
        data = api_get(client, contents_path(repository, path), ref=ref)
    except GithubException as exc:
        if exc.status == 404:
            return []
        raise
    if not isinstance(data, list):
        return []
    return [str(item.get("name")) for item in data if isinstance(item, dict) and item.get("type") == "file"]
