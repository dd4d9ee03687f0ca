r"""Protocol-faithful stub upstream models on 127.0.0.1, for real gateways (LiteLLM, Portkey) to translate to.

A gateway's own translation code only runs when it talks to an upstream that speaks the provider's protocol (LiteLLM's
``mock_response`` returns before any translation). ``StubUpstream()`` is that upstream: a stdlib
``ThreadingHTTPServer`` on ``127.0.0.1`` (a free port, daemon threads), used as a context manager or with
``start()`` / ``stop()``. ``.root_url`` is ``http://127.0.0.1:PORT`` (LiteLLM's ``anthropic/<name>`` ``api_base``),
``.base_url`` the same with ``/v1`` (``openai/<name>`` ``api_base``, Portkey's ``x-portkey-custom-host`` for both
``openai`` and ``anthropic``).

Endpoints:

- ``POST /v1/chat/completions`` (OpenAI chat; ``stream: true`` gives ``chat.completion.chunk`` events ending in
  ``data: [DONE]``, with a usage chunk of empty ``choices`` when ``stream_options.include_usage`` is true);
- ``POST /v1/responses`` (OpenAI Responses; ``function_call`` / ``function_call_output`` items joined by
  ``call_id``; ``previous_response_id`` continues a stored response (input and output) unless that one was made with
  ``store: false``; streaming gives named events ``response.created``, ``response.in_progress``,
  ``response.output_item.added``, ``response.content_part.added`` / ``response.output_text.delta`` / ``.done`` or
  ``response.function_call_arguments.delta`` / ``.done``, ``response.output_item.done``, ``response.completed``);
- ``POST /v1/messages`` (Anthropic Messages; streaming events ``message_start``, ``content_block_start`` /
  ``content_block_delta`` (``text_delta``, ``input_json_delta``, ``thinking_delta``, ``signature_delta``) /
  ``content_block_stop``, ``message_delta``, ``message_stop``);
- ``GET /v1/models`` (the configured models, in OpenAI's list shape).

It behaves like a tool-using model, deterministically (same request, same answer):

- tools offered and no tool result in the history yet, or ``tool_choice`` forcing a call: it calls a tool. Which one:
  the one ``tool_choice`` names; else one the instructions or the prompt name (```name``` or "the name tool");
  else the agent's file-reading tool (``read_file``, ``read``, ``view``, …) or shell tool (``bash``, ``shell``,
  ``run_shell_command``, ``exec_command``, …); else the first tool. Arguments come from the tool's JSON Schema: a
  command-like property (``command``, ``cmd``, …) gets ``cat README.md`` (a string array: ``["bash", "-lc", …]``), a
  path-like one (``path``, ``file_path``, ``filePath``, …) gets ``README.md``, other required properties a value
  of their type (enum: the first value). The paths are ``paths=`` (default ``README.md``, ``CHANGELOG.md``);
- asked for two files ("in parallel", "two files", "both files") with ``parallel_tool_calls`` not false (Anthropic:
  ``disable_parallel_tool_use`` not true): two calls of that tool, one per path;
- tool results in the history: a text answer echoing the last result (``The tool returned: …``), so an agent's
  success is observable (a call still forced then reads the next path: a different call, never the same one again);
  no tools (or ``tool_choice: none``) and no result: a short text, or, when a line of the conversation's system and user
  texts says what the secret word is (``the secret word is …``, as a file an agent put in its prompt does), that line
  quoted (``The prompt says: …``): how a model answers "tell me the secret word" about a file it was shown, so a
  tool-less agent's success (Aider's, its file given with ``--read``) is observable too.

It enforces each provider's documented rules and answers a violation with that provider's 400:

- OpenAI chat: a ``tool`` message must answer a ``tool_call_id`` of the assistant message with ``tool_calls`` right
  before it (``Invalid parameter: messages with role 'tool' must be a response to a preceeding message with
  'tool_calls'.``); every tool call is answered before the next other message (``An assistant message with
  'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. …``); known roles; a model;
  non-empty ``messages``. Envelope ``{"error": {"message", "type": "invalid_request_error", "param", "code"}}``.
- OpenAI Responses: every ``function_call_output.call_id`` matches a ``function_call`` earlier in the input or the
  previous response (``No tool call found for function call output with call_id …``); every ``function_call`` is
  answered (``No tool output found for function call …``); an unknown ``previous_response_id`` is a 400
  ``previous_response_not_found``. Same envelope, ``param: "input"``.
- Anthropic Messages: ``max_tokens`` required; roles ``user``/``assistant`` only (``system`` is a top-level field);
  roles alternate; every ``tool_use`` is answered by a ``tool_result`` in the very next user message (so parallel
  results share one user turn), and every ``tool_result`` answers a ``tool_use`` of the message before. Envelope
  ``{"type": "error", "error": {"type": "invalid_request_error", "message"}, "request_id"}``.

Defects (one stub serves a healthy model and its defective twins side by side): a model named
``<name>+<defect>[+<defect>…]`` has those defects, and ``StubUpstream(defects={"model": ["defect", …]})`` gives them
to a plain name. An unknown defect name is a 400 naming the known ones.

============================ ======================================================================================
Defect                       Behaviour
============================ ======================================================================================
refuse-turn-2                A request carrying a tool result is refused with the protocol's real 400 for a broken
                             pairing (chat: role 'tool' must follow 'tool_calls'; Responses: no tool call for the
                             output; Anthropic: unexpected ``tool_use_id`` in ``tool_result``). Class 1.
drop-tool-results            Tool results are ignored: the model repeats the identical call (an agent's loop).
stream-duplicate-summary     A streamed tool call ends with one more chunk carrying the id, the name and the whole
                             arguments again (chat; Anthropic: one more ``input_json_delta`` with the whole JSON;
                             Responses: one more ``function_call_arguments.delta``). Class 5.
stream-index-zero            Streamed parallel calls all at ``index`` 0 and ``finish_reason: "stop"`` (Anthropic:
                             every block at index 0, ``stop_reason: end_turn``; Responses: every item at
                             ``output_index`` 0). Class 5.
text-tool-calls              Calls written as ``<tool_call>{"name", "arguments"}</tool_call>`` in the text, no
                             structured call, ``finish_reason: stop`` / ``end_turn``. Class 9.
drop-developer               ``developer`` messages (chat, Responses) are ignored, so their instructions are not
                             followed (a ``system`` one naming a tool is). Class 3.
require-reasoning-roundtrip  Replies carry reasoning (chat: ``reasoning_content``; Anthropic: a ``thinking`` block
                             with a ``signature``), and an assistant tool-call turn replayed without it is refused (chat:
                             DeepSeek's ``The `reasoning_content` in the thinking mode must be passed back to the
                             API.``; Anthropic: ``Expected `thinking` or `redacted_thinking` …``, or an invalid
                             signature). Class 2.
finish-stop                  Tool calls answered with ``finish_reason: "stop"`` (Anthropic ``end_turn``). Class 10.
ignore-tool-choice           ``tool_choice`` is ignored: with no tool named in the prompt it answers text even when a
                             call is forced. Class 10.
empty-call-id                Tool calls carry an empty id / ``call_id``. Class 6.
refuse-param=<field>         A request carrying ``<field>`` (a top-level field, or a dotted path such as
                             ``stream_options.include_usage``) is refused with OpenAI's 400 ``unsupported_parameter``
                             naming it (Anthropic's shape on ``/v1/messages``). Repeatable. Class 4.
context=<tokens>             A context window of ``<tokens>`` (estimated as the request body's characters / 4): a request
                             over it is refused with OpenAI's 400 ``context_length_exceeded`` (Anthropic: ``prompt is
                             too long``). Class 8.
truncate-context             With ``context=<tokens>``, chat only: the front of a request over the window is cut
                             silently instead (the tools first, then the oldest messages, the last one kept), answered
                             with a 200 as Ollama's ``num_ctx`` does. Class 8.
============================ ======================================================================================

Every request is recorded (method, path, lower-cased headers, parsed JSON body, time) in ``.requests``, the last
``max_recorded`` (default 500) only.

Where the stub is stricter than today's providers: Anthropic's API now joins consecutive turns of one role; the stub
refuses them (the alternation rule), so a gateway that splits parallel tool results over two user messages is caught;
``StubUpstream(anthropic_merge_turns=True)`` joins them instead, as the API does, and then checks the pairing of the
joined turns. Responses reasoning items (``encrypted_content``) are not modelled.

From a shell, in the foreground until Ctrl-C (for the demo or the bench)::

    python -m harness.stub_upstream --port 8900 --defect stub-model=refuse-turn-2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import signal
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, Self, cast
from urllib.parse import urlsplit

__all__ = [
    "DEFECTS",
    "Call",
    "RecordedRequest",
    "Reply",
    "StubUpstream",
    "Turn",
    "decide",
    "fill_arguments",
    "parse_model",
]

DEFECTS: Final[Mapping[str, str]] = {
    "refuse-turn-2": "a request carrying a tool result is refused with the protocol's real 400",
    "drop-tool-results": "tool results are ignored, so the model repeats the identical call",
    "stream-duplicate-summary": "a streamed tool call ends with a duplicate chunk carrying the whole arguments again",
    "stream-index-zero": "streamed parallel calls all at index 0 with finish_reason stop",
    "text-tool-calls": "calls written as <tool_call> markup in the text, no structured call",
    "drop-developer": "developer messages are ignored",
    "require-reasoning-roundtrip": "reasoning (reasoning_content, signed thinking blocks) must be replayed with a tool-call turn",
    "finish-stop": "tool calls answered with finish_reason stop",
    "ignore-tool-choice": "tool_choice is ignored",
    "empty-call-id": "tool calls carry an empty id",
    "truncate-context": "with context=<tokens>, the front of a request over the window is cut silently (chat)",
}
# Defects with a value, written ``<name>=<value>``: what the value must be.
VALUED_DEFECTS: Final[Mapping[str, str]] = {
    "refuse-param": "a request field (or dotted path) refused with a 400 unsupported_parameter",
    "context": "a context window in tokens (request characters / 4); over it a 400 context_length_exceeded",
}
DEFECT_SEPARATOR: Final = "+"
DEFAULT_MODELS: Final = ("stub-model",)
DEFAULT_PATHS: Final = ("README.md", "CHANGELOG.md")
NO_TOOLS_TEXT: Final = "Hello from the stub model."
RESULT_PREFIX: Final = "The tool returned: "
QUOTE_PREFIX: Final = "The prompt says: "
SECRET_LINE: Final = re.compile(r"^.*\bthe secret word is\b.*$", re.IGNORECASE | re.MULTILINE)
MAX_REQUEST_BODY: Final = 16 * 1024 * 1024
CREATED: Final = 1_760_000_000  # a fixed timestamp: answers are deterministic

READ_TOOLS: Final = ("read_file", "read", "view", "view_file", "open_file", "read_many_files", "cat", "file_read")
SHELL_TOOLS: Final = ("bash", "shell", "run_shell_command", "exec_command", "execute_command", "run_command", "local_shell",
                      "execute_bash", "terminal", "shell_command")
_COMMAND_KEYS: Final = frozenset({"command", "cmd", "commands", "script", "shellcommand", "commandline"})
_PATH_KEYS: Final = frozenset({"path", "filepath", "file", "filename", "absolutepath", "targetfile", "paths", "filepaths",
                               "uri", "relativepath", "relativeworkspacepath", "pathname"})
_PARALLEL_ASK: Final = re.compile(r"in parallel|two files|both files|2 files|two independent", re.IGNORECASE)

CHAT_ROLES: Final = ("system", "developer", "user", "assistant", "tool", "function")
CHAT_TOOL_ROLE_ERROR: Final = "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'."
CHAT_UNANSWERED_ERROR: Final = ("An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                                "'tool_call_id'. The following tool_call_ids did not have response messages: {ids}")
DEEPSEEK_REASONING_ERROR: Final = "The `reasoning_content` in the thinking mode must be passed back to the API."
RESPONSES_NO_CALL_ERROR: Final = "No tool call found for function call output with call_id {call_id}."
RESPONSES_NO_OUTPUT_ERROR: Final = "No tool output found for function call {call_id}."
ANTHROPIC_UNANSWERED_ERROR: Final = ("messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                                     "{ids}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.")
ANTHROPIC_UNEXPECTED_RESULT_ERROR: Final = ("messages.{index}.content.{block}: unexpected `tool_use_id` found in `tool_result` blocks: "
                                            "{ids}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.")
ANTHROPIC_THINKING_ERROR: Final = (
    "messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. When `thinking` is enabled, "
    "a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` "
    "blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. "
    "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking")
ANTHROPIC_SIGNATURE_ERROR: Final = "messages.{index}.content.0: Invalid `signature` in `thinking` block"


# ------------------------------------------------------------------------------------------------ the model itself
@dataclass(frozen=True)
class Tool:
    name: str
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class Call:
    """A tool call: its id, the tool's name and the arguments as a JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Turn:
    """What the model sees of a request, whatever the protocol."""

    tools: tuple[Tool, ...] = ()
    forced: str | None = None  # "required", or the name of the tool tool_choice names
    choice_none: bool = False
    parallel: bool = True
    prompt: str = ""  # the last user text
    instructions: str = ""  # system and developer texts
    results: tuple[str, ...] = ()  # tool results, oldest first
    context: str = ""  # every system and user text, oldest first (what a model was shown besides tool results)
    seed: str = ""  # what ids are derived from


