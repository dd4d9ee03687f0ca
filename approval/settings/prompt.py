"""The representative prompt: a text file is one user message; YAML/JSON may give `messages` and `expect`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from approval.common.errors import ConfigError
from approval.common.userfile import YamlTooLarge, load_yaml, read_user_file

MAX_PROMPT_BYTES = 256 * 1024
ROLES = frozenset({"system", "developer", "user", "assistant"})
DEFAULT_PROMPT = (
    "Write a Python function `add(a, b)` that returns the sum of two integers. "
    "Answer with the code and one sentence of explanation."
)


@dataclass(frozen=True)
class Prompt:
    messages: tuple[tuple[str, str], ...]  # (role, content)
    sha256: str
    source: str  # the file name as given, or "built-in"
    expect: dict[str, Any] | None  # raw expect block from the prompt file, merged over the config's

    def as_chat_messages(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]

    def as_responses_input(self) -> list[dict[str, str]]:
        return self.as_chat_messages()


def default_prompt() -> Prompt:
    data = DEFAULT_PROMPT.encode()
    return Prompt((("user", DEFAULT_PROMPT),), hashlib.sha256(data).hexdigest(), "built-in", None)


def load_prompt(path_text: str) -> Prompt:
    path = Path(path_text)
    fix = "point prompt-file / prompt_file at a readable UTF-8 text, markdown, YAML or JSON file"
    text, data = read_user_file(path_text, "prompt file", MAX_PROMPT_BYTES, fix, "use a shorter representative prompt")
    digest = hashlib.sha256(data).hexdigest()
    if path.suffix.lower() in {".yaml", ".yml", ".json"}:
        messages, expect = _parse_structured(path_text, text, path.suffix.lower() == ".json")
    else:
        if not text.strip():
            raise ConfigError(f"prompt file {path_text!r} is empty", "write the representative prompt into it")
        messages, expect = (("user", text),), None
    return Prompt(messages, digest, path_text, expect)


def _parse_structured(name: str, text: str, is_json: bool) -> tuple[tuple[tuple[str, str], ...], dict[str, Any] | None]:
    import yaml  # here, not at the top: only a YAML prompt file needs it

    try:
        doc = json.loads(text) if is_json else load_yaml(text)
    except YamlTooLarge as exc:
        raise ConfigError(f"prompt file {name!r} has {exc}", "a prompt file is a few messages and an expect block: use fewer aliases") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        lineno = mark.line + 1 if mark is not None else getattr(exc, "lineno", None)
        line = f" (line {lineno})" if lineno else ""
        raise ConfigError(f"prompt file {name!r} is not valid {'JSON' if is_json else 'YAML'}{line}", "fix its syntax") from None
    except RecursionError:
        raise ConfigError(f"prompt file {name!r} is nested too deeply", "a prompt file is a few messages and an expect block") from None
    if isinstance(doc, str):
        doc = {"prompt": doc}
    if not isinstance(doc, dict):
        raise ConfigError(f"prompt file {name!r} must be a mapping with `messages` or `prompt`", "see examples/prompts/")
    unknown = set(doc) - {"messages", "prompt", "expect"}
    if unknown:
        raise ConfigError(f"prompt file {name!r}: unknown key(s) {', '.join(sorted(unknown))}", "allowed: messages, prompt, expect")
    if ("messages" in doc) == ("prompt" in doc):
        raise ConfigError(f"prompt file {name!r} must have exactly one of `messages` or `prompt`", "see examples/prompts/")
    messages: list[tuple[str, str]] = []
    if "prompt" in doc:
        if not isinstance(doc["prompt"], str) or not doc["prompt"].strip():
            raise ConfigError(f"prompt file {name!r}: `prompt` must be a non-empty string", "write the prompt text")
        messages.append(("user", doc["prompt"]))
    else:
        raw = doc["messages"]
        if not isinstance(raw, list) or not raw:
            raise ConfigError(f"prompt file {name!r}: `messages` must be a non-empty list", "give at least one user message")
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or set(item) != {"role", "content"}:
                raise ConfigError(f"prompt file {name!r}: messages[{i}] must have exactly `role` and `content`", "e.g. {role: user, content: ...}")
            role, content = item["role"], item["content"]
            if role not in ROLES:
                raise ConfigError(f"prompt file {name!r}: messages[{i}].role {role!r} is not one of {', '.join(sorted(ROLES))}", "fix the role")
            if not isinstance(content, str) or not content.strip():
                raise ConfigError(f"prompt file {name!r}: messages[{i}].content must be a non-empty string", "write the message text")
            messages.append((role, content))
        if not any(role == "user" for role, _ in messages):
            raise ConfigError(f"prompt file {name!r}: no `user` message", "add the representative user message")
    expect = doc.get("expect")
    if expect is not None and not isinstance(expect, dict):
        raise ConfigError(f"prompt file {name!r}: `expect` must be a mapping", "see the output expectations of `output-quality` in docs/checks.md")
    return tuple(messages), expect
