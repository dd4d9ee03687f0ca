"""The one place that builds a PyGithub client and turns its failures into one line a user can act on.

PyGithub is imported lazily so `approval --version` does not pay for it. Retries are bounded: two, for GETs on 5xx
(a repeated POST could post a comment twice), and for any method on a rate limit with `Retry-After` (a rejected request
was not applied), waiting at most `MAX_RETRY_AFTER_SECONDS`; every request has a timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from approval.common.redact import redact, register_secret

if TYPE_CHECKING:
    from github import Github
    from urllib3.util.retry import Retry

TIMEOUT_SECONDS = 15
# GitHub asks integrations to space content-creating requests by about a second (secondary rate limits).
SECONDS_BETWEEN_WRITES: float | None = 1.0


MAX_RETRY_AFTER_SECONDS = 10.0  # a rate limit asking for longer is reported (re-run later), not waited out


def _retry_class() -> type[Retry]:
    # with PyGithub, only where a GitHub call is made
    from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
    from urllib3.util.retry import Retry

    class RateLimitAwareRetry(Retry):
        """GETs are retried on 5xx; any method on a rate limit (403 or 429 with `Retry-After`: GitHub rejected the
        request without applying it, so a POST cannot post twice), waiting what GitHub asks when that is at most
        `MAX_RETRY_AFTER_SECONDS`; a longer wait is reported at once, not retried early."""

        def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
            if status_code in (403, 429) and has_retry_after:
                return bool(self.total)
            return bool(super().is_retry(method, status_code, has_retry_after))

        def increment(self, method: str | None = None, url: str | None = None, response: Any = None, error: Exception | None = None,
                      _pool: Any = None, _stacktrace: Any = None) -> Self:
            if response is not None and response.status in (403, 429):
                try:
                    advised = self.get_retry_after(response)
                except InvalidHeader:
                    advised = None
                if advised is not None and advised > MAX_RETRY_AFTER_SECONDS:  # retrying sooner would only be refused again
                    raise MaxRetryError(_pool, url or "", ResponseError(f"Retry-After {advised:g}s is over the cap"))
            return super().increment(method, url, response, error, _pool, _stacktrace)

    return RateLimitAwareRetry


def make_client(token: str, api_url: str) -> Github:
    # PyGithub (~400 ms to import) only where a GitHub call is made
    import github

    register_secret(token)
    retry = _retry_class()(
        total=2,
        connect=2,
        read=0,
        status=2,
        backoff_factor=0.5,
        backoff_max=4,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    return github.Github(
        auth=github.Auth.Token(token),
        base_url=api_url.rstrip("/"),
        timeout=TIMEOUT_SECONDS,
        per_page=100,
        retry=retry,
        seconds_between_requests=None,
        seconds_between_writes=SECONDS_BETWEEN_WRITES,
        lazy=True,
    )


class Authorship:
    """Tells whether a comment or an issue was written by this action's own identity: a bot (the workflow token is
    `github-actions[bot]`, an app token its app), or the user a personal token belongs to (`GET /user`, asked once and
    only when needed; an app token cannot ask it and then owns nothing written by a user)."""

    def __init__(self, client: Github) -> None:
        self._client = client
        self._login: str | None = None
        self._asked = False

    def own_login(self) -> str | None:
        if not self._asked:
            self._asked = True
            try:
                self._login = self._client.get_user().login
            except Exception:  # noqa: BLE001 - 403 for app tokens, or any failure: then no user is "us"
                self._login = None
        return self._login

    def wrote(self, item: Any) -> bool:
        user = getattr(item, "user", None)
        if user is None:
            return False
        if (user.type or "") == "Bot":
            return True
        return bool(user.login) and user.login == self.own_login()


def is_rate_limited(exc: BaseException) -> bool:
    """A GitHub refusal that is a (secondary) rate limit: its message says so, or it asks to retry later."""
    # PyGithub (~400 ms to import) only where a GitHub call is made
    from github.GithubException import GithubException, RateLimitExceededException

    if isinstance(exc, RateLimitExceededException):
        return True
    if not isinstance(exc, GithubException) or exc.status not in (403, 429):
        return False
    return "rate limit" in _api_message(exc.data).lower() or "retry-after" in {k.lower() for k in (exc.headers or {})}


def _api_message(data: object) -> str:
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return " ".join(data["message"].split())[:200]
    return ""


def explain_failure(exc: BaseException, doing: str, permission: str, api_url: str) -> str:
    """One redacted line: what could not be done, why, and the fix. `permission` is e.g. `pull-requests: write`."""
    # with PyGithub, only where a GitHub call is made
    import requests
    from github.GithubException import GithubException, RateLimitExceededException

    if isinstance(exc, RateLimitExceededException):
        reason = "the GitHub API rate limit is exhausted — re-run the job later"
    elif isinstance(exc, GithubException):
        status, said = exc.status, _api_message(exc.data)
        detail = f" ({status}{': ' + said if said else ''})"
        if is_rate_limited(exc):
            reason = f"GitHub's rate limit stopped the request{detail} — re-run the job later, or space out the workflows"
        elif status == 401:
            reason = f"the token was rejected{detail} — check the `github-token` input"
        elif status == 403:
            reason = (
                f"the token is read-only{detail} (fork pull request or missing `{permission}` permission)"
                f" — add `permissions: {permission}` to the job; a pull request from a fork always gets a read-only token"
            )
        elif status == 404:
            reason = f"not found{detail} — the repository or number is wrong, or the token cannot see it"
        elif status == 410:
            reason = f"gone{detail} — issues are probably disabled in this repository"
        elif status >= 500:
            reason = f"GitHub answered with a server error{detail} — usually transient; re-run the job"
        else:
            reason = f"GitHub refused the request{detail}"
    elif isinstance(exc, requests.Timeout):
        reason = f"the GitHub API at {api_url} did not answer within {TIMEOUT_SECONDS}s"
    elif isinstance(exc, requests.RequestException):
        reason = f"could not reach the GitHub API at {api_url} ({type(exc).__name__})"
    else:
        reason = f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    return redact(f"could not {doing}: {reason}")
