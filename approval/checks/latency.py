"""latency: N samples of the representative prompt; p50 must be under the bound, a max above it is a warning."""

from __future__ import annotations

import statistics

from approval.checks.base import Evidence, duration_of, not_finished, result
from approval.classify import describe_failure
from approval.results import Category, CheckResult, Status

NAME = "latency"


def evaluate(ev: Evidence) -> CheckResult:
    samples = ev.samples()
    if not samples:
        return not_finished(NAME, ["the latency samples"])
    # What an agent waits for: every attempt of a call the client had to retry, and the waits between them.
    answered = [ex for ex in samples if describe_failure(ex) is None]
    good = [max(ex.total_ms, ex.elapsed_ms) for ex in answered]
    retried = sum(1 for ex in answered if ex.attempts > 1)
    bound = ev.settings.max_latency_ms
    if not good:
        cause = describe_failure(samples[0])
        return result(NAME, Status.ERROR, cause[0] if cause else Category.INFRASTRUCTURE,
                      "not measurable: no call succeeded (see happy-path)", duration_ms=duration_of(*samples))
    p50 = statistics.median(good)
    worst = max(good)
    metrics = {"p50_ms": round(p50, 1), "max_ms": round(worst, 1), "samples": len(good), "bound_ms": bound}
    text = f"p50 {p50:.0f} ms, max {worst:.0f} ms over {len(good)} call(s); bound {bound:.0f} ms"
    if retried:
        text += f" ({retried} call(s) needed retries: their time includes every attempt and wait)"
        metrics["retried_samples"] = retried
    # Over the bound only because of the retries (429s, 5xx, dropped connections): the gateway's doing, not the model's.
    served_p50 = statistics.median(ex.elapsed_ms for ex in answered)
    category = Category.INFRASTRUCTURE if retried and served_p50 <= bound else Category.MODEL
    if p50 > bound:
        return result(NAME, Status.FAIL, category, text, duration_ms=duration_of(*samples), metrics=metrics)
    if worst > bound:
        return result(NAME, Status.WARN, category, text + " (max above the bound)", duration_ms=duration_of(*samples), metrics=metrics)
    if len(good) < ev.settings.latency_samples:
        return result(NAME, Status.ERROR, Category.INFRASTRUCTURE,
                      text + f" — only {len(good)} of {ev.settings.latency_samples} samples succeeded", duration_ms=duration_of(*samples),
                      metrics=metrics)
    return result(NAME, Status.PASS, Category.NONE, text, duration_ms=duration_of(*samples), metrics=metrics)