@dataclass(frozen=True)
class Reply:
    text: str | None = None
    calls: tuple[Call, ...] = ()
    reasoning: str | None = None


@dataclass(frozen=True)
class Violation:
    """A request the provider refuses: its message and OpenAI's ``param`` / ``code``."""

    message: str
    param: str | None = None
    code: str | None = None


def _digest(*parts: str, size: int = 24) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:size]


def signature_for(thinking: str) -> str:
    """The signature the stub gives a thinking block, and accepts back."""
    return "sig_" + _digest("thinking", thinking, size=40)


def _key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def _first_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and isinstance(schema.get("properties"), dict):
        return "object"
    return kind if isinstance(kind, str) else None


def _command_value(schema: Mapping[str, Any], path: str) -> Any:
    command = f"cat {path}"
    return ["bash", "-lc", command] if _first_type(schema) == "array" else command


def _path_value(schema: Mapping[str, Any], path: str) -> Any:
    return [path] if _first_type(schema) == "array" else path


def _typed_value(schema: Mapping[str, Any], path: str, depth: int) -> Any:
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "default" in schema:
        return schema["default"]
    for union in ("anyOf", "oneOf"):
        options = schema.get(union)
        if isinstance(options, list) and options and isinstance(options[0], dict):
            return _typed_value(options[0], path, depth)
    kind = _first_type(schema)
    if kind == "object":
        return fill_arguments(schema, path, depth + 1)
    return {"string": "stub", "integer": 1, "number": 1, "boolean": False, "array": [], "null": None}.get(kind or "string", "stub")


