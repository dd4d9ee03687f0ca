"""The one way a model ID (or any text) becomes part of a file, folder or artifact name.

`safe_name` keeps letters, digits, `-`, `_` and `.` and writes `_` for anything else, so `vendor/m`, `vendor:m` and
`vendor_m` all read `vendor_m`. Where several names must stay apart (one record, one artifact per candidate),
`unique_names` adds a short digest of the original text to each name that would otherwise be shared — also by case
alone, which a case-insensitive file system does not tell apart — or is empty: readable, distinct, and the same for
the same candidates whatever their order.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence

EMPTY = "model"  # what a name with nothing readable left becomes (before its digest)


def safe_name(text: str) -> str:
    """`text` with every character but letters, digits, `-`, `_` and `.` written as `_`; no leading or trailing dot
    (`.`, `..`, hidden files); never empty."""
    return "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_." else "_" for ch in text).strip(".") or "_"


def digest(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def unique_names(texts: Sequence[str]) -> list[str]:
    """One safe name per text, distinct even on a case-insensitive file system: a name two different texts share
    (after `safe_name`, ignoring case), or one with nothing readable left, gets a digest of its own text."""
    names = [safe_name(t) for t in texts]
    for length in (8, 16, 64):  # a longer digest in the (theoretical) case a suffixed name meets another name
        shared = Counter(name.casefold() for name in dict(zip(texts, names, strict=True)).values())
        result = [f"{_readable(n)}-{digest(t, length)}" if shared[n.casefold()] > 1 or not _has_text(n) else n
                  for t, n in zip(texts, names, strict=True)]
        distinct = {t: r.casefold() for t, r in zip(texts, result, strict=True)}
        if len(set(distinct.values())) == len(distinct):
            return result
    raise AssertionError("sha256 digests of distinct texts collided")  # pragma: no cover


def _has_text(name: str) -> bool:
    return any(ch.isalnum() for ch in name)


def _readable(name: str) -> str:
    return name if _has_text(name) else EMPTY
