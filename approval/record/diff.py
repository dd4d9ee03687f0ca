"""Compare two approval records: what drifted between the last approval and today's run.

Records of schema 1 and 2 compare: both carry the verdict, the checks (by name, with their status), the latency and
the environment; the template fields that changed meaning in schema 2 (`happy_path_status`, `error_path_status`) are
not compared as text, the checks they summarise are.
"""

from __future__ import annotations

from typing import Any

ENVIRONMENT_FIELDS = ("gateway_base_url", "endpoint_family", "tool_version", "python_version", "prompt_sha256", "config_sha256")
LATENCY_DRIFT = 0.25  # report p50 changes above 25 %


def _checks(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(c.get("name")): c for c in record.get("checks") or [] if isinstance(c, dict)}


def shown_ms(value: Any) -> str:
    """A latency figure for a person: `not measured` when the run had no usable answer to measure."""
    return f"{value:.0f} ms" if isinstance(value, int | float) and not isinstance(value, bool) else "not measured"


def _figure(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def shown(value: Any) -> str:
    return "none" if value is None else str(value)


def _profile(record: dict[str, Any]) -> str:
    """The record's agent profile as `name (short sha256)`; "" when it names none (schema 1 and 2)."""
    named = record.get("agent_profile")
    if not isinstance(named, dict):
        return ""
    return f"{shown(named.get('name'))} ({str(named.get('sha256', ''))[:12]})"


def diff_records(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], bool]:
    """Lines describing each change, and whether any is material (verdict or a check's status)."""
    lines: list[str] = []
    material = False
    if old.get("schema_version") != new.get("schema_version"):
        lines.append(f"record schema: {shown(old.get('schema_version'))} → {shown(new.get('schema_version'))} (compared by checks, "
                     f"latency and environment)")
    if old.get("candidate_model_id") != new.get("candidate_model_id"):
        lines.append(f"model: {old.get('candidate_model_id')} → {new.get('candidate_model_id')}")
    before_profile, after_profile = _profile(old), _profile(new)
    if before_profile and after_profile and before_profile != after_profile:
        lines.append(f"agent profile: {before_profile} → {after_profile} (the verdicts hold for different agents)")
    if old.get("overall_result") != new.get("overall_result"):
        lines.append(f"verdict: {old.get('overall_result')} → {new.get('overall_result')}")
        material = True
    before, after = _checks(old), _checks(new)
    for name in [*before, *(n for n in after if n not in before)]:
        a, b = before.get(name), after.get(name)
        if a is None and b is not None:
            lines.append(f"check {name}: new, {b.get('status')} — {b.get('detail', '')}")
            material = True
        elif b is None and a is not None:
            lines.append(f"check {name}: no longer run (was {a.get('status')})")
            material = True
        elif a is not None and b is not None and a.get("status") != b.get("status"):
            lines.append(f"check {name}: {a.get('status')} → {b.get('status')} — {b.get('detail', '')}")
            material = True
    lo, hi = _figure(old.get("latency_ms")), _figure(new.get("latency_ms"))
    if lo is not None and hi is not None and lo > 0 and abs(hi - lo) / lo > LATENCY_DRIFT:
        lines.append(f"latency p50: {shown_ms(lo)} → {shown_ms(hi)} ({hi / lo:.2f}×)")
    elif (lo is None) != (hi is None):
        lines.append(f"latency p50: {shown_ms(lo)} → {shown_ms(hi)}")
    for field in ENVIRONMENT_FIELDS:
        if old.get(field) != new.get(field):
            lines.append(f"{field}: {shown(old.get(field))} → {shown(new.get(field))}")
    return lines, material
