"""The approved-models registry: `approved_models` in gateway.yaml, and a marked block in a markdown file (e.g.
AGENTS.md, named by `approved_models_file`). An entry may carry the evidence of its approval — when, by whom, the
run, the record's sha256 — written by `approval promote`, in a form a person reads in a diff:

    <!-- approved-models:start -->
    - gpt-4o-mini  # approved_at=2025-03-01T08:00:00Z approved_by=octocat run_url=https://… record_sha256=3f5c…
    - claude-sonnet-4
    <!-- approved-models:end -->

    approved_models:
      - claude-sonnet-4                      # listed before evidence was kept
      - model: gpt-4o-mini
        approved_at: "2025-03-01T08:00:00Z"
        approved_by: "octocat"
        run_url: "https://github.com/o/r/actions/runs/1"
        record_sha256: "3f5c…"

Everything here is pure: texts and parsed documents in, entries out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from approval.common.errors import ConfigError
from approval.common.userfile import read_user_file

START = "<!-- approved-models:start -->"
END = "<!-- approved-models:end -->"
MAX_REGISTRY_BYTES = 1024 * 1024
# `- model-id`, optionally in back-ticks, then an optional HTML comment, then an optional `# comment` (the evidence)
ITEM = re.compile(r"^(?P<bullet>\s*[-*]\s+)(?P<tick>`?)(?P<model>[^`\s]+)`?\s*(?P<html><!--.*?-->)?\s*(?:#(?P<comment>.*))?$")
EVIDENCE_KEYS = ("approved_at", "approved_by", "run_url", "record_sha256")
EVIDENCE_TOKEN = re.compile(r"(?<![\w-])(" + "|".join(EVIDENCE_KEYS) + r')=("(?:[^"\\]|\\.)*"|[^\s"]+)')
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Approval:
    """The evidence kept next to an approved model."""

    approved_at: str
    approved_by: str
    record_sha256: str
    run_url: str = ""

    def fields(self) -> dict[str, str]:
        """The evidence as the registry writes it, in a fixed order; no run URL when there was no run."""
        data = {"approved_at": self.approved_at, "approved_by": self.approved_by, "run_url": self.run_url,
                "record_sha256": self.record_sha256}
        return {k: v for k, v in data.items() if v}


@dataclass(frozen=True)
class Entry:
    model: str
    approval: Approval | None = None
    problem: str = ""  # why evidence that is present cannot be used ("" when it is complete, or absent)


@dataclass(frozen=True)
class Registry:
    """What a repository approves, at one commit: its entries (in file order) and the model agents use."""

    entries: tuple[Entry, ...] = ()
    model_in_use: str | None = None

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(e.model for e in self.entries)

    def get(self, model: str) -> Entry | None:
        return next((e for e in self.entries if e.model == model), None)

    @property
    def configured(self) -> bool:
        return bool(self.entries) or self.model_in_use is not None


def approval_from_fields(fields: Mapping[str, Any]) -> tuple[Approval | None, str]:
    """The evidence in `fields` (a YAML entry, or the tokens of a markdown line), and what is wrong with it.
    No evidence key at all is (None, ""): an entry listed without evidence."""
    present = {k: fields[k] for k in EVIDENCE_KEYS if k in fields}
    if not present:
        return None, ""
    problems = []
    at, by, sha, url = (present.get(k) for k in ("approved_at", "approved_by", "record_sha256", "run_url"))
    if not isinstance(at, str) or not _TIMESTAMP.match(at):
        problems.append("approved_at is not an ISO-8601 UTC time (2025-03-01T08:00:00Z)")
    if not isinstance(by, str) or not by.strip():
        problems.append("approved_by is missing")
    if not isinstance(sha, str) or not _SHA256.match(sha):
        problems.append("record_sha256 is not the 64-hex sha256 of the record")
    if url is not None and (not isinstance(url, str) or not url.startswith(("https://", "http://"))):
        problems.append("run_url is not a URL")
    if problems:
        return None, "; ".join(problems)
    assert isinstance(at, str) and isinstance(by, str) and isinstance(sha, str)
    return Approval(at, by, sha, url if isinstance(url, str) else ""), ""


# --- the markdown block ----------------------------------------------------------------------------------------------


def _block(text: str, source: str) -> str:
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0 or end < start:
        raise ConfigError(f"{source} has no approved-models block", f"add the lines {START} and {END} around a list of `- model-id` lines")
    return text[start + len(START) : end]


def evidence_tokens(comment: str) -> dict[str, str]:
    """`key=value` evidence tokens in a markdown line's comment (values with spaces are JSON strings)."""
    found: dict[str, str] = {}
    for key, raw in EVIDENCE_TOKEN.findall(comment):
        try:
            found[key] = json.loads(raw) if raw.startswith('"') else raw
        except ValueError:
            found[key] = raw
    return found


