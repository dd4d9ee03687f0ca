"""happy-path: 200, well-formed body, non-empty first output that is not an error text — on every sample."""

from __future__ import annotations

from approval.engine.checks.base import CheckSpec, Evidence, duration_of, not_finished, result
from approval.engine.classify import failure_status, generation
from approval.engine.probes import SAMPLE_1, SAMPLES
from approval.engine.results import Category, CheckResult, Status

NAME = "happy-path"
SPEC = CheckSpec(
    NAME,
    default="always",
    summary="on every sample: HTTP 200, a JSON object of the right shape, non-empty output that is not an error text",
    needs=(SAMPLE_1,),
    reads=(SAMPLES,),
)


def evaluate(ev: Evidence) -> CheckResult:
    samples = ev.samples()
    if not samples:
        return not_finished(ev, NAME, ["the representative prompt call"])
    duration = duration_of(*samples)
    family = "Responses API" if ev.settings.endpoint == "responses" else "chat completions"
    generations = [generation(ex, ev.settings.endpoint) for ex in samples]
    failures = [gen for gen in generations if not gen.ok]
    answered = [gen for gen in generations if gen.ok]
    # Measured over the answers that succeeded only: none, and there is no figure.
    chars = max((len(gen.text) for gen in answered), default=None)
    metrics = {"samples": len(samples), "failed_samples": len(failures), "output_chars": chars}
    if failures:
        # A finding about what the gateway or the model answered outranks a call that got no usable answer.
        first = min(failures, key=lambda gen: failure_status(gen.category) is Status.ERROR)
        more = f" ({len(failures)} of {len(samples)} calls failed)" if len(samples) > 1 else ""
        return result(NAME, failure_status(first.category), first.category, f"{family}: {first.reason}{more}", duration_ms=duration,
                      metrics=metrics)
    missing = ev.settings.latency_samples - len(samples) if "latency" in ev.settings.checks else 0
    if missing > 0:
        return result(NAME, Status.ERROR, Category.INFRASTRUCTURE,
                      f"{missing} call(s) did not finish before the run's deadline of {ev.settings.total_timeout_s:g} s",
                      duration_ms=duration, metrics=metrics)
    status = samples[0].status
    return result(NAME, Status.PASS, Category.NONE, f"{family}: HTTP {status}, well-formed, non-empty output ({chars} chars)",
                  duration_ms=duration, metrics={**metrics, "http_status": status})
