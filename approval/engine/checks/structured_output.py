"""structured-output: with a JSON Schema response format, the answer parses and validates."""

from __future__ import annotations

from approval.engine.checks.base import CheckSpec, Evidence, duration_of, not_finished, result
from approval.engine.checks.output_quality import unmet_expectations
from approval.engine.classify import failure_status, generation
from approval.engine.probes import STRUCTURED, STRUCTURED_SCHEMA
from approval.engine.results import Category, CheckResult, Status

NAME = "structured-output"
SPEC = CheckSpec(
    NAME,
    default="opt-in",
    summary="with a JSON Schema response format, the answer parses and validates",
    needs=(STRUCTURED,),
    reads=(STRUCTURED,),
)


def evaluate(ev: Evidence) -> CheckResult:
    ex = ev.get("structured")
    if ex is None:
        return not_finished(ev, NAME, ["the structured-output call"])
    gen = generation(ex, ev.settings.endpoint)
    if not gen.ok:
        return result(NAME, failure_status(gen.category), gen.category, gen.reason, duration_ms=duration_of(ex))
    problems = unmet_expectations(gen.text.strip(), {"json_schema": STRUCTURED_SCHEMA})
    if problems:
        return result(NAME, Status.FAIL, Category.MODEL, "the answer " + "; ".join(problems), duration_ms=duration_of(ex))
    return result(NAME, Status.PASS, Category.NONE, "JSON answer valid against the requested schema", duration_ms=duration_of(ex))
