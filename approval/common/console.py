"""Terminal output. Everything printed goes through `redact()` here.

Output that cannot be written never changes the verdict: a closed pipe (`approval run … | head -1`) or a full disk
behind stdout silences that stream for the rest of the run, and the run still ends with its own exit code.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import NoReturn, TextIO

from approval import __version__
from approval.common import exitcodes
from approval.common.redact import redact

REPORT_HINT = "this is a bug of the tool: please report it with this line as an issue of the model-approval-gate repository"

_closed: set[int] = set()


def say(text: str, stream: TextIO | None = None) -> None:
    write_line(redact(text), stream)


def write_line(line: str, stream: TextIO | None = None) -> None:
    """Write one line as it is (the caller has redacted it, or it is a workflow command that must not be)."""
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