def entry_from_line(line: str) -> Entry | None:
    """The entry a `- model-id  # evidence` line lists, or None for any other line."""
    match = ITEM.match(line)
    if not match:
        return None
    approval, problem = approval_from_fields(evidence_tokens(match.group("comment") or ""))
    return Entry(match.group("model"), approval, problem)


def parse_block_entries(text: str, source: str) -> list[Entry]:
    """The entries listed as `- id` lines inside the marked block."""
    return [e for e in (entry_from_line(line) for line in _block(text, source).splitlines()) if e is not None]


def parse_block(text: str, source: str) -> list[str]:
    """Model IDs listed as `- id` lines inside the marked block."""
    return [e.model for e in parse_block_entries(text, source)]


def load_registry(path_text: str) -> list[str]:
    return [e.model for e in load_registry_entries(path_text)]


def load_registry_entries(path_text: str) -> list[Entry]:
    text, _ = read_user_file(path_text, "approved_models_file", MAX_REGISTRY_BYTES, "point it at e.g. AGENTS.md", "keep the registry file under 1 MiB")
    return parse_block_entries(text, path_text)


# --- gateway.yaml ----------------------------------------------------------------------------------------------------


def entry_model(item: Any) -> str | None:
    """The model ID of one `approved_models` item: a string, or a mapping with `model`."""
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping) and isinstance(item.get("model"), str):
        return str(item["model"])
    return None


def config_entries(items: Sequence[Any] | None) -> list[Entry]:
    """The entries of a parsed `approved_models` list (items that name no model are left out)."""
    entries = []
    for item in items or []:
        model = entry_model(item)
        if model is None:
            continue
        approval, problem = approval_from_fields(item) if isinstance(item, Mapping) else (None, "")
        entries.append(Entry(model, approval, problem))
    return entries


def registry_of(config: Mapping[str, Any], block_text: str | None = None, block_source: str = "") -> Registry:
    """The registry a parsed gateway.yaml describes: its `approved_models`, then the markdown block (`block_text`,
    the content of its `approved_models_file`), first mention winning; and `model_in_use`."""
    items = config.get("approved_models")
    entries = config_entries(items if isinstance(items, list) else None)
    if block_text is not None:
        seen = {e.model for e in entries}
        entries += [e for e in parse_block_entries(block_text, block_source) if e.model not in seen]
    in_use = config.get("model_in_use")
    return Registry(tuple(entries), in_use if isinstance(in_use, str) and in_use else None)


def registry_sources(config: Mapping[str, Any] | None, config_path: str | None, block_path: str | None) -> list[str]:
    """The files a registry is kept in: the gateway.yaml when it lists models or names the model in use, and the
    markdown file it points to."""
    sources = []
    if config_path and config is not None and ("approved_models" in config or "model_in_use" in config):
        sources.append(config_path)
    if block_path:
        sources.append(block_path)
    return sources


def head_registry(config_path: str | None, block_path: str | None) -> Registry:
    """The registry as the working tree has it: the (validated) config file and its approved-models file."""
    from approval.settings.configfile import load_config_file

    doc = load_config_file(config_path)[0] if config_path else {}
    text = None
    if block_path:
        text, _ = read_user_file(block_path, "approved_models_file", MAX_REGISTRY_BYTES, "point it at e.g. AGENTS.md",
                                 "keep the registry file under 1 MiB")
    return registry_of(doc, text, block_path or "")
