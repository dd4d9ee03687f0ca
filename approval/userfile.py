"""Reading a file the user named (config, prompt, registry): every failure is one ConfigError line."""

from __future__ import annotations

from pathlib import Path

from approval.errors import ConfigError


def read_user_file(path_text: str, what: str, max_bytes: int, fix: str, too_big_fix: str) -> tuple[str, bytes]:
    """The file's text and raw bytes; ConfigError when it is missing, a directory, too big, unreadable or not UTF-8."""
    path = Path(path_text)
    if not path.exists():
        raise ConfigError(f"{what} {path_text!r} does not exist", fix)
    if path.is_dir():
        raise ConfigError(f"{what} {path_text!r} is a directory", fix)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ConfigError(f"{what} {path_text!r} is {size} bytes, over the {max_bytes}-byte limit", too_big_fix)
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {path_text!r} cannot be read ({exc.strerror})", fix) from None
    try:
        return data.decode("utf-8"), data
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path_text!r} is not valid UTF-8", "save it as UTF-8") from None
