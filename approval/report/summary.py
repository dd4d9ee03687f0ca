"""One table over many approval records: the legs of a matrix (gateways × candidates), downloaded as artifacts.

Rows come from the records alone, so the summary needs nothing but the files each run left behind. A record that
cannot be read, does not match the schema or contradicts its own checks is a row of its own and counts as not
approved. Re-runs of a leg leave several records of the same candidate; the latest (by `approved_at`) stands and the
others are counted as superseded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from approval.common.console import one_line
from approval.common.errors import ConfigError
from approval.common.markdown import fmt_ms, md_cell, md_code

RECORD_GLOB = "approval-record*.json"  # what `approval run` and the action write: approval-record.json, approval-record.<model>.json
INVALID = "invalid"
RESULT_TEXT = {"pass": "APPROVED", "fail": "NOT APPROVED", INVALID: "INVALID RECORD"}
RESULT_MD = {"pass": "✅ approved", "fail": "❌ not approved", INVALID: "⛔ invalid record"}


@dataclass(frozen=True)
class Row:
    gateway: str
    model: str
    endpoint: str
    result: str  # pass | fail | invalid
    latency_ms: float | None
    failed: tuple[str, ...]  # the checks that blocked approval
    approved_at: str
    source: str  # the file the row was read from
    config_sha256: str = ""  # two legs on one gateway with different configs are different candidates

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.gateway, self.model, self.endpoint, self.config_sha256


@dataclass(frozen=True)
class Summary:
    rows: list[Row]
    superseded: int  # older records of a candidate that a later one replaced

    @property
    def approved(self) -> int:
        return sum(1 for r in self.rows if r.result == "pass")

    @property
    def all_approved(self) -> bool:
        return bool(self.rows) and self.approved == len(self.rows)


def find_record_files(paths: Sequence[str]) -> list[Path]:
    """Record files named on the command line, and every `approval-record*.json` under the folders named."""
    found: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob(RECORD_GLOB) if p.is_file()))
        elif path.exists():  # a device or FIFO named here is refused, by name, by the record reader
            found.append(path)
        else:
            raise ConfigError(f"{text!r} does not exist", "give approval record files, or folders holding approval-record*.json")
    if not found:
        raise ConfigError(f"no approval records (approval-record*.json) under {', '.join(map(repr, paths))}",
                          "give the folder the records or the action's artifacts were downloaded to")
    return list(dict.fromkeys(found))


def _text(value: Any, fallback: str = "?") -> str:
    return value if isinstance(value, str) and value else fallback


def row_from_record(record: dict[str, Any], source: str) -> Row:
    """A valid record's row: who, where, the verdict, p50 latency and the checks that blocked."""
    checks = [c for c in record.get("checks") or [] if isinstance(c, dict)]
    failed = tuple(str(c.get("name")) for c in checks if c.get("status") in ("fail", "error"))
    result = "pass" if record.get("overall_result") == "pass" else "fail"
    if result == "fail" and not failed:  # warnings made to block (`required`, `warnings_block`)
        failed = tuple(f"{c.get('name')} (warning)" for c in checks if c.get("status") == "warn")
    latency = record.get("latency_ms")
    return Row(_text(record.get("gateway_base_url")), _text(record.get("candidate_model_id")), _text(record.get("endpoint_family"), "-"),
               result, float(latency) if isinstance(latency, int | float) else None, failed, _text(record.get("approved_at"), ""), source,
               _text(record.get("config_sha256"), ""))


def invalid_row(record: dict[str, Any] | None, source: str, problem: str) -> Row:
    data = record or {}
    return Row(_text(data.get("gateway_base_url")), _text(data.get("candidate_model_id")), _text(data.get("endpoint_family"), "-"), INVALID,
               None, (problem,), _text(data.get("approved_at"), ""), source)


def summarize(rows: Iterable[Row]) -> Summary:
    """The latest row per (gateway, model, endpoint, config), sorted; invalid rows all stay (they cannot be told apart)."""
    latest: dict[tuple[str, str, str, str], Row] = {}
    kept_invalid: list[Row] = []
    superseded = 0
    for row in rows:
        if row.result == INVALID:
            kept_invalid.append(row)
            continue
        current = latest.get(row.key)
        if current is not None:
            superseded += 1
            if current.approved_at >= row.approved_at:
                continue
        latest[row.key] = row
    ordered = sorted(latest.values(), key=lambda r: (r.gateway, r.model, r.endpoint))
    return Summary(ordered + sorted(kept_invalid, key=lambda r: r.source), superseded)


def _headline(summary: Summary) -> str:
    total = len(summary.rows)
    if summary.all_approved:
        return f"all {total} candidate(s) approved"
    return f"{summary.approved} of {total} candidate(s) approved"


def _footnote(summary: Summary) -> list[str]:
    if not summary.superseded:
        return []
    return [f"{summary.superseded} older record(s) of the same candidate (re-runs) left out: the latest stands."]


def render_markdown(summary: Summary) -> str:
    icon = "✅" if summary.all_approved else "❌"
    lines = [f"## {icon} Model approval matrix: {_headline(summary)}", "",
             "| Gateway | Model | Endpoint | Result | p50 latency | Blocking checks |", "|---|---|---|---|---:|---|"]
    for r in summary.rows:
        latency = fmt_ms(r.latency_ms) if r.latency_ms is not None else "—"
        failed = md_cell(", ".join(r.failed)) if r.failed else "—"
        who = f"{md_code(r.gateway, cell=True)} | {md_code(r.model, cell=True)} | {md_cell(r.endpoint)}"
        lines.append(f"| {who} | {RESULT_MD[r.result]} | {latency} | {failed} |")
    notes = _footnote(summary)
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


def render_text(summary: Summary) -> str:
    table = [("gateway", "model", "endpoint", "result", "p50", "blocking checks")]
    for r in summary.rows:
        table.append((one_line(r.gateway), one_line(r.model), one_line(r.endpoint), RESULT_TEXT[r.result],
                      fmt_ms(r.latency_ms) if r.latency_ms is not None else "-", one_line(", ".join(r.failed)) or "-"))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)), row[-1]]).rstrip() for row in table]
    return "\n".join([*lines, *_footnote(summary), f"RESULT: {_headline(summary)}"])
