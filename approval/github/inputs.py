"""Action inputs, as the runner passes them to a container action: `INPUT_<NAME>` environment variables.

The runner upper-cases the input name, turns spaces into underscores and keeps hyphens
(`gateway-base-url` → `INPUT_GATEWAY-BASE-URL`); the all-underscore spelling is accepted as a fallback for
wrappers (`docker run -e`, shells) that cannot set a variable with a hyphen in its name.
"""

from __future__ import annotations

from collections.abc import Mapping

from approval.common.errors import ConfigError

_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def input_env_names(name: str) -> tuple[str, ...]:
    """The variable names that may carry input `name`, the runner's own spelling first."""
    primary = "INPUT_" + name.strip().replace(" ", "_").upper()
    fallback = primary.replace("-", "_")
    return (primary,) if fallback == primary else (primary, fallback)


def get_input(environ: Mapping[str, str], name: str, default: str = "") -> str:
    """The input's value with surrounding whitespace stripped; `default` when it is unset or blank."""
    for key in input_env_names(name):
        value = environ.get(key)
        if value is not None and value.strip():
            return value.strip()
    return default


def get_bool_input(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    """true/yes/1 or false/no/0, any case; anything else is a ConfigError naming the input."""
    raw = get_input(environ, name)
    if not raw:
        return default
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    shown = raw if len(raw) <= 40 else raw[:39] + "…"
    raise ConfigError(f"input `{name}` must be true or false, got {shown!r}", f"set `{name}: true` or `{name}: false`")
