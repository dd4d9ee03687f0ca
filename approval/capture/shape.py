"""The request shape of a coding agent, from the requests it sent, as an agent profile — never their content.

Pure: `seen_request` reads one request (its method, path, headers and body bytes) into a `Seen`, which keeps the parsed
body in memory only; `profile_shape` maps the requests seen to a profile mapping (schema-valid, docs/profiles.md) and
the notes a person reviews; `profile_text` is the YAML file. What is written:

- the tools with their descriptions and schemas (the agent's, not the user's), absolute paths, UUIDs and hex ids in
  them replaced by `<path>` / `<redacted>`;
- the parameters with their values, except values that identify a person, a machine or a session (`user`,
  `prompt_cache_key`, `safety_identifier`, the values of `metadata` and `client_metadata`, …, and any string holding an
  absolute path, an id, an e-mail address, a credential-shaped word or long free text), which keep their key and lose
  their value (`<redacted>`);
- the role sequence as roles (or item types) and lengths: `{role: user, chars: 123}`, never the text;
- the names of the headers, never their values.

No value of an authenticating header (Authorization, api-key, x-api-key, cookies, …) is written in any form: every
string of the profile is checked against them (`holds_secret`) before the text is made.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import yaml

from approval.common.names import safe_name
from approval.common.redact import credential_name, credential_shaped, header_secrets, holds_secret

REDACTED = "<redacted>"
PATH_MARK = "<path>"
MAX_ROLE_SEQUENCE = 256  # entries of the longest conversation seen that are kept
MAX_HEADER_NAMES = 64
MAX_TEXT_VALUE = 200  # a parameter's string longer than this is free text, i.e. content
MAX_SOURCE = 4000

Endpoint = Literal["chat", "responses"]
ENDPOINT_PATHS: Mapping[str, Endpoint] = {"/chat/completions": "chat", "/responses": "responses"}

# Request fields that are the profile's own fields or content, never parameters.
SHAPE_FIELDS = frozenset({"model", "messages", "input", "tools", "tool_choice", "parallel_tool_calls", "stream", "previous_response_id",
                          "instructions", "functions", "function_call"})
# Fields whose values identify a person, a machine, a session or a stored prompt: their keys are kept, not their values.
IDENTIFYING_FIELDS = frozenset({"user", "prompt_cache_key", "safety_identifier", "metadata", "client_metadata", "conversation",
                                "session_id", "prompt", "prediction", "end_user", "user_id", "thread_id", "installation_id"})
CHAT_REASONING = ("reasoning_content", "reasoning", "thinking", "reasoning_details", "thinking_blocks", "reasoning_text")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
                        "transfer-encoding", "upgrade", "proxy-connection"})

_ABS_PATH = re.compile(r"(?<![\w/.:~\\-])/(?:[\w.@+~-]+/)+(?:[\w.@+~-]*[\w@+~-])?|(?<![\w])[A-Za-z]:[\\/][^\s\"'<>|,;]*")
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b")
_HEX_ID = re.compile(r"\b[0-9a-fA-F]{16,}\b")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WORD = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")
_HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$")
UNNAMED: Final = "an unnamed client"  # the stand-in for a User-Agent that is missing or identifying
_PRODUCT = re.compile(r"^[A-Za-z0-9._+-]{1,64}(?:/[A-Za-z0-9._+-]{1,64})?$")


@dataclass(frozen=True)
class Seen:
    """One model request as the proxy saw it. `secrets` are the values of its authenticating headers: held in memory to
    prove none is written, never written themselves."""

    endpoint: Endpoint
    path: str
    header_names: tuple[str, ...]
    secrets: tuple[str, ...]
    user_agent: str
    sdk_language: str  # x-stainless-lang: the openai SDKs say which of them sent it
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Shape:
    """The profile (a schema-valid mapping) and what a person should know about it: what was redacted, what was left
    out and why."""

    doc: dict[str, Any]
    requests: int
    redacted: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    secrets: tuple[str, ...] = field(default=(), repr=False)


def endpoint_of_path(path: str) -> Endpoint | None:
    """The endpoint family a request path belongs to (a query string and a trailing slash ignored), or None."""
    bare = path.split("?", 1)[0].rstrip("/")
    return next((family for suffix, family in ENDPOINT_PATHS.items() if bare.endswith(suffix)), None)


def authenticating_values(headers: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The values of the headers that authenticate (or look like a credential), and the token inside a `Bearer …`."""
    found: list[str] = []
    for name, value in headers:
        for secret in header_secrets(name, value):
            found.append(secret.strip())
            scheme, _, token = secret.strip().partition(" ")
            if token and scheme.lower() in ("bearer", "basic", "token"):
                found.append(token.strip())
        if name.lower() == "cookie":
            found += [part.split("=", 1)[-1].strip() for part in value.split(";") if part.strip()]
    return tuple(sorted({s for s in found if len(s) >= 4}))


