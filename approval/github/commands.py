"""Workflow commands (stdout) and file commands (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY).

Everything written here passes through `redact()`, except the value handed to `add_mask`, whose whole purpose is
to tell the runner what to hide. An empty file-command path means a local run: the write is skipped silently.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from typing import TextIO

from approval.common.console import write_line
from approval.common.redact import redact, register_secret

SUMMARY_LIMIT_BYTES = 1024 * 1024  # GitHub's limit per step
SUMMARY_TRUNCATED_NOTE = "\n\n> [!NOTE]\n> This summary was cut to GitHub's 1 MiB per-step limit; the approval record holds the full result.\n"
OutputValue = str | int | float | bool | None

_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _write(stream: TextIO | None, line: str) -> None:
    write_line(line, stream)


def add_mask(value: str, stream: TextIO | None = None) -> None:
    """Ask the runner to mask `value` (each line separately: the runner masks line by line) and redact it here too."""
    for line in value.splitlines():
        if line.strip():
            register_secret(line)
            _write(stream, f"::add-mask::{escape_data(line)}")


def _command(kind: str, message: str, properties: Mapping[str, str | int | None], stream: TextIO | None) -> None:
    props = ",".join(f"{key}={escape_property(redact(str(value)))}" for key, value in properties.items() if value not in (None, ""))
    _write(stream, f"::{kind}{' ' + props if props else ''}::{escape_data(redact(message))}")


def error(
    message: str,
    file: str | None = None,
    line: int | None = None,
    title: str | None = None,
    stream: TextIO | None = None,
) -> None:
    _command("error", message, {"file": file, "line": line, "title": title}, stream)


def warning(
    message: str,
    file: str | None = None,
    line: int | None = None,
    title: str | None = None,
    stream: TextIO | None = None,
) -> None:
    _command("warning", message, {"file": file, "line": line, "title": title}, stream)


def notice(
    message: str,
    file: str | None = None,
    line: int | None = None,
    title: str | None = None,
    stream: TextIO | None = None,
) -> None:
    _command("notice", message, {"file": file, "line": line, "title": title}, stream)


def group(name: str, stream: TextIO | None = None) -> None:
    _write(stream, f"::group::{escape_data(redact(name))}")


def endgroup(stream: TextIO | None = None) -> None:
    _write(stream, "::endgroup::")


def _as_text(value: OutputValue) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _delimiter(*texts: str) -> str:
    for _ in range(10):
        candidate = f"ghadelimiter_{uuid.uuid4()}"
        if not any(candidate in text for text in texts):
            return candidate
    raise RuntimeError("could not find an output delimiter absent from the value")  # 10 UUID collisions: unreachable


def set_outputs(path: str, outputs: Mapping[str, OutputValue]) -> None:
    """Append each output as `name<<DELIM`, value, `DELIM`, with a fresh delimiter that does not occur in the value."""
    if not path:
        return
    chunks = []
    for name, raw in outputs.items():
        if not _OUTPUT_NAME.match(name):
            raise ValueError(f"invalid output name {name!r}")
        value = redact(_as_text(raw))
        delimiter = _delimiter(value)
        chunks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    with open(path, "a", encoding="utf-8", newline="\n") as handle:
        handle.write("".join(chunks))


def _cut_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` that fits in `max_bytes` of UTF-8, ending at a line break when one is near."""
    head = text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
    newline = head.rfind("\n")
    return head[: newline + 1] if newline >= 0 and len(head) - newline <= 4096 else head


def append_summary(path: str, markdown: str) -> bool:
    """Append markdown to the job summary, keeping the step's file within 1 MiB. Returns True when it was cut."""
    if not path:
        return False
    text = redact(markdown)
    if not text.endswith("\n"):
        text += "\n"
    try:
        used = os.path.getsize(path)
    except OSError:
        used = 0
    budget = SUMMARY_LIMIT_BYTES - used
    truncated = len(text.encode("utf-8")) > budget
    if truncated:
        note_bytes = len(SUMMARY_TRUNCATED_NOTE.encode("utf-8"))
        if budget < note_bytes:
            return True  # no room even for the note: write nothing rather than break the limit
        text = _cut_utf8(text, budget - note_bytes) + SUMMARY_TRUNCATED_NOTE
    with open(path, "a", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return truncated
