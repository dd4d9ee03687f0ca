"""Reading a file the user named (config, prompt, registry, record): every failure is one ConfigError line.

Every file the tool reads goes through `read_bounded`: regular files only (a device such as /dev/zero never ends, a
FIFO may never be written to: both are refused, never waited on), at most `max_bytes` (the size a regular file reports
is checked first, then at most one byte past the limit is read, so a file that grows while it is read is still
bounded). Text is UTF-8; one leading byte-order mark is accepted and dropped by every reader alike (`decode_utf8`).
"""

from __future__ import annotations

import json
import math
import os
import re
import selectors
import stat
import subprocess
import tempfile
import time
from typing import Any

from approval.common.errors import ConfigError

BOM = "\ufeff"
MAX_RECORD_BYTES = 2 * 1024 * 1024  # a record is a few kB; one this large was not written by the tool


def read_bounded(path_text: str, what: str, max_bytes: int, fix: str, too_big_fix: str) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; ConfigError when it is missing, a directory, not a regular
    file (a device, FIFO or socket), too big or unreadable."""
    try:
        fd = os.open(path_text, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ConfigError(f"{what} {path_text!r} does not exist", fix) from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path_text!r} is a directory", fix) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError(f"{what} {path_text!r} cannot be read ({getattr(exc, 'strerror', None) or exc})", fix) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{what} {path_text!r} is a directory", fix)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{what} {path_text!r} is not a regular file (a device, pipe or socket is never read)", fix)
        if info.st_size > max_bytes:
            raise ConfigError(f"{what} {path_text!r} is {info.st_size} bytes, over the {max_bytes}-byte limit", too_big_fix)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ConfigError(f"{what} {path_text!r} cannot be read ({exc.strerror or type(exc).__name__})", fix) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ConfigError(f"{what} {path_text!r} is over the {max_bytes}-byte limit", too_big_fix)
    return data


def decode_utf8(data: bytes, what: str, name: str) -> str:
    """UTF-8 text without the byte-order mark some editors write first (accepted by every reader alike)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {name!r} is not valid UTF-8", "save it as UTF-8") from None
    return text.removeprefix(BOM)


def read_user_file(path_text: str, what: str, max_bytes: int, fix: str, too_big_fix: str) -> tuple[str, bytes]:
    """The file's text (without a byte-order mark) and raw bytes; ConfigError as `read_bounded` and `decode_utf8` say."""
    data = read_bounded(path_text, what, max_bytes, fix, too_big_fix)
    return decode_utf8(data, what, path_text), data


class StrictJsonError(ValueError):
    """JSON this tool never writes: a duplicate key, NaN, Infinity or a number too large for a float."""


def _no_constant(name: str) -> Any:
    raise StrictJsonError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJsonError(f"{text[:40]} is too large to be a number")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise StrictJsonError(f"the key {key[:80]!r} appears twice in one object: which one counts is up to the reader")
        seen[key] = value
    return seen


def strict_json(text: str) -> Any:
    """`json.loads`, refusing duplicate keys (at any depth), NaN, Infinity and numbers that overflow to infinity:
    each reads differently in different tools, so a record holding one could say one thing to a check and another to
    a person. StrictJsonError (a ValueError) names the first found."""

    return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant, parse_float=_finite)


def record_from_bytes(data: bytes, name: str) -> dict[str, Any]:
    """An approval record's JSON object from its bytes (a file, `git show`, an artifact); ConfigError when it is not
    UTF-8, not strict JSON (`strict_json`) or not an object."""
    text = decode_utf8(data, "record", name)
    try:
        parsed = strict_json(text)
    except StrictJsonError as exc:
        raise ConfigError(f"record {name!r} is not valid JSON: {exc}", "give an approval record as the tool wrote it") from None
    except (ValueError, RecursionError):
        raise ConfigError(f"record {name!r} is not valid JSON", "give an approval record JSON file") from None
    if not isinstance(parsed, dict):
        raise ConfigError(f"record {name!r} is not a JSON object", "give an approval record JSON file")
    return parsed


def read_record_file(path_text: str) -> tuple[dict[str, Any], bytes]:
    """A record file as JSON and its bytes (the sha256 the registry keeps is of the bytes), read bounded."""
    data = read_bounded(path_text, "record", MAX_RECORD_BYTES, "give the path of an approval record JSON file",
                        f"give an approval record written by the tool (under {MAX_RECORD_BYTES // (1024 * 1024)} MiB)")
    return record_from_bytes(data, path_text), data


def read_command_output(argv: list[str], max_bytes: int, timeout_s: float) -> tuple[int, bytes, bytes]:
    """(exit status, stdout, stderr) of a command whose output is read at most `max_bytes` + 1 bytes: past that, or
    past `timeout_s`, it is stopped and TimeoutError / OverflowError say which."""

    with tempfile.TemporaryFile() as err, subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err) as proc:
        assert proc.stdout is not None
        try:
            out = _read_until(proc, max_bytes + 1, timeout_s)
        finally:
            proc.kill()
            proc.wait()
        err.seek(0)
        errors = err.read(64 * 1024)
    if len(out) > max_bytes:
        raise OverflowError(f"over the {max_bytes}-byte limit")
    return proc.returncode, out, errors


def _read_until(proc: Any, limit: int, timeout_s: float) -> bytes:
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    size = 0
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while size < limit:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise TimeoutError(f"no answer within {timeout_s:g} s")
            chunk = os.read(proc.stdout.fileno(), min(65536, limit - size))
            if not chunk:  # the whole output: the command's status follows
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: it closed its output but did not end
                    raise TimeoutError(f"no answer within {timeout_s:g} s") from None
                break
            chunks.append(chunk)
            size += len(chunk)
    return b"".join(chunks)


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


def yaml_document(text: str, what: str, *, smaller: str, syntax_fix: str) -> Any:
    """`load_yaml` for a file a user wrote, every failure one ConfigError naming `what`: too many nodes, a value YAML
    readers disagree on, a syntax error (with its line), nesting too deep. `smaller` says what such a file usually is."""
    # PyYAML (~25 ms to import) only where a YAML file is read
    import yaml

    try:
        return load_yaml(text)
    except YamlTooLarge as exc:
        raise ConfigError(f"{what} has {exc}", f"{smaller}: use fewer aliases") from None
    except YamlAmbiguous as exc:
        raise ConfigError(f"{what}: {exc}", exc.fix) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{what} is not valid YAML{where}", syntax_fix) from None
    except RecursionError:
        raise ConfigError(f"{what} is nested too deeply", smaller) from None


def load_yaml(text: str, max_nodes: int = MAX_YAML_NODES) -> Any:
    """`yaml.safe_load` for every YAML file the tool reads (config, prompt, registry), but aliases may not expand the
    document past `max_nodes` nodes (a few hundred bytes of nested aliases, "billion laughs", would otherwise take
    memory and time without bound); and what YAML readers would read differently is refused (`YamlAmbiguous`, naming
    the value and its line): a key given twice in one mapping (the last would silently win), a plain value this tool
    reads as a string but a YAML 1.2 reader as a number, boolean or null."""
    # PyYAML (~25 ms to import) only where a YAML file is read
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
    # PyYAML (~25 ms to import) only where a YAML file is read
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
    # PyYAML (~25 ms to import) only where a YAML file is read
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