def seen_request(method: str, path: str, headers: Sequence[tuple[str, str]], body: bytes) -> Seen | None:
    """A model request (POST to a chat-completions or Responses path with a JSON object body) as a `Seen`; None for
    anything else (a model list, a body that is not JSON), which is passed through and not recorded."""
    endpoint = endpoint_of_path(path)
    if method.upper() != "POST" or endpoint is None:
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(parsed, dict):
        return None
    lowered = {name.lower(): value for name, value in headers}
    names = tuple(sorted({name.lower() for name, _ in headers if name.lower() not in HOP_BY_HOP}))
    return Seen(endpoint=endpoint, path=path.split("?", 1)[0], header_names=names, secrets=authenticating_values(headers),
                user_agent=lowered.get("user-agent", ""), sdk_language=lowered.get("x-stainless-lang", "").strip().lower(), body=parsed)


# --- values: what identifies stays out ----------------------------------------------------------------------------------

def identifying_text(text: str, secrets: Sequence[str] = ()) -> bool:
    """Whether a string value identifies someone or something, or is content: an absolute path, a UUID or hex id, an
    e-mail address, a credential-shaped word, long free text, or anything holding an authenticating value."""
    return (len(text) > MAX_TEXT_VALUE or bool(_ABS_PATH.search(text) or _UUID.search(text) or _HEX_ID.search(text)
                                              or _EMAIL.search(text)) or credential_shaped(text)
            or any(holds_secret(text, s) for s in secrets))


def scrub_value(value: Any, where: str, secrets: Sequence[str], redacted: list[str], identifying: bool = False) -> Any:
    """A parameter's value with what identifies replaced by `<redacted>` (each place named in `redacted`): under an
    identifying or credential field every leaf; elsewhere the strings `identifying_text` flags."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if identifying_text(name, secrets) or not name:
                redacted.append(f"{where}.<key>")
                continue
            out[name] = scrub_value(item, f"{where}.{name}", secrets, redacted,
                                    identifying or name in IDENTIFYING_FIELDS or credential_name(name))
        return out
    if isinstance(value, list):
        return [scrub_value(item, where, secrets, redacted, identifying) for item in value]
    if identifying and value is not None and not isinstance(value, bool):
        redacted.append(where)
        return REDACTED
    if isinstance(value, str) and identifying_text(value, secrets):
        redacted.append(where)
        return REDACTED
    return value


def scrub_tool_text(value: Any, secrets: Sequence[str]) -> Any:
    """A tool's description or schema with absolute paths, ids and e-mail addresses inside its strings replaced; a
    string holding an authenticating value is replaced whole."""
    if isinstance(value, Mapping):
        return {str(k): scrub_tool_text(v, secrets) for k, v in value.items() if not any(holds_secret(str(k), s) for s in secrets)}
    if isinstance(value, list):
        return [scrub_tool_text(v, secrets) for v in value]
    if isinstance(value, str):
        if any(holds_secret(value, s) for s in secrets):
            return REDACTED
        text = _ABS_PATH.sub(PATH_MARK, value)
        for pattern in (_UUID, _HEX_ID, _EMAIL):
            text = pattern.sub(REDACTED, text)
        return text
    return value


# --- the parts of a profile ---------------------------------------------------------------------------------------------

def function_tool(tool: Any) -> tuple[dict[str, Any] | None, str]:
    """A function tool in the profile's form ({name, description, parameters}) from the chat form ({type: function,
    function: {…}}) or the Responses flat form ({type: function, name, …}); else (None, what it is) for the notes."""
    if not isinstance(tool, Mapping):
        return None, "a tool that is not an object"
    kind = str(tool.get("type", "function"))
    inner = tool.get("function") if isinstance(tool.get("function"), Mapping) else tool
    if kind != "function" or not isinstance(inner, Mapping):
        return None, f"a {kind if _WORD.match(kind) else 'non-function'} tool"
    name = inner.get("name")
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        return None, "a function tool whose name is not a plain function name"
    parameters = inner.get("parameters")
    out: dict[str, Any] = {"name": name}
    if isinstance(inner.get("description"), str):
        out["description"] = inner["description"]
    out["parameters"] = dict(parameters) if isinstance(parameters, Mapping) else {"type": "object", "properties": {}}
    return out, ""


def tool_choice_value(choice: Any) -> str | None:
    """A `tool_choice` as the profile stores it: auto / required / none, or the forced tool's name."""
    if isinstance(choice, str):
        return choice if choice else None
    if isinstance(choice, Mapping):
        inner = choice.get("function") if isinstance(choice.get("function"), Mapping) else choice
        name = inner.get("name") if isinstance(inner, Mapping) else None
        if isinstance(name, str) and _TOOL_NAME.match(name):
            return name
        kind = choice.get("type")
        if isinstance(kind, str) and kind in ("auto", "required", "none"):
            return kind
    return None


