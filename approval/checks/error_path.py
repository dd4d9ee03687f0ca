"""error-path: malformed requests get a 4xx with a parseable structured error, quickly; never a 200 or a 5xx."""

from __future__ import annotations

import re

from approval.checks.base import Evidence, duration_of, not_finished, result, worst
from approval.classify import auth_hint, describe_failure
from approval.contract import parse_error_body
from approval.gateway import Exchange
from approval.probes import UNKNOWN_MODEL
from approval.results import Category, CheckResult, Status

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


def judge_probe(ex: Exchange, sent: str | None = None) -> tuple[bool, Category, str]:
    """(ok, category if not ok, short finding) for one malformed-request probe; `sent` is the model it carried."""
    if ex.transport_error is not None:  # no answer, or headers and then a broken body: nothing to judge the gateway by
        failure = describe_failure(ex)
        return False, Category.INFRASTRUCTURE, failure[1] if failure else "no answer"
    status = ex.status or 0
    if status in ACCESS_STATUSES or status >= 500:
        parsed = parse_error_body(ex.json())
        if status >= 500:
            return False, Category.GATEWAY, f"HTTP {status} (a malformed request must get a 4xx, not a server error)"
        failure = describe_failure(ex)
        return False, Category.INFRASTRUCTURE, failure[1] if failure else f"HTTP {status}{': ' + parsed.message if parsed else ''}"
    if 200 <= status < 300:
        return False, Category.GATEWAY, f"HTTP {status}: the gateway accepted it"
    if not 400 <= status < 500:
        return False, Category.GATEWAY, f"HTTP {status} (expected a 4xx)"
    parsed = parse_error_body(ex.json())
    if parsed is None:
        shown = ex.body_excerpt(60) if ex.body else "empty body"
        return False, Category.GATEWAY, f"HTTP {status} without a parseable error ({shown})"
    if auth_hint(parsed.message):
        return False, Category.INFRASTRUCTURE, f"HTTP {status} that reads as an access problem, not a rejection of the request — check the API key"
    return True, Category.NONE, f"HTTP {status} {parsed.shape} error"


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


def control_failure(ev: Evidence) -> tuple[Category, str] | None:
    """Why no well-formed call shows the path serves completions, or None when one does (or none was made)."""
    controls = [ex for ex in (ev.get(label) for label in CONTROL_LABELS) if ex is not None]
    if not controls or any(serves_completions(ex) for ex in controls):
        return None
    failure = describe_failure(controls[0])
    return failure if failure is not None else (Category.GATEWAY, f"HTTP {controls[0].status}")


def evaluate(ev: Evidence) -> CheckResult:
    labels = [label for label, *_ in PROBES]
    present = [ev.get(label) for label in labels]
    if all(ex is None for ex in present):
        return not_finished(NAME, ["the error-path probes"])
    statuses: list[Status] = []
    parts: list[str] = []
    categories: list[tuple[Status, Category]] = []
    metrics: dict[str, object] = {}
    for (label, short, title, required_by_default), ex in zip(PROBES, present, strict=True):
        sent = SENT_MODEL.get(label, ev.model)
        if ex is None:
            statuses.append(Status.ERROR)
            categories.append((Status.ERROR, Category.INFRASTRUCTURE))
            parts.append(f"{title}: not finished before the deadline")
            continue
        metrics[short] = ex.status
        ok, category, finding = judge_probe(ex, sent)
        named = f"{NAME}.{short}" in ev.settings.required or NAME in ev.settings.required
        rewrite = rewrite_finding(ex, sent) if ok else None
        if rewrite is not None:
            # The agent got a parseable 4xx, so the contract held in this run; but only because the upstream did not know
            # the substitute: a warning about the gateway, blocking when the probe is named under `required:`.
            metrics[f"{short}-rewritten"] = True
            statuses.append(Status.FAIL if named else Status.WARN)
            categories.append((statuses[-1], Category.GATEWAY))
            parts.append(f"{title}: {rewrite}{'' if named else ' (warning)'}")
            continue
        if ok:
            statuses.append(Status.PASS)
            parts.append(f"{title}: {finding}")
            continue
        required = required_by_default or named
        status = Status.FAIL if required else Status.WARN
        statuses.append(status)
        categories.append((status, category))
        parts.append(f"{title}: {finding}{'' if required else ' (warning)'}")
    overall = worst(statuses)
    category = next((c for s, c in categories if s == overall), Category.NONE)
    control = control_failure(ev)
    if control is not None and overall in (Status.PASS, Status.WARN):
        category, why = control
        detail = (f"could not be checked: no well-formed call shows that {ev.settings.path_for(ev.settings.endpoint)} serves completions "
                  f"({why}), so its 4xx answers to malformed ones prove nothing; {'; '.join(parts)}")
        return result(NAME, Status.ERROR, category, detail, duration_ms=duration_of(*present), metrics=metrics)
    return result(NAME, overall, category, "; ".join(parts), duration_ms=duration_of(*present), metrics=metrics)
