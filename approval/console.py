"""Terminal output. Everything printed goes through `redact()` here."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn, TextIO

from approval.redact import redact


def say(text: str, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    out.write(redact(text) + "\n")
    out.flush()


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
