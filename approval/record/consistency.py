"""Whether an approval record agrees with itself: its summary fields with its checks, its verdict with its pass
policy, and whether it holds the API key. Pure: the record (parsed JSON) in, a list of problems out.

The schema says a record is well-formed; this says it is true to its own evidence. A record hand-edited to
`"overall_result": "pass"` over failing checks is well-formed and false.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from approval.common.redact import holds_secret
from approval.engine.checks import CATALOGUE
from approval.engine.contract import model_matches
from approval.record.build import SCHEMA_VERSIONS

BLOCKING = ("fail", "error")
HTTP_2XX = re.compile(r"^2\d\d$")
HTTP_4XX_LIST = re.compile(r"^4\d\d(/4\d\d)*$")
ERROR_PROBES = ("missing-model", "unknown-model")


def _checks(record: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("name")): c for c in record.get("checks") or [] if isinstance(c, Mapping)}


def _names(record: Mapping[str, Any]) -> list[str]:
    return [str(c.get("name")) for c in record.get("checks") or [] if isinstance(c, Mapping)]


def _required(record: Mapping[str, Any]) -> set[str]:
    policy = record.get("policy")
    return {str(r) for r in policy.get("required") or []} if isinstance(policy, Mapping) else set()


def _warnings_block(record: Mapping[str, Any]) -> bool:
    policy = record.get("policy")
    if isinstance(policy, Mapping):
        return bool(policy.get("warnings_block"))
    return "warnings block approval" in str(record.get("notes", ""))  # schema 1 said it in the notes only


def record_problems(record: Any, api_key: str | None = None) -> list[str]:
    """Everything wrong with a record: its shape (the shipped schema) first, then its truth to itself."""
    from approval.record.build import RecordInvalid, validate_record  # the schema, read once a record is checked

    try:
        validate_record(record)
    except RecordInvalid as exc:
        return [str(exc)]
    return inconsistencies(record, api_key)


def inconsistencies(record: Mapping[str, Any], api_key: str | None = None) -> list[str]:
    """Each way the record contradicts itself, or holds the key, as one line naming the field."""
    problems: list[str] = []
    version = record.get("schema_version")
    names = _names(record)
    problems += _what_the_tool_never_writes(record, version)
    if twice := sorted({name for name in names if names.count(name) > 1}):
        # which of the two is the verdict's? A reader (and `approval diff`) sees only one of them
        problems.append(f"checks lists {', '.join(twice)} more than once")
    checks = _checks(record)
    statuses = {name: str(c.get("status")) for name, c in checks.items()}
    blocking = set(BLOCKING) | ({"warn"} if _warnings_block(record) else set())
    if warned := sorted(name for name, status in statuses.items() if status == "warn" and name in _required(record)):
        problems.append(f"policy.required lists {', '.join(warned)}, which warned: a required warning blocks, and is recorded as 'fail'")

    # The verdict follows from the checks and the pass policy, and rests on evidence about the candidate.
    blocked = sorted(name for name, status in statuses.items() if status in blocking or name in warned)
    answered = record.get("answered_calls")
    observed = [name for name, status in statuses.items() if status == "pass" and name in CATALOGUE.grounding]
    should_pass = bool(checks) and not blocked and bool(observed) and (version == 1 or (isinstance(answered, int) and answered > 0))
    verdict = record.get("overall_result")
    if verdict == "pass" and not should_pass:
        why = (f"the checks {', '.join(blocked)} block it" if blocked else "it has no checks" if not checks
               else f"no check that judges the candidate's own answers ({' or '.join(CATALOGUE.grounding)}) passed" if not observed
               else "no generation call was answered by the candidate (answered_calls 0)")
        problems.append(f"overall_result is 'pass' but {why}")
    elif verdict == "fail" and should_pass and not record.get("evidence_gaps"):
        problems.append("overall_result is 'fail' but every check passed and no evidence gap is listed")

    # The lists that summarise the checks.
    gaps = [str(g) for g in record.get("evidence_gaps") or []]
    errored = {name for name, status in statuses.items() if status == "error"}
    gap_names = {g.split(":", 1)[0] for g in gaps if g.split(":", 1)[0] in checks}
    if missing := sorted(errored - gap_names):
        problems.append(f"evidence_gaps does not list the check(s) in error: {', '.join(missing)}")
    if extra := sorted(gap_names - errored):
        problems.append(f"evidence_gaps lists check(s) that are not in error: {', '.join(extra)}")
    expected_categories = sorted({str(c.get("category")) for c in checks.values()
                                  if str(c.get("status")) in blocking and c.get("category") not in (None, "none")})
    if sorted(record.get("failure_categories") or []) != expected_categories:
        problems.append(f"failure_categories {sorted(record.get('failure_categories') or [])} do not match the blocking checks' "
                        f"categories {expected_categories}")

    # The template fields say what the checks they summarise say.
    problems += _template_fields(record, checks, version)

    if api_key:
        # the values as they are, and as the file spells them (JSON-escaped, \u-escaped)
        texts = (*_strings(record), json.dumps(record, ensure_ascii=False), json.dumps(record))
        if any(holds_secret(text, api_key) for text in texts):
            problems.append("the record contains the API key (GATEWAY_API_KEY), verbatim or encoded")
    return problems


QUOTED = r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""  # a model ID as the tool writes it: repr()
# Where a record's own text names the model its evidence is about (approval.engine.checks, approval.engine.suite): each must be the
# candidate the record is for. A record edited to another candidate_model_id keeps these, and contradicts itself.
NAMED_MODEL = (
    re.compile(r"no evidence about " + QUOTED + ": "),  # a check on answers another model or route gave
    re.compile(r"^asked for " + QUOTED + ", ", re.MULTILINE),  # model-echo
    re.compile(r": asked for " + QUOTED + ", "),
    re.compile(r"^" + QUOTED + r" is (?:already|not yet) in approved_models"),  # approved-list
    re.compile(r"answered by " + QUOTED + r" itself"),  # the run's evidence gap
)


def _named_models(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(where, model) for each place the record's checks, gaps and notes name the model they are about."""
    texts = [(f"the {c.get('name')} check", str(c.get("detail", ""))) for c in record.get("checks") or [] if isinstance(c, Mapping)]
    texts += [("evidence_gaps", str(g)) for g in record.get("evidence_gaps") or []] + [("notes", str(record.get("notes", "")))]
    found = []
    for where, text in texts:
        for pattern in NAMED_MODEL:
            for quoted in pattern.findall(text):
                try:
                    found.append((where, str(ast.literal_eval(quoted))))
                except (ValueError, SyntaxError):
                    continue
    return found


