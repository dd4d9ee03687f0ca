"""streamed-tool-calls: a tool call streamed to the agent survives the agent's own client rebuilding it.

A forced call (`tool_choice: "required"`), single and parallel (two independent reads), is asked for streamed and, with
the same request unstreamed, as its twin. The stream is judged by the invariants of streamed tool calls (every call its
own `index`; an `id` per call, repeated only identically; the name once; the argument text joined per index a JSON
object valid against the tool's schema; exactly one `finish_reason`, `tool_calls`; as many calls as the twin; no
trailing duplicate summary chunk) and then rebuilt the way the agent's client rebuilds it (the profile's `client`):
a defect that client rebuilds into the right calls is a warning naming it; one it rebuilds into garbage (a merged
name, arguments that are not JSON, a lost call, an exception) fails, saying what the agent would get. Responses:
argument deltas joined per item, `output_item.added` / `done` and `response.completed` carrying one non-empty `call_id`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from approval.common.redact import excerpt, redact_head
from approval.engine.checks.base import CheckSpec, Evidence, duration_of, missing_labels, not_finished, result, worst
from approval.engine.checks.streaming import judge_chat_stream, plain_json_answer
from approval.engine.classify import describe_failure, failure_status, generation
from approval.engine.contract import parse_error_body, show_repr
from approval.engine.gateway import MAX_SSE_EVENTS, Exchange, SSEEvent, sse_json
from approval.engine.probes import CONVERSATION_PREFIX, Probe, messages_payload
from approval.engine.results import Category, CheckResult, Status
from approval.settings.build import Settings

NAME = "streamed-tool-calls"
SINGLE = f"{CONVERSATION_PREFIX}streamed-call"
PARALLEL = f"{CONVERSATION_PREFIX}streamed-parallel-calls"
TWIN = "-twin"  # the same request without `stream`
PATH_KEYS = ("path", "file_path", "filePath", "filename", "file")


def probes_for(settings: Settings, model: str) -> list[Probe]:
    """The streamed calls and their unstreamed twins, for the profile's tools: none when the agent streams no tools."""
    profile = settings.profile
    if not (profile.uses_tools and profile.streams):
        return []
    endpoint = profile.endpoint or settings.endpoint
    path = settings.path_for(endpoint)
    tool = chosen_tool(profile.tools)
    name = tool["name"]
    asks: list[tuple[str, str, bool]] = [(SINGLE, f"Use the `{name}` tool to read README.md.", False)]
    if profile.parallel_tool_calls is not False:
        asks.append((PARALLEL, f"Use the `{name}` tool to read two files in parallel, README.md and CHANGELOG.md: one call per file, "
                               f"both calls in this one turn.", True))
    probes: list[Probe] = []
    for label, prompt, parallel in asks:
        payload = messages_payload(settings, endpoint, model, [{"role": "user", "content": prompt}])
        payload["tools"] = [({"type": "function", **t} if endpoint == "responses" else {"type": "function", "function": dict(t)})
                            for t in profile.tools]
        payload["tool_choice"] = "required"
        if parallel and profile.parallel_tool_calls:  # an agent that never sends the field is asked without it
            payload["parallel_tool_calls"] = True
        probes.append(Probe(label, "POST", path, {**payload, "stream": True}, stream=True))
        probes.append(Probe(label + TWIN, "POST", path, payload))
    return probes


def chosen_tool(tools: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The agent's file reader when it has one (a tool with a path-like property), else its first tool."""
    for tool in tools:
        properties = (tool.get("parameters") or {}).get("properties") or {}
        if any(key in properties for key in PATH_KEYS):
            return tool
    return tools[0]


SPEC = CheckSpec(
    NAME,
    default="with-streamed-tools",
    findings=("finish-reason", "duplicate-calls"),
    summary="a streamed tool call, single and parallel, rebuilt as the agent's client rebuilds it, gives the calls of its "
            "non-streamed twin",
    reads=(SINGLE, SINGLE + TWIN, PARALLEL, PARALLEL + TWIN),
    own_probes=probes_for,
)


# ------------------------------------------------------------------------------------------------ rebuilt calls
@dataclass(frozen=True)
class Call:
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True)
class Rebuilt:
    """The calls a client rebuilds from a stream, its last finish_reason, or the error it raises instead."""

    calls: tuple[Call, ...]
    finish_reason: str | None = None
    error: str | None = None


def chat_choices(chunks: Sequence[Mapping[str, Any]]) -> list[tuple[list[dict[str, Any]], str | None]]:
    """Per chunk, the first choice's tool-call deltas and its finish_reason (chunks without a choice left out)."""
    found: list[tuple[list[dict[str, Any]], str | None]] = []
    for chunk in chunks:
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            continue
        choice = choices[0]
        delta = choice.get("delta")
        deltas = [d for d in (delta.get("tool_calls") if isinstance(delta, dict) else None) or [] if isinstance(d, dict)]
        finish = choice.get("finish_reason") if isinstance(choice.get("finish_reason"), str) else None
        found.append((deltas, finish))
    return found


