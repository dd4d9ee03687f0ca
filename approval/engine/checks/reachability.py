"""reachability: a real minimal call answers; the /models listing is consulted and reported, never trusted alone."""

from __future__ import annotations

from approval.engine.checks.base import CheckSpec, Evidence, duration_of, not_finished, result
from approval.engine.classify import describe_failure, failure_status, generation
from approval.engine.contract import show
from approval.engine.probes import MODELS, REACH
from approval.engine.results import Category, CheckResult, Status

NAME = "reachability"
SPEC = CheckSpec(
    NAME,
    default="always",
    findings=("models-listing",),
    summary="a real minimal call answers (`/models` is read too)",
    needs=(REACH, MODELS),
    reads=(REACH, MODELS),
)


def listing_state(ev: Evidence) -> tuple[bool | None, Category, str]:
    """(listed?, whose problem when the listing could not be read, note): listed is None when it could not be read."""
    models = ev.get("models")
    if models is None:
        return None, Category.INFRASTRUCTURE, f"/models did not answer before the run's deadline of {ev.settings.total_timeout_s:g} s"
    failure = describe_failure(models, "paths.models")
    if failure is not None:
        return None, failure[0], f"{ev.settings.models_path} unavailable ({failure[1]})"
    body = models.json()
    data = body.get("data") if isinstance(body, dict) else body if isinstance(body, list) else None
    if not isinstance(data, list):
        return None, Category.GATEWAY, f"{ev.settings.models_path} answered without a `data` list"
    ids = {show(item.get("id")) for item in data if isinstance(item, dict)}
    return ev.model in ids, Category.NONE, f"{ev.settings.models_path} lists {len(ids)} model(s)"


def evaluate(ev: Evidence) -> CheckResult:
    reach = ev.get("reach")
    if reach is None:
        return not_finished(ev, NAME, ["the minimal call"])
    gen = generation(reach, ev.settings.endpoint)
    listed, listing_category, note = listing_state(ev)
    duration = duration_of(reach, ev.get("models"))
    # Measured over a usable answer only: a call that failed has no latency to report.
    metrics = {"listed": listed, "latency_ms": round(duration_of(reach), 1) if gen.ok else None}
    if not gen.ok:
        prefix = "listed in /models but unusable" if listed else "not listed in /models and unusable" if listed is False else "unusable"
        return result(NAME, failure_status(gen.category), gen.category, f"{prefix}: {gen.reason}", duration_ms=duration, metrics=metrics)
    required = "reachability.models-listing" in ev.settings.required
    if listed is False:
        return result(NAME, Status.FAIL if required else Status.WARN, Category.GATEWAY,
                      f"usable but not listed in /models ({note})", duration_ms=duration, metrics=metrics)
    if listed is None:
        return result(NAME, Status.FAIL if required else Status.WARN, listing_category,
                      f"answers a real call; {note}", duration_ms=duration, metrics=metrics)
    return result(NAME, Status.PASS, Category.NONE, f"answers a real call and is listed ({note})", duration_ms=duration, metrics=metrics)
