"""error-path: malformed requests get a 4xx with a parseable structured error, quickly; never a 200 or a 5xx.

Each malformed request is judged against the well-formed calls of the same run: when no well-formed call shows that
the path serves completions (a wrong path, a refused key), or when the gateway is down, rate-limiting or hanging, the
answers to malformed requests prove nothing about the error path, and the check is `error` (an evidence gap).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from approval.engine.checks.base import CheckSpec, Evidence, duration_of, not_finished, result, worst
from approval.engine.classify import auth_hint, describe_failure
from approval.engine.contract import parse_error_body
from approval.engine.gateway import Exchange
from approval.engine.probes import ERR_EMPTY_MESSAGES, ERR_MISSING_MODEL, ERR_UNKNOWN_MODEL, UNKNOWN_MODEL
from approval.engine.results import Category, CheckResult, Status

NAME = "error-path"
PROBES = (
    ("err-missing-model", "missing-model", "no model", True),
    ("err-unknown-model", "unknown-model", "unknown model", True),
    ("err-empty-messages", "empty-messages", "empty messages", False),  # LiteLLM's mock and others accept it: a warning
)
SENT_MODEL: dict[str, str | None] = {"err-missing-model": None, "err-unknown-model": UNKNOWN_MODEL}  # others: the candidate
ACCESS_STATUSES = (401, 403, 407, 408, 429)
# Well-formed calls to the same path. When none of them shows that the path serves completions, a 4xx to a malformed
# request proves nothing: a wrong path (404 "Not Found") or a refused key answers every request with a 4xx.
CONTROL_LABELS = ("reach", "sample-1")
SPEC = CheckSpec(
    NAME,
    default="always",
    findings=("missing-model", "unknown-model", "empty-messages"),
    summary="a request with no model and one with an unknown model each get a 4xx with a parseable structured error",
    needs=(ERR_MISSING_MODEL, ERR_UNKNOWN_MODEL, ERR_EMPTY_MESSAGES),
    reads=(ERR_MISSING_MODEL, ERR_UNKNOWN_MODEL, ERR_EMPTY_MESSAGES, *CONTROL_LABELS),
    control=True,
    about_candidate=False,
)


@dataclass(frozen=True)
class ProbeJudgement:
    kind: str  # ok | finding (the gateway mishandled the malformed request) | gap (nothing to judge the gateway by)
    category: Category
    finding: str


def judge_probe(ex: Exchange, gateway_answers: bool) -> ProbeJudgement:
    """One malformed-request probe. `gateway_answers`: a well-formed call of this run got a 2xx, so the gateway is up
    and a server error to a malformed request is the gateway's own handling, not an outage."""
    if ex.transport_error is not None:  # no answer, or headers and then a broken body: nothing to judge the gateway by
        failure = describe_failure(ex)
        return ProbeJudgement("gap", Category.INFRASTRUCTURE, failure[1] if failure else "no answer")
    status = ex.status or 0
    parsed = parse_error_body(ex.json())
    if status in ACCESS_STATUSES:
        failure = describe_failure(ex)
        return ProbeJudgement("gap", Category.INFRASTRUCTURE, failure[1] if failure else f"HTTP {status}")
    if status >= 500:
        if gateway_answers:
            return ProbeJudgement("finding", Category.GATEWAY, f"HTTP {status} (a malformed request must get a 4xx, not a server error)")
        failure = describe_failure(ex)
        reason = failure[1] if failure else f"HTTP {status}"
        return ProbeJudgement("gap", Category.INFRASTRUCTURE, f"{reason}; no well-formed call succeeded either, so the gateway or its provider is failing")
    if 200 <= status < 300:
        return ProbeJudgement("finding", Category.GATEWAY, f"HTTP {status}: the gateway accepted it")
    if not 400 <= status < 500:
        return ProbeJudgement("finding", Category.GATEWAY, f"HTTP {status} (expected a 4xx)")
    if parsed is None:
        shown = ex.body_excerpt(60) if ex.body else "empty body"
        return ProbeJudgement("finding", Category.GATEWAY, f"HTTP {status} without a parseable error ({shown})")
    if auth_hint(parsed.message):
        return ProbeJudgement("gap", Category.INFRASTRUCTURE,
                              f"HTTP {status} that reads as an access problem, not a rejection of the request — check the API key")
    return ProbeJudgement("ok", Category.NONE, f"HTTP {status} {parsed.shape} error")


# How error texts name a model: `model=glm-4.6` (LiteLLM), "The model `gpt-5` does not exist" (OpenAI), model: 'x'. After
# a colon an unquoted word counts only when it looks like a model ID (`model: field required` names none).
_NAMED_MODEL = re.compile(
    r"""\bmodel\s*=\s*[`'"]?(?P<assigned>[^\s`'",;()\[\]{}]+)"""
    r"""|\bmodel\s*:?\s+[`'"](?P<quoted>[^`'"\s]{1,200})[`'"]"""
    r"""|\bmodel\s*:\s*(?P<bare>[A-Za-z0-9][\w@+]*[-./:\d][^\s`'",;()\[\]{}]*)""",
    re.IGNORECASE,
)
_NO_MODEL = frozenset({"none", "null", "nil", "undefined", "''", '""'})


