"""happy-path: 200, well-formed body, non-empty first output that is not an error text — on every sample."""

from __future__ import annotations

from approval.checks.base import Evidence, duration_of, not_finished, result
from approval.classify import generation
from approval.results import Category, CheckResult, Status

NAME = "happy-path"


def evaluate(ev: Evidence) -> CheckResult:
    samples = ev.samples()
    if not samples:
        return not_finished(NAME, ["the representative prompt call"])
    duration = duration_of(*samples)
    family = "Responses API" if ev.settings.endpoint == "responses" else "chat completions"
    failures = []
    chars = 0
    for ex in samples:
        gen = generation(ex, ev.settings.endpoint)
        if not gen.ok:
            failures.append((ex.label, gen))
        else:
            chars = max(chars, len(gen.text))
    metrics = {"samples": len(samples), "failed_samples": len(failures), "output_chars": chars}
    if failures:
        _label, gen = failures[0]
        more = f" ({len(failures)} of {len(samples)} calls failed)" if len(samples) > 1 else ""
        return result(NAME, Status.FAIL, gen.category, f"{family}: {gen.reason}{more}", duration_ms=duration, metrics=metrics)
    missing = ev.settings.latency_samples - len(samples) if "latency" in ev.settings.checks else 0
    if missing > 0:
        return result(NAME, Status.ERROR, Category.INFRASTRUCTURE, f"{missing} call(s) did not finish before the deadline",
                      duration_ms=duration, metrics=metrics)
    return result(NAME, Status.PASS, Category.NONE, f"{family}: HTTP 200, well-formed, non-empty output ({chars} chars)",
                  duration_ms=duration, metrics=metrics)
