"""The one redaction point. Every text the tool emits passes through `redact()`.

Secrets are registered once (`register_secret`) when settings are built; `redact()` then removes them, in the forms
a gateway may echo them in (`encoded_forms`, and any mix of character escapes: `_escaped_secret_spans`), and also
anything shaped like a credential: Authorization / api-key header values, bearer tokens, URL userinfo and URL
query strings (signed URLs carry their signature there). The registry is process-wide on purpose: several
approvals in one process only ever redact more, never less.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import math
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
_HIDDEN = "\ue000"  # a private-use character: stands in for a secret's characters while the text is cut
_MIN_SECRET_LEN = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_values: set[str] = set()  # the secrets as registered, to find in a text once its character escapes are read
_value_pattern: re.Pattern[str] | None = None

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
    escaped slashes), hex (lower and upper case), and base64 (standard and URL-safe alphabets) at each of the three
    byte alignments it can take inside a longer encoded text (only the characters that depend on the secret alone).
    Escapes of single characters, in any mix (`&#115;k-…`, `\\u0073\\u006b…`, `%73k-…`), are read by `redact()`."""
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value, safe="/")}
    forms |= {value.encode("utf-8").hex(), value.encode("utf-8").hex().upper()}
    escaped = json.dumps(value)[1:-1]
    forms |= {escaped, escaped.replace("/", "\\/"), json.dumps(value, ensure_ascii=False)[1:-1]}
    raw = value.encode("utf-8")
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii")
        core = encoded[(shift * 8 + 5) // 6 : (shift + len(raw)) * 8 // 6]
        forms |= {core, core.replace("+", "-").replace("/", "_")}
    return {f for f in forms if len(f) >= _MIN_SECRET_LEN}


# Words of a header or field name that make its value a credential whatever it looks like: authorization, x-api-key,
# cookie, x-auth-token, x-portkey-virtual-key, cf-aig-authorization, helicone-auth, api_key, accessToken, ... Whole
# words only: `x-portkey-provider` is not a key, `max_tokens` is not a token.
_CREDENTIAL_WORDS = frozenset({"key", "apikey", "auth", "authorization", "cookie", "token", "secret", "password", "passwd",
                               "credential", "credentials", "signature", "session", "bearer", "jwt"})
_NAME_WORDS = re.compile(r"[-_\s.]+")
_SEGMENT_SPLIT = re.compile(r"[-_./:+=~]")


def credential_name(name: str) -> bool:
    """Whether a header or JSON field name says its value is a credential."""
    words = _NAME_WORDS.split(re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    return any(w in _CREDENTIAL_WORDS or w.endswith(("token", "secret", "password", "apikey")) or w.startswith("auth")
               for w in words)


def _entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def credential_shaped(value: str) -> bool:
    """Whether a value looks like a key or token: one word with a long random-looking run (16+ characters mixing
    letters and digits or both cases), or 32+ characters of near-random text. Model names (`gpt-4o-mini-2024-07-18`,
    `anthropic.claude-3-5-sonnet-20240620-v1:0`), URLs, UUIDs and plain words are not."""
    text = value.strip()
    if len(text) < 16 or any(ch.isspace() for ch in text) or "://" in text:
        return False
    for segment in _SEGMENT_SPLIT.split(text):
        classes = sum((any(c.islower() for c in segment), any(c.isupper() for c in segment), any(c.isdigit() for c in segment)))
        if len(segment) >= 16 and classes >= 2:
            return True
    return len(text) >= 32 and _entropy(text) >= 4.5


def _credential_fields(value: Any, under_credential: bool = False) -> list[str]:
    """String values in a JSON structure that sit under a credential-named field (`api_key`, `token`, ...) or look like one."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _credential_fields(item, under_credential or credential_name(str(key)))
    elif isinstance(value, list):
        for item in value:
            found += _credential_fields(item, under_credential)
    elif isinstance(value, str) and (under_credential or credential_shaped(value)):
        found.append(value)
    return found


def header_secrets(name: str, value: str, marked: bool | None = None) -> list[str]:
    """The parts of a configured header's value that are secrets: all of it when the configuration marks it secret, its
    name says credential, or it looks like a key; for a JSON value (Portkey's `x-portkey-config`), the values of its
    credential fields. Never a plain short word: `x-portkey-provider: openai` masks nothing. `marked=False` says the
    value as a whole is not a secret (credential fields inside a JSON value still are)."""
    if marked:
        return [value]
    found: list[str] = []
    stripped = value.strip()
    if stripped[:1] in ("{", "["):
        with contextlib.suppress(ValueError, RecursionError):
            found += _credential_fields(json.loads(stripped))
    if marked is None and (credential_name(name) or credential_shaped(value)):
        found.append(value)
    return found


# One character written as an escape: an HTML entity (hex, decimal, named), a JSON or C escape (`\u0073`, `\x73`, `\/`),
# a percent-encoded ASCII byte. A gateway echoing a request may escape some or all characters of a key.
_CHAR_ESCAPE = re.compile(r"&#[xX]([0-9a-fA-F]{1,6});?|&#([0-9]{1,7});?|&([A-Za-z][A-Za-z0-9]{1,31};)|\\u([0-9a-fA-F]{4})"
                          r"|\\x([0-9a-fA-F]{2})|\\([\"\\/])|%([0-7][0-9a-fA-F])")


def _unescaped(m: re.Match[str]) -> str | None:
    """The character an escape stands for, or None when it stands for none (it is then read as written)."""
    hex_ref, dec_ref, named, u_escape, x_escape, simple, percent = m.groups()
    number = hex_ref or u_escape or x_escape or percent
    code = int(number, 16) if number else int(dec_ref) if dec_ref else None
    if code is not None:
        return chr(code) if code <= 0x10FFFF else None
    if simple:
        return simple
    decoded = html.unescape("&" + named)
    return decoded if len(decoded) == 1 else None


def _escaped_secret_spans(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """Where in `text` a registered secret stands once every character escape is read: spans of the text as written."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for m in _CHAR_ESCAPE.finditer(text):
        for i in range(pos, m.start()):
            chars.append(text[i])
            starts.append(i)
            ends.append(i + 1)
        char = _unescaped(m)
        if char is None:
            for i in range(m.start(), m.end()):
                chars.append(text[i])
                starts.append(i)
                ends.append(i + 1)
        else:
            chars.append(char)
            starts.append(m.start())
            ends.append(m.end())
        pos = m.end()
    if pos == 0:
        return []
    for i in range(pos, len(text)):
        chars.append(text[i])
        starts.append(i)
        ends.append(i + 1)
    return [(starts[m.start()], ends[m.end() - 1]) for m in pattern.finditer("".join(chars)) if m.end() > m.start()]


def _mask_spans(text: str, spans: list[tuple[int, int]], mask: str | None = MASK) -> str:
    """`text` with each span (overlapping ones merged) replaced by `mask`, or, when None, by as many `_HIDDEN` as it is
    long (for `redact_head`, which cuts afterwards)."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[str] = []
    pos = 0
    for start, end in merged:
        out += [text[pos:start], mask if mask is not None else _HIDDEN * (end - start)]
        pos = end
    return "".join(out) + text[pos:]


def register_secret(value: str | None) -> None:
    """Add a value (and its encoded forms) that must never appear in any output. Short values are ignored (they
    would mask noise)."""
    global _pattern, _value_pattern
    if not value or not value.strip():
        return
    candidates = encoded_forms(value.strip())
    with _lock:
        if len(value.strip()) >= _MIN_SECRET_LEN and value.strip() not in _values:
            _values.add(value.strip())
            _value_pattern = re.compile("|".join(re.escape(v) for v in sorted(_values, key=len, reverse=True)))
        changed = False
        for candidate in candidates:
            if len(candidate) >= _MIN_SECRET_LEN and candidate not in _secrets:
                _secrets.add(candidate)
                changed = True
        if changed:
            ordered = sorted(_secrets, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def holds_secret(text: str, value: str) -> bool:
    """Whether `text` holds `value` in any form `redact` masks: verbatim, in one of its encoded forms, or with any mix
    of its characters escaped (the same search `redact` makes, for one value, without registering it)."""
    value = value.strip()
    if not value or not text:
        return False
    if any(form in text for form in encoded_forms(value)):
        return True
    return bool(_escaped_secret_spans(text, re.compile(re.escape(value))))


def registered_secrets() -> frozenset[str]:
    with _lock:
        return frozenset(_secrets)


def redact(text: str) -> str:
    """Return `text` with every registered secret and every credential-shaped substring masked."""
    if not text:
        return text
    values = _value_pattern
    if values is not None:
        text = _mask_spans(text, _escaped_secret_spans(text, values))
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for regex, replacement in _GENERIC:
        text = regex.sub(replacement, text)
    return text


_ESCAPE_WIDTH = 18  # the longest escape of one ASCII character: `&DiacriticalGrave;`


def longest_secret() -> int:
    """How far past a cut a secret may reach (0 when none): its longest registered form, or the secret with every
    character written as the longest escape."""
    with _lock:
        fixed = max((len(s) for s in _secrets), default=0)
        escaped = max((len(v) for v in _values), default=0) * _ESCAPE_WIDTH
    return max(fixed, escaped)


def redact_head(text: str, limit: int) -> str:
    """`redact(text[:limit])`, without the cut leaving part of a secret that straddles `limit` unmasked."""
    if len(text) <= limit:
        return redact(text)
    pattern = _pattern
    if pattern is None:
        return redact(text[:limit])
    window = text[: limit + longest_secret()]
    values = _value_pattern
    if values is not None:
        window = _mask_spans(window, _escaped_secret_spans(window, values), None)
    window = pattern.sub(lambda m: _HIDDEN * len(m.group()), window)
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