def fill_arguments(schema: Mapping[str, Any] | None, path: str = DEFAULT_PATHS[0], depth: int = 0) -> dict[str, Any]:
    """Arguments for a tool from its JSON Schema: a command-like property ``cat <path>``, a path-like one ``path``,
    every other required property a value of its type. Properties neither command-, path-like nor required are left out."""
    if not isinstance(schema, Mapping) or depth > 5:
        return {}
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    required = schema.get("required")
    required_names = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
    arguments: dict[str, Any] = {}
    for name, sub in properties.items():
        sub_schema = sub if isinstance(sub, Mapping) else {}
        key = _key(name)
        if key in _COMMAND_KEYS or "command" in key:
            arguments[name] = _command_value(sub_schema, path)
        elif key in _PATH_KEYS or key.endswith("path"):
            arguments[name] = _path_value(sub_schema, path)
        elif name in required_names:
            arguments[name] = _typed_value(sub_schema, path, depth)
    return arguments


def _mentioned(text: str, tools: Sequence[Tool]) -> Tool | None:
    """The tool a text names first, as ```name``` or "name tool" / "name function"."""
    best: tuple[int, Tool] | None = None
    for tool in tools:
        pattern = rf"`{re.escape(tool.name)}`|\b{re.escape(tool.name)}\b\s+(?:tool|function)"
        match = re.search(pattern, text)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), tool)
    return best[1] if best else None


def choose_tool(turn: Turn) -> Tool:
    tools = turn.tools
    if turn.forced not in (None, "required"):
        named = next((t for t in tools if t.name == turn.forced), None)
        if named is not None:
            return named
    mentioned = _mentioned(turn.instructions, tools) or _mentioned(turn.prompt, tools)
    if mentioned is not None:
        return mentioned
    for preferred in (*READ_TOOLS, *SHELL_TOOLS):
        found = next((t for t in tools if t.name == preferred), None)
        if found is not None:
            return found
    return tools[0]


def answer_without_tools(context: str) -> str:
    """The text answer when no call is wanted and no result came back: the first line of the context saying what the
    secret word is, quoted (``The prompt says: …``), or a short greeting."""
    line = SECRET_LINE.search(context)
    return QUOTE_PREFIX + line.group(0).strip() if line else NO_TOOLS_TEXT


def decide(turn: Turn, defects: frozenset[str] = frozenset(), paths: Sequence[str] = DEFAULT_PATHS) -> Reply:
    """What the model answers: a call while no tool result is in the history (or when forced), text otherwise."""
    results = () if "drop-tool-results" in defects else turn.results
    forced = None if "ignore-tool-choice" in defects else turn.forced
    choice_none = turn.choice_none and "ignore-tool-choice" not in defects
    wants_call = bool(turn.tools) and not choice_none and (forced is not None or not results)
    if "ignore-tool-choice" in defects and wants_call and not results:
        wants_call = _mentioned(turn.prompt, turn.tools) is not None
    reasoning = "require-reasoning-roundtrip" in defects
    if not wants_call:
        text = RESULT_PREFIX + results[-1] if results else answer_without_tools(turn.context)
        return Reply(text=text, reasoning="Answering from the tool result." if reasoning and results else
                     ("Answering briefly." if reasoning else None))
    tool = choose_tool(replace(turn, forced=forced))
    two = turn.parallel and bool(_PARALLEL_ASK.search(turn.prompt)) and len(paths) > 1
    # forced again after results: the next path, so the call differs from the one just answered (no loop signature)
    start = len(results) % len(paths) if paths else 0
    rotated = [*paths[start:], *paths[:start]]
    chosen = rotated[:2] if two else rotated[:1]
    calls = tuple(Call(id="" if "empty-call-id" in defects else "call_" + _digest(turn.seed, str(i), size=24),
                       name=tool.name, arguments=json.dumps(fill_arguments(tool.schema, path)))
                  for i, path in enumerate(chosen))
    return Reply(calls=calls, reasoning=f"I will call {tool.name}." if reasoning else None)