def models_named(message: str) -> list[str]:
    """The model names an error text names, in order."""
    names = []
    for match in _NAMED_MODEL.finditer(message):
        name = (match.group("assigned") or match.group("quoted") or match.group("bare") or "").rstrip(".:")
        if name and name.lower() not in _NO_MODEL:
            names.append(name)
    return names


def rewritten_model(sent: str | None, message: str) -> str | None:
    """The model a gateway put in place of the one sent (None: no model), when the error it passed back names another:
    Portkey fills a missing `model` with a default of its own before forwarding, so the upstream's 400 is about that."""
    return next((name for name in models_named(message) if name != sent), None)


def rewrite_finding(ex: Exchange, sent: str | None) -> str | None:
    """When a 4xx error names another model than the probe sent, what the gateway did: it rewrote the malformed request
    and forwarded it, so the 4xx is the upstream's answer about a model nobody asked for, not the gateway's rejection."""
    parsed = parse_error_body(ex.json()) if ex.status is not None and 400 <= ex.status < 500 else None
    substitute = rewritten_model(sent, parsed.message) if parsed is not None else None
    if substitute is None:
        return None
    did = "filled in that model" if sent is None else f"put it in place of {sent!r}"
    return f"HTTP {ex.status} about model {substitute!r}: the gateway {did} and forwarded the request; the upstream, not the gateway, rejected it"


def serves_completions(ex: Exchange) -> bool:
    """Whether a well-formed call's answer shows the path is a completions endpoint: a 2xx; a 5xx (the handler ran and
    its upstream failed); or a 400/404/422 whose structured error is about the model (an unknown or broken model)."""
    status = ex.status
    if status is None:
        return False
    if 200 <= status < 300 or status >= 500:
        return True
    if status in (400, 404, 422):
        parsed = parse_error_body(ex.json())
        return parsed is not None and "model" in parsed.message.lower() and not auth_hint(parsed.message)
    return False


def controls(ev: Evidence) -> list[Exchange]:
    return [ex for ex in (ev.get(label) for label in CONTROL_LABELS) if ex is not None]


def control_failure(ev: Evidence) -> tuple[Category, str] | None:
    """Why no well-formed call shows the path serves completions, or None when one does (or none was made)."""
    made = controls(ev)
    if not made or any(serves_completions(ex) for ex in made):
        return None
    failure = describe_failure(made[0], f"paths.{ev.settings.endpoint}")
    return failure if failure is not None else (Category.GATEWAY, f"HTTP {made[0].status}")


STATUS_OF = {"ok": Status.PASS, "gap": Status.ERROR}


def evaluate(ev: Evidence) -> CheckResult:
    labels = [label for label, *_ in PROBES]
    present = [ev.get(label) for label in labels]
    if all(ex is None for ex in present):
        return not_finished(ev, NAME, ["the error-path probes"])
    gateway_answers = any(ex.status is not None and 200 <= ex.status < 300 for ex in controls(ev))
    judged: list[tuple[Status, Category, str]] = []
    metrics: dict[str, object] = {}
    for (label, short, title, required_by_default), ex in zip(PROBES, present, strict=True):
        if ex is None:
            judged.append((Status.ERROR, Category.INFRASTRUCTURE,
                           f"{title}: not finished before the run's deadline of {ev.settings.total_timeout_s:g} s"))
            continue
        metrics[short] = ex.status
        verdict = judge_probe(ex, gateway_answers)
        named = f"{NAME}.{short}" in ev.settings.required or NAME in ev.settings.required
        rewrite = rewrite_finding(ex, SENT_MODEL.get(label, ev.model)) if verdict.kind == "ok" else None
        if rewrite is not None:
            # The agent got its parseable 4xx, so the contract held in this run, but only because the upstream did not
            # know the model the gateway put in: a warning about the gateway, blocking when `required:` names the probe.
            metrics[f"{short}-rewritten"] = True
            judged.append((Status.FAIL, Category.GATEWAY, f"{title}: {rewrite}") if named
                          else (Status.WARN, Category.GATEWAY, f"{title} (a warning only): {rewrite}"))
            continue
        required = required_by_default or named
        if verdict.kind == "ok" or (verdict.kind == "gap" and required):
            judged.append((STATUS_OF[verdict.kind], verdict.category, f"{title}: {verdict.finding}"))
            continue
        if required:
            judged.append((Status.FAIL, verdict.category, f"{title}: {verdict.finding}"))
        else:  # said where it stands, so that a failing check's line never reads as a warning
            judged.append((Status.WARN, verdict.category, f"{title} (a warning only): {verdict.finding}"))
    statuses = [status for status, _, _ in judged]
    # a finding about how the gateway handled a malformed request stands, even when another probe got no answer
    overall = Status.FAIL if Status.FAIL in statuses else worst(statuses)
    category = next((c for s, c, _ in judged if s == overall), Category.NONE)
    parts = [text for _, _, text in judged]
    control = control_failure(ev)
    if control is not None and overall in (Status.PASS, Status.WARN, Status.FAIL):
        category, why = control
        detail = (f"could not be checked: no well-formed call shows that {ev.settings.path_for(ev.settings.endpoint)} serves completions "
                  f"({why}), so its answers to malformed ones prove nothing; {'; '.join(parts)}")
        return result(NAME, Status.ERROR, category, detail, duration_ms=duration_of(*present), metrics=metrics)
    return result(NAME, overall, category, "; ".join(parts), duration_ms=duration_of(*present), metrics=metrics)
