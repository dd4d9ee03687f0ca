"""model-echo: the gateway served the candidate, not another model (a silent fallback fails).

`served_elsewhere` is also what the suite asks of every generation call, whichever checks were selected: an answer
that another model or route gave is no evidence about the candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from approval.checks.base import Evidence, duration_of, not_finished, result
from approval.checks.streaming import judge_chat_stream, judge_responses_stream
from approval.classify import generation
from approval.contract import model_matches, show
from approval.gateway import Exchange, sse_json
from approval.results import Category, CheckResult, Status

NAME = "model-echo"
GENERATION_LABELS = ("reach", "stream", "tools", "structured")  # and every `sample-N`


@dataclass(frozen=True)
class ServedElsewhere:
    kind: str  # fallback (the gateway says another route served it) | other-model | other-version
    evidence: str  # what showed it, for a person: the header or field and its value
    served_model: str | None = None


def gateway_evidence(ex: Exchange, model: str, aliases: tuple[str, ...]) -> str | None:
    """What the gateway's own headers say about a fallback, when they say anything."""
    attempted = ex.header("x-litellm-attempted-fallbacks")
    if attempted is not None and attempted.strip() not in ("", "0", "None"):
        return f"the gateway reports {attempted.strip()} attempted fallback(s) (x-litellm-attempted-fallbacks)"
    group = ex.header("x-litellm-model-group")
    if group and not model_matches(model, group, aliases):
        return f"the gateway served model group {group!r} (x-litellm-model-group)"
    return None


def _stream_model(ex: Exchange) -> str | None:
    """The `model` a stream's chunks (chat) or its response object (Responses) name."""
    for event in ex.events or []:
        payload: Any = sse_json(event)
        if not isinstance(payload, dict):
            continue
        for node in (payload, payload.get("response")):
            if isinstance(node, dict) and isinstance(node.get("model"), str) and node["model"]:
                return str(node["model"])
    return None


def served_model(ex: Exchange, endpoint: str) -> str | None:
    if ex.events is not None:
        return _stream_model(ex)
    return generation(ex, endpoint).model if ex.is_json else None


def is_other_version(requested: str, returned: str) -> bool:
    """`gemini-1.5-pro-002` for `gemini-1.5-pro`: the requested name with a version suffix that is not a snapshot date."""
    want, got = requested.strip().lower().rpartition("/")[2], returned.strip().lower().rpartition("/")[2]
    return got != want and got.startswith(want) and got[len(want)] in "-@:."


def served_elsewhere(ex: Exchange, model: str, aliases: tuple[str, ...], endpoint: str) -> ServedElsewhere | None:
    """Whether a 2xx answer to a call for `model` came from another model or route, and what shows it."""
    if ex.status is None or not 200 <= ex.status < 300:
        return None
    said = gateway_evidence(ex, model, aliases)
    if said is not None:
        return ServedElsewhere("fallback", said)
    named = served_model(ex, endpoint)
    if named is None or model_matches(model, named, aliases):
        return None
    if is_other_version(model, named):
        return ServedElsewhere("other-version", f"asked for {model!r}, the response names {named!r}", named)
    return ServedElsewhere("other-model", f"asked for {model!r}, the response names {named!r}", named)


def describe(found: ServedElsewhere) -> str:
    if found.kind == "other-version":
        return (f"a different version than the one requested: {found.evidence} — if that version is the one reviewed, "
                f"add it to model_aliases")
    return f"silent fallback: {found.evidence}"


def usable_answer(label: str, ex: Exchange, endpoint: str) -> bool:
    """Whether a generation call got an answer a check could judge the model by."""
    if ex.events is not None:
        judge = judge_responses_stream if endpoint == "responses" else judge_chat_stream
        return not ex.truncated and ex.transport_error is None and judge(ex.events, ex.stream_complete)[0]
    return generation(ex, endpoint, tools_expected=label == "tools").ok


def generation_exchanges(ev: Evidence) -> list[Exchange]:
    return [ex for ex in [ev.get("reach"), *ev.samples(), ev.get("tools"), ev.get("structured"), ev.get("stream")] if ex is not None]


def evaluate(ev: Evidence) -> CheckResult:
    exchanges = generation_exchanges(ev)
    if not exchanges:
        return not_finished(ev, NAME, ["the generation calls"])
    aliases = ev.settings.model_aliases.get(ev.model, ())
    duration = duration_of(*exchanges)
    seen: list[str] = []
    answered = 0
    for ex in exchanges:
        found = served_elsewhere(ex, ev.model, aliases, ev.settings.endpoint)
        if found is not None:
            where = " on the streaming call" if ex.label == "stream" else ""
            metrics = {"served_model": found.served_model} if found.served_model else {}
            return result(NAME, Status.FAIL, Category.GATEWAY, f"{describe(found)}{where}", duration_ms=duration, metrics=metrics)
        if not usable_answer(ex.label, ex, ev.settings.endpoint):  # no check passes on calls that failed
            continue
        answered += 1
        named = served_model(ex, ev.settings.endpoint)
        if named is not None:
            seen.append(named)
    if answered == 0:
        cause = generation(exchanges[0], ev.settings.endpoint)
        category = cause.category if not cause.ok else Category.GATEWAY
        return result(NAME, Status.ERROR, category, "not verifiable: no call gave a usable answer (see happy-path / reachability)",
                      duration_ms=duration)
    if not seen:
        return result(NAME, Status.ERROR, Category.GATEWAY, "the responses carry no `model` field; the served model cannot be verified",
                      duration_ms=duration)
    names = sorted(set(seen))
    return result(NAME, Status.PASS, Category.NONE, f"served as {', '.join(repr(show(n)) for n in names)} in {len(seen)} response(s)",
                  duration_ms=duration, metrics={"served_model": names[0]})
