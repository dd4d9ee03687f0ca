"""The approved-models registry: `approved_models` in gateway.yaml, and a marked block in a markdown file (e.g.
AGENTS.md, named by `approved_models_file`). An entry may carry the evidence of its approval — when, by whom, the
run, the record's sha256 — written by `approval promote`, in a form a person reads in a diff:

    <!-- approved-models:start -->
    - gpt-4o-mini  # approved_at=2025-03-01T08:00:00Z approved_by=octocat run_url=https://… record_sha256=3f5c… profile=codex-cli profile_sha256=10f2…
    - claude-sonnet-4
    <!-- approved-models:end -->

    approved_models:
      - claude-sonnet-4                      # listed before evidence was kept
      - model: gpt-4o-mini
        approved_at: "2025-03-01T08:00:00Z"
        approved_by: "octocat"
        run_url: "https://github.com/o/r/actions/runs/1"
        record_sha256: "3f5c…"
        profile: "codex-cli"                 # the agent profile the approving run used, and its file's sha256
        profile_sha256: "10f2…"

Everything here is pure: texts and parsed documents in, entries out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from approval.common.errors import ConfigError

START = "<!-- approved-models:start -->"
END = "<!-- approved-models:end -->"
MAX_REGISTRY_BYTES = 1024 * 1024
# THE grammar of the marked block, shared by the reader, `approval promote` and registry-guard (README: "The registry
# grammar"). Inside the block every line is one of:
#   - blank;
#   - an HTML comment on a line of its own (`<!-- … -->`, invisible when rendered, lists nothing);
#   - an entry: `- ` or `* ` at the start of the line, the model ID (bare when it renders as itself, else in
#     back-ticks), then optionally an HTML comment, then optionally ` # ` and a comment holding the evidence.
# Anything else a reader could see as listed (other bullets, numbered or task items, nested or indented lines, lines
# continuing an item, prose after the model, HTML, headings, code) is refused with its line number, never skipped.
# characters markdown renders as themselves (an `_` only between letters or digits, where it cannot emphasise)
BARE_MODEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9./:@+-]|(?<=[A-Za-z0-9])_(?=[A-Za-z0-9]))*")
ITEM = re.compile(r"^(?P<bullet>[-*] )(?:(?P<tick>`)(?P<ticked>[\x21-\x5f\x61-\x7e]+)`|(?P<model>" + BARE_MODEL.pattern + r"))"
                  r"(?:[ \t]+(?P<html><!--(?:(?!-->).)*-->))?(?:[ \t]+#(?P<comment>[^`<]*))?[ \t]*$")
_HTML_COMMENT_LINE = re.compile(r"^<!--(?:(?!-->).)*-->[ \t]*$")
_MARKER = re.compile(r"<!--\s*approved-models\s*:\s*(start|end)\s*-->", re.IGNORECASE)
_ODD_BREAK = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
EVIDENCE_KEYS = ("approved_at", "approved_by", "run_url", "record_sha256", "profile_sha256", "profile")
PROFILE_KEYS = ("profile", "profile_sha256")  # the agent profile of the approving run: both, or neither (entries promoted before profiles)
_PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
EVIDENCE_TOKEN = re.compile(r"(?<![\w-])(" + "|".join(EVIDENCE_KEYS) + r')=("(?:[^"\\]|\\.)*"|[^\s"]+)')
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
BLOCK_FIX = f"keep one {START} line and one {END} line around `- model-id` lines (README: the registry grammar)"


class NoBlock(ConfigError):
    """The file has no approved-models markers at all (a registry not started yet)."""


@dataclass(frozen=True)
class Approval:
    """The evidence kept next to an approved model."""

    approved_at: str
    approved_by: str
    record_sha256: str
    run_url: str = ""
    profile: str = ""  # the agent profile the approving run used ("" in entries promoted before profiles)
    profile_sha256: str = ""

    def fields(self) -> dict[str, str]:
        """The evidence as the registry writes it, in a fixed order; no run URL when there was no run, no profile when
        the record named none."""
        data = {"approved_at": self.approved_at, "approved_by": self.approved_by, "run_url": self.run_url,
                "record_sha256": self.record_sha256, "profile": self.profile, "profile_sha256": self.profile_sha256}
        return {k: v for k, v in data.items() if v}

    @property
    def profile_label(self) -> str:
        """The profile as a person reads it in a finding: `name (short sha256)`, or "no named profile"."""
        return f"{self.profile} ({self.profile_sha256[:12]})" if self.profile else "no named profile"


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


def parse_time(text: str) -> datetime | None:
    """An evidence time (`2025-03-01T08:00:00Z`, fractions allowed) as an aware datetime; None when it is not one or
    names no real moment (2025-02-30)."""
    if not _TIMESTAMP.match(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def approval_from_fields(fields: Mapping[str, Any]) -> tuple[Approval | None, str]:
    """The evidence in `fields` (a YAML entry, or the tokens of a markdown line), and what is wrong with it.
    No evidence key at all is (None, ""): an entry listed without evidence."""
    present = {k: fields[k] for k in EVIDENCE_KEYS if k in fields}
    if not present:
        return None, ""
    problems = []
    at, by, sha, url = (present.get(k) for k in ("approved_at", "approved_by", "record_sha256", "run_url"))
    if not isinstance(at, str) or parse_time(at) is None:
        problems.append("approved_at is not a real ISO-8601 UTC time (2025-03-01T08:00:00Z)")
    if not isinstance(by, str) or not by.strip():
        problems.append("approved_by is missing")
    if not isinstance(sha, str) or not _SHA256.match(sha):
        problems.append("record_sha256 is not the 64-hex sha256 of the record")
    if url is not None and (not isinstance(url, str) or not url.startswith(("https://", "http://"))):
        problems.append("run_url is not a URL")
    profile, profile_sha = present.get("profile"), present.get("profile_sha256")
    if (profile is None) != (profile_sha is None):
        problems.append("profile and profile_sha256 come together (the agent profile of the approving run and its file's sha256)")
    elif profile is not None and (not isinstance(profile, str) or not _PROFILE_NAME.match(profile)):
        problems.append("profile is not an agent profile's name (lower-case letters, digits, . _ -)")
    elif profile_sha is not None and (not isinstance(profile_sha, str) or not _SHA256.match(profile_sha)):
        problems.append("profile_sha256 is not the 64-hex sha256 of the profile's file")
    if problems:
        return None, "; ".join(problems)
    assert isinstance(at, str) and isinstance(by, str) and isinstance(sha, str)
    return Approval(at, by, sha, url if isinstance(url, str) else "", str(profile or ""), str(profile_sha or "")), ""


# --- the markdown block ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """The marked block of a markdown file: the indexes (from 0) of its marker lines and its entries with theirs."""

    start: int
    end: int
    entries: tuple[tuple[int, Entry], ...]


def _refuse(source: str, index: int, problem: str, fix: str = BLOCK_FIX) -> ConfigError:
    return ConfigError(f"{source} line {index + 1}: {problem}", fix)


def _markers(lines: Sequence[str], source: str) -> tuple[int, int]:
    """The one start line and the one end line, each exactly its marker, outside any code fence, in that order."""
    found: dict[str, list[int]] = {"start": [], "end": []}
    fence = ""
    for index, line in enumerate(lines):
        opened = _FENCE.match(line)
        if opened and not fence:
            fence = opened.group(1)
            continue
        if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence) and not line[opened.end():].strip():
            fence = ""  # a closing fence: the opening's character, at least as long, nothing after it
            continue
        for match in _MARKER.finditer(line):
            kind = match.group(1).lower()
            if fence:
                raise _refuse(source, index, f"an approved-models {kind} marker inside a code fence",
                              "take the marker out of the code block, or keep the one block outside code")
            marker = START if kind == "start" else END
            if line.rstrip() != marker:
                raise _refuse(source, index, f"the approved-models {kind} marker is not on a line of its own, written exactly {marker}",
                              "put each marker alone on its line, at its start")
            found[kind].append(index)
    starts, ends = found["start"], found["end"]
    if not starts and not ends:
        raise NoBlock(f"{source} has no approved-models block", f"add the lines {START} and {END} around a list of `- model-id` lines")
    if len(starts) > 1:
        raise _refuse(source, starts[1], f"a second approved-models block (the first starts at line {starts[0] + 1})",
                      "keep one block: move its models into the first and delete these markers")
    if len(ends) > 1:
        raise _refuse(source, ends[1], f"a second approved-models end marker (the first is at line {ends[0] + 1})",
                      "keep one end marker, after the last model")
    if not starts:
        raise _refuse(source, ends[0], "an approved-models end marker without a start", f"add {START} above the list")
    if not ends:
        raise _refuse(source, starts[0], "an approved-models start marker without an end", f"add {END} below the list")
    if ends[0] < starts[0]:
        raise _refuse(source, ends[0], f"the approved-models end marker comes before the start (line {starts[0] + 1})",
                      "put the start marker above the list and the end marker below it")
    above = starts[0] - 1
    while above >= 0 and lines[above].strip():  # the lines of the paragraph or HTML block the start marker follows
        if re.match(r"^ {0,3}<[A-Za-z/]", lines[above]):
            raise _refuse(source, starts[0], f"the approved-models block follows an HTML block (line {above + 1}), which would render it as raw text",
                          "leave a blank line above the start marker")
        above -= 1
    return starts[0], ends[0]


def _refused_line(line: str) -> tuple[str, str]:
    """Why a line of the block is not an entry: what a reader sees in it, and how to write it."""
    text = line.strip()
    if line[:1] in (" ", "\t"):
        return "an indented line (a nested item, a continued item or a code block) is not an entry", "write one `- model-id` per line, at the line's start"
    if re.match(r"^[-*+] \[[ xX]\]( |$)", text):
        return "a task-list item is not an entry", "write `- model-id`"
    if re.match(r"^\d+[.)]( |$)", text):
        return "a numbered item is not an entry", "write `- model-id`"
    if re.match(r"^\+( |$)", text):
        return "a `+` item is not an entry", "write `- model-id` (the bullet is `-` or `*`)"
    if re.match(r"^[-*]([ \t]|$)", text):
        if re.match(r"^[-*](\t| {2,})", line) or text in ("-", "*"):
            return "an item not written `- model-id`", "write the bullet, one space, then the model ID"
        return ("an item that is not exactly one model ID and an optional `# comment`",
                "write `- model-id  # comment`: a model ID with characters other than letters, digits and . _ / : @ + - in "
                "back-ticks, nothing but a comment after it (back-ticks and < are not allowed in the comment)")
    if text.startswith("<"):
        return "HTML other than a comment on a line of its own is not an entry", "write `- model-id`"
    if _FENCE.match(line):
        return "a code fence inside the block", "write `- model-id` lines only"
    return "text that is not an entry", "write `- model-id` lines (or move the text out of the block)"


def read_block(text: str, source: str) -> Block:
    """The marked block, by the one grammar; ConfigError naming the line and the fix for anything else in it."""
    odd = _ODD_BREAK.search(text)
    if odd:  # Python splits lines there, markdown does not: the two would read different lines
        raise _refuse(source, text.count("\n", 0, odd.start()), f"holds the character U+{ord(odd.group()):04X}, a line break only to some readers",
                      "remove it (use plain line ends)")
    lines = text.splitlines()
    start, end = _markers(lines, source)
    entries: list[tuple[int, Entry]] = []
    first_line: dict[str, int] = {}
    for index in range(start + 1, end):
        line = lines[index]
        if not line.strip() or _HTML_COMMENT_LINE.match(line):
            continue
        entry = entry_from_line(line)
        if entry is None:
            problem, fix = _refused_line(line)
            raise _refuse(source, index, problem, fix)
        if entry.model in first_line:
            raise _refuse(source, index, f"{entry.model} is listed again (first at line {first_line[entry.model] + 1})",
                          "keep one line per model")
        first_line[entry.model] = index
        entries.append((index, entry))
    return Block(start, end, tuple(entries))


def evidence_tokens(comment: str) -> dict[str, str]:
    """`key=value` evidence tokens in a markdown line's comment (values with spaces are JSON strings)."""
    found: dict[str, str] = {}
    for key, raw in EVIDENCE_TOKEN.findall(comment):
        try:
            found[key] = json.loads(raw) if raw.startswith('"') else raw
        except ValueError:
            found[key] = raw
    return found


