"""GitHub's REST objects as GitHub returns them: every field the published description marks required (and the ones
PyGithub reads), for the local GitHub (fake_github.py) and the unit tests' mocked answers alike. Pure functions;
`api` is the REST API's root URL, `web` the server URL (https://github.com), `repository` is `owner/name`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

__all__ = ["artifact", "content_entry", "content_file", "file_commit", "full_repository", "git_commit", "git_ref", "git_tree", "issue", "issue_comment",
           "label", "public_user", "simple_user", "timestamp", "validation_failed", "workflow_run"]

EPOCH = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)
DOCS = "https://docs.github.com/rest"


def timestamp(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def simple_user(api: str, web: str, login: str, uid: int, kind: str | None = None) -> dict[str, Any]:
    """A `simple-user`; `kind` is User, Bot (a login ending in [bot] by default) or Organization."""
    kind = kind or ("Bot" if login.endswith("[bot]") else "User")
    url = f"{api}/users/{quote(login)}"
    page = f"{web}/apps/{login.removesuffix('[bot]')}" if kind == "Bot" else f"{web}/{login}"
    return {
        "login": login, "id": uid, "node_id": f"{'BOT' if kind == 'Bot' else 'U'}_fake{uid}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4", "gravatar_id": "", "url": url, "html_url": page,
        "followers_url": f"{url}/followers", "following_url": f"{url}/following{{/other_user}}", "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{url}/subscriptions", "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos", "events_url": f"{url}/events{{/privacy}}", "received_events_url": f"{url}/received_events",
        "type": kind, "user_view_type": "public", "site_admin": False,
    }


def public_user(api: str, web: str, login: str, uid: int) -> dict[str, Any]:
    """`GET /user` for a personal token (the `public-user` view)."""
    return {
        **simple_user(api, web, login, uid), "name": None, "company": None, "blog": "", "location": None, "email": None,
        "hireable": None, "bio": None, "twitter_username": None, "public_repos": 1, "public_gists": 0, "followers": 0,
        "following": 0, "created_at": timestamp(EPOCH.replace(year=2022)), "updated_at": timestamp(EPOCH),
    }


def label(api: str, repository: str, name: str, label_id: int, color: str = "ededed", description: str | None = None) -> dict[str, Any]:
    return {"id": label_id, "node_id": f"LA_fake{label_id}", "url": f"{api}/repos/{repository}/labels/{quote(name)}", "name": name,
            "color": color, "default": False, "description": description}


def issue(
    api: str,
    web: str,
    repository: str,
    number: int,
    *,
    title: str,
    body: str | None,
    user: dict[str, Any],
    labels: list[dict[str, Any]] | None = None,
    state: str = "open",
    state_reason: str | None = None,
    comments: int = 0,
    created_at: datetime = EPOCH,
    updated_at: datetime | None = None,
    closed_at: datetime | None = None,
    pull_request: bool = False,
) -> dict[str, Any]:
    """An `issue` (a pull request is one too, with its `pull_request` links and its page under /pull/)."""
    url = f"{api}/repos/{repository}/issues/{number}"
    page = f"{web}/{repository}/{'pull' if pull_request else 'issues'}/{number}"
    data: dict[str, Any] = {
        "url": url, "repository_url": f"{api}/repos/{repository}", "labels_url": f"{url}/labels{{/name}}", "comments_url": f"{url}/comments",
        "events_url": f"{url}/events", "html_url": page, "id": 1_000_000 + number, "node_id": f"I_fake{number}", "number": number,
        "title": title, "user": user, "labels": labels or [], "state": state, "locked": False, "assignee": None, "assignees": [],
        "milestone": None, "comments": comments, "created_at": timestamp(created_at), "updated_at": timestamp(updated_at or created_at),
        "closed_at": timestamp(closed_at), "author_association": "NONE", "active_lock_reason": None, "body": body,
        "state_reason": state_reason, "timeline_url": f"{url}/timeline", "performed_via_github_app": None,
    }
    if pull_request:
        data["draft"] = False
        data["pull_request"] = {"url": f"{api}/repos/{repository}/pulls/{number}", "html_url": page, "diff_url": f"{page}.diff",
                                "patch_url": f"{page}.patch", "merged_at": None}
    return data


def issue_comment(
    api: str,
    web: str,
    repository: str,
    issue_number: int,
    comment_id: int,
    *,
    body: str,
    user: dict[str, Any],
    created_at: datetime = EPOCH,
    updated_at: datetime | None = None,
    pull_request: bool = True,
) -> dict[str, Any]:
    page = f"{web}/{repository}/{'pull' if pull_request else 'issues'}/{issue_number}"
    return {
        "url": f"{api}/repos/{repository}/issues/comments/{comment_id}", "html_url": f"{page}#issuecomment-{comment_id}",
        "issue_url": f"{api}/repos/{repository}/issues/{issue_number}", "id": comment_id, "node_id": f"IC_fake{comment_id}",
        "user": user, "created_at": timestamp(created_at), "updated_at": timestamp(updated_at or created_at), "author_association": "NONE",
        "body": body, "performed_via_github_app": None,
    }


_REPOSITORY_URLS = {
    "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}", "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}", "collaborators_url": "/collaborators{/collaborator}", "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}", "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors", "deployments_url": "/deployments", "downloads_url": "/downloads", "events_url": "/events",
    "forks_url": "/forks", "git_commits_url": "/git/commits{/sha}", "git_refs_url": "/git/refs{/sha}", "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks", "issue_comment_url": "/issues/comments{/number}", "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}", "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}", "languages_url": "/languages",
    "merges_url": "/merges", "milestones_url": "/milestones{/number}", "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}", "releases_url": "/releases{/id}", "stargazers_url": "/stargazers", "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers", "subscription_url": "/subscription", "tags_url": "/tags", "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def full_repository(api: str, web: str, repository: str, repo_id: int, *, owner_id: int = 9919, open_issues: int = 0,
                    default_branch: str = "main") -> dict[str, Any]:
    """A `full-repository`: a public repository owned by an organization."""
    owner, name = repository.split("/")
    url, page = f"{api}/repos/{repository}", f"{web}/{repository}"
    host = web.split("://", 1)[-1]
    organization = simple_user(api, web, owner, owner_id, "Organization")
    return {
        "id": repo_id, "node_id": f"R_fake{repo_id}", "name": name, "full_name": repository, "owner": organization, "private": False,
        "html_url": page, "description": None, "fork": False, "url": url, **{key: url + suffix for key, suffix in _REPOSITORY_URLS.items()},
        "git_url": f"git://{host}/{repository}.git", "ssh_url": f"git@{host}:{repository}.git", "clone_url": f"{page}.git", "svn_url": page,
        "mirror_url": None, "homepage": None, "language": "Python", "forks_count": 0, "forks": 0, "stargazers_count": 0,
        "watchers_count": 0, "watchers": 0, "size": 512, "default_branch": default_branch, "open_issues_count": open_issues,
        "open_issues": open_issues, "is_template": False, "topics": [], "has_issues": True, "has_projects": True, "has_wiki": False,
        "has_pages": False, "has_discussions": False, "has_downloads": True, "archived": False, "disabled": False, "visibility": "public",
        "license": None, "pushed_at": timestamp(EPOCH), "created_at": timestamp(EPOCH.replace(year=2024)), "updated_at": timestamp(EPOCH),
        "allow_forking": True, "web_commit_signoff_required": False, "network_count": 0, "subscribers_count": 1,
        "organization": organization,
    }


def validation_failed(error: dict[str, str] | None = None, documentation_url: str = DOCS) -> dict[str, Any]:
    """The body of GitHub's 422 (`validation-error`)."""
    body: dict[str, Any] = {"message": "Validation Failed", "documentation_url": documentation_url, "status": "422"}
    if error is not None:
        body["errors"] = [error]
    return body


