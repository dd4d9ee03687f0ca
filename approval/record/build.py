"""The approval record: secret-free JSON, validated against the shipped schema before it is written."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from approval import __version__
from approval.common.names import unique_names
from approval.common.redact import redact_data
from approval.engine.results import BLOCKING, CheckResult, Status
from approval.engine.suite import ModelOutcome, RunOutcome
from approval.settings.profile import profile_evidence

SCHEMA_VERSION = 3  # the version every record is written with; record.schema.json's schema_version enum ends with it
SCHEMA_VERSIONS = (1, 2, SCHEMA_VERSION)  # the versions validate-record, summarize, diff and promote read


class RecordInvalid(Exception):
    """A record does not match record.schema.json."""



def python_version() -> str:
    """`platform.python_version()` without importing `platform` at start-up."""
    return ".".join(str(part) for part in sys.version_info[:3])

def record_schema() -> dict[str, Any]:
    from importlib import resources  # here, not at the top: read once, after the run

    loaded: dict[str, Any] = json.loads(resources.files("approval.schemas").joinpath("record.schema.json").read_text("utf-8"))
    return loaded


def _p50(outcome: ModelOutcome) -> float | None:
    check = outcome.check("latency")
    if check is not None:  # measured over usable answers only: None when there were none
        value = check.metrics.get("p50_ms")
        return float(value) if isinstance(value, int | float) else None
    reach = outcome.check("reachability")
    if reach is not None and reach.status is Status.PASS and isinstance(reach.metrics.get("latency_ms"), int | float):
        return float(reach.metrics["latency_ms"])
    return None


def happy_path_status(check: CheckResult | None) -> str:
    """The template's value: the HTTP status the representative prompt was answered with, or "fail"."""
    if check is None:
        return "not_run"
    status = check.metrics.get("http_status")
    return str(status) if check.status is Status.PASS and isinstance(status, int) else "fail"


ERROR_PROBES = ("missing-model", "unknown-model")  # the malformed requests every gateway must reject


def error_path_status(check: CheckResult | None) -> str:
    """The template's value: the 4xx status(es) the malformed requests got ("400", "400/404"), or "fail"."""
    if check is None:
        return "not_run"
    statuses = [check.metrics.get(probe) for probe in ERROR_PROBES]
    if check.status not in (Status.PASS, Status.WARN) or not all(isinstance(s, int) and 400 <= s < 500 for s in statuses):
        return "fail"
    return "/".join(dict.fromkeys(str(s) for s in statuses))


def blocking_statuses(warnings_block: bool) -> frozenset[Status]:
    return BLOCKING | ({Status.WARN} if warnings_block else frozenset())


def build_record(run: RunOutcome, outcome: ModelOutcome, ci: Mapping[str, Any] | None = None) -> dict[str, Any]:
    s = run.settings
    happy = outcome.check("happy-path")
    blocking = blocking_statuses(s.warnings_block)
    gaps = [f"{c.name}: {c.detail}" for c in outcome.checks if c.status is Status.ERROR] + list(outcome.gaps)
    categories = sorted({c.category.value for c in outcome.checks if c.status in blocking and c.category.value != "none"})
    failed = [c.name for c in outcome.checks if c.status in BLOCKING]
    warned = [c.name for c in outcome.checks if c.status is Status.WARN]
    notes = list(run.notes)
    notes.append(f"failed: {', '.join(failed)}" if failed else "all selected checks passed")
    if s.warnings_block and warned:
        notes.append(f"not approved because warnings block approval (warnings_block: true): {', '.join(warned)}")
    elif s.warnings_block:
        notes.append("warnings block approval")
    notes += outcome.gaps
    record: dict[str, Any] = {
        "record_type": "model_candidate_approval",
        "schema_version": SCHEMA_VERSION,
        "run_id": run.run_id,
        "gateway_base_url": s.base_url,
        "candidate_model_id": outcome.model,
        "endpoint_family": s.endpoint,
        "agent_profile": profile_evidence(s.profile),
        "happy_path_status": happy_path_status(happy),
        "error_path_status": error_path_status(outcome.check("error-path")),
        "latency_ms": _p50(outcome),
        "output_non_empty": bool(happy and happy.status is Status.PASS),
        "overall_result": outcome.result,
        "approved_by": s.approved_by,
        "approved_at": run.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "notes": "; ".join(notes),
        "checks": [c.to_json() for c in outcome.checks],
        "tool_version": __version__,
        "python_version": python_version(),
        "prompt_sha256": s.prompt.sha256,
        "config_sha256": s.config_sha256,
        "evidence_gaps": gaps,
        "failure_categories": categories,
        "answered_calls": outcome.answered_calls,
        "policy": {"warnings_block": s.warnings_block, "required": sorted(s.required)},
        "duration_s": round(run.elapsed_s, 3),
        "timeout_s": s.total_timeout_s,
        "baseline_model_id": run.baseline.model if run.baseline else None,
        "baseline": (
            {"model_id": run.baseline.model, "overall_result": run.baseline.result, "latency_ms": _p50(run.baseline),
             "checks": [c.to_json() for c in run.baseline.checks]}
            if run.baseline
            else None
        ),
        "ci": dict(ci) if ci else None,
    }
    redacted: dict[str, Any] = redact_data(record)
    return redacted


def validate_record(record: Any) -> None:
    # jsonschema (~120 ms to import) only where a schema is checked
    from jsonschema import Draft202012Validator, FormatChecker

    validator = Draft202012Validator(record_schema(), format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        err = errors[0]
        where = ".".join(map(str, err.absolute_path)) or "(top level)"
        raise RecordInvalid(f"{where}: {err.message[:200]}")


def write_json(path: Path, data: Any) -> None:
    """Write atomically, readable by later workflow steps (0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n", 0o644)


def write_text_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Replace `path` with `text` in one step (a reader sees the old file or the new one): a temporary file beside it,
    flushed to disk, renamed over it. `mode`: the new file's permissions (default: the old file's, else 0644)."""
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=".approval-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_paths(base: Path, models: list[str]) -> list[Path]:
    """One record per candidate: the given path for one, `<stem>.<model>.json` beside it for several, each its own
    file (approval.common.names.unique_names: `vendor/m` and `vendor:m` do not share one)."""
    if len(models) == 1:
        return [base]
    return [base.with_name(f"{base.stem}.{name}{base.suffix or '.json'}") for name in unique_names(models)]