def _what_the_tool_never_writes(record: Mapping[str, Any], version: Any) -> list[str]:
    """Values no run writes: a check name the tool does not have, a date that does not exist, a number that is not
    finite, a model other than the candidate in the candidate's own evidence."""

    problems: list[str] = []
    if version not in SCHEMA_VERSIONS or isinstance(version, bool):
        problems.append(f"schema_version {str(version)[:20]} is none this tool writes or reads ({', '.join(map(str, SCHEMA_VERSIONS))})")
    known = CATALOGUE.known if version == 1 else frozenset(CATALOGUE.names)
    baseline: Mapping[str, Any] = record.get("baseline") or {} if isinstance(record.get("baseline"), Mapping) else {}
    for where, checks in (("checks", record.get("checks")), ("baseline.checks", baseline.get("checks"))):
        for check in checks or []:
            if isinstance(check, Mapping) and check.get("name") not in known:
                problems.append(f"{where} lists {str(check.get('name'))[:80]!r}, which is no check of this tool")
    for field, value in _dated(record):
        if not _real_moment(value):
            problems.append(f"{field} {value[:40]!r} is not a real date and time (YYYY-MM-DDThh:mm:ssZ)")
    if unnumbered := _non_finite(record):
        problems.append(f"{unnumbered} is not a finite number (NaN or infinity): no run writes one")
    candidate = str(record.get("candidate_model_id"))
    for where, named in _named_models(record):
        if named != candidate:
            problems.append(f"candidate_model_id is {candidate!r} but {where} is about {named!r}")
            break
    echo: Mapping[str, Any] = _checks(record).get("model-echo") or {}
    metrics: Mapping[str, Any] = echo.get("metrics") or {} if isinstance(echo.get("metrics"), Mapping) else {}
    requested = metrics.get("requested_model")
    served = metrics.get("served_model")
    if requested is not None and requested != candidate:
        problems.append(f"candidate_model_id is {candidate!r} but model-echo checked the answers to {requested!r}")
    elif (echo.get("status") == "pass" and isinstance(served, str) and not model_matches(candidate, served)
          and not metrics.get("served_by_alias")):
        problems.append(f"candidate_model_id is {candidate!r} but model-echo passed on answers naming {served!r}, not an alias of it")
    return problems


DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def _real_moment(value: str) -> bool:
    if not DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.removesuffix("Z") + "+00:00")
    except ValueError:  # 2025-02-30, hour 25, minute 61
        return False
    return True


def _dated(value: Any, path: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Every date field (a key ending in `_at`, as approved_at) anywhere in the record, with its path."""
    if depth > 20:
        return []
    if isinstance(value, Mapping):
        found = [(f"{path}{k}", v) for k, v in value.items() if str(k).endswith("_at") and isinstance(v, str)]
        return found + [item for k, v in value.items() for item in _dated(v, f"{path}{k}.", depth + 1)]
    if isinstance(value, list):
        return [item for i, v in enumerate(value) for item in _dated(v, f"{path}{i}.", depth + 1)]
    return []


def _non_finite(value: Any, path: str = "", depth: int = 0) -> str | None:
    """The path of the first NaN or infinity in a parsed record (strict reading refuses them; a record built in memory
    might still hold one)."""
    if isinstance(value, float) and not math.isfinite(value):
        return path.rstrip(".") or "(top level)"
    if depth > 20:
        return None
    items = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite(item, f"{path}{key}.", depth + 1)
        if found:
            return found
    return None


def _strings(value: Any, depth: int = 0) -> list[str]:
    if isinstance(value, str):
        return [value]
    if depth > 20:
        return []
    if isinstance(value, Mapping):
        return [text for k, v in value.items() for text in (str(k), *_strings(v, depth + 1))]
    if isinstance(value, list):
        return [text for v in value for text in _strings(v, depth + 1)]
    return []


def _template_fields(record: Mapping[str, Any], checks: Mapping[str, Mapping[str, Any]], version: Any) -> list[str]:
    problems: list[str] = []
    happy, errors, latency = checks.get("happy-path"), checks.get("error-path"), checks.get("latency")
    happy_value, error_value = str(record.get("happy_path_status")), str(record.get("error_path_status"))
    if version == 1:  # schema 1 copied the check statuses
        expected_happy = str(happy.get("status")) if happy else "not_run"
        expected_error = str(errors.get("status")) if errors else "not_run"
        if happy_value != expected_happy:
            problems.append(f"happy_path_status {happy_value!r} but the happy-path check is {expected_happy!r}")
        if error_value != expected_error:
            problems.append(f"error_path_status {error_value!r} but the error-path check is {expected_error!r}")
    else:
        if happy is None:
            if happy_value != "not_run":
                problems.append(f"happy_path_status {happy_value!r} but happy-path was not run")
        elif happy.get("status") == "pass":
            status = (happy.get("metrics") or {}).get("http_status")
            if not HTTP_2XX.match(happy_value) or (status is not None and happy_value != str(status)):
                problems.append(f"happy_path_status {happy_value!r} but happy-path passed with HTTP {status}")
        elif happy_value != "fail":
            problems.append(f"happy_path_status {happy_value!r} but the happy-path check is {happy.get('status')!r}")
        if errors is None:
            if error_value != "not_run":
                problems.append(f"error_path_status {error_value!r} but error-path was not run")
        elif errors.get("status") in ("pass", "warn"):
            metrics = errors.get("metrics") or {}
            seen = "/".join(dict.fromkeys(str(metrics.get(p)) for p in ERROR_PROBES))
            if not HTTP_4XX_LIST.match(error_value) or error_value != seen:
                problems.append(f"error_path_status {error_value!r} but the malformed requests got {seen}")
        elif error_value != "fail":
            problems.append(f"error_path_status {error_value!r} but the error-path check is {errors.get('status')!r}")
    output = record.get("output_non_empty")
    if happy is not None and output != (happy.get("status") == "pass"):
        problems.append(f"output_non_empty is {output} but the happy-path check is {happy.get('status')!r}")
    if latency is not None:
        p50 = (latency.get("metrics") or {}).get("p50_ms")
        value = record.get("latency_ms")
        if p50 is None and value is not None:
            problems.append(f"latency_ms is {value} but the latency check measured nothing")
        elif isinstance(p50, int | float) and (not isinstance(value, int | float) or abs(float(value) - float(p50)) > 0.5):
            problems.append(f"latency_ms is {value} but the latency check measured a p50 of {p50}")
    return problems
