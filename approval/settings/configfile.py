"""gateway.yaml: read it (size-bounded, YAML with a node limit), check it against the shipped schema, and say the first
problem in the user's words. Settings are built from what this returns (settings/build.py)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from approval.common.errors import ConfigError
from approval.common.userfile import YamlTooLarge, load_yaml, read_user_file

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
    import yaml  # here, not at the top: a run without a config file never pays for it

    try:
        doc = load_yaml(text)
    except YamlTooLarge as exc:
        raise ConfigError(f"config file {path_text!r} has {exc}", "a gateway.yaml is a few flat sections: use fewer aliases") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path_text!r} is not valid YAML{where}", "fix its syntax") from None
    except RecursionError:
        raise ConfigError(f"config file {path_text!r} is nested too deeply", "a gateway.yaml is a few flat sections") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"config file {path_text!r} must be a mapping of keys", "see examples/gateway.yaml")
    validate_against_schema(doc, config_schema(), f"config file {path_text!r}")
    return doc, hashlib.sha256(data).hexdigest()


def validate_against_schema(doc: Any, schema: dict[str, Any], what: str) -> None:
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
    from approval.settings.schema_errors import describe

    name, problem = describe(err)
    raise ConfigError(f"{what}: `{name}` {problem}", "fix that value (every key is described in docs/configuration.md and examples/gateway.yaml)")