def item_model(match: re.Match[str]) -> str:
    return match.group("ticked") or match.group("model")


def entry_from_line(line: str) -> Entry | None:
    """The entry an entry line of the grammar lists, or None when the line is not one."""
    match = ITEM.match(line.rstrip("\r\n"))
    if not match:
        return None
    approval, problem = approval_from_fields(evidence_tokens(match.group("comment") or ""))
    return Entry(item_model(match), approval, problem)


def parse_block_entries(text: str, source: str) -> list[Entry]:
    """The entries of the marked block (ConfigError for anything in it the grammar does not accept)."""
    return [entry for _, entry in read_block(text, source).entries]


def parse_block(text: str, source: str) -> list[str]:
    """Model IDs listed in the marked block."""
    return [e.model for e in parse_block_entries(text, source)]


def entry_model(item: Any) -> str | None:
    """The model ID of one `approved_models` item: a string, or a mapping with `model`."""
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping) and isinstance(item.get("model"), str):
        return str(item["model"])
    return None


def config_entries(items: Any, source: str = "gateway.yaml") -> list[Entry]:
    """The entries of a parsed `approved_models` list. An item that is not a model ID (YAML read `yes`, `1e3` or
    `null` as another type) or a mapping with a string `model`, a list that is not a list, and a model listed twice are
    ConfigErrors: never left out."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConfigError(f"{source}: approved_models is not a list", "make it a list of model IDs")
    entries: list[Entry] = []
    for position, item in enumerate(items, 1):
        model = entry_model(item)
        if not model or not model.strip():
            shown = f"{item!r}" if not isinstance(item, Mapping) else "a mapping without a string `model`"
            raise ConfigError(f"{source}: approved_models item {position} ({shown[:60]}) is not a model ID",
                              "write each item as a quoted model ID (\"1e3\", \"yes\") or as `model: \"id\"` with its evidence")
        if any(e.model == model for e in entries):
            raise ConfigError(f"{source}: approved_models lists {model!r} twice", "keep one entry per model")
        approval, problem = approval_from_fields(item) if isinstance(item, Mapping) else (None, "")
        entries.append(Entry(model, approval, problem))
    return entries


def registry_of(config: Mapping[str, Any], block_text: str | None = None, block_source: str = "",
                config_source: str = "gateway.yaml") -> Registry:
    """The registry a parsed gateway.yaml describes: its `approved_models`, then the markdown block (`block_text`,
    the content of its `approved_models_file`), first mention winning; and `model_in_use`."""
    entries = config_entries(config.get("approved_models"), config_source)
    if block_text is not None:
        seen = {e.model for e in entries}
        entries += [e for e in parse_block_entries(block_text, block_source) if e.model not in seen]
    in_use = config.get("model_in_use")
    if in_use is not None and not (isinstance(in_use, str) and in_use.strip()):
        raise ConfigError(f"{config_source}: model_in_use ({in_use!r}) is not a model ID", "write it as a quoted model ID")
    return Registry(tuple(entries), in_use or None)


def registry_sources(config: Mapping[str, Any] | None, config_path: str | None, block_path: str | None) -> list[str]:
    """The files a registry is kept in: the gateway.yaml when it lists models or names the model in use, and the
    markdown file it points to."""
    sources = []
    if config_path and config is not None and ("approved_models" in config or "model_in_use" in config):
        sources.append(config_path)
    if block_path:
        sources.append(block_path)
    return sources
