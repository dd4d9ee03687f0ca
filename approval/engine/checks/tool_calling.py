"""tool-calling: the model answers a prompt that needs a tool with a call whose arguments are JSON valid against the
tool's parameter schema."""

from __future__ import annotations

import json
from typing import Any

from approval.common.redact import redact_head
from approval.engine.checks.base import CheckSpec, Evidence, duration_of, not_finished, result
from approval.engine.classify import failure_status, generation
from approval.engine.contract import show_repr
from approval.engine.probes import TOOL_NAME, TOOL_PARAMETERS, TOOLS
from approval.engine.results import Category, CheckResult, Status

NAME = "tool-calling"
SPEC = CheckSpec(
    NAME,
    default="opt-in",
    findings=("finish-reason",),
    summary="the model calls the offered tool with arguments valid against its parameter schema",
    needs=(TOOLS,),
    reads=(TOOLS,),
)


def judge_tool_calls(calls: list[dict[str, Any]]) -> tuple[bool, str]:
    if not calls:
        return False, "the model answered without a tool call"
    call = next((c for c in calls if c.get("name") == TOOL_NAME), None)
    if call is None:
        return False, f"the model called {show_repr(calls[0].get('name'))}, not {TOOL_NAME!r}"
    raw = call.get("arguments")
    try:
        args = json.loads(raw) if isinstance(raw, str) else raw
    except (ValueError, RecursionError):
        return False, "the tool call's arguments are not valid JSON"
    if not isinstance(args, dict):
        return False, "the tool call's arguments are not a JSON object"
    # jsonschema (~120 ms to import) only where a schema is checked
    from jsonschema import Draft202012Validator

    errors = list(Draft202012Validator(TOOL_PARAMETERS).iter_errors(args))
    if errors:
        return False, f"the tool call's arguments do not match the parameter schema ({errors[0].validator}: {redact_head(errors[0].message, 80)})"
    return True, f"called {TOOL_NAME} with arguments valid against its schema"


def evaluate(ev: Evidence) -> CheckResult:
    ex = ev.get("tools")
    if ex is None:
        return not_finished(ev, NAME, ["the tool-calling call"])
    gen = generation(ex, ev.settings.endpoint, tools_expected=True)
    duration = duration_of(ex)
    if not gen.ok and not gen.tool_calls:
        return result(NAME, failure_status(gen.category), gen.category, gen.reason, duration_ms=duration)
    ok, reason = judge_tool_calls(gen.tool_calls)
    if not ok:
        return result(NAME, Status.FAIL, Category.MODEL, reason, duration_ms=duration)
    if ev.settings.endpoint == "chat" and gen.finish_reason != "tool_calls":
        required = "tool-calling.finish-reason" in ev.settings.required
        return result(NAME, Status.FAIL if required else Status.WARN, Category.GATEWAY,
                      f"{reason}, but finish_reason is {gen.finish_reason!r}, not 'tool_calls'", duration_ms=duration)
    return result(NAME, Status.PASS, Category.NONE, reason, duration_ms=duration)