def parse_model(model: str, configured: Mapping[str, frozenset[str]] | None = None) -> frozenset[str]:
    """The defects of a model name: ``<name>+<defect>…`` plus those configured for the name. Raises ValueError."""
    base, *named = model.split(DEFECT_SEPARATOR)
    unknown = [d for d in named if not known_defect(d)]
    if unknown:
        raise ValueError(f"unknown stub defect {unknown[0]!r}; known defects: {', '.join(DEFECTS)}, "
                         f"{', '.join(f'{name}=<value>' for name in VALUED_DEFECTS)}")
    found = set(named)
    for name in (model, base):
        found |= (configured or {}).get(name, frozenset())
    return frozenset(found)


def known_defect(defect: str) -> bool:
    name, sep, value = defect.partition("=")
    if not sep:
        return defect in DEFECTS
    if name == "context":
        return value.isdigit() and int(value) > 0
    return name in VALUED_DEFECTS and bool(value)


def defect_values(defects: Iterable[str], name: str) -> list[str]:
    """The values of a valued defect (``refuse-param=temperature`` → ``["temperature"]``)."""
    return sorted(value for d in defects if (found := d.partition("="))[0] == name and found[1] for value in [found[2]])


def _has_field(body: Mapping[str, Any], dotted: str) -> bool:
    here: Any = body
    for part in dotted.split("."):
        if not isinstance(here, Mapping) or part not in here:
            return False
        here = here[part]
    return True


def envelope_violation(body: Mapping[str, Any], defects: frozenset[str], prompt_tokens: int) -> Violation | None:
    """A refused field (``refuse-param=``), or a request over the window (``context=`` without ``truncate-context``)."""
    for name in defect_values(defects, "refuse-param"):
        if _has_field(body, name):
            return Violation(f"Unsupported parameter: '{name}' is not supported with this model.", name, "unsupported_parameter")
    window = context_window(defects)
    if window is not None and prompt_tokens > window and "truncate-context" not in defects:
        return Violation(f"This model's maximum context length is {window} tokens. However, your messages resulted in {prompt_tokens} "
                         f"tokens. Please reduce the length of the messages.", "messages", "context_length_exceeded")
    return None


def context_window(defects: frozenset[str]) -> int | None:
    values = defect_values(defects, "context")
    return min(int(v) for v in values) if values else None


def truncate_front(body: Mapping[str, Any], window: int) -> dict[str, Any]:
    """A chat request cut from the front until its JSON fits the window: the tools first, then the oldest messages
    (the last one is kept)."""
    cut = dict(body)
    cut.pop("tools", None)
    cut.pop("tool_choice", None)
    messages = list(cut.get("messages") or [])
    while len(messages) > 1 and _tokens(json.dumps({**cut, "messages": messages})) > window:
        messages.pop(0)
    cut["messages"] = messages
    return cut