def _text_length(content: Any) -> tuple[int, list[str]]:
    """(characters of text, the types of the other parts) of a message's content, never the text."""
    if isinstance(content, str):
        return len(content), []
    chars, others = 0, []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                chars += len(part)
            elif isinstance(part, Mapping):
                text = part.get("text")
                if isinstance(text, str):
                    chars += len(text)
                else:
                    kind = str(part.get("type", "part"))
                    others.append(kind if _WORD.match(kind) else "part")
    return chars, others


def _word(value: Any, fallback: str) -> str:
    text = str(value).lower() if value is not None else ""
    return text if _WORD.match(text) else fallback


def chat_sequence(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The messages of a chat request as roles and lengths."""
    out: list[dict[str, Any]] = []
    for message in body.get("messages") or []:
        if not isinstance(message, Mapping):
            continue
        chars, parts = _text_length(message.get("content"))
        entry: dict[str, Any] = {"role": _word(message.get("role"), "other"), "chars": chars}
        if parts:
            entry["parts"] = parts
        calls = message.get("tool_calls")
        if isinstance(calls, list) and calls:
            entry["tool_calls"] = len(calls)
        reasoning = [f for f in CHAT_REASONING if message.get(f)]
        if reasoning:
            entry["reasoning"] = reasoning
        out.append(entry)
    return out


def responses_sequence(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The input items of a Responses request (and its `instructions`) as roles, item types and lengths."""
    out: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        out.append({"role": "instructions", "chars": len(body["instructions"])})
    raw = body.get("input")
    if isinstance(raw, str):
        return [*out, {"role": "user", "chars": len(raw)}]
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping):
            continue
        kind = _word(item.get("type", "message"), "item")
        entry: dict[str, Any] = {"type": kind}
        if kind == "message" or "role" in item:
            entry["role"] = _word(item.get("role"), "other")
            chars, parts = _text_length(item.get("content"))
            entry["chars"] = chars
            if parts:
                entry["parts"] = parts
        elif kind == "function_call":
            entry["chars"] = len(str(item.get("arguments", "")))
        elif kind.endswith("_output"):
            chars, _ = _text_length(item.get("output"))
            entry["chars"] = chars
        elif kind == "reasoning":
            entry["reasoning"] = [f for f in ("encrypted_content", "summary", "content") if item.get(f)]
        out.append(entry)
    return out


def reasoning_fields(endpoint: Endpoint, bodies: Sequence[Mapping[str, Any]]) -> list[str]:
    """The reasoning fields the agent sends back: on an assistant message (chat), or a reasoning item's
    encrypted_content (Responses)."""
    found: list[str] = []
    for body in bodies:
        if endpoint == "chat":
            for message in body.get("messages") or []:
                if isinstance(message, Mapping) and message.get("role") == "assistant":
                    found += [f for f in CHAT_REASONING if message.get(f)]
        else:
            raw = body.get("input")
            for item in raw if isinstance(raw, list) else []:
                if isinstance(item, Mapping) and item.get("type") == "reasoning" and item.get("encrypted_content"):
                    found.append("encrypted_content")
                if isinstance(item, Mapping) and item.get("role") == "assistant":
                    found += [f for f in CHAT_REASONING if item.get(f)]
    return list(dict.fromkeys(found))


def instruction_role(endpoint: Endpoint, bodies: Sequence[Mapping[str, Any]]) -> Literal["system", "developer"]:
    """developer when any instruction is given in the developer role, else system (Responses' `instructions` included)."""
    for body in bodies:
        items = body.get("messages") if endpoint == "chat" else body.get("input")
        if isinstance(items, list) and any(isinstance(m, Mapping) and m.get("role") == "developer" for m in items):
            return "developer"
    return "system"


