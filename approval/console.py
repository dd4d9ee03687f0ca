"""Terminal output. Everything printed goes through `redact()` here."""

from __future__ import annotations

import sys
from typing import TextIO

from approval.redact import redact


def say(text: str, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    out.write(redact(text) + "\n")
    out.flush()


def fail_line(text: str) -> None:
    say(f"error: {text}", sys.stderr)