def _text_of(content: Any) -> str:
    """The text of a message content: a string, or the text of its parts (``text``, ``input_text``, ``output_text``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text_of(part.get("text") if isinstance(part, dict) and part.get("type") in (None, "text", "input_text", "output_text")
                                else part.get("content") if isinstance(part, dict) and part.get("type") == "tool_result" else "")
                       for part in content)
    return "" if content is None else json.dumps(content)


def _markup(calls: Sequence[Call]) -> str:
    return "".join(f"<tool_call>{json.dumps({'name': c.name, 'arguments': json.loads(c.arguments)})}</tool_call>" for c in calls)


def _pieces(text: str, size: int = 12) -> list[str]:
    """A text in deterministic pieces, so a client has to join deltas."""
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


# ------------------------------------------------------------------------------------------------ OpenAI chat
def _chat_error(violation: Violation) -> dict[str, Any]:
    return {"error": {"message": violation.message, "type": "invalid_request_error", "param": violation.param, "code": violation.code}}


def chat_violation(body: Mapping[str, Any], defects: frozenset[str]) -> Violation | None:
    messages = body.get("messages")
    if messages is None:
        return Violation("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        return Violation("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                         "messages", "empty_array")
    open_calls: list[str] = []
    caller = -1
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in CHAT_ROLES:
            return Violation(f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.",
                             f"messages[{i}].role", "invalid_value")
        message = cast(dict[str, Any], message)
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in open_calls:
                return Violation(CHAT_TOOL_ROLE_ERROR, f"messages.[{i}].role")
            open_calls.remove(call_id)
            continue
        if open_calls:
            return Violation(CHAT_UNANSWERED_ERROR.format(ids=", ".join(open_calls)), f"messages.[{caller}].role")
        calls = message.get("tool_calls") if role == "assistant" else None
        if isinstance(calls, list) and calls:
            open_calls = [str(c.get("id")) for c in calls if isinstance(c, dict)]
            caller = i
            if "require-reasoning-roundtrip" in defects and not message.get("reasoning_content"):
                return Violation(DEEPSEEK_REASONING_ERROR, None, "invalid_request_error")
    if open_calls:
        return Violation(CHAT_UNANSWERED_ERROR.format(ids=", ".join(open_calls)), f"messages.[{caller}].role")
    if "refuse-turn-2" in defects:
        first_tool = next((i for i, m in enumerate(messages) if m.get("role") == "tool"), None)
        if first_tool is not None:
            return Violation(CHAT_TOOL_ROLE_ERROR, f"messages.[{first_tool}].role")
    return None


def _chat_tools(body: Mapping[str, Any]) -> tuple[Tool, ...]:
    tools = []
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            tools.append(Tool(function["name"], function.get("parameters") or {}))
    return tuple(tools)


def _forced(choice: Any) -> str | None:
    if choice in ("required", "any"):
        return "required"
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else choice.get("name")
        if isinstance(name, str):
            return name
        if choice.get("type") == "any":
            return "required"
    return None


def chat_turn(body: Mapping[str, Any], defects: frozenset[str]) -> Turn:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    dropped = {"developer"} if "drop-developer" in defects else set()
    instructions = "\n".join(_text_of(m.get("content")) for m in messages if m.get("role") in {"system", "developer"} - dropped)
    users = [m for m in messages if m.get("role") == "user"]
    results = tuple(_text_of(m.get("content")) for m in messages if m.get("role") == "tool")
    choice = body.get("tool_choice")
    return Turn(tools=_chat_tools(body), forced=_forced(choice), choice_none=choice == "none",
                parallel=body.get("parallel_tool_calls") is not False, prompt=_text_of(users[-1].get("content")) if users else "",
                instructions=instructions, results=results, seed=json.dumps(messages, sort_keys=True),
                context="\n".join(_text_of(m.get("content")) for m in messages if m.get("role") in {"system", "developer", "user"} - dropped))


def _chat_tool_calls(calls: Sequence[Call]) -> list[dict[str, Any]]:
    return [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls]


def _chat_finish(reply: Reply, defects: frozenset[str]) -> str:
    if reply.calls and "text-tool-calls" not in defects and "finish-stop" not in defects:
        return "tool_calls"
    return "stop"


def _reply_text(reply: Reply, defects: frozenset[str]) -> str | None:
    if reply.calls and "text-tool-calls" in defects:
        return _markup(reply.calls)
    return reply.text


def chat_completion(model: str, reply: Reply, defects: frozenset[str], prompt_tokens: int, seed: str) -> dict[str, Any]:
    text = _reply_text(reply, defects)
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if reply.calls and "text-tool-calls" not in defects:
        message["tool_calls"] = _chat_tool_calls(reply.calls)
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    completion = _tokens((text or "") + "".join(c.arguments for c in reply.calls))
    return {"id": "chatcmpl-" + _digest("chat", seed), "object": "chat.completion", "created": CREATED, "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _chat_finish(reply, defects)}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion}}


def chat_chunks(model: str, reply: Reply, defects: frozenset[str], prompt_tokens: int, seed: str, include_usage: bool) -> list[dict[str, Any]]:
    cid = "chatcmpl-" + _digest("chat", seed)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": cid, "object": "chat.completion.chunk", "created": CREATED, "model": model, "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    if reply.reasoning:
        chunks += [chunk({"reasoning_content": piece}) for piece in _pieces(reply.reasoning)]
    text = _reply_text(reply, defects)
    if text:
        chunks += [chunk({"content": piece}) for piece in _pieces(text)]
    structured = reply.calls if "text-tool-calls" not in defects else ()
    index_zero = "stream-index-zero" in defects
    for k, call in enumerate(structured):
        index = 0 if index_zero else k
        chunks.append(chunk({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                             "function": {"name": call.name, "arguments": ""}}]}))
        chunks += [chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}) for piece in _pieces(call.arguments)]
    if "stream-duplicate-summary" in defects:
        chunks += [chunk({"tool_calls": [{"index": 0 if index_zero else k, "id": call.id, "type": "function",
                                          "function": {"name": call.name, "arguments": call.arguments}}]})
                   for k, call in enumerate(structured)]
    finish = "stop" if index_zero else _chat_finish(reply, defects)
    chunks.append(chunk({}, finish))
    if include_usage:
        completion = _tokens((text or "") + "".join(c.arguments for c in reply.calls))
        chunks.append({"id": cid, "object": "chat.completion.chunk", "created": CREATED, "model": model, "choices": [],
                       "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion}})
    return chunks


# ------------------------------------------------------------------------------------------------ OpenAI Responses
@dataclass(frozen=True)
class StoredResponse:
    items: tuple[dict[str, Any], ...]  # the whole context: previous items, this input, this output


def _input_items(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    if isinstance(raw, list):
        return [item if "type" in item else {"type": "message", **item} for item in raw if isinstance(item, dict)]
    return []


def responses_violation(items: Sequence[Mapping[str, Any]], defects: frozenset[str]) -> Violation | None:
    calls: list[str] = []
    answered: set[str] = set()
    for item in items:
        kind = item.get("type")
        if kind == "function_call":
            calls.append(str(item.get("call_id")))
        elif kind == "function_call_output":
            call_id = str(item.get("call_id"))
            if call_id not in calls or "refuse-turn-2" in defects:
                return Violation(RESPONSES_NO_CALL_ERROR.format(call_id=call_id), "input")
            answered.add(call_id)
    unanswered = [c for c in calls if c not in answered]
    if unanswered:
        return Violation(RESPONSES_NO_OUTPUT_ERROR.format(call_id=unanswered[0]), "input")
    return None


def _responses_tools(body: Mapping[str, Any]) -> tuple[Tool, ...]:
    return tuple(Tool(t["name"], t.get("parameters") or {}) for t in body.get("tools") or []
                 if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("name"), str))


def responses_turn(body: Mapping[str, Any], items: Sequence[Mapping[str, Any]], defects: frozenset[str]) -> Turn:
    messages = [i for i in items if i.get("type") == "message"]
    dropped = {"developer"} if "drop-developer" in defects else set()
    instructions = "\n".join([_text_of(body.get("instructions")), *(_text_of(m.get("content")) for m in messages
                                                                    if m.get("role") in {"system", "developer"} - dropped)])
    users = [m for m in messages if m.get("role") == "user"]
    results = tuple(_text_of(i.get("output")) for i in items if i.get("type") == "function_call_output")
    choice = body.get("tool_choice")
    return Turn(tools=_responses_tools(body), forced=_forced(choice), choice_none=choice == "none",
                parallel=body.get("parallel_tool_calls") is not False, prompt=_text_of(users[-1].get("content")) if users else "",
                instructions=instructions, results=results, seed=json.dumps(list(items), sort_keys=True),
                context="\n".join([_text_of(body.get("instructions")), *(_text_of(m.get("content")) for m in messages
                                                                         if m.get("role") in {"system", "developer", "user"} - dropped)]))


def responses_output(reply: Reply, defects: frozenset[str], seed: str) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = []
    text = _reply_text(reply, defects)
    if text:
        output.append({"type": "message", "id": "msg_" + _digest("msg", seed), "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
    if "text-tool-calls" not in defects:
        output += [{"type": "function_call", "id": "fc_" + _digest("fc", seed, str(k)), "call_id": c.id, "name": c.name,
                    "arguments": c.arguments, "status": "completed"} for k, c in enumerate(reply.calls)]
    return output


def response_object(body: Mapping[str, Any], model: str, response_id: str, output: list[dict[str, Any]], status: str,
                    input_tokens: int) -> dict[str, Any]:
    out_tokens = _tokens(json.dumps(output))
    return {"id": response_id, "object": "response", "created_at": CREATED, "status": status, "background": False, "error": None,
            "incomplete_details": None, "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "model": model, "output": output, "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"), "reasoning": {"effort": None, "summary": None},
            "store": body.get("store", True), "temperature": 1.0, "text": {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [], "top_p": 1.0, "truncation": "disabled",
            "usage": ({"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": out_tokens,
                       "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": input_tokens + out_tokens}
                      if status == "completed" else None),
            "user": None, "metadata": body.get("metadata") or {}}


def responses_events(final: dict[str, Any], defects: frozenset[str]) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": len(events), **fields}))

    started = {**final, "status": "in_progress", "output": [], "usage": None}
    emit("response.created", response=started)
    emit("response.in_progress", response=started)
    for k, item in enumerate(final["output"]):
        index = 0 if "stream-index-zero" in defects else k
        if item["type"] == "message":
            text = item["content"][0]["text"]
            emit("response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []})
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            emit("response.content_part.added", item_id=item["id"], output_index=index, content_index=0, part=part)
            for piece in _pieces(text):
                emit("response.output_text.delta", item_id=item["id"], output_index=index, content_index=0, delta=piece, logprobs=[])
            emit("response.output_text.done", item_id=item["id"], output_index=index, content_index=0, text=text, logprobs=[])
            emit("response.content_part.done", item_id=item["id"], output_index=index, content_index=0, part={**part, "text": text})
        else:
            emit("response.output_item.added", output_index=index, item={**item, "status": "in_progress", "arguments": ""})
            pieces = _pieces(item["arguments"])
            if "stream-duplicate-summary" in defects:
                pieces.append(item["arguments"])
            for piece in pieces:
                emit("response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=piece)
            emit("response.function_call_arguments.done", item_id=item["id"], output_index=index, arguments=item["arguments"])
        emit("response.output_item.done", output_index=index, item=item)
    emit("response.completed", response=final)
    return events


# ------------------------------------------------------------------------------------------------ Anthropic Messages
def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def merge_turns(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive messages of one role joined into one (what today's Anthropic API does with them)."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        if merged and merged[-1]["role"] == message.get("role"):
            merged[-1] = {**merged[-1], "content": [*_blocks(merged[-1]["content"]), *_blocks(message.get("content"))]}
        else:
            merged.append(dict(message))
    return merged


def anthropic_violation(body: Mapping[str, Any], defects: frozenset[str], merge: bool = False) -> str | None:
    """Anthropic's refusal of a request, or None. ``merge``: consecutive turns of one role are joined (today's API)
    instead of refused (the alternation rule)."""
    if "max_tokens" not in body:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required" if messages is None else "messages: at least one message is required"
    previous_role = None
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "system":
            return ('messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, '
                    'not "system" as an input message role.')
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if role == previous_role and not merge:
            return f'messages: roles must alternate between "user" and "assistant", but found multiple "{role}" roles in a row'
        previous_role = role
    if merge:
        messages = merge_turns(messages)
    for i, message in enumerate(messages):
        blocks = _blocks(message.get("content"))
        if message["role"] == "assistant":
            uses = [str(b.get("id")) for b in blocks if b.get("type") == "tool_use"]
            following = _blocks(messages[i + 1].get("content")) if i + 1 < len(messages) else []
            answered = {str(b.get("tool_use_id")) for b in following if b.get("type") == "tool_result"}
            missing = [u for u in uses if u not in answered]
            if uses and i + 1 < len(messages) and missing:
                return ANTHROPIC_UNANSWERED_ERROR.format(index=i, ids=", ".join(missing))
            continue
        prior = _blocks(messages[i - 1].get("content")) if i > 0 else []
        known = {str(b.get("id")) for b in prior if b.get("type") == "tool_use"}
        for j, block in enumerate(blocks):
            if block.get("type") == "tool_result" and (str(block.get("tool_use_id")) not in known or "refuse-turn-2" in defects):
                return ANTHROPIC_UNEXPECTED_RESULT_ERROR.format(index=i, block=j, ids=block.get("tool_use_id"))
    if "require-reasoning-roundtrip" in defects:
        return _thinking_violation(messages)
    return None


def _thinking_violation(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The last assistant message with a tool_use must start with a thinking block the stub signed."""
    for i in range(len(messages) - 1, -1, -1):
        blocks = _blocks(messages[i].get("content"))
        if messages[i].get("role") != "assistant" or not any(b.get("type") == "tool_use" for b in blocks):
            continue
        first = blocks[0]
        if first.get("type") == "redacted_thinking":
            return None
        if first.get("type") != "thinking":
            return ANTHROPIC_THINKING_ERROR.format(index=i, found=first.get("type"))
        if first.get("signature") != signature_for(str(first.get("thinking", ""))):
            return ANTHROPIC_SIGNATURE_ERROR.format(index=i)
        return None
    return None


