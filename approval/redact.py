"""The one redaction point. Every text the tool emits passes through `redact()`.

Secrets are registered once (`register_secret`) when settings are built; `redact()` then removes them, and also
anything shaped like a credential: Authorization / api-key header values, bearer tokens, URL userinfo and URL
query strings (signed URLs carry their signature there). The registry is process-wide on purpose: several
approvals in one process only ever redact more, never less.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

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


def encoded_forms(value: str) -> set[str]:
    """The forms in which a gateway may echo a secret back: as is, percent-encoded, JSON-escaped (with or without
    escaped slashes), and base64 (standard and URL-safe alphabets) at each of the three byte alignments it can
    take inside a longer encoded text (only the characters that depend on the secret alone)."""
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value, safe="/")}
    escaped = json.dumps(value)[1:-1]
    forms |= {escaped, escaped.replace("/", "\\/"), json.dumps(value, ensure_ascii=False)[1:-1]}
    raw = value.encode("utf-8")
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii")
        core = encoded[(shift * 8 + 5) // 6 : (shift + len(raw)) * 8 // 6]
        forms |= {core, core.replace("+", "-").replace("/", "_")}
    return {f for f in forms if len(f) >= _MIN_SECRET_LEN}


def register_secret(value: str | None) -> None:
    """Add a value (and its encoded forms) that must never appear in any output. Short values are ignored (they
    would mask noise)."""
    global _pattern
    if not value or not value.strip():
        return
    candidates = encoded_forms(value.strip())
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


_HIDDEN = "\ue000"  # a private-use character: stands in for a secret's characters while the text is cut


def longest_secret() -> int:
    """Length of the longest registered secret form (0 when none): how far past a cut a secret may reach."""
    return max((len(s) for s in registered_secrets()), default=0)


def redact_head(text: str, limit: int) -> str:
    """`redact(text[:limit])`, without the cut leaving part of a secret that straddles `limit` unmasked."""
    if len(text) <= limit:
        return redact(text)
    pattern = _pattern
    if pattern is None:
        return redact(text[:limit])
    window = pattern.sub(lambda m: _HIDDEN * len(m.group()), text[: limit + longest_secret()])
    return redact(re.sub(_HIDDEN + "+", MASK, window[:limit]))


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
