"""Who served an answer: the one rule, read by model-echo and asked by the suite of every generation call, whichever
checks were selected. An answer another model or route gave — by the gateway's own routing evidence (engine/routing.py)
or the model its body names — is no evidence about the candidate; a call that got no usable answer says nothing either
way.
"""

from __future__ import annotations

from approval.engine.checks.streaming import judge_chat_stream, judge_responses_stream
from approval.engine.classify import generation, routing_of, stream_identities
from approval.engine.gateway import Exchange
from approval.engine.routing import Finding, Kind
from approval.settings.build import Settings

LEAD = {
    Kind.FALLBACK: "silent fallback",
    Kind.OTHER_ROUTE: "served by another route than the reviewed one",
    Kind.OTHER_MODEL: "silent fallback to another model",
}

def answered(ex: Exchange) -> bool:
    """A 2xx with a body to read (JSON, or a stream's events): the gateway's evidence about who served it counts."""
    if ex.status is None or not 200 <= ex.status < 300:
        return False
    return ex.events is not None or ex.is_json


def served_elsewhere(ex: Exchange, settings: Settings, model: str) -> Finding | None:
    """Whether an answer to a call for `model` came from another model or route, and what shows it (the gateway's
    own report first: approval.engine.routing)."""
    if not answered(ex):
        return None
    return routing_of(ex, settings, model).served_elsewhere()


def describe(found: Finding) -> str:
    if found.kind is Kind.OTHER_MODEL and found.text.startswith("a different version"):
        return f"{found.shown} — if that version is the one reviewed, add it to model_aliases"
    if found.kind is Kind.OTHER_MODEL and found.text.startswith("a name that differs only"):
        return f"{found.shown} — if the gateway names the reviewed model so, add that name to model_aliases"
    return f"{LEAD[found.kind]}: {found.shown}"


def served_model(ex: Exchange, endpoint: str) -> str | None:
    """The model the answer names, as written; None when it names none, or a blank one (`""`, `" "`), which identifies
    nothing (a chat body, a Responses body, or the first stream event that names one)."""
    if ex.events is not None:
        names = [identity.get("model") for identity in stream_identities(ex.events)]
    else:
        names = [generation(ex, endpoint).model] if ex.is_json else []
    return next((name for name in names if isinstance(name, str) and name.strip()), None)


def usable_answer(label: str, ex: Exchange, endpoint: str) -> bool:
    """Whether a generation call got an answer a check could judge the model by."""
    if ex.events is not None:
        judge = judge_responses_stream if endpoint == "responses" else judge_chat_stream
        return not ex.truncated and ex.transport_error is None and judge(ex.events, ex.stream_complete)[0]
    return generation(ex, endpoint, tools_expected=label == "tools").ok
