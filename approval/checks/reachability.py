"""reachability: a real minimal call answers; the /models listing is consulted and reported, never trusted alone."""

from __future__ import annotations

from approval.checks.base import Evidence, duration_of, not_finished, result
from approval.classify import describe_failure, generation
from approval.contract import show
from approval.results import Category, CheckResult, Status

NAME = "reachability"


def listing_state(ev: Evidence) -> tuple[bool | None, str]:
    """(listed?, note): None when the listing could not be read."""
    models = ev.get("models")
    if models is None:
        return None, "/models did not answer before the deadline"
    failure = describe_failure(models)
    if failure is not None:
        return None, f"/models unavailable ({failure[1]})"
    body = models.json()
    data = body.get("data") if isinstance(body, dict) else body if isinstance(body, list) else None
    if not isinstance(data, list):
        return None, "/models answered without a `data` list"
    ids = {show(item.get("id")) for item in data if isinstance(item, dict)}
    return ev.model in ids, f"/models lists {len(ids)} model(s)"


def evaluate(ev: Evidence) -> CheckResult:
    reach = ev.get("reach")
    if reach is None:
        return not_finished(NAME, ["the minimal call"])
    gen = generation(reach, ev.settings.endpoint)
    listed, note = listing_state(ev)
    metrics = {"listed": listed, "latency_ms": round(reach.elapsed_ms, 1)}
    duration = duration_of(reach, ev.get("models"))
    if not gen.ok:
        prefix = "listed in /models but unusable" if listed else "not listed in /models and unusable" if listed is False else "unusable"
        return result(NAME, Status.FAIL, gen.category, f"{prefix}: {gen.reason}", duration_ms=duration, metrics=metrics)
    if listed is False:
        required = "reachability.models-listing" in ev.settings.required
        return result(NAME, Status.FAIL if required else Status.WARN, Category.GATEWAY,
                      f"usable but not listed in /models ({note})", duration_ms=duration, metrics=metrics)
    if listed is None:
        required = "reachability.models-listing" in ev.settings.required
        return result(NAME, Status.FAIL if required else Status.WARN, Category.GATEWAY,
                      f"answers a real call; {note}", duration_ms=duration, metrics=metrics)
    return result(NAME, Status.PASS, Category.NONE, f"answers a real call and is listed ({note})", duration_ms=duration, metrics=metrics)
