"""Settings → suite → records → report: the one pipeline the CLI and the GitHub Action both call.

Lazy imports: what only a record or a registry write needs is imported there, after the calls are under way."""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from approval import __version__
from approval.common.redact import redact
from approval.engine.suite import ProgressCallback, RunOutcome, run_suite
from approval.record.build import SCHEMA_VERSION, RecordInvalid, build_record, python_version, record_paths, validate_record, write_json
from approval.record.consistency import inconsistencies
from approval.report.render import Promotion, render_markdown
from approval.settings.build import Settings
from approval.settings.profile import profile_evidence


@dataclass
class PipelineResult:
    run: RunOutcome | None
    result: str  # pass | fail
    records: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    markdown: str = ""
    internal_error: str | None = None
    output_errors: list[str] = field(default_factory=list)  # outputs that could not be written; the verdict stands
    promotions: dict[str, Promotion] = field(default_factory=dict)  # model → the registry lines promote would add, its record


def execute(settings: Settings, record_out: Path, report_out: Path | None = None, *, on_check: ProgressCallback | None = None,
            ci: Mapping[str, Any] | None = None, links: Mapping[str, str] | None = None) -> PipelineResult:
    """Run the suite and write one validated record per candidate (and the report, when asked).

    Never raises for a gateway's behaviour. An internal error still yields a (failing) record, stating why.
    """
    try:
        threading.Thread(target=_preload_validator, name="approval-preload", daemon=True).start()
        run = run_suite(settings, on_check)
        records: list[tuple[Path, dict[str, Any]]] = []
        for path, outcome in zip(record_paths(record_out, [o.model for o in run.candidates]), run.candidates, strict=True):
            record = build_record(run, outcome, ci)
            validate_record(record)
            problems = inconsistencies(record, settings.api_key or None)
            if problems:  # a bug of ours: never write a record that contradicts itself
                raise RecordInvalid(f"the record contradicts itself: {problems[0]}")
            try:
                write_json(path, record)
            except OSError as exc:  # the record is the product: without it there is no verdict to hand on
                return PipelineResult(run, "fail", records, "",
                                      internal_error=f"the record could not be written to {path} ({exc.strerror or type(exc).__name__})")
            records.append((path, record))
        promotions = promotions_of(records, settings)
        markdown = render_markdown(run, links, promotions=promotions)
        errors = []
        if report_out is not None:
            try:
                write_text_file(report_out, markdown)
            except OSError as exc:  # the report is a copy of what the record and the terminal say: the verdict stands
                errors.append(f"the report could not be written to {report_out} ({exc.strerror or type(exc).__name__}); the verdict stands")
        return PipelineResult(run, run.result, records, markdown, output_errors=errors, promotions=promotions)
    except (Exception, RecordInvalid) as exc:  # noqa: BLE001 - a bug of ours: still leave a verdict and a record
        return no_verdict(settings, record_out, exc, ci)


def no_verdict(settings: Settings, record_out: Path, exc: BaseException, ci: Mapping[str, Any] | None = None) -> PipelineResult:
    """A bug of ours stopped the run: each candidate's record says so (`internal error, no verdict reached`, failing),
    and the result's `internal_error` names it and where to report it."""
    import traceback  # here, not at the top: only a bug of ours needs it

    from approval.common.console import REPORT_HINT

    detail = redact(f"{type(exc).__name__}: {exc}")[:300]
    formatted = traceback.format_exception(exc, limit=-1)
    where = redact("".join(formatted).strip().splitlines()[-3] if len(formatted) > 1 else "")[:200]
    record = fallback_record(settings, f"internal error, no verdict reached: {detail} ({where.strip()})", ci)
    records = []
    try:
        for path, model in zip(record_paths(record_out, list(settings.candidates)), settings.candidates, strict=True):
            validate_record({**record, "candidate_model_id": model})
            write_json(path, {**record, "candidate_model_id": model})
            records.append((path, {**record, "candidate_model_id": model}))
    except Exception:  # noqa: BLE001 - the disk itself failed; the exit code still says no verdict
        pass
    markdown = redact(f"## ⛔ Model approval: no verdict\n\nThe approval run hit an internal error: {detail}\n")
    return PipelineResult(None, "fail", records, markdown, internal_error=f"internal error ({detail}); {REPORT_HINT}")


