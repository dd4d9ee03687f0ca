"""Terminal output. Everything printed goes through `redact()` and `visible()` here.

Text a gateway controls (error messages, excerpts, model names, header values) is shown, never interpreted: control
characters and escape sequences (colours, cursor moves, `\r`), bidi overrides and other invisible format characters are
printed as `\x1b`-style escapes, and no line can start a GitHub workflow command (`::set-output`, `::stop-commands`, the
legacy `##[...]`). The tool's own formatting is plain text: line breaks, spaces and tabs, which pass unchanged.

Output that cannot be written never changes the verdict: a closed pipe (`approval run … | head -1`) or a full disk
behind stdout silences that stream for the rest of the run, and the run still ends with its own exit code.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import unicodedata
from collections.abc import Callable
from typing import NoReturn, TextIO

from approval import __version__
from approval.common import exitcodes
from approval.common.redact import redact

REPORT_HINT = "this is a bug of the tool: please report it with this line as an issue of the model-approval-gate repository"

_closed: set[int] = set()

# Zero-width space, non-joiner and joiner stay: they cannot move the cursor or reorder text, emoji need the joiner,
# and the markdown this tool prints (`summarize --format markdown`) breaks @mentions with the zero-width space.
_KEPT = frozenset("\t\u200b\u200c\u200d")
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
# A workflow command is `::name` at the start of a line (after spaces), or the legacy `##[name]` anywhere in it.
_WORKFLOW_COMMAND = re.compile(r"^(\s*):(?=:)|#(?=#\[)")


def _escape_char(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _hidden(ch: str) -> bool:
    return ch not in _KEPT and unicodedata.category(ch) in _HIDDEN_CATEGORIES


def visible(text: str, *, newlines: bool = True) -> str:
    """`text` with every character that a terminal (or a reader) would not show as itself escaped: C0 and C1 controls
    (ESC, `\r`, backspace, CSI `\x9b`), DEL, bidi overrides and isolates, invisible format characters, line and
    paragraph separators. Line breaks stay when `newlines` is true, else they are escaped too (one field, one line)."""
    return "".join(_escape_char(ch) if (ch != "\n" or not newlines) and _hidden(ch) else ch for ch in str(text))


def one_line(text: str) -> str:
    """A field inside a line of terminal output (a model name, a check's detail): `visible()`, line breaks escaped."""
    return visible(text, newlines=False)


def no_workflow_command(line: str) -> str:
    """`line` such that GitHub's runner cannot read a workflow command in it: a leading `::` and any `##[` get their
    first character escaped."""
    return _WORKFLOW_COMMAND.sub(lambda m: (m.group(1) or "") + ("\\x3a" if m.group(0).endswith(":") else "\\x23"), line)


def terminal_text(text: str) -> str:
    """What `say()` prints for `text`: redacted, every control character shown escaped, no workflow command."""
    return "\n".join(no_workflow_command(line) for line in visible(redact(text)).split("\n"))


def say(text: str, stream: TextIO | None = None) -> None:
    write_line(terminal_text(text), stream)


def write_line(line: str, stream: TextIO | None = None) -> None:
    """Write one line as it is: the caller has made it safe (`terminal_text()`), or it is a workflow command built by
    `approval.github.commands`, whose data is escaped there."""
    out = stream or sys.stdout
    key = id(out)
    if key in _closed:
        return
    try:
        out.write(line + "\n")
        out.flush()
    except (BrokenPipeError, OSError, ValueError):  # the reader went away, the disk is full, the stream was closed
        _closed.add(key)
        _silence(out)


def _silence(out: TextIO) -> None:
    """Point the stream's descriptor at /dev/null, so that the interpreter's own flush at exit cannot fail either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def fail_line(text: str) -> None:
    say(f"error: {text}", sys.stderr)


def internal_error_line(exc: BaseException) -> str:
    """The one line an unexpected exception ends with: what it was, that it is ours, where to report it (redacted)."""
    detail = " ".join(str(exc).split())[:300]
    return redact(f"internal error in approval {__version__}: {type(exc).__name__}{': ' + detail if detail else ''} — {REPORT_HINT}")


def run_to_end(main: Callable[[], int], announce: Callable[[str], None]) -> NoReturn:
    """The last-resort handler of every front end (the `approval` command and the action's container): `main()`'s
    exit code; Ctrl-C is one line and exit 130; any other exception is a bug of ours: one line through `announce`
    (`internal_error_line`) and exit 3, never a traceback."""
    try:
        code = main()
    except KeyboardInterrupt:
        announce("interrupted: no verdict")
        code = exitcodes.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line and exit code 3, never a traceback
        announce(internal_error_line(exc))
        code = exitcodes.NO_VERDICT
    end_process(code)


def end_process(code: int) -> NoReturn:
    """Exit with `code` without tearing the interpreter down. By then every file is written and closed; freeing each
    object of the libraries a run imported (the openai SDK alone defines thousands of types) would only add about half
    a second to every run. The standard streams are flushed first; one that cannot be written any more is ignored."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
