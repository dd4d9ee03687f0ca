"""The one redaction point. Every text the tool emits passes through `redact()`.

Secrets are registered once (`register_secret`) when settings are built; `redact()` then removes them, and also
anything shaped like a credential: Authorization / api-key header values, bearer tokens, URL userinfo and URL
query strings (signed URLs carry their signature there). The registry is process-wide on purpose: several
approvals in one process only ever redact more, never less.
"""

from __future__ import annotations

import re
import threading
from typing import Any

MASK = "***"
_MIN_SECRET_LEN = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

# Shapes that are credentials whatever their value.
_GENERIC = [
    # Authorization: Bearer xyz / Basic xyz ; api-key: xyz ; x-api-key=xyz
    (
        re.compile(
            r"(?i)\b(authorization|proxy-authorization|api[-_]?key|x-api-key|x-goog-api-key|access[-_]?token"
            r"|client[-_]?secret|password|secret)(\"?\s*[:=]\s*\"?)(bearer\s+|basic\s+|token\s+)?([^\s\"',;}&]+)"
        ),
        lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}{MASK}",
    ),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}"), lambda m: f"{m.group(1)} {MASK}"),
    # Common provider key shapes (OpenAI, Anthropic, LiteLLM virtual keys, GitHub tokens).
    (re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_-]{12,}"), lambda m: f"{m.group(1)}-{MASK}"),
    (re.compile(r"\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]{16,}"), lambda m: f"{m.group(1)}{MASK}"),
    # URL userinfo: scheme://user:pass@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:]+(?::[^/\s@]*)?@"), lambda m: f"{m.group(1)}{MASK}@"),
    # URL query strings: keep the path, drop the query
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s?#\"'<>]+)\?[^\s#\"'<>]*"), lambda m: f"{m.group(1)}?{MASK}"),
]


def register_secret(value: str | None) -> None:
    """Add a value that must never appear in any output. Short values are ignored (they would mask noise)."""
    global _pattern
    if not value:
        return
    candidates = {value.strip()}
    candidates.discard("")
    with _lock:
        changed = False
        for candidate in candidates:
            if len(candidate) >= _MIN_SECRET_LEN and candidate not in _secrets:
                _secrets.add(candidate)
                changed = True
        if changed:
            ordered = sorted(_secrets, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def registered_secrets() -> frozenset[str]:
    with _lock:
        return frozenset(_secrets)


def redact(text: str) -> str:
    """Return `text` with every registered secret and every credential-shaped substring masked."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for regex, replacement in _GENERIC:
        text = regex.sub(replacement, text)
    return text


def redact_data(value: Any) -> Any:
    """Redact every string inside a JSON-like structure (dict keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


def excerpt(text: str, limit: int = 160) -> str:
    """A short, single-line, redacted excerpt for evidence."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