# --- git: contents, refs, trees, commits -----------------------------------------------------------------------------


def content_entry(api: str, web: str, repository: str, path: str, ref: str, *, sha: str, size: int | None) -> dict[str, Any]:
    """One item of a `content-directory`, or a file without its content (`size` None: a directory)."""
    kind = "dir" if size is None else "file"
    url = f"{api}/repos/{repository}/contents/{quote(path)}?ref={quote(ref, safe='')}"
    git = f"{api}/repos/{repository}/git/{'trees' if kind == 'dir' else 'blobs'}/{sha}"
    page = f"{web}/{repository}/{'tree' if kind == 'dir' else 'blob'}/{quote(ref)}/{quote(path)}"
    raw = f"https://raw.githubusercontent.com/{repository}/{quote(ref)}/{quote(path)}" if kind == "file" else None
    return {"type": kind, "size": size or 0, "name": path.rsplit("/", 1)[-1], "path": path, "sha": sha, "url": url, "git_url": git,
            "html_url": page, "download_url": raw, "_links": {"self": url, "git": git, "html": page}}


def content_file(api: str, web: str, repository: str, path: str, ref: str, *, sha: str, data: bytes) -> dict[str, Any]:
    """A `content-file`: the file's bytes in base64, wrapped at 60 columns as GitHub does."""
    import base64

    encoded = base64.b64encode(data).decode("ascii")
    wrapped = "".join(encoded[i:i + 60] + "\n" for i in range(0, len(encoded), 60))
    return {**content_entry(api, web, repository, path, ref, sha=sha, size=len(data)), "encoding": "base64", "content": wrapped}


