"""The approved-models registry kept in a markdown file (e.g. AGENTS.md), between two markers:

    <!-- approved-models:start -->
    - gpt-4o-mini
    - claude-sonnet-4
    <!-- approved-models:end -->
"""

from __future__ import annotations

import re

from approval.errors import ConfigError
from approval.userfile import read_user_file

START = "<!-- approved-models:start -->"
END = "<!-- approved-models:end -->"
_ITEM = re.compile(r"^\s*[-*]\s+`?([^`\s]+)`?\s*(?:#.*)?$")


def parse_block(text: str, source: str) -> list[str]:
    """Model IDs listed as `- id` lines inside the marked block."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0 or end < start:
        raise ConfigError(f"{source} has no approved-models block", f"add the lines {START} and {END} around a list of `- model-id` lines")
    models = []
    for line in text[start + len(START) : end].splitlines():
        match = _ITEM.match(line)
        if match:
            models.append(match.group(1))
    return models


def load_registry(path_text: str) -> list[str]:
    text, _ = read_user_file(path_text, "approved_models_file", 1024 * 1024, "point it at e.g. AGENTS.md", "keep the registry file under 1 MiB")
    return parse_block(text, path_text)
