"""model-echo: the gateway served the candidate through the reviewed route, not another model or route.

Every generation call made with the candidate's name (reachability, the samples, the stream, tools, structured output,
the empty-messages probe) is read for the gateway's own routing evidence and the `model` its answer names
(approval.routing). One call served elsewhere fails the check: the answers built on it are about something else.
"""

from __future__ import annotations

from approval.checks.base import Evidence, duration_of, not_finished, result
from approval.classify import generation, routing_of, stream_identity
from approval.gateway import Exchange
from approval.probes import CANDIDATE_CALLS, call_name, candidate_call
from approval.results import Category, CheckResult, Status
from approval.routing import Finding, Kind

NAME = "model-echo"
LEAD = {
    Kind.FALLBACK: "silent fallback",
    Kind.OTHER_ROUTE: "served by another route than the reviewed one",
    Kind.OTHER_MODEL: "served by another model",
}
ROUTE_SIGNALS = {
    "provider": "x-portkey-provider, body provider, X-Kong-LLM-Model, cf-aig-provider",
    "portkey_option_index": "x-portkey-last-used-option-index",
    "litellm_model_group": "x-litellm-model-group",
    "litellm_model_id": "x-litellm-model-id",
    "api_base": "x-litellm-model-api-base",
    "deployment": "x-ms-deployment-name",
}


def _order(label: str) -> tuple[int, int]:
    if label.startswith("sample-"):
        return 1, int(label.removeprefix("sample-") or 0)
    return (0 if label == "reach" else 2 + CANDIDATE_CALLS.index(label)), 0


def candidate_exchanges(ev: Evidence) -> list[Exchange]:
    """The finished generation calls made with the candidate's name, in a fixed order."""
    return [ev.exchanges[label] for label in sorted((lb for lb in ev.exchanges if candidate_call(lb)), key=_order)]


def answered(ex: Exchange) -> bool:
    """A 2xx whose body (JSON, or a stream's events) the gateway finished sending headers for: it carries evidence."""
    if ex.status is None or not 200 <= ex.status < 300:
        return False
    return ex.events is not None or ex.is_json


def named_model(ex: Exchange, endpoint: str) -> str | None:
    if ex.events is not None:
        model = stream_identity(ex.events).get("model")
        return model if isinstance(model, str) and model else None
    return generation(ex, endpoint).model


def evaluate(ev: Evidence) -> CheckResult:
    calls = candidate_exchanges(ev)
    if not calls:
        return not_finished(NAME, ["the generation calls"])
    duration = duration_of(*calls)
    answers = [ex for ex in calls if answered(ex)]
    if not answers:
        cause = generation(calls[-1], ev.settings.endpoint)
        return result(NAME, Status.ERROR, cause.category if not cause.ok else Category.INFRASTRUCTURE,
                      "not verifiable: no call succeeded (see happy-path / reachability)", duration_ms=duration)
    elsewhere: list[tuple[Exchange, Finding]] = []
    retried: list[tuple[Exchange, Finding]] = []
    compared: set[str] = set()
    seen: list[str] = []
    for ex in answers:
        reading = routing_of(ex, ev.settings, ev.model)
        compared |= reading.route_evidence
        found = reading.served_elsewhere()
        if found is not None:
            elsewhere.append((ex, found))
        retried += [(ex, finding) for finding in reading.retries()[:1]]
        named = named_model(ex, ev.settings.endpoint)
        if named:
            seen.append(named)
    if elsewhere:
        ex, finding = elsewhere[0]
        share = f" ({len(elsewhere)} of {len(answers)} answered calls)" if len(answers) > 1 else ""
        metrics: dict[str, object] = {"routing_kind": finding.kind.value, "routing_evidence": f"{finding.evidence}: {finding.value}",
                                      "calls_served_elsewhere": len(elsewhere)}
        if finding.evidence == "body model":
            metrics["served_model"] = finding.value
        return result(NAME, Status.FAIL, Category.GATEWAY, f"{LEAD[finding.kind]} on {call_name(ex.label)}{share}: {finding.shown}",
                      duration_ms=duration, metrics=metrics)
    unseen = [name for name in ev.settings.route.named() if name not in compared]
    if unseen:
        signals = "; ".join(f"route.{name}: {ROUTE_SIGNALS[name]}" for name in unseen)
        return result(NAME, Status.ERROR, Category.CONFIG,
                      f"the reviewed route cannot be verified: no answer carried the evidence it names ({signals}); this gateway "
                      f"does not report it, so remove it from route:", duration_ms=duration)
    if not seen:
        return result(NAME, Status.ERROR, Category.GATEWAY, "the responses carry no `model` field; the served model cannot be verified",
                      duration_ms=duration)
    names = sorted(set(seen))
    detail = f"served as {', '.join(repr(n) for n in names)} in {len(seen)} response(s)"
    if compared:
        detail += f", through the reviewed route ({', '.join('route.' + name for name in sorted(compared))})"
    metrics = {"served_model": names[0], "gateway_retried_calls": len(retried)}
    if retried:
        detail += f"; the gateway retried {len(retried)} call(s), which costs the agent time: {retried[0][1].shown}"
    return result(NAME, Status.PASS, Category.NONE, detail, duration_ms=duration, metrics=metrics)
