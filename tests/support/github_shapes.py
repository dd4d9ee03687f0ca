"""GitHub's REST objects as GitHub returns them: every field the published description marks required (and the ones
PyGithub reads), for the local GitHub (fake_github.py) and the unit tests' mocked answers alike. Pure functions;
`api` is the REST API's root URL, `web` the server URL (https://github.com), `repository` is `owner/name`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

__all__ = ["full_repository", "issue", "issue_comment", "label", "public_user", "simple_user", "timestamp", "validation_failed"]

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
