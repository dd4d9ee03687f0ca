"""model-echo: the gateway served the candidate, not another model (a silent fallback fails)."""

from __future__ import annotations

from approval.checks.base import Evidence, duration_of, not_finished, result
from approval.classify import generation
from approval.contract import model_matches
from approval.gateway import Exchange
from approval.results import Category, CheckResult, Status

NAME = "model-echo"


def gateway_evidence(ex: Exchange, model: str, aliases: tuple[str, ...]) -> str | None:
    """What the gateway's own headers say about a fallback, when they say anything."""
    attempted = ex.header("x-litellm-attempted-fallbacks")
    if attempted is not None and attempted.strip() not in ("", "0", "None"):
        return f"the gateway reports {attempted.strip()} attempted fallback(s) (x-litellm-attempted-fallbacks)"
    group = ex.header("x-litellm-model-group")
    if group and not model_matches(model, group, aliases):
        return f"the gateway served model group {group!r} (x-litellm-model-group)"
    return None


def evaluate(ev: Evidence) -> CheckResult:
    exchanges = [ex for ex in [ev.get("reach"), *ev.samples(), ev.get("tools"), ev.get("structured")] if ex is not None]
    if not exchanges:
        return not_finished(NAME, ["the generation calls"])
    aliases = ev.settings.model_aliases.get(ev.model, ())
    duration = duration_of(*exchanges)
    seen: list[str] = []
    answered = 0
    stream = ev.get("stream")
    if stream is not None and stream.status is not None and 200 <= stream.status < 300:
        evidence = gateway_evidence(stream, ev.model, aliases)
        if evidence:
            return result(NAME, Status.FAIL, Category.GATEWAY, f"silent fallback on the streaming call: {evidence}", duration_ms=duration)
    for ex in exchanges:
        gen = generation(ex, ev.settings.endpoint)
        if ex.status is None or not (200 <= ex.status < 300) or not ex.is_json:
            continue
        answered += 1
        evidence = gateway_evidence(ex, ev.model, aliases)
        if evidence:
            return result(NAME, Status.FAIL, Category.GATEWAY, f"silent fallback: {evidence}", duration_ms=duration)
        if gen.model is None:
            continue
        if not model_matches(ev.model, gen.model, aliases):
            return result(NAME, Status.FAIL, Category.GATEWAY,
                          f"silent fallback: asked for {ev.model!r}, the response names {gen.model!r}",
                          duration_ms=duration, metrics={"served_model": gen.model})
        seen.append(gen.model)
    if answered == 0:
        cause = generation(exchanges[-1], ev.settings.endpoint)
        return result(NAME, Status.ERROR, cause.category if not cause.ok else Category.INFRASTRUCTURE,
                      "not verifiable: no call succeeded (see happy-path / reachability)", duration_ms=duration)
    if not seen:
        return result(NAME, Status.ERROR, Category.GATEWAY, "the responses carry no `model` field; the served model cannot be verified",
                      duration_ms=duration)
    names = sorted(set(seen))
    return result(NAME, Status.PASS, Category.NONE, f"served as {', '.join(repr(n) for n in names)} in {len(seen)} response(s)",
                  duration_ms=duration, metrics={"served_model": names[0]})