def client_of(requests: Sequence[Seen]) -> tuple[str, str | None]:
    """The client library that rebuilds the agent's streams, from its headers, and a note when it had to be assumed."""
    for seen in requests:
        agent = seen.user_agent.lower()
        if "ai-sdk" in agent:
            return "ai-sdk", None
        if seen.sdk_language in ("js", "javascript", "typescript"):
            return "openai-node", None
        if seen.sdk_language == "python":
            return "openai-python", None
        if agent.startswith("litellm"):
            return "litellm", None
        if agent.startswith("codex"):
            return "tolerant", None
    return "openai-python", "the client library is not named in its headers: openai-python's rules (the strictest) are assumed"


def product_token(user_agent: str) -> str:
    """The first product token of a User-Agent (`QwenCode/0.24.4`), or a stand-in when it is missing or identifying."""
    first = user_agent.strip().split(" ", 1)[0] if user_agent.strip() else ""
    return first if first and _PRODUCT.match(first) and not identifying_text(first) else UNNAMED


def profile_name(given: str | None, product: str) -> str:
    """`--name`, else `captured-<product>` in the profile's name alphabet."""
    if given:
        return given
    stem = safe_name(product.split("/", 1)[0].lower()).strip("-._")
    return f"captured-{stem}"[:64] if stem and product != UNNAMED else "captured-agent"


def _most_common(values: Sequence[Any]) -> Any:
    counted = Counter(json.dumps(v, sort_keys=True) for v in values)
    best = max(counted.values())
    return next(v for v in values if counted[json.dumps(v, sort_keys=True)] == best)


# --- the profile --------------------------------------------------------------------------------------------------------

def profile_shape(requests: Sequence[Seen], *, today: str, name: str | None = None) -> Shape:
    """The profile of the requests seen (at least one): see the module's docstring for what is kept."""
    if not requests:
        raise ValueError("no request to shape a profile from")
    secrets = tuple(sorted({s for r in requests for s in r.secrets}))
    notes: list[str] = []
    counts = Counter(r.endpoint for r in requests)
    endpoint: Endpoint = max(counts, key=lambda e: (counts[e], -[r.endpoint for r in requests].index(e)))
    if len(counts) > 1:
        other = next(e for e in counts if e != endpoint)
        notes.append(f"{counts[other]} request(s) to the {other} endpoint are not in the profile (a profile speaks one endpoint family)")
    family = [r for r in requests if r.endpoint == endpoint]
    with_tools = [r for r in family if isinstance(r.body.get("tools"), list) and r.body["tools"]]
    main = with_tools or family
    bodies = [r.body for r in main]

    tools: dict[str, dict[str, Any]] = {}
    left_out: Counter[str] = Counter()
    for body in bodies:
        for tool in body.get("tools") or []:
            converted, what = function_tool(tool)
            if converted is None:
                left_out[what] += 1
            elif converted["name"] not in tools:
                tools[converted["name"]] = scrub_tool_text(converted, secrets)
    if left_out:
        notes.append("not modelled (a profile holds function tools): " + ", ".join(f"{what}" for what in sorted(left_out)))

    redacted: list[str] = []
    parameters: dict[str, Any] = {}
    keys = list(dict.fromkeys(k for body in bodies for k in body if k not in SHAPE_FIELDS))
    for key in keys:
        if identifying_text(key, secrets):
            redacted.append("<a parameter's name>")
            continue
        values = [scrub_value(body[key], key, secrets, redacted, key in IDENTIFYING_FIELDS or credential_name(key))
                  for body in bodies if key in body]
        parameters[key] = _most_common(values)
        if len({json.dumps(v, sort_keys=True) for v in values}) > 1:
            notes.append(f"{key}: {len(set(json.dumps(v, sort_keys=True) for v in values))} values seen, the most frequent kept")
    only_elsewhere = sorted({k for r in family if r not in main for k in r.body if k not in SHAPE_FIELDS and k not in parameters
                             and not identifying_text(k, secrets)})
    if only_elsewhere:
        notes.append("sent only in requests without tools (not in the profile): " + ", ".join(only_elsewhere))

    choices = [v for v in (tool_choice_value(b["tool_choice"]) for b in bodies if "tool_choice" in b) if v is not None]
    parallel = [b["parallel_tool_calls"] for b in bodies if isinstance(b.get("parallel_tool_calls"), bool)]
    streamed = [b.get("stream") is True for b in bodies]
    if len(set(streamed)) > 1:
        notes.append(f"{sum(streamed)} of {len(streamed)} requests streamed: streams is true")
    sequences = [chat_sequence(b) if endpoint == "chat" else responses_sequence(b) for b in bodies]
    sequence = max(reversed(sequences), key=len)
    if len(sequence) > MAX_ROLE_SEQUENCE:
        notes.append(f"the role sequence keeps the first {MAX_ROLE_SEQUENCE} of {len(sequence)} entries")
    header_names = sorted({h for r in main for h in r.header_names if _HEADER_NAME.match(h) and not identifying_text(h, secrets)})
    client, assumed = client_of(main)
    if assumed:
        notes.append(assumed)
    product = product_token(next((r.user_agent for r in main if r.user_agent), ""))
    paths = ", ".join(sorted({r.path for r in family}))
    source = (f"seen: captured from {product}: approval capture, {len(requests)} requests ({len(family)} to {paths}); the "
              "tools' descriptions and schemas and the parameters as sent, identifying values redacted, content as lengths")
    doc: dict[str, Any] = {
        "name": profile_name(name, product),
        "source": source[:MAX_SOURCE],
        "date": today,
        "endpoint": endpoint,
        "tools": list(tools.values()),
        "streams": any(streamed),
        "parallel_tool_calls": _most_common(parallel) if parallel else None,
        "tool_choice": list(dict.fromkeys(choices)),
        "parameters": parameters,
        "instruction_role": instruction_role(endpoint, [r.body for r in family]),
        "reasoning_fields": reasoning_fields(endpoint, [r.body for r in family]),
        "previous_response_id": any(bool(r.body.get("previous_response_id")) for r in family),
        "client": client,
        "role_sequence": sequence[:MAX_ROLE_SEQUENCE],
        "header_names": header_names[:MAX_HEADER_NAMES],
    }
    if product != UNNAMED:
        doc["user_agent"] = product  # gateways branch on it: the replay presents it
    return Shape(doc=_without_secrets(doc, secrets), requests=len(requests), redacted=tuple(dict.fromkeys(redacted)),
                 notes=tuple(notes), secrets=secrets)