def git_commit(api: str, web: str, repository: str, sha: str, *, tree_sha: str, parents: list[str], message: str,
               when: datetime = EPOCH) -> dict[str, Any]:
    """A `git-commit` (the git data API's commit), made by the Actions bot, unsigned."""
    person = {"name": "github-actions[bot]", "email": "41898282+github-actions[bot]@users.noreply.github.com", "date": timestamp(when)}
    return {"sha": sha, "node_id": f"C_fake{sha[:12]}", "url": f"{api}/repos/{repository}/git/commits/{sha}",
            "html_url": f"{web}/{repository}/commit/{sha}", "author": person, "committer": person, "message": message,
            "tree": {"sha": tree_sha, "url": f"{api}/repos/{repository}/git/trees/{tree_sha}"},
            "parents": [{"sha": p, "url": f"{api}/repos/{repository}/git/commits/{p}", "html_url": f"{web}/{repository}/commit/{p}"}
                        for p in parents],
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None, "verified_at": None}}


def file_commit(entry: dict[str, Any], commit: dict[str, Any]) -> dict[str, Any]:
    """What `PUT …/contents/{path}` answers: the file as stored and the commit that stored it."""
    return {"content": entry, "commit": commit}


def git_ref(api: str, repository: str, branch: str, sha: str) -> dict[str, Any]:
    return {"ref": f"refs/heads/{branch}", "node_id": f"REF_fake{sha[:12]}", "url": f"{api}/repos/{repository}/git/refs/heads/{quote(branch)}",
            "object": {"type": "commit", "sha": sha, "url": f"{api}/repos/{repository}/git/commits/{sha}"}}


def git_tree(api: str, repository: str, sha: str, blobs: list[tuple[str, str, int]]) -> dict[str, Any]:
    """A `git-tree` of blobs: (path, blob sha, size) each."""
    return {"sha": sha, "url": f"{api}/repos/{repository}/git/trees/{sha}", "truncated": False,
            "tree": [{"path": path, "mode": "100644", "type": "blob", "sha": blob, "size": size, "url": f"{api}/repos/{repository}/git/blobs/{blob}"}
                     for path, blob, size in blobs]}


# --- actions: workflow runs and artifacts ----------------------------------------------------------------------------


def workflow_run(api: str, web: str, repository: str, repo_id: int, *, run_id: int, workflow_id: int, name: str, path: str, event: str,
                 head_sha: str, head_branch: str, run_number: int, run_attempt: int = 1, status: str = "completed",
                 conclusion: str | None = "success", created_at: datetime = EPOCH, head_message: str = "A commit") -> dict[str, Any]:
    """A `workflow-run`, started by octocat in this repository."""
    url, page = f"{api}/repos/{repository}/actions/runs/{run_id}", f"{web}/{repository}/actions/runs/{run_id}"
    repo = full_repository(api, web, repository, repo_id)
    actor = simple_user(api, web, "octocat", 583231)
    suite = 40_000_000_000 + run_id % 10**6
    return {
        "id": run_id, "name": name, "node_id": f"WFR_fake{run_id}", "head_branch": head_branch, "head_sha": head_sha, "path": path,
        "display_title": name, "run_number": run_number, "run_attempt": run_attempt, "event": event, "status": status,
        "conclusion": conclusion, "workflow_id": workflow_id, "check_suite_id": suite, "check_suite_node_id": f"CS_fake{suite}",
        "url": url, "html_url": page, "pull_requests": [], "referenced_workflows": [], "created_at": timestamp(created_at),
        "updated_at": timestamp(created_at), "run_started_at": timestamp(created_at), "actor": actor, "triggering_actor": actor,
        "jobs_url": f"{url}/jobs", "logs_url": f"{url}/logs", "check_suite_url": f"{api}/repos/{repository}/check-suites/{suite}",
        "artifacts_url": f"{url}/artifacts", "cancel_url": f"{url}/cancel", "rerun_url": f"{url}/rerun", "previous_attempt_url": None,
        "workflow_url": f"{api}/repos/{repository}/actions/workflows/{workflow_id}",
        "head_commit": {"id": head_sha, "tree_id": head_sha, "message": head_message, "timestamp": timestamp(created_at),
                        "author": {"name": "Octo Cat", "email": "octocat@example.com"}, "committer": {"name": "GitHub", "email": "noreply@github.com"}},
        "repository": repo, "head_repository": repo, "head_repository_id": repo_id,
    }


def artifact(api: str, repository: str, repo_id: int, *, artifact_id: int, name: str, size: int, run_id: int, head_sha: str,
             head_branch: str = "main", expired: bool = False, created_at: datetime = EPOCH, expires_at: str | None = None,
             digest: str | None = None) -> dict[str, Any]:
    url = f"{api}/repos/{repository}/actions/artifacts/{artifact_id}"
    return {"id": artifact_id, "node_id": f"MDg6QXJ0aWZhY3Q{artifact_id}", "name": name, "size_in_bytes": size, "url": url,
            "archive_download_url": f"{url}/zip", "expired": expired, "created_at": timestamp(created_at), "updated_at": timestamp(created_at),
            "expires_at": expires_at or timestamp(created_at.replace(year=created_at.year + 1)), "digest": digest,
            "workflow_run": {"id": run_id, "repository_id": repo_id, "head_repository_id": repo_id, "head_branch": head_branch, "head_sha": head_sha}}
