"""The records a run is compared with (`previous-record`): what drifted since the last approval of each model.

Where they come from is the caller's business (a file, the last successful run's artifacts, the record-store
branch); here they are matched to this run's candidates and turned into report lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from approval.common.errors import ConfigError
from approval.common.markdown import md_cell, md_code
from approval.common.userfile import read_record_file
from approval.record.diff import diff_records

NOTHING = "Nothing: same verdict, same check results, latency within 25 %, same environment."


@dataclass(frozen=True)
class PreviousRecord:
    record: dict[str, Any]
    source: str  # markdown: where it came from (a path, a run and its artifact, the record store)
    url: str = ""  # a page a person can open (the artifact, the file on the records branch), or ""

    @property
    def link(self) -> str:
        return f"[{self.source}]({self.url})" if self.url else self.source


@dataclass
class Previous:
    label: str  # markdown: what was asked for (a path, or how `auto` looked)
    by_model: dict[str, PreviousRecord] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # markdown: why a record is missing or could not be used


def matches(record: dict[str, Any], model: str, gateway: str, endpoint: str) -> bool:
    """A record of this model on this gateway and endpoint (older records without the fields match on the model)."""
    return (record.get("candidate_model_id") == model and record.get("gateway_base_url", gateway) == gateway
            and record.get("endpoint_family", endpoint) == endpoint)


def from_file(path: str, records: Sequence[tuple[Path, dict[str, Any]]]) -> Previous:
    """The record kept at `path` (for example committed under approvals/), for the candidate it is about."""

    previous = Previous(md_code(path))
    if not Path(path).exists():
        previous.notes.append("No previous record at that path yet: commit this run's record there to compare next time.")
        return previous
    try:
        old, _ = read_record_file(path)  # bounded, strict JSON, a JSON object
    except ConfigError as exc:
        previous.notes.append(f"The previous record could not be used: {md_cell(exc.problem)}.")
        return previous
    model = old.get("candidate_model_id")
    if not any(rec.get("candidate_model_id") == model for _, rec in records):
        previous.notes.append(f"The previous record is for {md_code(str(model))}, not a candidate of this run.")
        return previous
    previous.by_model[str(model)] = PreviousRecord(old, md_code(path))
    return previous


def drift_lines(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Markdown list items saying what changed between two records of a model, or that nothing did."""

    lines, _ = diff_records(old, new)
    return [f"- {md_cell(line)}" for line in lines] if lines else [NOTHING]


def drift_section(previous: Previous | None, records: Sequence[tuple[Path, dict[str, Any]]]) -> str:
    """The report's section: per candidate, what changed since its previous record."""
    if previous is None:
        return ""
    several = len(records) > 1
    parts = []
    if previous.notes or not previous.by_model:
        parts.append(f"\n### What changed since the last approval ({previous.label})\n\n" + "\n".join(previous.notes or ["No previous record found."]) + "\n")
    for _, record in records:
        model = str(record.get("candidate_model_id"))
        found = previous.by_model.get(model)
        if found is None:
            continue
        who = f" of {md_code(model)}" if several else ""
        parts.append(f"\n### What changed since the last approval{who} ({found.link})\n\n" + "\n".join(drift_lines(found.record, record)) + "\n")
    return "".join(parts)
