"""structured-output: with a JSON Schema response format, the answer parses and validates."""

from __future__ import annotations

from approval.checks.base import Evidence, not_finished, result
from approval.checks.output_quality import unmet_expectations
from approval.classify import generation
from approval.probes import STRUCTURED_SCHEMA
from approval.results import Category, CheckResult, Status

NAME = "structured-output"


def evaluate(ev: Evidence) -> CheckResult:
    ex = ev.get("structured")
    if ex is None:
        return not_finished(NAME, ["the structured-output call"])
    gen = generation(ex, ev.settings.endpoint)
    if not gen.ok:
        return result(NAME, Status.FAIL, gen.category, gen.reason, duration_ms=ex.elapsed_ms)
    problems = unmet_expectations(gen.text.strip(), {"json_schema": STRUCTURED_SCHEMA})
    if problems:
        return result(NAME, Status.FAIL, Category.MODEL, "the answer " + "; ".join(problems), duration_ms=ex.elapsed_ms)
    return result(NAME, Status.PASS, Category.NONE, "JSON answer valid against the requested schema", duration_ms=ex.elapsed_ms)