def anthropic_turn(body: Mapping[str, Any]) -> Turn:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    results: list[str] = []
    prompt = ""
    texts = [_text_of(body.get("system"))]
    for message in messages:
        if message.get("role") != "user":
            continue
        blocks = _blocks(message.get("content"))
        results += [_text_of(b.get("content")) for b in blocks if b.get("type") == "tool_result"]
        text = "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        if text:
            prompt = text
            texts.append(text)
    tools = tuple(Tool(t["name"], t.get("input_schema") or {}) for t in body.get("tools") or []
                  if isinstance(t, dict) and isinstance(t.get("name"), str))
    raw_choice = body.get("tool_choice")
    choice: Mapping[str, Any] = raw_choice if isinstance(raw_choice, dict) else {}
    kind = choice.get("type")
    return Turn(tools=tools, forced=choice.get("name") if kind == "tool" else "required" if kind == "any" else None,
                choice_none=kind == "none", parallel=not choice.get("disable_parallel_tool_use"), prompt=prompt,
                instructions=_text_of(body.get("system")), results=tuple(results), seed=json.dumps(messages, sort_keys=True),
                context="\n".join(texts))


def anthropic_content(reply: Reply, defects: frozenset[str]) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    if reply.reasoning:
        content.append({"type": "thinking", "thinking": reply.reasoning, "signature": signature_for(reply.reasoning)})
    text = _reply_text(reply, defects)
    if text:
        content.append({"type": "text", "text": text})
    if "text-tool-calls" not in defects:
        content += [{"type": "tool_use", "id": c.id.replace("call_", "toolu_", 1), "name": c.name, "input": json.loads(c.arguments)}
                    for c in reply.calls]
    return content


def anthropic_message(model: str, content: list[dict[str, Any]], defects: frozenset[str], input_tokens: int, seed: str) -> dict[str, Any]:
    uses = any(b["type"] == "tool_use" for b in content)
    stop = "tool_use" if uses and "finish-stop" not in defects else "end_turn"
    return {"id": "msg_" + _digest("anthropic", seed), "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": _tokens(json.dumps(content)),
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}