_STANDARD_STREAMS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}


def descriptor_of(path: Path) -> int | None:
    """The descriptor of this process a path names (/dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N), or None."""
    text = str(path)
    if text in _STANDARD_STREAMS:
        return _STANDARD_STREAMS[text]
    match = re.fullmatch(r"/(?:dev/fd|proc/self/fd)/(\d+)", text)
    return int(match.group(1)) if match else None


def written_in_place(path: Path) -> bool:
    """A descriptor, device or pipe the user named (/dev/stdout, /dev/fd/N, a FIFO): written as it is, never replaced
    by a file of ours (which would need a writable /dev, and would replace the link itself)."""
    return descriptor_of(path) is not None or (path.exists() and (not path.is_file() or path.absolute().parts[1:2] in (("dev",), ("proc",))))


def write_text_file(path: Path, text: str) -> None:
    """A regular file is replaced atomically; a device or pipe the user named is written as it is: one of this
    process's descriptors (/dev/stdout) through that descriptor, as the shell opened it (no reopening, which a pipe
    another user made would refuse, and which would truncate a file behind it); another device or FIFO appended to."""
    fd = descriptor_of(path)
    if fd is not None:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with os.fdopen(os.dup(fd), "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    if written_in_place(path):
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
        return
    from approval.record.build import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text, 0o644)


def promotions_of(records: list[tuple[Path, dict[str, Any]]], settings: Settings) -> dict[str, Promotion]:
    """What `approval promote` would add for each written record: the registry lines with the evidence the record gives
    (the sha256 is of the file's bytes), in the registry's own form."""
    from approval.lifecycle.promote import approval_for_record, proposed_lines

    kind: Literal["markdown", "yaml"] = "markdown" if settings.approved_models_file else "yaml"
    return {str(record["candidate_model_id"]): Promotion(tuple(proposed_lines(kind, str(record["candidate_model_id"]),
                                                                                approval_for_record(path.read_bytes(), record))), str(path))
            for path, record in records}


def _preload_validator() -> None:
    """Import jsonschema (~50 ms) while the calls are in flight, not after them: the records are validated at the end."""
    with contextlib.suppress(ImportError):  # validate_record reports it where it matters
        importlib.import_module("jsonschema")


def fallback_record(settings: Settings, note: str, ci: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "record_type": "model_candidate_approval",
        "schema_version": SCHEMA_VERSION,
        "run_id": str(uuid.uuid4()),
        "gateway_base_url": settings.base_url,
        "candidate_model_id": settings.candidate,
        "endpoint_family": settings.endpoint,
        "agent_profile": profile_evidence(settings.profile),
        "happy_path_status": "not_run",
        "error_path_status": "not_run",
        "latency_ms": None,
        "output_non_empty": False,
        "overall_result": "fail",
        "approved_by": settings.approved_by,
        "approved_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "notes": note,
        "checks": [],
        "tool_version": __version__,
        "python_version": python_version(),
        "prompt_sha256": settings.prompt.sha256,
        "config_sha256": settings.config_sha256,
        "evidence_gaps": ["every check: the run stopped on an internal error"],
        "failure_categories": [],
        "answered_calls": 0,
        "policy": {"warnings_block": settings.warnings_block, "required": sorted(settings.required)},
        "duration_s": 0.0,
        "timeout_s": settings.total_timeout_s,
        "baseline_model_id": settings.baseline_model,
        "baseline": None,
        "ci": dict(ci) if ci else None,
    }
