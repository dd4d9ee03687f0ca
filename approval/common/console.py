"""Terminal output. Everything printed goes through `redact()` here.

Output that cannot be written never changes the verdict: a closed pipe (`approval run … | head -1`) or a full disk
behind stdout silences that stream for the rest of the run, and the run still ends with its own exit code.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn, TextIO

from approval.common.redact import redact

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


def end_process(code: int) -> NoReturn:
    """Exit with `code` without tearing the interpreter down. By then every file is written and closed; freeing each
    object of the libraries a run imported (the openai SDK alone defines thousands of types) would only add about half
    a second to every run. The standard streams are flushed first; one that cannot be written any more is ignored."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
