"""Reading a file the user named (config, prompt, registry): every failure is one ConfigError line."""

from __future__ import annotations

import re
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


class YamlAmbiguous(ValueError):
    """The document does not say one thing to every reader: a mapping names the same key twice (YAML keeps the last
    silently, hiding the first), or a plain value is a string to this tool but a number, boolean or null to a YAML 1.2
    reader (`1e3`, `0o17`). `fix` says what to do."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.fix = fix


# plain values YAML 1.2's core schema reads as null, a boolean or a number (PyYAML, a YAML 1.1 reader, reads some of
# them — `1e3`, `0o17`, `1.5e3` — as strings)
_CORE_SCHEMA_NOT_STRING = re.compile(
    r"null|Null|NULL|~|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN")


def load_yaml(text: str, max_nodes: int = MAX_YAML_NODES) -> Any:
    """`yaml.safe_load` for every YAML file the tool reads (config, prompt, registry), but aliases may not expand the
    document past `max_nodes` nodes (a few hundred bytes of nested aliases, "billion laughs", would otherwise take
    memory and time without bound); and what YAML readers would read differently is refused (`YamlAmbiguous`, naming
    the value and its line): a key given twice in one mapping (the last would silently win), a plain value this tool
    reads as a string but a YAML 1.2 reader as a number, boolean or null."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_nodes(node, max_nodes)
        _refuse_ambiguity(node, loader)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _refuse_ambiguity(root: Any, loader: Any) -> None:
    import yaml

    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if node.style is None and node.tag == "tag:yaml.org,2002:str" and _CORE_SCHEMA_NOT_STRING.fullmatch(node.value):
                raise YamlAmbiguous(f"the value {node.value!r} (line {node.start_mark.line + 1}) is text to this tool but a number, "
                                    "boolean or null to other YAML readers", f'quote it: "{node.value}"')
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            keys: dict[Any, int] = {}
            for key, value in node.value:
                stack.append(value)
                if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                try:
                    name = (key.tag, loader.construct_object(key))
                    hash(name)
                except (TypeError, yaml.YAMLError):  # an unhashable or unreadable key: construction reports it
                    continue
                line = key.start_mark.line + 1
                if name in keys:
                    raise YamlAmbiguous(f"the key {key.value!r} appears twice in one mapping (lines {keys[name]} and {line}): "
                                        "YAML would silently keep only the last", "keep one of them (merge the two into one)")
                keys[name] = line
                stack.append(key)


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
