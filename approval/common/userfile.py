"""Reading a file the user named (config, prompt, registry): every failure is one ConfigError line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from approval.common.errors import ConfigError


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
        with path.open("rb") as handle:  # at most one byte past the cap: a pipe or a device reports no size
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ConfigError(f"{what} {path_text!r} is over the {max_bytes}-byte limit", too_big_fix)
    except OSError as exc:
        raise ConfigError(f"{what} {path_text!r} cannot be read ({exc.strerror})", fix) from None
    try:
        return data.decode("utf-8"), data
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path_text!r} is not valid UTF-8", "save it as UTF-8") from None


MAX_YAML_NODES = 50_000  # a gateway.yaml or prompt file has tens of nodes; aliases must not expand it past this


class YamlTooLarge(ValueError):
    """The document expands (through aliases) to more nodes than a configuration can reasonably have."""


def load_yaml(text: str, max_nodes: int = MAX_YAML_NODES) -> Any:
    """`yaml.safe_load`, but aliases may not expand the document past `max_nodes` nodes: a few hundred bytes of
    nested aliases ("billion laughs") would otherwise take memory and time without bound before any deadline runs."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_nodes(node, max_nodes)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _count_nodes(root: Any, limit: int) -> None:
    """Visit every node as construction would see it (a node reached through several aliases counts each time)."""
    import yaml

    count = 0
    stack = [root]
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            raise YamlTooLarge(f"more than {limit} values once its aliases are expanded")
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
