"""latency: N samples of the representative prompt; p50 must be under the bound, a max above it is a warning."""

from __future__ import annotations

import statistics

from approval.engine.checks.base import CheckSpec, Evidence, duration_of, not_finished, result
from approval.engine.classify import generation
from approval.engine.probes import SAMPLES
from approval.engine.results import Category, CheckResult, Status

NAME = "latency"
SPEC = CheckSpec(
    NAME,
    default="always",
    summary="the p50 of N samples (default 3) is under `max_latency_ms`",
    needs=(SAMPLES,),
    reads=(SAMPLES,),
)


def evaluate(ev: Evidence) -> CheckResult:
    samples = ev.samples()
    if not samples:
        return not_finished(ev, NAME, ["the latency samples"])
    # What an agent waits for: every attempt of a call the client had to retry, and the waits between them.
    # Measured over successful answers only: a 200 carrying an error or an empty output is not an answer.
    generations = [generation(ex, ev.settings.endpoint) for ex in samples]
    answered = [ex for ex, gen in zip(samples, generations, strict=True) if gen.ok]
    good = [max(ex.total_ms, ex.elapsed_ms) for ex in answered]
    retried = sum(1 for ex in answered if ex.attempts > 1)
    bound = ev.settings.max_latency_ms
    if not good:
        cause = next(gen for gen in generations if not gen.ok)
        return result(NAME, Status.ERROR, cause.category, f"not measured: none of the {len(samples)} call(s) gave a usable answer ({cause.reason})",
                      duration_ms=duration_of(*samples), metrics={"p50_ms": None, "max_ms": None, "samples": 0, "bound_ms": bound})
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
        # A partial measurement is an evidence gap: the missing samples were cut by the deadline or got no usable answer.
        gap = next((gen for gen in generations if not gen.ok), None)
        return result(NAME, Status.ERROR, gap.category if gap else Category.INFRASTRUCTURE,
                      text + f" — only {len(good)} of {ev.settings.latency_samples} samples gave a usable answer", duration_ms=duration_of(*samples),
                      metrics=metrics)
    return result(NAME, Status.PASS, Category.NONE, text, duration_ms=duration_of(*samples), metrics=metrics)