def _without_secrets(value: Any, secrets: Sequence[str]) -> Any:
    """The last guard: any string (or key) that holds an authenticating value in any form is replaced (or dropped)."""
    if not secrets:
        return value
    if isinstance(value, dict):
        return {k: _without_secrets(v, secrets) for k, v in value.items() if not any(holds_secret(k, s) for s in secrets)}
    if isinstance(value, list):
        return [_without_secrets(v, secrets) for v in value]
    if isinstance(value, str) and any(holds_secret(value, s) for s in secrets):
        return REDACTED
    return value


HEADER = ("# Agent profile written by `approval capture`: the request shape the agent sent, without its content, key or\n"
          "# identifying values (docs/profiles.md). Review it before use; `approval run --profile FILE` replays it.\n")


def profile_text(shape: Shape) -> str:
    """The profile file's text. Raises ValueError if any authenticating value is in it in any form (never expected)."""
    text = HEADER + yaml.safe_dump(shape.doc, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None)
    leaked = [s for s in shape.secrets if holds_secret(text, s)]
    if leaked:
        raise ValueError("the profile would hold an authenticating header's value")
    return text


def summary_lines(shape: Shape) -> list[str]:
    """What was written, for a person to review: the profile's facts, what was redacted, and what was left out."""
    doc = shape.doc
    tools = [t["name"] for t in doc["tools"]]
    parallel = doc["parallel_tool_calls"]
    lines = [
        f"  profile {doc['name']}: {doc['endpoint']} endpoint, {'streams' if doc['streams'] else 'does not stream'}, "
        f"{shape.requests} requests seen, client {doc['client']}",
        f"  tools ({len(tools)}): {', '.join(tools) or 'none'}",
        f"  tool_choice: {', '.join(doc['tool_choice']) or 'not sent'}; parallel_tool_calls: "
        f"{'not sent' if parallel is None else str(parallel).lower()}",
        f"  parameters: {', '.join(f'{k}' for k in doc['parameters']) or 'none'}",
        f"  instruction_role: {doc['instruction_role']}; reasoning fields: {', '.join(doc['reasoning_fields']) or 'none'}; "
        f"previous_response_id: {'chained' if doc['previous_response_id'] else 'not sent'}",
        f"  role sequence: {' '.join(str(e.get('role') or e.get('type')) for e in doc['role_sequence'][:24])}"
        + (" …" if len(doc["role_sequence"]) > 24 else ""),
        f"  header names: {', '.join(doc['header_names']) or 'none'}",
        f"  values redacted (key kept): {', '.join(shape.redacted) or 'none'}",
    ]
    return lines + [f"  note: {note}" for note in shape.notes]
