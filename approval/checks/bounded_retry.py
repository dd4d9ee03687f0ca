"""bounded-retry: the client's own retries stayed within their bounds and the run ended by its deadline."""

from __future__ import annotations

from approval.checks.base import Evidence, result
from approval.results import Category, CheckResult, Status

NAME = "bounded-retry"


def evaluate(ev: Evidence) -> CheckResult:
    s = ev.settings
    r = ev.retry
    metrics = {"calls": r.calls, "retries": r.retries, "max_wait_s": round(r.max_wait_s, 2), "max_attempts": s.max_attempts}
    bounds = f"at most {s.max_attempts} attempts per call, waits capped at {s.max_retry_after_s:g}s, deadline {s.total_timeout_s:g}s"
    if r.max_attempts_seen > s.max_attempts or r.max_wait_s > s.max_retry_after_s + 0.01:
        return result(NAME, Status.FAIL, Category.GATEWAY, f"retry bounds exceeded ({bounds})", metrics=metrics)
    if ev.deadline_hit:
        return result(NAME, Status.FAIL, Category.INFRASTRUCTURE,
                      f"the run's deadline of {s.total_timeout_s:g}s was reached; unfinished calls were abandoned ({bounds})", metrics=metrics)
    if r.retries:
        return result(NAME, Status.WARN, Category.INFRASTRUCTURE,
                      f"{r.retries} retr{'y' if r.retries == 1 else 'ies'} over {r.calls} calls (429/5xx/connection), longest wait "
                      f"{r.max_wait_s:.1f}s; within bounds ({bounds})", metrics=metrics)
    return result(NAME, Status.PASS, Category.NONE, f"{r.calls} calls, no retry needed; {bounds}", metrics=metrics)
