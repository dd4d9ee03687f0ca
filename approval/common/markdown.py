"""Markdown that stays what it says: untrusted text (from a gateway, a record or a user) made inert in running text,
table cells, code spans and code blocks, and the small formatting helpers every markdown writer shares. Pure; imported
by the report, the lifecycle and the GitHub publishers alike, so it imports nothing above the common layer."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from approval.common.console import no_workflow_command, visible

# Characters that start markdown (or GitHub-flavoured markdown) syntax anywhere in a line: escaped with a backslash,
# which CommonMark guarantees renders the character itself. `<`, `>` and `&` become entities (GitHub renders some HTML;
# an entity cannot start a tag, a comment or another entity).
_MD_INLINE = {ch: "\\" + ch for ch in "\\`*_[]!#|~$"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
# At the start: a list item, a setext underline, an ordered list, and `::`, which would start a GitHub workflow command
# should the markdown be printed in a job's log (`--report-out /dev/stdout`).
_MD_BLOCK_START = re.compile(r"^(?:([-+=]|:(?=:))|(\d{1,9})([.)]))")
# What GitHub links after rendering, from plain text: @mentions (which notify people and teams), issue references
# (`#12`, `owner/repo#12`, which also leave a trace in the issue referred to), bare URLs and `www.` (autolinks), e-mail
# addresses. A zero-width space after the trigger keeps them readable but not live.
_GITHUB_LIVE = re.compile(r"(?<=@)|(?<=#)(?=\w)|(?<=:)(?=//)|(?i:(?<=\bwww)(?=\.))")


def _flat(text: object) -> str:
    """One line of visible text: control and format characters escaped (`console.visible`), whitespace runs (line
    breaks included) one space."""
    return " ".join(visible(str(text)).split())


def _not_live(text: str) -> str:
    return _GITHUB_LIVE.sub("\u200b", text)


def md_cell(text: object) -> str:
    """Text that came from a gateway, a record or a user, inert in markdown: in running text, a heading, a list item, a
    block quote or a table cell it renders as exactly its characters, on one line. No link, image, emphasis, heading,
    list, code span, HTML tag or comment (a hidden marker could be forged with one), math, table cell boundary, @mention,
    issue reference or autolink can come out of it. Not for raw HTML (`html_text`) or code (`md_code`, `fenced`)."""
    flat = _not_live(_flat(text))
    escaped = "".join(_MD_INLINE.get(ch, ch) for ch in flat)
    return _MD_BLOCK_START.sub(lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), escaped, count=1)


def html_text(text: object) -> str:
    """Untrusted text inside raw HTML (`<summary>…</summary>`), where markdown escapes are not read: entities instead."""
    return _not_live(html.escape(_flat(text), quote=True)).replace("##[", "#&#35;[")


def md_code(text: object, *, cell: bool = False) -> str:
    """Text shown as a code span, on one line: the fence is longer than any run of back-ticks inside, so it cannot be
    closed from inside, and no hidden marker can be forged in it. `cell=True` inside a table row, where a `|` would end
    the cell even within a code span."""
    flat = no_workflow_command(_flat(text).replace("<!--", "<\u200b!--"))
    if not flat:
        return "` `"
    if cell:
        if "\\|" in flat:  # a backslash before a pipe reads differently in different table parsers: plain text then
            return md_cell(flat)
        flat = flat.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", flat)), default=0) + 1)
    pad = " " if flat[0] == "`" or flat[-1] == "`" else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def fenced(lines: Sequence[str], lang: str = "text") -> list[str]:
    """Lines shown as they are, in a code block: its fence is longer than any run of back-ticks inside (no line can close
    it), each element stays one line, control characters are shown escaped, no hidden marker can be forged, and no
    line can start a GitHub workflow command should the markdown be printed in a job's log."""
    return fence_lines([visible(str(line), newlines=False) for line in lines], lang)


def fence_lines(lines: Sequence[str], lang: str) -> list[str]:
    safe = [no_workflow_command(line.replace("<!--", "<\u200b!--")) for line in lines]
    longest = max((len(run) for line in safe for run in re.findall("`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + lang, *safe, fence]


def fmt_ms(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 10_000 else f"{ms:.0f} ms"