def _function(delta: Mapping[str, Any]) -> Mapping[str, Any]:
    fn = delta.get("function")
    return fn if isinstance(fn, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _accumulate(acc: dict[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """The openai Python SDK's `accumulate_delta` for one tool-call entry: strings are joined (the id and the name
    too), objects merged, `index` and `type` replaced, a null changes nothing."""
    for key, value in delta.items():
        if acc.get(key) is None:
            acc[key] = dict(value) if isinstance(value, dict) else value
        elif key in ("index", "type"):
            acc[key] = value
        elif isinstance(acc[key], str) and isinstance(value, str):
            acc[key] += value
        elif isinstance(acc[key], dict) and isinstance(value, dict):
            acc[key] = _accumulate(acc[key], value)
    return acc


def rebuild_openai_python(chunks: Sequence[Mapping[str, Any]]) -> Rebuilt:
    """`client.chat.completions.stream(...)`'s final completion: entries merged by `index`, every string joined."""
    entries: list[dict[str, Any]] = []
    finish = None
    for deltas, reason in chat_choices(chunks):
        finish = reason or finish
        for delta in deltas:
            index = delta.get("index")
            if not isinstance(index, int) or isinstance(index, bool):
                return Rebuilt((), finish, "it raises a TypeError on a tool-call delta without `index`")
            if index < len(entries):
                entries[index] = _accumulate(entries[index], delta)
            else:
                entries.insert(index, _accumulate({}, delta))
    return Rebuilt(tuple(Call(_text(e.get("id")), _text(_function(e).get("name")), _text(_function(e).get("arguments")) or "")
                         for e in entries), finish)


def rebuild_by_index(chunks: Sequence[Mapping[str, Any]]) -> Rebuilt:
    """openai-node's ChatCompletionStream, as its source reads: entries by `index`, the id and the name replaced when
    given, the arguments joined; a delta without an `index` is lost."""
    entries: dict[int, dict[str, str | None]] = {}
    finish = None
    for deltas, reason in chat_choices(chunks):
        finish = reason or finish
        for delta in deltas:
            index = delta.get("index")
            if not isinstance(index, int):
                continue
            entry = entries.setdefault(index, {"id": None, "name": None, "arguments": ""})
            fn = _function(delta)
            entry["id"] = _text(delta.get("id")) or entry["id"]
            entry["name"] = _text(fn.get("name")) or entry["name"]
            entry["arguments"] = (entry["arguments"] or "") + (_text(fn.get("arguments")) or "")
    return Rebuilt(tuple(Call(e["id"], e["name"], e["arguments"] or "") for _, e in sorted(entries.items())), finish)


def rebuild_litellm(chunks: Sequence[Mapping[str, Any]]) -> Rebuilt:
    """litellm's `stream_chunk_builder` (measured: 1.108.7 over every scripted class): its chunk type refuses a
    tool-call delta without a `function` object; a delta without `index` counts as index 0; entries by index, the id
    and the name replaced when given, the arguments joined, none at all is `{}`; no finish_reason is "stop"."""
    if any(not isinstance(d.get("function"), dict) for deltas, _ in chat_choices(chunks) for d in deltas):
        return Rebuilt((), None, "its chunk type refuses a tool-call delta without `function` (a validation error)")
    indexed = [_missing_index_as_zero(chunk) for chunk in chunks]
    rebuilt = rebuild_by_index(indexed)
    return Rebuilt(tuple(Call(c.id, c.name, c.arguments or "{}") for c in rebuilt.calls), rebuilt.finish_reason or "stop")


def _missing_index_as_zero(chunk: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return chunk
    return {**chunk, "choices": [_choice_indexed(choice) for choice in choices]}


def _choice_indexed(choice: Any) -> Any:
    delta = choice.get("delta") if isinstance(choice, dict) else None
    if not isinstance(delta, dict) or not isinstance(delta.get("tool_calls"), list):
        return choice
    calls = [{**d, "index": d.get("index") if isinstance(d.get("index"), int) else 0} if isinstance(d, dict) else d
             for d in delta["tool_calls"]]
    return {**choice, "delta": {**delta, "tool_calls": calls}}


def parses(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


class _Structure:
    """Whether argument text holds one complete JSON object or array yet: the AI SDK tracks it by structure (brackets
    outside strings), not by parsing."""

    def __init__(self) -> None:
        self.kind = "undetermined"  # undetermined | structured | other
        self.stack: list[str] = []
        self.in_string = self.escaped = self.complete = False

    def append(self, text: str) -> None:
        for ch in text:
            if self.kind == "undetermined":
                if ch.isspace():
                    continue
                self.kind, self.stack = ("structured", [ch]) if ch in "{[" else ("other", [])
                continue
            if self.kind != "structured" or self.complete:
                continue
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif ch == "\\":
                    self.escaped = True
                elif ch == '"':
                    self.in_string = False
            elif ch == '"':
                self.in_string = True
            elif ch in "{[":
                self.stack.append(ch)
            elif ch in "}]":
                if self.stack[-1] != ("{" if ch == "}" else "["):
                    self.kind = "other"
                    continue
                self.stack.pop()
                self.complete = not self.stack


@dataclass(eq=False)
class _Tracked:
    id: str
    index: int | None
    sequence: int
    name: str
    arguments: str
    structure: _Structure


class _AiSdkTracker:
    """A port of the AI SDK's StreamingToolCallTracker (@ai-sdk/provider-utils): it correlates each delta with a call
    by its id, its index and its name, and starts a new call when a named delta opens a new JSON value where the
    matching calls are complete; a delta it cannot place is dropped; every call is emitted when the stream ends."""

    def __init__(self) -> None:
        self.calls: list[_Tracked] = []
        self.by_id: dict[str, list[_Tracked]] = {}
        self.by_index: dict[int, list[_Tracked]] = {}
        self.used: set[str] = set()

    def process(self, delta: Mapping[str, Any]) -> None:
        fn = _function(delta)
        wire_name, arguments, index = fn.get("name"), _text(fn.get("arguments")), delta.get("index")
        blank_name = isinstance(wire_name, str) and not wire_name.strip()
        wire_id, name = _nonblank(delta.get("id")), _nonblank(wire_name)
        kind, call = self._resolve(wire_id, index, name, name is not None and (arguments or "").lstrip()[:1] in ("{", "["),
                                   arguments is None or not arguments.strip())
        if kind == "ambiguous":
            return
        if kind == "new":
            if blank_name:
                return
            if name is None:
                raise _AiSdkError("Expected 'function.name' to be a string.")
            structure = _Structure()
            structure.append(arguments or "")
            call = _Tracked(self._new_id(wire_id), index, len(self.calls), name, arguments or "", structure)
            self.calls.append(call)
            if wire_id is not None:
                self.by_id.setdefault(wire_id, []).append(call)
        else:
            assert call is not None
            if wire_id is not None and call not in self.by_id.setdefault(wire_id, []):
                self.by_id[wire_id].append(call)
            if arguments is not None:
                call.structure.append(arguments)
                call.arguments += arguments
        if index is not None and call not in self.by_index.setdefault(index, []):
            self.by_index[index].append(call)

    def _resolve(self, wire_id: str | None, index: Any, name: str | None, explicit_start: bool,
                 empty_arguments: bool) -> tuple[str, _Tracked | None]:
        indexed = self.by_index.get(index) if index is not None else None
        matching = [c for c in indexed or [] if name is None or c.name == name]
        if wire_id is not None:
            with_id = self.by_id.get(wire_id)
            if with_id is not None:
                if index is not None:
                    found = self._matching([c for c in matching if c in with_id], explicit_start)
                    if found[0] != "new":
                        return found
                    if name is not None:
                        return "new", None
                    if indexed is not None:
                        return "ambiguous", None
                    return self._matching(list(with_id), False)
                if name is not None:
                    return self._matching([c for c in with_id if c.name == name], explicit_start)
                return self._matching(list(with_id), False)
            if matching:
                return ("new", None) if explicit_start else self._matching(matching, name is not None and empty_arguments)
            return "new", None
        if indexed is not None:
            return self._matching(matching, explicit_start)
        if name is not None:
            return "new", None
        return self._matching(list(self.calls), False)  # every call is unfinished until the stream ends

    @staticmethod
    def _matching(calls: list[_Tracked], explicit_start: bool) -> tuple[str, _Tracked | None]:
        if not calls:
            return "new", None
        continuable = [c for c in calls if not c.structure.complete]
        if not explicit_start and len(calls) == 1:
            return "existing", calls[0]
        if len(continuable) == 1:
            return "existing", continuable[0]
        if len(continuable) > 1 or not explicit_start:
            return "ambiguous", None
        return "new", None

    def _new_id(self, wire_id: str | None) -> str:
        if wire_id is not None and wire_id not in self.used:
            self.used.add(wire_id)
            return wire_id
        made = f"generated-{len(self.used) + 1}"
        self.used.add(made)
        return made

    def finished(self) -> tuple[Call, ...]:
        ordered = sorted(self.calls, key=lambda c: (c.index, c.sequence)) if all(c.index is not None for c in self.calls) else self.calls
        return tuple(Call(c.id, c.name, c.arguments) for c in ordered)


class _AiSdkError(Exception):
    pass


def _nonblank(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def rebuild_ai_sdk(chunks: Sequence[Mapping[str, Any]]) -> Rebuilt:
    """`@ai-sdk/openai-compatible`'s chat stream (3.0, measured against its 3.0.92 over every scripted class): a chunk
    whose tool-call delta has no `function` object fails its schema (an error part, the chunk skipped); the deltas of
    an index are held until one names the tool, then go to the tracker (_AiSdkTracker); the calls are emitted when the
    stream ends; no finish_reason at all is an error."""
    tracker = _AiSdkTracker()
    pending: dict[int, dict[str, Any]] = {}
    forwarded: set[int] = set()
    finish = None
    error = None
    try:
        for deltas, reason in chat_choices(chunks):
            if any(not isinstance(d.get("function"), dict) for d in deltas):
                error = error or "its chunk schema rejects a tool-call delta without `function` (an error part: the turn fails)"
                continue
            finish = reason or finish
            for delta in deltas:
                index = delta.get("index")
                if index is None or index in forwarded:
                    tracker.process(delta)
                    continue
                held = pending.setdefault(index, {"id": None, "arguments": ""})
                if held["id"] is None:
                    held["id"] = _text(delta.get("id"))
                held["arguments"] += _text(_function(delta).get("arguments")) or ""
                if _function(delta).get("name") is not None:
                    tracker.process({"index": index, "id": held["id"], "function": {"name": _function(delta)["name"],
                                                                                    "arguments": held["arguments"]}})
                    del pending[index]
                    forwarded.add(index)
        for index, held in pending.items():
            tracker.process({"index": index, "id": held["id"], "function": {"arguments": held["arguments"]}})
    except _AiSdkError as exc:
        return Rebuilt(tracker.finished(), finish, f'it throws "{exc}"')
    if finish is None and error is None:
        error = 'it reports "Response stream ended without a finish reason." (an error part: the turn fails)'
    return Rebuilt(tracker.finished(), finish, error)


def rebuild_tolerant(chunks: Sequence[Mapping[str, Any]]) -> Rebuilt:
    """The most forgiving rebuild: a new call when a new id arrives with a name (even at an index in use), a delta
    without `index` joins the last call, the name is taken once, and a call whose arguments already parse takes no
    more argument text (a duplicate summary is ignored)."""
    calls: list[dict[str, Any]] = []
    at_index: dict[Any, int] = {}
    finish = None
    for deltas, reason in chat_choices(chunks):
        finish = reason or finish
        for delta in deltas:
            index, fn = delta.get("index"), _function(delta)
            cid, name, args = _text(delta.get("id")) or None, _text(fn.get("name")) or None, _text(fn.get("arguments")) or ""
            position = at_index.get(index) if isinstance(index, int) else (len(calls) - 1 if calls else None)
            current = calls[position] if position is not None else None
            if current is None or (cid and name and current["id"] and cid != current["id"]):
                calls.append({"id": cid, "name": name, "arguments": args})
                at_index[index] = len(calls) - 1
                continue
            current["id"] = current["id"] or cid
            current["name"] = current["name"] or name
            if not (current["arguments"] and parses(current["arguments"])):
                current["arguments"] += args
    return Rebuilt(tuple(Call(c["id"], c["name"], c["arguments"]) for c in calls), finish)


REBUILDS: dict[str, Callable[[Sequence[Mapping[str, Any]]], Rebuilt]] = {
    "openai-python": rebuild_openai_python,
    "openai-node": rebuild_by_index,
    "litellm": rebuild_litellm,
    "ai-sdk": rebuild_ai_sdk,
    "tolerant": rebuild_tolerant,
}
CLIENT_WORDS = {"openai-python": "the openai Python SDK", "openai-node": "the openai Node SDK", "litellm": "litellm",
                "ai-sdk": "the AI SDK", "tolerant": "a tolerant client"}


# ------------------------------------------------------------------------------------------------ what the stream did
@dataclass
class Facts:
    """What a stream did against the invariants, whatever any client makes of it."""

    calls: list[Call] = field(default_factory=list)  # as sent: one per call start, arguments joined as they came
    defects: list[str] = field(default_factory=list)  # named deviations a client may or may not repair
    fatal: list[str] = field(default_factory=list)  # deviations no client repairs
    finishes: list[str] = field(default_factory=list)
    buffered: bool = False  # every call's arguments arrived in one chunk


def chat_facts(chunks: Sequence[Mapping[str, Any]]) -> Facts:
    facts = Facts()
    raw: list[dict[str, Any]] = []  # {id, ids, names, pieces}
    at_index: dict[int, int] = {}
    missing_index = 0
    chunks_with_calls: list[int] = []
    finish_chunk = None
    for n, (deltas, reason) in enumerate(chat_choices(chunks)):
        if reason:
            facts.finishes.append(reason)
            finish_chunk = n
        if deltas:
            chunks_with_calls.append(n)
        for delta in deltas:
            index, fn = delta.get("index"), _function(delta)
            cid, name, args = _text(delta.get("id")), _text(fn.get("name")), _text(fn.get("arguments")) or ""
            if not isinstance(index, int):
                missing_index += 1
                position = len(raw) - 1 if raw else None
            else:
                position = at_index.get(index)
            current = raw[position] if position is not None else None
            if current is None or (cid and name and current["ids"] and cid not in current["ids"]):
                if current is not None:
                    facts.defects.append("index-shared")
                raw.append({"ids": [cid] if cid is not None else [], "names": [name] if name else [], "pieces": [args] if args else []})
                if isinstance(index, int):
                    at_index[index] = len(raw) - 1
                continue
            if cid is not None:
                current["ids"].append(cid)
            if name:
                current["names"].append(name)
            if args:
                current["pieces"].append(args)
    if missing_index:
        facts.defects.append("index-missing")
    for call in raw:
        ids = [i for i in call["ids"] if i]
        if not ids:
            facts.fatal.append("a call has no id (the agent's tool result could not name it)")
        elif len(set(ids)) > 1:
            facts.fatal.append("a call's id changes from chunk to chunk (the agent's tool result could not name it)")
        elif len(ids) > 1:
            facts.defects.append("id-repeated")
        if len(call["names"]) > 1:
            facts.defects.append("name-repeated")
        pieces = call["pieces"]
        joined = "".join(pieces)
        if len(pieces) > 1 and not parses(joined) and parses("".join(pieces[:-1])) and pieces[-1] == "".join(pieces[:-1]):
            facts.defects.append("duplicate-summary")
            joined = pieces[-1]
        facts.calls.append(Call(ids[0] if ids else None, call["names"][0] if call["names"] else None, joined))
    if raw and chunks_with_calls and set(chunks_with_calls) == {finish_chunk}:
        facts.defects.append("final-frame-only")
    facts.buffered = bool(raw) and all(len(c["pieces"]) == 1 for c in raw)
    if len(facts.finishes) > 1:
        facts.defects.append("finish-repeated")
    facts.defects = sorted(set(facts.defects), key=list(DEFECT_WORDS).index)
    return facts


DEFECT_WORDS = {  # in the order a finding names them
    "duplicate-summary": "a trailing chunk repeats the call's whole arguments",
    "index-shared": "parallel calls share one `index`",
    "index-missing": "tool-call deltas carry no `index`",
    "name-repeated": "the call's name is sent more than once",
    "id-repeated": "the call's id is repeated on later chunks (the openai Python SDK joins the copies into one longer id)",
    "final-frame-only": "the calls arrive only in the final chunk, beside finish_reason",
    "finish-repeated": "finish_reason is sent more than once",
    "item-index-shared": "calls share one `output_index`",
    "deltas-invalid": "the argument deltas join into text that is not JSON",
    "response-id-changed": "the response id changes between response.created and response.completed",
}


# ------------------------------------------------------------------------------------------------ Responses
def responses_payloads(events: Sequence[SSEEvent]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for event in events:
        payload = sse_json(event)
        if isinstance(payload, dict):
            found.append((str(event.event or payload.get("type") or ""), payload))
    return found


def _fc(item: Any) -> dict[str, Any] | None:
    return item if isinstance(item, dict) and item.get("type") == "function_call" else None


def _item_call(item: Mapping[str, Any]) -> Call:
    return Call(_text(item.get("call_id")), _text(item.get("name")), _text(item.get("arguments")) or "")


def responses_facts(events: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[Facts, dict[str, list[Call]]]:
    """The stream's facts, and its calls as each place gives them: `added`, `deltas` (joined per item), `done`,
    `completed`."""
    facts = Facts()
    added: dict[Any, dict[str, Any]] = {}
    indexes: list[Any] = []
    deltas: dict[Any, list[str]] = {}
    done: list[Call] = []
    completed: list[Call] | None = None
    ids: dict[str, set[Any]] = {"created": set(), "completed": set()}
    for kind, payload in events:
        if kind in ("response.created", "response.completed") and isinstance(payload.get("response"), dict):
            ids["created" if kind == "response.created" else "completed"].add(payload["response"].get("id"))
        if kind == "response.output_item.added" and (item := _fc(payload.get("item"))) is not None:
            added[item.get("id") or payload.get("output_index")] = item
            indexes.append(payload.get("output_index"))
        elif kind == "response.function_call_arguments.delta" and isinstance(payload.get("delta"), str):
            deltas.setdefault(payload.get("item_id") or payload.get("output_index"), []).append(payload["delta"])
        elif kind == "response.output_item.done" and (item := _fc(payload.get("item"))) is not None:
            done.append(_item_call(item))
        elif kind == "response.completed" and isinstance(payload.get("response"), dict):
            output = payload["response"].get("output")
            completed = [_item_call(i) for i in output if _fc(i) is not None] if isinstance(output, list) else None
    if len(indexes) != len(set(indexes)):
        facts.defects.append("item-index-shared")
    if ids["created"] and ids["completed"] and ids["created"] != ids["completed"]:
        facts.defects.append("response-id-changed")
    joined = ["".join(pieces) for pieces in deltas.values()]
    if any(not parses(text) for text in joined if text):
        facts.defects.append("deltas-invalid")
    facts.buffered = bool(deltas) and all(len(pieces) == 1 for pieces in deltas.values())
    places = {"added": [_item_call(i) for i in added.values()], "done": done, "completed": completed or []}
    for where, calls in places.items():
        if any(not c.id for c in calls):
            facts.fatal.append(f"a function_call has an empty call_id in output_item.{where}" if where != "completed"
                               else "a function_call has an empty call_id in response.completed")
    lists = [[c.id for c in calls] for calls in places.values() if calls]
    if any(ids_ != lists[0] for ids_ in lists[1:]):
        facts.fatal.append("a function_call's call_id differs between output_item.added, output_item.done and response.completed")
    facts.calls = done or (completed or [])
    return facts, {**places, "completed": completed or []}


def rebuild_responses(client: str, facts: Facts, places: Mapping[str, list[Call]], has_completed: bool) -> Rebuilt:
    """The openai SDKs keep the completed response (the Python helper raises on a shared `output_index` or a changed
    response id); the AI SDK and the others build each call from its `output_item.done`."""
    if client in ("openai-python", "openai-node"):
        if "item-index-shared" in facts.defects and client == "openai-python":
            return Rebuilt((), None, "it raises 'Duplicate response output index'")
        if "response-id-changed" in facts.defects and client == "openai-python":
            return Rebuilt((), None, "it raises 'Lifecycle response identity changed.'")
        if not has_completed:
            return Rebuilt((), None, "it raises \"Didn't receive a `response.completed` event.\"")
        return Rebuilt(tuple(places["completed"] or places["done"]))
    return Rebuilt(tuple(places["done"] or places["completed"]))


# ------------------------------------------------------------------------------------------------ judging
@dataclass(frozen=True)
class Finding:
    status: Status
    category: Category
    text: str


def schema_problem(call: Call, tools: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why the agent's tool could not run this call, or None."""
    if call.name is None or call.name not in tools:
        return f"arrive as {show_repr(call.name)}, a tool the agent does not have"
    try:
        args = json.loads(call.arguments) if call.arguments.strip() else {}
    except (ValueError, RecursionError):
        return "arrive with arguments that are not JSON"
    if not isinstance(args, dict):
        return "arrive with arguments that are not a JSON object"
    # jsonschema (~120 ms to import) only where a schema is checked
    from jsonschema import Draft202012Validator

    errors = list(Draft202012Validator(tools[call.name].get("parameters") or {}).iter_errors(args))
    if errors:
        return f"arrive with arguments its schema refuses ({errors[0].validator}: {redact_head(errors[0].message, 60)})"
    return None


def judge_rebuilt(rebuilt: Rebuilt, twins: list[dict[str, Any]] | None, tools: Mapping[str, Mapping[str, Any]],
                  client: str) -> Finding | None:
    """A failure when the agent's client rebuilds the stream into something its tools cannot run, or into another
    number of calls than the twin's (None: no twin call to compare with)."""
    who = CLIENT_WORDS[client]
    twin = twins or []
    if rebuilt.error:
        return Finding(Status.FAIL, Category.GATEWAY, f"the agent's client ({who}) could not read the stream: {rebuilt.error}")
    for n, call in enumerate(rebuilt.calls):
        meant = twin[n] if n < len(twin) else {}
        problem = schema_problem(call, tools)
        if problem is None and not call.arguments.strip() and _has_arguments(meant.get("arguments")):
            problem = "arrive with no arguments (the non-streamed answer has some)"
        if problem is not None:
            name = meant.get("name")
            shown = f"{name} call" if isinstance(name, str) else "call"
            if isinstance(name, str) and call.name != name:
                problem = f"arrive as {show_repr(call.name)}" + (" with arguments that are not JSON" if not _args_ok(call) else "")
            return Finding(Status.FAIL, Category.GATEWAY,
                           f"as {who} rebuilds the stream, the agent's {shown} would {problem}: its tool would never run")
    if twins is None:
        return None
    distinct = list(dict.fromkeys((c.name, _canonical(c.arguments)) for c in rebuilt.calls))
    if len(rebuilt.calls) > len(twin) == len(distinct):
        repeated = sorted({str(c.name) for n, c in enumerate(rebuilt.calls) if (c.name, _canonical(c.arguments)) in
                           {(d.name, _canonical(d.arguments)) for d in rebuilt.calls[:n]}})
        return Finding(Status.WARN, Category.GATEWAY, f"as {who} rebuilds the stream, the agent would run its {', '.join(repeated)} "
                                                      f"call twice (a second call with the same arguments)")
    if len(rebuilt.calls) != len(twin):
        lost = len(twin) - len(rebuilt.calls)
        what = f"{lost} call(s) lost silently" if lost > 0 else f"{-lost} call(s) the model never made"
        return Finding(Status.FAIL, Category.GATEWAY, f"the agent would get {len(rebuilt.calls)} call(s) as {who} rebuilds the stream, "
                                                      f"where the non-streamed answer has {len(twin)}: {what}")
    return None


def _canonical(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments) if arguments.strip() else {}, sort_keys=True)
    except (ValueError, RecursionError):
        return arguments


def _args_ok(call: Call) -> bool:
    return not call.arguments.strip() or parses(call.arguments)


def _has_arguments(raw: Any) -> bool:
    try:
        return isinstance(raw, str) and bool(json.loads(raw))
    except (ValueError, RecursionError):
        return False


@dataclass(frozen=True)
class Judged:
    findings: list[Finding]
    notes: list[str]
    calls: int | None  # the calls the agent would get (None: no usable answers)
    twin_calls: int | None


def stream_failure(ex: Exchange, endpoint: str) -> Finding | None:
    """Why a streamed answer cannot be judged at all (the evidence rules every check applies), or None."""
    plain = plain_json_answer(ex)
    if plain is not None:
        return Finding(Status.FAIL, Category.GATEWAY, plain)
    if ex.events is None or (ex.transport_error and not ex.events):
        failure = describe_failure(ex, f"paths.{endpoint}")
        category, reason = failure if failure else (Category.GATEWAY, "no stream")
        return Finding(failure_status(category), category, f"the streamed call: {reason}")
    if ex.truncated:
        return Finding(Status.FAIL, Category.GATEWAY,
                       f"the stream is larger than the size cap (max_response_bytes) or has more than {MAX_SSE_EVENTS} events")
    if endpoint == "responses":
        events = responses_payloads(ex.events)
        for kind, payload in events:
            if kind == "error" or (payload.get("error") and kind not in ("response.completed", "response.failed")):
                parsed = parse_error_body({"error": payload.get("error")}) if payload.get("error") else None
                return Finding(Status.FAIL, Category.GATEWAY, f"an error event inside the 200 stream: {parsed.message if parsed else 'error'}")
        if ex.transport_error:
            return Finding(Status.ERROR, Category.INFRASTRUCTURE, f"the stream broke off: {ex.transport_detail or ex.transport_error}")
        return None
    ok, category, reason, _ = judge_chat_stream(ex.events, ex.stream_complete)
    if ok:
        return None
    if ex.transport_error:
        return Finding(Status.ERROR, Category.INFRASTRUCTURE, f"{reason} ({ex.transport_detail or ex.transport_error})")
    return Finding(failure_status(category), category, reason)


def judge_pair(stream: Exchange, twin: Exchange, settings: Settings, parallel: bool) -> Judged:
    profile = settings.profile
    endpoint = profile.endpoint or settings.endpoint
    tools = {str(t["name"]): t for t in profile.tools}
    gen = generation(twin, endpoint, tools_expected=True)
    unusable = stream_failure(stream, endpoint)
    if unusable is not None:
        return Judged([unusable], [], None, None)
    if not gen.ok:
        return Judged([Finding(failure_status(gen.category), gen.category, f"the non-streamed twin: {gen.reason}")], [], None, None)
    twin_calls = gen.tool_calls
    assert stream.events is not None
    if endpoint == "responses":
        payloads = responses_payloads(stream.events)
        facts, places = responses_facts(payloads)
        ends = [kind for kind, _ in payloads if kind in ("response.completed", "response.failed", "response.incomplete")]
        has_completed = "response.completed" in ends
        if not has_completed:
            how = f"the stream ended with {ends[-1]}" if ends else "the stream ended without response.completed"
            category = Category.MODEL if ends and ends[-1] == "response.incomplete" else Category.GATEWAY
            return Judged([Finding(Status.FAIL, category, how)], [], None, None)
        rebuilt = rebuild_responses(profile.client, facts, places, has_completed)
    else:
        chunks = [p for e in stream.events if isinstance(p := sse_json(e), dict)]
        facts = chat_facts(chunks)
        rebuilt = REBUILDS[profile.client](chunks)
    notes: list[str] = []
    if not twin_calls and not facts.calls:
        return Judged([Finding(Status.WARN, Category.MODEL, "inconclusive: the model made no tool call, streamed or not, though one was "
                                                            "required")], [], 0, 0)
    findings = [Finding(Status.FAIL, Category.GATEWAY, text) for text in facts.fatal]
    if parallel and len(twin_calls) == 1 and len(facts.calls) <= 1:
        notes.append("inconclusive for parallel calls: the model made one call where two were asked")
    if not twin_calls:  # the stream has calls: its count has nothing to be compared with, its calls are still judged
        findings.append(Finding(Status.WARN, Category.MODEL, "inconclusive: the non-streamed twin made no tool call though one was "
                                                             "required, so the streamed calls' count is not compared"))
    broken = judge_rebuilt(rebuilt, twin_calls or None, tools, profile.client)
    if broken is not None and broken.status is Status.WARN and f"{NAME}.duplicate-calls" in settings.required:
        broken = Finding(Status.FAIL, broken.category, broken.text)
    if broken is not None:
        named = [DEFECT_WORDS[d] for d in facts.defects if d in DEFECT_WORDS]
        findings.append(Finding(broken.status, broken.category, broken.text + (f" ({named[0]})" if named else "")))
    else:
        # An id repeated identically is within the invariant; only the openai Python SDK rebuilds it differently
        ignored = {"finish-repeated"} | ({"id-repeated"} if profile.client != "openai-python" else set())
        tolerated = [DEFECT_WORDS[d] for d in facts.defects if d not in ignored]
        if tolerated:
            how = "keeps the finished items, which are right" if endpoint == "responses" else "rebuilds the calls correctly"
            findings.append(Finding(Status.WARN, Category.GATEWAY, f"{'; '.join(tolerated)}: {CLIENT_WORDS[profile.client]} {how}"))
    if endpoint == "chat" and rebuilt.error is None:
        findings += finish_findings(rebuilt, facts, settings)
    if facts.buffered and facts.calls:
        notes.append("every call's arguments arrived in one chunk (buffered)")
    return Judged(findings, notes, len(rebuilt.calls) if rebuilt.error is None else 0, len(twin_calls))


def finish_findings(rebuilt: Rebuilt, facts: Facts, settings: Settings) -> list[Finding]:
    if not rebuilt.calls:
        return []
    blocking = settings.profile.relies_on_finish_reason or f"{NAME}.finish-reason" in settings.required
    status = Status.FAIL if blocking else Status.WARN
    found = []
    if rebuilt.finish_reason != "tool_calls":
        why = " (the agent relies on it)" if settings.profile.relies_on_finish_reason else ""
        found.append(Finding(status, Category.GATEWAY, f"the streamed calls end with finish_reason {show_repr(rebuilt.finish_reason)}, "
                                                       f"not 'tool_calls'{why}"))
    elif "finish-repeated" in facts.defects:
        found.append(Finding(Status.WARN, Category.GATEWAY, f"finish_reason is sent {len(facts.finishes)} times"))
    return found


def evaluate(ev: Evidence) -> CheckResult:
    profile = ev.settings.profile
    if not profile.uses_tools:
        return result(NAME, Status.SKIP, Category.NONE, f"the agent profile {profile.name!r} sends no tools")
    if not profile.streams:
        return result(NAME, Status.SKIP, Category.NONE, f"the agent profile {profile.name!r} does not stream")
    pairs = [(SINGLE, False)] + ([(PARALLEL, True)] if profile.parallel_tool_calls is not False else [])
    labels = [label for base, _ in pairs for label in (base, base + TWIN)]
    if missing_labels(ev, labels):
        return not_finished(ev, NAME, [f"the streamed tool calls ({', '.join(missing_labels(ev, labels))})"])
    findings: list[Finding] = []
    notes: list[str] = []
    metrics: dict[str, Any] = {}
    exchanges: list[Exchange] = []
    for base, parallel in pairs:
        stream, twin = ev.exchanges[base], ev.exchanges[base + TWIN]
        exchanges += [stream, twin]
        judged = judge_pair(stream, twin, ev.settings, parallel)
        which = "parallel" if parallel else "single"
        for found in judged.findings:  # a finding both calls share is said once
            same = next((n for n, f in enumerate(findings) if f.text == f"single: {found.text}"), None)
            if same is not None:
                findings[same] = Finding(found.status, found.category, f"single and parallel: {found.text}")
            else:
                findings.append(Finding(found.status, found.category, f"{which}: {found.text}"))
        notes += [note for note in judged.notes if note not in notes]
        metrics[f"{which}_calls"] = judged.calls
        metrics[f"{which}_twin_calls"] = judged.twin_calls
    duration = duration_of(*exchanges)
    status = worst([f.status for f in findings])
    category = Category.NONE
    if not findings:
        made = {w: metrics[f"{w}_calls"] for w in ("single", "parallel") if f"{w}_calls" in metrics}
        counts = ", ".join(f"{w}: {n} call{'' if n == 1 else 's'}" for w, n in made.items())
        detail = f"streamed calls rebuilt as {CLIENT_WORDS[profile.client]} does match their non-streamed twins ({counts})"
    else:
        ordered = sorted(findings, key=lambda f: [Status.ERROR, Status.FAIL, Status.WARN].index(f.status))
        detail = "; ".join(f.text for f in ordered)
        category = ordered[0].category
    if notes:
        detail += "; note: " + "; ".join(notes)
    return result(NAME, status, category, excerpt(detail, 300), duration_ms=duration, metrics=metrics)
