"""JSON Schema errors in the user's language: "`paths.chat` must start with /", never a regular expression.

Pure: a jsonschema `ValidationError` in, one phrase out. A pattern says what it means in the schema's own
`x-message`; every other keyword has a sentence here.
"""

from __future__ import annotations

from typing import Any

TYPE_WORDS = {
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping of keys",
    "null": "empty",
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "empty" if value is None else type(value).__name__


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _types(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    return " or ".join(TYPE_WORDS.get(str(n), str(n)) for n in names)


def phrase(validator: str, expected: Any, instance: Any, schema: dict[str, Any]) -> str:
    """What is wrong with one value, as the end of a sentence that starts with the value's name."""
    if isinstance(schema.get("x-message"), str) and validator in ("pattern", "format", "propertyNames", "oneOf", "anyOf"):
        return str(schema["x-message"])
    if validator == "type":
        return f"must be {_types(expected)}, not {_kind(instance)} ({_shown(instance)})"
    if validator == "enum":
        return f"must be one of {', '.join(str(v) for v in expected)}, not {_shown(instance)}"
    if validator == "const":
        return f"must be {_shown(expected)}"
    if validator == "minimum":
        return f"must be at least {expected:g}, not {_shown(instance)}"
    if validator == "exclusiveMinimum":
        return f"must be more than {expected:g}, not {_shown(instance)}"
    if validator == "maximum":
        return f"must be at most {expected:g}, not {_shown(instance)}"
    if validator == "exclusiveMaximum":
        return f"must be less than {expected:g}, not {_shown(instance)}"
    if validator == "minLength":
        return "must not be empty" if expected == 1 else f"must be at least {expected} characters long"
    if validator == "maxLength":
        return f"must be at most {expected} characters long"
    if validator == "minItems":
        return "must list at least one item" if expected == 1 else f"must list at least {expected} items"
    if validator == "maxItems":
        return f"must list at most {expected} items"
    if validator == "uniqueItems":
        return "lists the same item more than once"
    if validator == "pattern":
        return f"has a form that is not accepted here ({_shown(instance)})"
    if validator == "required":
        return "is missing a required key"
    return "is not valid here"


def describe(error: Any) -> tuple[str, str]:
    """(dotted name of the value, phrase) for a jsonschema ValidationError."""
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.validator_value, list) and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        return ".".join([*path, missing[0]]) if missing else ".".join(path) or "(top level)", "is missing"
    if error.validator == "propertyNames" or (error.validator == "pattern" and error.relative_schema_path
                                              and "propertyNames" in list(error.relative_schema_path)):
        schema = error.schema.get("propertyNames", error.schema) if isinstance(error.schema, dict) else {}
        message = schema.get("x-message", "is not an accepted name here") if isinstance(schema, dict) else "is not an accepted name here"
        return ".".join([*path, str(error.instance)]), f"is not an accepted name: {message}"
    schema = error.schema if isinstance(error.schema, dict) else {}
    return ".".join(path) or "(top level)", phrase(str(error.validator), error.validator_value, error.instance, schema)
