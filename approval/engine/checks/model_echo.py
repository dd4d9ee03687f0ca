"""model-echo: the gateway served the candidate through the reviewed route, not another model or route.

Every generation call made with the candidate's name (reachability, the samples, tools, structured output, the stream)
is read for the gateway's own routing evidence and the `model` its answer names, by the one rule of who served an
answer (engine/served.py), which the suite also asks of every generation call. One call served elsewhere fails the check.
"""

from __future__ import annotations

from approval.engine.checks.base import CheckSpec, Evidence, duration_of, not_finished, result
from approval.engine.classify import generation, routing_of
from approval.engine.contract import model_matches, show
from approval.engine.gateway import Exchange
from approval.engine.probes import GENERATION, SAMPLE_1, SAMPLES
from approval.engine.results import Category, CheckResult, Status
from approval.engine.routing import Finding
from approval.engine.served import answered, describe, served_model, usable_answer

NAME = "model-echo"
SPEC = CheckSpec(
    NAME,
    default="always",
    summary=("every answer names the candidate (or an alias or dated snapshot of it), and the gateway's routing "
             "evidence shows no fallback and no other route than the reviewed one"),
    needs=(SAMPLE_1,),
    reads=(SAMPLES, *GENERATION),
    about_candidate=False,
)
CALL_NAMES = {"reach": "the reachability call", "stream": "the streaming call", "tools": "the tool call",
              "structured": "the structured-output call"}
ROUTE_SIGNALS = {
    "provider": "x-portkey-provider, body provider, X-Kong-LLM-Model, cf-aig-provider",
    "portkey_option_index": "x-portkey-last-used-option-index",
    "litellm_model_group": "x-litellm-model-group",
    "litellm_model_id": "x-litellm-model-id",
    "api_base": "x-litellm-model-api-base",
    "deployment": "x-ms-deployment-name",
}


def call_name(label: str) -> str:
    return CALL_NAMES.get(label, f"sample {label.removeprefix('sample-')}" if label.startswith("sample-") else label)


def generation_exchanges(ev: Evidence) -> list[Exchange]:
    return [ex for ex in [ev.get("reach"), *ev.samples(), ev.get("tools"), ev.get("structured"), ev.get("stream")] if ex is not None]


def evaluate(ev: Evidence) -> CheckResult:
    exchanges = generation_exchanges(ev)
    if not exchanges:
        return not_finished(ev, NAME, ["the generation calls"])
    duration = duration_of(*exchanges)
    elsewhere: list[tuple[Exchange, Finding]] = []
    retried: list[Finding] = []
    compared: set[str] = set()
    seen: list[str] = []
    answers = [ex for ex in exchanges if answered(ex)]
    for ex in answers:
        reading = routing_of(ex, ev.settings, ev.model)
        compared |= reading.route_evidence
        found = reading.served_elsewhere()
        if found is not None:
            elsewhere.append((ex, found))
            continue
        retried += reading.retries()[:1]
        named = served_model(ex, ev.settings.endpoint)
        if named is not None and usable_answer(ex.label, ex, ev.settings.endpoint):  # no check passes on calls that failed
            seen.append(named)
    if elsewhere:
        ex, found = elsewhere[0]
        share = f" ({len(elsewhere)} of {len(answers)} answered calls)" if len(answers) > 1 else ""
        metrics: dict[str, object] = {"requested_model": ev.model, "routing_kind": found.kind.value,
                                      "routing_evidence": f"{found.evidence}: {found.value}",
                                      "calls_served_elsewhere": len(elsewhere)}
        if found.evidence == "body model":
            metrics["served_model"] = found.value
        lead, _, rest = describe(found).partition(": ")
        return result(NAME, Status.FAIL, Category.GATEWAY, f"{lead} on {call_name(ex.label)}{share}: {rest}", duration_ms=duration,
                      metrics=metrics)
    if not seen:
        usable = [ex for ex in exchanges if usable_answer(ex.label, ex, ev.settings.endpoint)]
        if not usable:
            cause = generation(exchanges[0], ev.settings.endpoint)
            category = cause.category if not cause.ok else Category.GATEWAY
            return result(NAME, Status.ERROR, category, "not verifiable: no call gave a usable answer (see happy-path / reachability)",
                          duration_ms=duration)
        return result(NAME, Status.ERROR, Category.GATEWAY,
                      "the responses name no model (no `model` field, or a blank one): the served model cannot be verified", duration_ms=duration)
    unseen = [name for name in ev.settings.route.named() if name not in compared]
    if unseen:
        signals = "; ".join(f"route.{name}: {ROUTE_SIGNALS[name]}" for name in unseen)
        return result(NAME, Status.ERROR, Category.CONFIG,
                      f"the reviewed route cannot be verified: no answer carried the evidence it names ({signals}); this gateway "
                      f"does not report it, so remove it from route:", duration_ms=duration)
    names = sorted(set(seen))
    detail = f"served as {', '.join(repr(show(n)) for n in names)} in {len(seen)} response(s)"
    if compared:
        detail += f", through the reviewed route ({', '.join('route.' + name for name in sorted(compared))})"
    if retried:
        detail += f"; the gateway retried {len(retried)} call(s), which costs the agent time: {retried[0].shown}"
    return result(NAME, Status.PASS, Category.NONE, detail, duration_ms=duration,
                  metrics={"served_model": names[0], "requested_model": ev.model,
                           "served_by_alias": any(not model_matches(ev.model, n) for n in names), "gateway_retried_calls": len(retried)})