def anthropic_events(message: dict[str, Any], defects: frozenset[str]) -> list[tuple[str, dict[str, Any]]]:
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None, "usage": {**message["usage"], "output_tokens": 1}}
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
    index_zero = "stream-index-zero" in defects
    for k, block in enumerate(message["content"]):
        index = 0 if index_zero else k
        kind = block["type"]
        if kind == "thinking":
            opening: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": p} for p in _pieces(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "text":
            opening = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in _pieces(block["text"])]
        else:
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            whole = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in _pieces(whole)]
            if "stream-duplicate-summary" in defects:
                deltas.append({"type": "input_json_delta", "partial_json": whole})
        events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening}))
        events += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop = "end_turn" if index_zero else message["stop_reason"]
    events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                     "usage": {"output_tokens": message["usage"]["output_tokens"]}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


# ------------------------------------------------------------------------------------------------ the server
@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. ``headers`` has lower-cased names; ``body`` is the parsed JSON or None."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    time: float

    @property
    def model(self) -> str | None:
        model = self.body.get("model") if isinstance(self.body, dict) else None
        return model if isinstance(model, str) else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, stub: StubUpstream) -> None:
        self.stub = stub
        super().__init__((host, stub.port_wanted), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):
            self.stub._record_error(repr(exc))


@dataclass(frozen=True)
class Answer:
    """What the stub model answers one request: a JSON body with its status, or the events of a 200 stream; for a stored
    Responses turn, its id and the items a ``previous_response_id`` continues from."""

    status: int = 200
    body: Any = None
    events: list[bytes] | None = None
    stored: tuple[str, tuple[dict[str, Any], ...]] | None = None


