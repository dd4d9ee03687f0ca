"""output-quality (opt-in): the user's expectations on the representative prompt's answer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from approval.engine.checks.base import CheckSpec, Evidence, duration_of, not_finished, result
from approval.engine.classify import generation
from approval.engine.contract import looks_like_refusal, parse_json_text
from approval.engine.probes import SAMPLE_1
from approval.engine.results import Category, CheckResult, Status

NAME = "output-quality"
SPEC = CheckSpec(
    NAME,
    default="with-expect",
    summary="your expectations on the representative prompt are met",
    needs=(SAMPLE_1,),
    reads=(SAMPLE_1,),
)


def unmet_expectations(text: str, expect: Mapping[str, Any], refusal: str | None = None) -> list[str]:
    """Each expectation the text does not meet, as a short phrase that never quotes the output."""
    problems: list[str] = []
    sensitive = bool(expect.get("case_sensitive", False))
    haystack = text if sensitive else text.lower()
    for needle in expect.get("contains", []):
        if (needle if sensitive else needle.lower()) not in haystack:
            problems.append(f"does not contain {needle!r}")
    for needle in expect.get("not_contains", []):
        if (needle if sensitive else needle.lower()) in haystack:
            problems.append(f"contains {needle!r}")
    for pattern in expect.get("regex", []):
        if not re.search(pattern, text, 0 if sensitive else re.IGNORECASE):
            problems.append(f"does not match /{pattern}/")
    if expect.get("is_json") or "json_schema" in expect:
        ok, value = parse_json_text(text)
        if not ok:
            problems.append("is not valid JSON")
        elif "json_schema" in expect:
            # jsonschema (~120 ms to import) only where a schema is checked
            from jsonschema import Draft202012Validator
            from referencing import Registry

            # an empty registry that retrieves nothing: jsonschema's default one fetches a remote $ref over the network
            validator = Draft202012Validator(expect["json_schema"], registry=Registry())
            errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
            if errors:
                where = ".".join(map(str, errors[0].absolute_path)) or "(root)"
                problems.append(f"JSON does not match the schema at {where}: {errors[0].validator} {errors[0].validator_value!r}"[:160])
    if "min_length" in expect and len(text) < expect["min_length"]:
        problems.append(f"is {len(text)} chars, under min_length {expect['min_length']}")
    if "max_length" in expect and len(text) > expect["max_length"]:
        problems.append(f"is {len(text)} chars, over max_length {expect['max_length']}")
    if expect.get("no_refusal") and (refusal or looks_like_refusal(text)):
        problems.append("reads as a refusal")
    return problems


def evaluate(ev: Evidence) -> CheckResult:
    expect = ev.settings.expect
    if not expect:
        return result(NAME, Status.SKIP, Category.NONE, "no expectations configured")
    sample = ev.get("sample-1")
    if sample is None:
        return not_finished(ev, NAME, ["the representative prompt call"])
    gen = generation(sample, ev.settings.endpoint)
    if not gen.ok:
        return result(NAME, Status.ERROR, gen.category, f"no usable output to check ({gen.reason})", duration_ms=sample.elapsed_ms)
    from referencing.exceptions import Unresolvable  # here, not at the top: referencing (attrs, rpds) costs ~30 ms at every start

    try:
        problems = unmet_expectations(gen.text, expect, gen.refusal)
    except Unresolvable as exc:  # e.g. a $ref to another document: never fetched, and not a finding about the model
        return result(NAME, Status.ERROR, Category.CONFIG, f"expect.json_schema cannot be applied: unresolvable $ref ({type(exc).__name__})",
                      duration_ms=duration_of(sample))
    except RecursionError:
        return result(NAME, Status.ERROR, Category.MODEL, "the answer is nested too deeply to check against expect.json_schema",
                      duration_ms=duration_of(sample))
    count = sum(len(expect.get(k, [])) for k in ("contains", "not_contains", "regex")) + sum(
        1 for k in ("is_json", "json_schema", "min_length", "max_length", "no_refusal") if expect.get(k) not in (None, False))
    metrics = {"expectations": count, "unmet": len(problems)}
    if problems:
        return result(NAME, Status.FAIL, Category.MODEL, "the answer " + "; ".join(problems), duration_ms=duration_of(sample), metrics=metrics)
    return result(NAME, Status.PASS, Category.NONE, f"all {count} expectation(s) met", duration_ms=duration_of(sample), metrics=metrics)
