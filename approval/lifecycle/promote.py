"""Write an approved model and its evidence into the registry, as a reviewed change to a file people also edit.

The markdown block and gateway.yaml are edited as text: only the model's own line (or list item) is added or
replaced; every other byte, comment and blank line stays where it was. The result is parsed again and must equal the
intended data, and no comment may be lost; otherwise the edit is refused (`RegistryEditError`, exit 2) and the file is
left alone. Promoting the same model again replaces its evidence and never adds a second line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from approval.common.errors import ConfigError
from approval.common.userfile import YamlAmbiguous, load_yaml
from approval.record import build as record_build
from approval.settings.build import normalise_base_url
from approval.settings.configfile import config_schema, load_config_file, validate_against_schema
from approval.settings.registry import BARE_MODEL, EVIDENCE_TOKEN, ITEM, Approval, Block, Entry, entry_model, read_block, registry_of

Kind = Literal["markdown", "yaml"]
_MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdx", ".txt")
_YAML_SUFFIXES = (".yaml", ".yml")
_KEY = re.compile(r"^approved_models[ \t]*:(?=[ \t]|\r?\n|$)")
_PLAIN_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/@+-]*$")


class RegistryEditError(ConfigError):
    """The registry cannot be changed safely; nothing was written."""


@dataclass(frozen=True)
class Edit:
    text: str  # the whole new text
    removed: list[str]  # lines taken out (the model's old line or item)
    added: list[str]  # lines put in

    def changed(self, old: str) -> bool:
        return self.text != old


def registry_kind(path: str) -> Kind:
    lower = path.lower()
    if lower.endswith(_MARKDOWN_SUFFIXES):
        return "markdown"
    if lower.endswith(_YAML_SUFFIXES):
        return "yaml"
    raise ConfigError(f"registry {path!r} is neither markdown (.md) nor YAML (.yaml/.yml)",
                      "give the markdown file with the approved-models block (e.g. AGENTS.md) or the gateway.yaml")


def approval_for_record(raw: bytes, record: dict[str, Any]) -> Approval:
    """The evidence a record gives: its approved_at and approved_by, the run it came from, the sha256 of its bytes,
    and the agent profile it holds for (schema 3 records; older ones name none)."""
    ci = record.get("ci") if isinstance(record.get("ci"), dict) else None
    run_url = str(ci.get("run_url") or "") if ci else ""
    named = record.get("agent_profile")
    profile: dict[str, Any] = named if isinstance(named, dict) else {}
    return Approval(str(record["approved_at"]), str(record["approved_by"]), hashlib.sha256(raw).hexdigest(), run_url,
                    str(profile.get("name") or ""), str(profile.get("sha256") or ""))


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _value(text: str) -> str:
    """An evidence value in a markdown line: bare when it has no space or quote, else a JSON string."""
    return text if re.fullmatch(r'[^\s"]+', text) else json.dumps(text)


# --- markdown --------------------------------------------------------------------------------------------------------


def markdown_line(model: str, approval: Approval, template: str = "- ") -> str:
    """`- model  # [kept comment] approved_at=… approved_by=… run_url=… record_sha256=…` (no line end), an entry of the
    registry grammar. `template` is the line being replaced (its bullet, back-ticks, HTML and own comment are kept) or
    a bullet. A model ID that does not render as itself is written in back-ticks."""
    if "`" in model or any(ch.isspace() for ch in model) or not model:
        raise RegistryEditError(f"model ID {model!r} cannot be written as a markdown list item", "use the gateway.yaml registry for it")
    old = ITEM.match(template)
    bullet = old.group("bullet") if old else ("* " if template.startswith("*") else "- ")
    tick = "`" if (old and old.group("tick")) or template.startswith(("- `", "* `")) or not BARE_MODEL.fullmatch(model) else ""
    html = f"{old.group('html')}  " if old and old.group("html") else ""
    kept = " ".join(EVIDENCE_TOKEN.sub("", old.group("comment") or "").split()) if old else ""
    tokens = " ".join(f"{k}={_value(v)}" for k, v in approval.fields().items())
    return f"{bullet}{tick}{model}{tick}  {html}# {kept + ' ' if kept else ''}{tokens}"


def _block(text: str, source: str) -> Block:
    """The marked block by the registry grammar; what it refuses is refused here too (nothing is written)."""
    try:
        return read_block(text, source)
    except ConfigError as exc:
        raise RegistryEditError(exc.problem, exc.fix) from None


def promote_markdown(text: str, model: str, approval: Approval, source: str) -> Edit:
    lines = text.splitlines(keepends=True)
    nl = _newline(text)
    block = _block(text, source)
    items = list(block.entries)
    mine = [i for i, e in items if e.model == model]
    if mine:
        index = mine[0]
        old_line = lines[index]
        ending = old_line[len(old_line.rstrip("\r\n")):] or nl
        new_line = markdown_line(model, approval, old_line.rstrip("\r\n")) + ending
        new_lines = [*lines[:index], new_line, *lines[index + 1 :]]
        removed = [old_line.rstrip("\r\n")]
    else:
        last = ITEM.match(lines[items[-1][0]].rstrip("\r\n")) if items else None
        template = last.group("bullet") if last else "- "
        new_line = markdown_line(model, approval, template) + nl
        index = items[-1][0] + 1 if items else block.end
        new_lines = [*lines[:index], new_line, *lines[index:]]
        removed = []
    new_text = "".join(new_lines)
    before = [e for _, e in items]
    expected = [Entry(model, approval) if e.model == model else e for e in before]
    if not mine:
        expected.append(Entry(model, approval))
    if [e for _, e in _block(new_text, source).entries] != expected:
        raise RegistryEditError(f"{source}: the edited block would not read back as intended", "edit the block by hand")
    if _comments_lost(text, new_text, "markdown"):
        raise RegistryEditError(f"{source}: the edit would lose a comment", "edit the block by hand")
    return Edit(new_text, removed, [new_line.rstrip("\r\n")])


def markdown_lines_for(text: str, model: str, source: str) -> list[str]:
    """The lines of the marked block that list `model` (what a revocation removes)."""
    lines = text.splitlines()
    return [lines[i] for i, e in _block(text, source).entries if e.model == model]


# --- gateway.yaml ----------------------------------------------------------------------------------------------------


def comment_start(line: str) -> int | None:
    """Where a YAML comment starts in one line (a `#` at the start or after a blank, outside quotes), or None."""
    quote = ""
    index = 0
    while index < len(line):
        ch = line[index]
        if quote == '"':
            if ch == "\\":
                index += 2
                continue
            if ch == '"':
                quote = ""
        elif quote == "'":
            if ch == "'":
                if line[index + 1 : index + 2] == "'":
                    index += 2
                    continue
                quote = ""
        elif ch == "#" and (index == 0 or line[index - 1] in " \t"):
            return index
        elif ch in "\"'" and (index == 0 or line[index - 1] in " \t[{,:-?"):
            quote = ch
        index += 1
    return None


def _comments(text: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for line in text.splitlines():
        at = comment_start(line)
        if at is not None:
            found[line[at:].strip()] += 1
    return found


def _comments_lost(old: str, new: str, kind: Kind) -> bool:
    if kind == "markdown":
        old_c = Counter(m for m in re.findall(r"<!--.*?-->", old, re.DOTALL))
        new_c = Counter(m for m in re.findall(r"<!--.*?-->", new, re.DOTALL))
        return bool(old_c - new_c)
    return bool(_comments(old) - _comments(new))


# words some YAML reader (1.1 or 1.2) takes for a boolean or null rather than a string
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "nul", "none", "~"})


def _scalar(text: str) -> str:
    """A string as a YAML scalar that every YAML reader reads back as that string: bare only when it starts with a
    letter, has nothing but plain characters and is no boolean or null word; else JSON-quoted (`"1e3"`, `"yes"`,
    `"0x10"`, `"2024-01-01"`, `".inf"`, `"~"`)."""
    if _PLAIN_MODEL.match(text) and text[0].isalpha() and text.lower() not in _YAML_WORDS:
        try:
            if load_yaml(text) == text:
                return text
        except Exception:  # noqa: BLE001 - anything YAML cannot read bare is quoted
            pass
    return json.dumps(text)


def yaml_item_lines(model: str, approval: Approval, indent: int, comment: str = "") -> list[str]:
    """The `approved_models` item for a promoted model (no line ends); `comment` kept at the end of its first line."""
    pad = " " * indent
    lines = [f"{pad}- model: {_scalar(model)}" + (f"  {comment}" if comment else "")]
    lines += [f"{pad}  {key}: {json.dumps(value)}" for key, value in approval.fields().items()]
    return lines


@dataclass
class _Sequence:
    key_line: int
    flow: str | None  # the inline value `[a, b]` when the list is written in flow style
    key_comment: str
    indent: int
    items: list[list[int]]  # [first line, end line) of each item


def _find_sequence(lines: list[str], source: str) -> _Sequence | None:
    hits = [i for i, line in enumerate(lines) if _KEY.match(line)]
    if not hits:
        return None
    if len(hits) > 1:
        raise RegistryEditError(f"{source} has approved_models more than once", "keep one approved_models list")
    key = hits[0]
    rest = _KEY.sub("", lines[key].rstrip("\r\n"))
    at = comment_start(rest)
    value = (rest[:at] if at is not None else rest).strip()
    comment = rest[at:].strip() if at is not None else ""
    if value:
        if value.startswith("[") and value.endswith("]"):
            return _Sequence(key, value, comment, 2, [])
        raise RegistryEditError(f"{source}: approved_models is written in a form this tool does not edit ({value[:40]!r})",
                                "write it as a block list (`approved_models:` then `  - model-id` lines)")
    items: list[list[int]] = []
    indent: int | None = None
    for index in range(key + 1, len(lines)):
        raw = lines[index].rstrip("\r\n")
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        width = len(raw) - len(raw.lstrip(" "))
        is_item = stripped == "-" or stripped.startswith("- ")
        if indent is None:
            if not is_item:
                break
            indent = width
        if width == indent and is_item:
            items.append([index, index + 1])
        elif width > indent and items:
            items[-1][1] = index + 1
        else:
            break
    return _Sequence(key, None, comment, 2 if indent is None else indent, items)


def promote_yaml(text: str, model: str, approval: Approval, source: str) -> Edit:
    doc = _yaml_doc(text, source, load_yaml)
    lines = text.splitlines(keepends=True)
    nl = _newline(text)
    found = _find_sequence(lines, source)
    old_items = list(doc.get("approved_models") or [])
    new_entry = {"model": model, **approval.fields()}
    positions = [i for i, item in enumerate(old_items) if entry_model(item) == model]
    if len(positions) > 1:
        raise RegistryEditError(f"{source} lists {model!r} {len(positions)} times in approved_models", "remove the extra items, then promote again")
    expected_items = [new_entry if entry_model(item) == model else item for item in old_items]
    if not positions:
        expected_items.append(new_entry)
    removed: list[str] = []
    if found is None:
        body = "".join(lines)
        if body and not body.endswith(("\n", "\r")):
            body += nl
        added = ["approved_models:", *yaml_item_lines(model, approval, 2)]
        new_text = body + nl.join(added) + nl
    elif found.flow is not None:
        if any(not isinstance(item, str) for item in old_items):
            raise RegistryEditError(f"{source}: approved_models is a flow list with mappings", "write it as a block list")
        head = "approved_models:" + (f"  {found.key_comment}" if found.key_comment else "")
        added = []
        for item in old_items:  # the list keeps its order: a promoted model stays where it was
            added += yaml_item_lines(model, approval, 2) if item == model else [f"  - {_scalar(item)}"]
        if not positions:
            added += yaml_item_lines(model, approval, 2)
        removed = [lines[found.key_line].rstrip("\r\n")]
        ending = lines[found.key_line][len(removed[0]):] or nl
        new_text = "".join(lines[: found.key_line]) + nl.join([head, *added]) + ending + "".join(lines[found.key_line + 1 :])
    else:
        if len(found.items) != len(old_items):
            raise RegistryEditError(f"{source}: approved_models is laid out in a way this tool cannot follow line by line",
                                    "write it as a block list, one `- model-id` (or `- model: id` mapping) per item")
        if positions:
            first, end = found.items[positions[0]]
            span = lines[first:end]
            interior = [line for line in span[1:] if comment_start(line.rstrip("\r\n")) is not None]
            if interior:
                raise RegistryEditError(f"{source}: the approved_models item for {model!r} holds comments the update would lose",
                                        "move those comments above the item, then promote again")
            at = comment_start(span[0].rstrip("\r\n"))
            kept = span[0].rstrip("\r\n")[at:].strip() if at is not None else ""
            added = yaml_item_lines(model, approval, found.indent, kept)
            removed = [line.rstrip("\r\n") for line in span]
            ending = span[-1][len(span[-1].rstrip("\r\n")):] or nl
            new_text = "".join(lines[:first]) + nl.join(added) + ending + "".join(lines[end:])
        else:
            at_line = found.items[-1][1] if found.items else found.key_line + 1
            added = yaml_item_lines(model, approval, found.indent)
            before = "".join(lines[:at_line])
            if before and not before.endswith(("\n", "\r")):
                before += nl
            new_text = before + nl.join(added) + nl + "".join(lines[at_line:])
    _verify_yaml(text, new_text, doc, expected_items, source, load_yaml)
    return Edit(new_text, removed, added)


def _yaml_doc(text: str, source: str, load: Any) -> dict[str, Any]:
    # PyYAML (~25 ms to import) only where a YAML file is read
    import yaml


    try:
        doc = load(text)
    except YamlAmbiguous as exc:
        raise RegistryEditError(f"{source}: {exc}", f"{exc.fix}, then promote again") from None
    except (yaml.YAMLError, ValueError, RecursionError):
        raise RegistryEditError(f"{source} is not valid YAML", "fix its syntax first") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise RegistryEditError(f"{source} is not a mapping of keys", "see examples/gateway.yaml")

    try:
        registry_of(doc, config_source=source)
    except ConfigError as exc:
        raise RegistryEditError(exc.problem, exc.fix) from None

    validate_against_schema(doc, config_schema(), f"config file {source!r}")
    return doc


def _verify_yaml(old: str, new: str, doc: dict[str, Any], items: list[Any], source: str, load: Any) -> None:
    # PyYAML (~25 ms to import) only where a YAML file is read
    import yaml


    try:
        reread = load(new)
    except (yaml.YAMLError, ValueError, RecursionError):
        reread = None
    if reread != {**doc, "approved_models": items}:
        raise RegistryEditError(f"{source}: the edited file would not read back as intended (an unusual layout)",
                                "add the lines shown by `approval promote` by hand")
    if _comments_lost(old, new, "yaml"):
        raise RegistryEditError(f"{source}: the edit would lose a comment", "add the lines shown by `approval promote` by hand")
    validate_against_schema(reread, config_schema(), f"the edited {source}")


def yaml_lines_for(text: str, model: str, source: str) -> list[str]:
    """The lines of the `approved_models` item for `model` (what a revocation removes)."""

    doc = _yaml_doc(text, source, load_yaml)
    lines = text.splitlines()
    found = _find_sequence(text.splitlines(keepends=True), source)
    items = list(doc.get("approved_models") or [])
    if found is None or model not in [entry_model(i) for i in items]:
        return []
    if found.flow is not None or len(found.items) != len(items):
        return [lines[found.key_line]]
    first, end = found.items[[entry_model(i) for i in items].index(model)]
    return lines[first:end]


# --- files -----------------------------------------------------------------------------------------------------------


def promote_text(kind: Kind, text: str, model: str, approval: Approval, source: str) -> Edit:
    return promote_markdown(text, model, approval, source) if kind == "markdown" else promote_yaml(text, model, approval, source)


def proposed_lines(kind: Kind, model: str, approval: Approval) -> list[str]:
    """The lines a promotion adds to a registry that does not list the model yet (for the PR comment)."""
    return [markdown_line(model, approval)] if kind == "markdown" else yaml_item_lines(model, approval, 2)


def write_registry(path_text: str, text: str) -> Path:
    """Write the edited registry into the file the registry is, atomically (`record.write_text_atomic`): through a
    symlink, its target is replaced (the link stays a link); a read-only file (no write permission for anyone) or one
    that cannot be replaced is a ConfigError, and nothing is written. Returns the file written."""

    path = Path(path_text)
    target = path.resolve() if path.is_symlink() else path
    try:
        mode = target.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"registry {path_text!r} cannot be read ({exc.strerror})", "give an existing AGENTS.md or gateway.yaml") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(f"registry {path_text!r} is not a regular file", "give the AGENTS.md or gateway.yaml file itself")
    if not mode & 0o222 or not os.access(target, os.W_OK):
        whose = "read-only" if not mode & 0o222 else "not writable by this user"
        raise ConfigError(f"registry {path_text!r} is {whose}: it cannot be written; it is unchanged",
                          "make it writable (chmod u+w) if it is meant to change, then promote again")
    try:
        record_build.write_text_atomic(target, text)
    except OSError as exc:  # the user's file or folder (read-only, full disk, permissions): theirs to fix, nothing changed
        raise ConfigError(f"registry {path_text!r} cannot be written ({exc.strerror or type(exc).__name__}); it is unchanged",
                          "make the file and its folder writable (the file is replaced through a temporary file beside it)") from None
    return target


def same_gateway(record: dict[str, Any], doc: Any, source: str) -> None:
    """A registry approves models on the gateway and endpoint of the gateway.yaml that governs it: a record from a run
    against another gateway or endpoint is refused (ConfigError). A gateway.yaml without `base_url` checks the endpoint."""

    if not isinstance(doc, dict):
        return
    base = doc.get("base_url")
    if isinstance(base, str) and base.strip():
        try:
            wanted = normalise_base_url(base)
        except ConfigError:
            wanted = base
        if wanted != record.get("gateway_base_url"):
            raise ConfigError(f"the record is for the gateway {record.get('gateway_base_url')}, {source} configures {wanted}",
                              "promote a record from a run against that gateway")
    endpoint = str(doc.get("endpoint") or "chat")
    if endpoint != record.get("endpoint_family"):
        raise ConfigError(f"the record is for the {record.get('endpoint_family')} endpoint, {source} configures {endpoint}",
                          "promote a record from a run against that endpoint")


def check_gateway(record: dict[str, Any], kind: Kind, registry_path: str, registry_text: str, config_path: str | None) -> str:
    """One rule for every registry kind: the record must come from the gateway of the gateway.yaml that governs the
    registry — the registry itself when it is a gateway.yaml; for a markdown file the gateway.yaml given with
    `--config`, which must name that file as its `approved_models_file`. Returns what could not be checked ("" when
    everything was): a markdown registry promoted without `--config`."""

    if kind == "yaml":
        try:
            doc = load_yaml(registry_text)
        except Exception:  # noqa: BLE001 - a broken file is refused by the edit that follows, naming the problem
            return ""
        same_gateway(record, doc, registry_path)
        return ""
    if not config_path:
        return (f"the record's gateway ({record.get('gateway_base_url')}, {record.get('endpoint_family')}) was not checked against the "
                f"gateway.yaml that names {registry_path} — give it with --config to check it")

    doc = load_config_file(config_path)[0]
    named = doc.get("approved_models_file")
    config_dir = Path(config_path).parent
    if not isinstance(named, str) or not _same_file(Path(named), Path(registry_path), config_dir):
        raise ConfigError(f"{config_path} does not name {registry_path} as its approved_models_file ({named or 'none'})",
                          "give --config the gateway.yaml whose approved_models_file is this registry")
    same_gateway(record, doc, config_path)
    return ""


def _same_file(named: Path, registry: Path, config_dir: Path) -> bool:
    """Whether `approved_models_file` (relative to the working directory, as the tool resolves it, or to the
    gateway.yaml's folder) is the registry file."""
    try:
        target = registry.resolve()
        return any(candidate.resolve() == target for candidate in (named, config_dir / named))
    except OSError:
        return False