def chat_answer(body: Mapping[str, Any], model: str, defects: frozenset[str], prompt_tokens: int,
                paths: Sequence[str] = DEFAULT_PATHS) -> Answer:
    """An OpenAI chat completion request answered as the stub model does (pure: the server and the unit tests' mocked
    gateway both answer with it)."""
    violation = envelope_violation(body, defects, prompt_tokens) or chat_violation(body, defects)
    if violation is not None:
        return Answer(400, _chat_error(violation))
    window = context_window(defects)
    if window is not None and prompt_tokens > window and "truncate-context" in defects:
        body = truncate_front(body, window)
    turn = chat_turn(body, defects)
    reply = decide(turn, defects, paths)
    if body.get("stream") is True:
        options = body.get("stream_options")
        usage = isinstance(options, dict) and options.get("include_usage") is True
        chunks = chat_chunks(model, reply, defects, prompt_tokens, turn.seed, usage)
        return Answer(events=[f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"])
    return Answer(200, chat_completion(model, reply, defects, prompt_tokens, turn.seed))


def responses_answer(body: Mapping[str, Any], model: str, defects: frozenset[str], prompt_tokens: int,
                     previous: tuple[dict[str, Any], ...] | None, serial: int, paths: Sequence[str] = DEFAULT_PATHS) -> Answer:
    """An OpenAI Responses request answered as the stub model does. ``previous``: the stored items its
    ``previous_response_id`` continues from (None: that id is unknown); ``serial`` makes the new response's id unique."""
    refused = envelope_violation(body, defects, prompt_tokens)
    if refused is not None:
        return Answer(400, _chat_error(refused))
    previous_id = body.get("previous_response_id")
    if previous is None:
        return Answer(400, _chat_error(Violation(f"Previous response with id '{previous_id}' not found.", "previous_response_id",
                                                 "previous_response_not_found")))
    new_items = _input_items(body.get("input"))
    if "drop-developer" in defects:
        new_items = [i for i in new_items if i.get("role") != "developer"]
    items = [*previous, *new_items]
    violation = responses_violation(items, defects)
    if violation is not None:
        return Answer(400, _chat_error(violation))
    turn = responses_turn(body, items, defects)
    reply = decide(turn, defects, paths)
    response_id = "resp_" + _digest("resp", turn.seed, model, str(serial))  # unique, as stored ids must be
    output = responses_output(reply, defects, turn.seed)
    final = response_object(body, model, response_id, output, "completed", prompt_tokens)
    stored = (response_id, tuple([*items, *output])) if body.get("store") is not False else None
    if body.get("stream") is True:
        return Answer(events=[f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode() for kind, data in responses_events(final, defects)],
                      stored=stored)
    return Answer(200, final, stored=stored)


@dataclass
class StubUpstream:
    """Stub upstream models speaking OpenAI chat, OpenAI Responses and Anthropic Messages; see the module docstring."""

    models: Sequence[str] = DEFAULT_MODELS
    defects: Mapping[str, Iterable[str]] = field(default_factory=dict)
    paths: Sequence[str] = DEFAULT_PATHS
    max_recorded: int = 500
    max_stored_responses: int = 200
    host: str = "127.0.0.1"
    port_wanted: int = 0  # 0: a free port
    anthropic_merge_turns: bool = False  # True: join consecutive same-role turns as today's Anthropic API does
    latency_s: float = 0.0  # every POST is answered this long after it arrived (a model's time to answer; the benchmark's)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _log: deque[RecordedRequest] = field(init=False, repr=False)
    _errors: list[str] = field(default_factory=list, init=False, repr=False)
    _responses: OrderedDict[str, StoredResponse] = field(default_factory=OrderedDict, init=False, repr=False)
    _configured: dict[str, frozenset[str]] = field(init=False, repr=False)
    _serial: int = field(default=0, init=False, repr=False)
    _server: _Server | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._log = deque(maxlen=self.max_recorded)
        self._configured = {name: frozenset(found) for name, found in self.defects.items()}
        for name, found in self._configured.items():
            unknown = sorted(d for d in found if not known_defect(d))
            if unknown:
                raise ValueError(f"unknown stub defect {unknown[0]!r} for {name!r}; known defects: {', '.join(DEFECTS)}")

    # ------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("StubUpstream already started")
        self._server = _Server(self.host, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="stub-upstream", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("StubUpstream not started")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    # ------------------------------------------------------------------------------------------- what it saw
    @property
    def requests(self) -> list[RecordedRequest]:
        """The last ``max_recorded`` requests received, oldest first."""
        with self._lock:
            return list(self._log)

    def requests_to(self, path_suffix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    @property
    def handler_errors(self) -> list[str]:
        """Unexpected exceptions in request handlers (disconnects excluded); empty when all is well."""
        with self._lock:
            return list(self._errors)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait (bounded by ``timeout``) until at least ``count`` requests arrived; return the snapshot."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.requests
            if len(snapshot) >= count or time.monotonic() >= deadline:
                return snapshot
            time.sleep(0.01)

    def defects_of(self, model: str) -> frozenset[str]:
        """The defects a model name has (raises ValueError for an unknown defect suffix)."""
        return parse_model(model, self._configured)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._log.append(request)

    def _record_error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)

    def _next_serial(self) -> int:
        with self._lock:
            self._serial += 1
            return self._serial

    def _store(self, response_id: str, stored: StoredResponse) -> None:
        with self._lock:
            self._responses[response_id] = stored
            while len(self._responses) > self.max_stored_responses:
                self._responses.popitem(last=False)

    def _stored(self, response_id: str) -> StoredResponse | None:
        with self._lock:
            return self._responses.get(response_id)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "StubUpstream/1"

    def version_string(self) -> str:
        return self.server_version

    @property
    def stub(self) -> StubUpstream:
        return cast(_Server, self.server).stub

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        self.close_connection = True
        raw = self._read_body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = urlsplit(self.path).path.rstrip("/")
        if self.command == "POST" and self.stub.latency_s > 0:
            time.sleep(self.stub.latency_s)
        self.stub._record(RecordedRequest(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()))
        anthropic = "/messages" in path  # errors in Anthropic's shape on its paths
        try:
            if self.command == "GET" and path.endswith("/models"):
                self._json(200, {"object": "list", "data": [{"id": m, "object": "model", "created": CREATED, "owned_by": "stub"}
                                                            for m in (*self.stub.models, *self.stub.defects)]})
                return
            route = {"/chat/completions": self._chat, "/responses": self._responses, "/messages": self._messages}
            handler = next((h for suffix, h in route.items() if path.endswith(suffix)), None) if self.command == "POST" else None
            if handler is None:
                self._refuse(404, f"Unknown request URL: {self.command} {path}.", anthropic, "not_found_error", "unknown_url")
                return
            if not isinstance(body, dict):
                self._refuse(400, "We could not parse the JSON body of your request.", anthropic)
                return
            model = body.get("model")
            if not isinstance(model, str) or not model:
                self._refuse(400, "model: Field required" if anthropic else "you must provide a model parameter", anthropic)
                return
            try:
                defects = self.stub.defects_of(model)
            except ValueError as exc:
                self._refuse(400, str(exc), anthropic, code="unknown_defect")
                return
            handler(body, model, defects, _tokens(raw.decode("utf-8", "replace")))
        except (ConnectionError, TimeoutError):
            return

    def _read_body(self) -> bytes:
        """The request body, sent with a ``Content-Length`` or chunked (as streaming HTTP clients may), at most
        ``MAX_REQUEST_BODY`` bytes."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while len(data) <= MAX_REQUEST_BODY:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()  # the CRLF after each chunk
            return data
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(min(length, MAX_REQUEST_BODY)) if length > 0 else b""

    # ------------------------------------------------------------------------------------------- routes
    def _chat(self, body: dict[str, Any], model: str, defects: frozenset[str], prompt_tokens: int) -> None:
        self._send(chat_answer(body, model, defects, prompt_tokens, self.stub.paths))

    def _responses(self, body: dict[str, Any], model: str, defects: frozenset[str], prompt_tokens: int) -> None:
        previous: tuple[dict[str, Any], ...] | None = ()
        previous_id = body.get("previous_response_id")
        if previous_id is not None:
            stored = self.stub._stored(str(previous_id))
            previous = stored.items if stored is not None else None
        answer = responses_answer(body, model, defects, prompt_tokens, previous, self.stub._next_serial(), self.stub.paths)
        if answer.stored is not None:
            self.stub._store(answer.stored[0], StoredResponse(answer.stored[1]))
        self._send(answer)

    def _messages(self, body: dict[str, Any], model: str, defects: frozenset[str], prompt_tokens: int) -> None:
        refused = envelope_violation(body, defects, prompt_tokens)
        if refused is not None:
            too_long = f"prompt is too long: {prompt_tokens} tokens > {context_window(defects)} maximum"
            self._refuse(400, too_long if refused.code == "context_length_exceeded" else refused.message, anthropic=True)
            return
        violation = anthropic_violation(body, defects, merge=self.stub.anthropic_merge_turns)
        if violation is not None:
            self._refuse(400, violation, anthropic=True)
            return
        turn = anthropic_turn(body)
        reply = decide(turn, defects, self.stub.paths)
        message = anthropic_message(model, anthropic_content(reply, defects), defects, prompt_tokens, turn.seed)
        if body.get("stream") is True:
            self._sse([f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode() for kind, data in anthropic_events(message, defects)])
            return
        self._json(200, message)

    # ------------------------------------------------------------------------------------------- writing
    def _send(self, answer: Answer) -> None:
        if answer.events is not None:
            self._sse(answer.events)
        else:
            self._json(answer.status, answer.body)

    def _refuse(self, status: int, message: str, anthropic: bool, kind: str = "invalid_request_error", code: str | None = None) -> None:
        if anthropic:
            self._json(status, {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_" + _digest("req", message)})
        else:
            self._json(status, _chat_error(Violation(message, None, code)))

    def _json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _sse(self, events: Sequence[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.stub_upstream",
                                     description="Serve the stub upstream models on 127.0.0.1 until Ctrl-C.")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--model", action="append", default=[], help="a model GET /v1/models lists (repeatable)")
    parser.add_argument("--defect", action="append", default=[], metavar="MODEL=DEFECT[,DEFECT]",
                        help=f"give a model defects (repeatable); known: {', '.join(DEFECTS)}, "
                             f"{', '.join(f'{name}=<value>' for name in VALUED_DEFECTS)}")
    parser.add_argument("--max-hours", type=float, default=12.0, help="stop by itself after this long")
    args = parser.parse_args(argv)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # stopped by its PID: shut the server down cleanly
    defects: dict[str, list[str]] = {}
    for item in args.defect:
        model, sep, names = item.partition("=")
        if not sep or not model:
            parser.error(f"--defect {item!r}: write MODEL=DEFECT[,DEFECT]")
        defects.setdefault(model, []).extend(n for n in names.split(",") if n)
    try:
        stub = StubUpstream(models=tuple(args.model) or DEFAULT_MODELS, defects=defects, port_wanted=args.port)
    except ValueError as exc:
        parser.error(str(exc))
    with stub:
        print(f"stub upstream: OpenAI base URL {stub.base_url}, Anthropic api_base {stub.root_url}; Ctrl-C to stop.", flush=True)
        try:
            time.sleep(args.max_hours * 3600)
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
