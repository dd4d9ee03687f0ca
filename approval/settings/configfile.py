"""The files of a configuration: gateway.yaml (read size-bounded, YAML with a node limit, checked against the shipped
schema, the first problem said in the user's words) and the approved-models file it names (read here, parsed by the
registry grammar, settings/registry.py). Settings are built from what this returns (settings/build.py)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from approval.common.errors import ConfigError
from approval.common.userfile import read_user_file, yaml_document
from approval.settings.registry import MAX_REGISTRY_BYTES, Entry, Registry, parse_block_entries, registry_of
from approval.settings.schema_errors import describe

MAX_CONFIG_BYTES = 1024 * 1024


def config_schema() -> dict[str, Any]:
    from importlib import resources  # here, not at the top: only a config file is checked against the schema

    text = resources.files("approval.schemas").joinpath("config.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def load_config_file(path_text: str) -> tuple[dict[str, Any], str]:
    """Read and validate gateway.yaml; return the mapping and its sha256."""
    text, data = read_user_file(path_text, "config file", MAX_CONFIG_BYTES, "pass --config / config: the path of a readable gateway.yaml",
                                "a gateway.yaml is a few lines")
    doc = yaml_document(text, f"config file {path_text!r}", smaller="a gateway.yaml is a few flat sections", syntax_fix="fix its syntax")
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"config file {path_text!r} must be a mapping of keys", "see examples/gateway.yaml")
    registry_of(doc, config_source=path_text)  # the registry's own words for what it refuses, before the schema's
    validate_against_schema(doc, config_schema(), f"config file {path_text!r}")
    return doc, hashlib.sha256(data).hexdigest()


SCHEMA_FIX = "fix that value (every key is described in docs/configuration.md and examples/gateway.yaml)"


def validate_against_schema(doc: Any, schema: dict[str, Any], what: str, fix: str = SCHEMA_FIX) -> None:
    # jsonschema (~120 ms to import) only where a schema is checked
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return
    err = errors[0]
    key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = err.schema.get("properties", {})
        extra = sorted(str(k) for k in err.instance if k not in allowed)
        dotted = ".".join([*map(str, err.absolute_path), extra[0]]) if extra else key
        raise ConfigError(f"{what}: unknown key {dotted!r}", f"allowed here: {', '.join(sorted(allowed))}")

    name, problem = describe(err)
    raise ConfigError(f"{what}: `{name}` {problem}", fix)


def head_registry(config_path: str | None, block_path: str | None) -> Registry:
    """The registry as the working tree has it: the (validated) config file and its approved-models file."""
    doc = load_config_file(config_path)[0] if config_path else {}
    text = None
    if block_path:
        text, _ = read_user_file(block_path, "approved_models_file", MAX_REGISTRY_BYTES, "point it at e.g. AGENTS.md",
                                 "keep the registry file under 1 MiB")
    return registry_of(doc, text, block_path or "", config_path or "gateway.yaml")


def load_registry(path_text: str) -> list[str]:
    return [e.model for e in load_registry_entries(path_text)]


def load_registry_entries(path_text: str) -> list[Entry]:
    text, _ = read_user_file(path_text, "approved_models_file", MAX_REGISTRY_BYTES, "point it at e.g. AGENTS.md", "keep the registry file under 1 MiB")
    return parse_block_entries(text, path_text)


# --- gateway.yaml ----------------------------------------------------------------------------------------------------
