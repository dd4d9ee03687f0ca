"""tool-round-trip: the turn after a tool result works, as a coding agent's tool loop sends it.

Most gateway defects that break agents show only on the request after a tool call (tool results dropped or paired
wrongly, reasoning state not carried back, parallel results not grouped, Responses `call_id` emptied or
`previous_response_id` ignored). One conversation and a few synthetic histories, all with the profile's tools:

- the round trip (conversation `conv-round-trip`): turn 1 forces a call of the profile's file-reading tool
  (`tool_choice` naming it; when the gateway refuses that form with a structured 4xx, once more with `"required"`, and
  the detail says so). Then the assistant turn replayed **exactly** as the gateway returned it (every field it gave)
  with a small synthetic file as the tool result: it must answer 200 with a well-formed turn (text, or a different
  call). The identical call again right after its result is the loop signature. When the profile round-trips
  reasoning through a stateless Responses conversation (`store: false`, `include: ["reasoning.encrypted_content"]`)
  the replay is sent three times (a load-balanced gateway may send one to a deployment that cannot read it). Then the
  same replay **stripped** to role/content/tool_calls (Responses: the function_call items alone), as many agents send
  it: refused while the exact one passed, it names the field the agent must round-trip;
- a synthetic parallel history (`conv-parallel-history`, `conv-parallel-history-user`): one assistant turn with two
  calls and their two results, without and with a trailing user message. It needs no cooperation of the model;
- Responses, when the profile chains turns (`conv-chained-turn`): turn 2 sends only the tool output and
  `previous_response_id`. Used, or refused with a structured 4xx; a 200 that answers as if no tool had run (the same
  call again) means the gateway ignored it.

A stripped replay refused for a field the profile says the agent round-trips passes; when the profile lists reasoning
fields and not this one, or says it replays none (`drops_reasoning`), the agent drops it and it fails; with no
reasoning fields declared it warns
(`required: [tool-round-trip.stripped-replay]` makes it block). A chained turn refused with a structured 4xx warns
(`tool-round-trip.previous-response-id`). Only what the loop needs is sent (tools, tool_choice, the token cap): the
agent's other parameters are judged by their own check. Replays are not streamed; a Responses first turn is, when the
profile streams, and its events are held to one response id and a non-empty `call_id` on every function call. Every
conversation starts with the opening of the profile's recorded role sequence (approval.engine.opening: its instruction
and context messages as filler of the recorded lengths), as the agent's own requests do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from approval.common.redact import excerpt
from approval.engine.checks.base import CheckSpec, Evidence, duration_of, not_finished, result
from approval.engine.classify import describe_failure, failure_status, generation
from approval.engine.contract import Generation, parse_error_body, parse_responses_object, show_repr
from approval.engine.gateway import Exchange, sse_json
from approval.engine.opening import NONE, Opening, ahead, opening
from approval.engine.probes import Probe, Turn, messages_key, messages_payload
from approval.engine.results import Category, CheckResult, Status
from approval.settings.build import Settings
from approval.settings.profile import AgentProfile

NAME = "tool-round-trip"
ROUND_TRIP = "conv-round-trip"
PARALLEL = "conv-parallel-history"
PARALLEL_USER = "conv-parallel-history-user"
CHAINED = "conv-chained-turn"

FILE_TEXT = "# demo-project\n\nA small command-line tool that converts CSV files to JSON.\nVersion 1.4.2, MIT licence.\n"
PROMPT = "Read README.md with the {tool} tool, then tell me in one sentence what the project does."
PARALLEL_PROMPT = "Read README.md and CHANGELOG.md with the {tool} tool."
FOLLOW_UP = "Thanks. Now say in one sentence what both files are about."
READING_WORDS = frozenset({"read", "view", "cat", "open"})
NOT_TEXT_WORDS = frozenset({"image", "notebook"})  # `view_image` reads no text file: not the file reader
COMMAND_KEYS = ("command", "cmd")
PATH_KEYS = ("path", "file_path", "filePath", "filepath", "file", "filename", "target_file", "absolute_path")
REASONING_WORDS = ("reasoning", "thinking", "thought_signature", "signature", "encrypted_content")
REPLAYS_STATELESS = 3  # exact replays of a stateless Responses turn carrying encrypted reasoning
# What a stripped replay keeps, as many agents rebuild the assistant turn.
KEPT_MESSAGE = ("role", "content", "tool_calls")
KEPT_CALL = ("id", "type", "function")
KEPT_FUNCTION = ("name", "arguments")
KEPT_ITEM = ("type", "call_id", "name", "arguments")
KEPT_TEXT = ("type", "role", "content")
STRUCTURED_4XX_EXCLUDED = (401, 403, 404, 405, 407, 408, 429)

SPEC = CheckSpec(
    NAME,
    default="with-tools",
    findings=("stripped-replay", "previous-response-id"),
    summary=("the turn after a tool call works as the agent profile sends it: its assistant turn replayed exactly (and "
             "stripped) with the result, a parallel history, Responses `call_id` and `previous_response_id`; never the same call again"),
    reads=(ROUND_TRIP, PARALLEL, PARALLEL_USER, CHAINED),
    own_probes=lambda settings, model: own_probes(settings, model),  # noqa: PLW0108 - defined below, with what it sends
)


# -- what is sent ---------------------------------------------------------------------------------------------------


def endpoint_of(settings: Settings) -> str:
    return settings.profile.endpoint or settings.endpoint


def reading_tool(profile: AgentProfile) -> Mapping[str, Any]:
    """The profile's first file-reading tool (by name, else by a path-like parameter), else its first tool; a tool
    for images or notebooks is never taken for the file reader."""
    tools = profile.tools
    texts = [t for t in tools if not NOT_TEXT_WORDS & set(name_words(str(t.get("name", ""))))]
    for tool in texts:
        if READING_WORDS & set(name_words(str(tool.get("name", "")))):
            return tool
    for tool in texts:
        if any(key in properties(tool) for key in PATH_KEYS):
            return tool
    return (texts or tools)[0]


def name_words(name: str) -> list[str]:
    """The words of a tool's name: `read_file`, `readFile` and `Read-File` are all ["read", "file"]."""
    return re.findall(r"[a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower())


def properties(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    schema = tool.get("parameters")
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    return props if isinstance(props, Mapping) else {}


def arguments_for(tool: Mapping[str, Any], path: str) -> str:
    """Arguments an agent's call of `tool` for `path` would carry (for the synthetic history): the path-like
    parameter, and every other required one with a value of its type."""
    props = properties(tool)
    schema = tool.get("parameters")
    required = schema.get("required", []) if isinstance(schema, Mapping) else []
    key = next((k for k in PATH_KEYS if k in props), None)
    args: dict[str, Any] = {key: path} if key else {}
    defaults = {"string": path, "integer": 1, "number": 1, "boolean": False, "array": [], "object": {}}
    for name in required if isinstance(required, list) else []:
        if name not in args and isinstance(name, str):
            kind = props.get(name, {}).get("type") if isinstance(props.get(name), Mapping) else None
            args[name] = f"cat {path}" if name in COMMAND_KEYS else defaults.get(kind if isinstance(kind, str) else "string", path)
    return json.dumps(args)


def tools_payload(profile: AgentProfile, endpoint: str) -> list[dict[str, Any]]:
    if endpoint == "responses":
        return [{"type": "function", "name": t.get("name"), "description": t.get("description", ""), "parameters": t.get("parameters", {})}
                for t in profile.tools]
    return [{"type": "function", "function": {"name": t.get("name"), "description": t.get("description", ""),
                                              "parameters": t.get("parameters", {})}} for t in profile.tools]


def forced(endpoint: str, name: str) -> dict[str, Any]:
    return {"type": "function", "name": name} if endpoint == "responses" else {"type": "function", "function": {"name": name}}


def round_trips_reasoning(settings: Settings) -> bool:
    """The profile replays reasoning state, and on Responses without server-side storage: encrypted reasoning items."""
    return endpoint_of(settings) == "responses" and bool(settings.profile.reasoning_fields) and not settings.profile.previous_response_id


@dataclass(frozen=True)
class Loop:
    """The round-trip conversation for one model: what every turn carries, and how many exact replays it makes."""

    endpoint: str
    tool: str
    base: Mapping[str, Any]  # model, token cap, tools (and store/include when reasoning goes round)
    user: Mapping[str, Any]
    first_streams: bool
    replays: int
    opening: Opening = NONE  # the agent's own first messages (its role_sequence's), ahead of the check's turns

    def first(self, choice: Any) -> dict[str, Any]:
        payload = ahead(self.opening, {**self.base, self.key: [dict(self.user)], "tool_choice": choice}, self.endpoint)
        if self.first_streams:
            payload["stream"] = True
        return payload

    @property
    def key(self) -> str:
        return messages_key(self.endpoint)

    def follow(self, history: list[Any]) -> dict[str, Any]:
        return ahead(self.opening, {**self.base, self.key: [dict(self.user), *history], "tool_choice": "auto"}, self.endpoint)


def loop_for(settings: Settings, model: str) -> Loop:
    endpoint = endpoint_of(settings)
    tool = str(reading_tool(settings.profile).get("name"))
    base = messages_payload(settings, endpoint, model, [])
    base.pop("input", None)
    base.pop("messages", None)
    base["tools"] = tools_payload(settings.profile, endpoint)
    stateless = round_trips_reasoning(settings)
    if stateless:
        base["store"] = False
        base["include"] = ["reasoning.encrypted_content"]
    return Loop(endpoint, tool, base, {"role": "user", "content": PROMPT.format(tool=tool)},
                endpoint == "responses" and settings.profile.streams, REPLAYS_STATELESS if stateless else 1,
                opening(settings.profile.role_sequence, endpoint))


def refused_structured(ex: Exchange, *, not_found: bool = False) -> bool:
    """A 4xx with a structured error that is not about access, the path, the model's name or the rate (`not_found`:
    a 404 counts, for a turn naming something the gateway may not hold, like a previous response)."""
    status = ex.status or 0
    excluded = set(STRUCTURED_4XX_EXCLUDED) - ({404} if not_found else set())
    return 400 <= status < 500 and status not in excluded and parse_error_body(ex.json()) is not None


def answer_of(ex: Exchange, endpoint: str) -> Generation:
    """The generation an answer carries (a streamed Responses turn: its response.completed), calls allowed."""
    if ex.events is not None and ex.status is not None and 200 <= ex.status < 300 and ex.transport_error is None:
        final = completed_response(ex)
        if final is None:
            return Generation(False, Category.GATEWAY, "the stream ended without response.completed")
        return parse_responses_object(final, tools_expected=True)
    return generation(ex, endpoint, tools_expected=True)


def completed_response(ex: Exchange) -> dict[str, Any] | None:
    """The Responses object of an answer: the body, or a stream's response.completed."""
    if ex.events is None:
        body = ex.json()
        return body if isinstance(body, dict) else None
    for event in ex.events:
        payload = sse_json(event)
        if isinstance(payload, dict) and (event.event or payload.get("type")) == "response.completed":
            response = payload.get("response")
            return response if isinstance(response, dict) else None
    return None


def assistant_turn(ex: Exchange, endpoint: str) -> list[dict[str, Any]]:
    """The assistant's turn exactly as the gateway returned it: the chat message, or every Responses output item."""
    if endpoint == "responses":
        final = completed_response(ex)
        output = final.get("output") if final else None
        return [dict(item) for item in output if isinstance(item, dict)] if isinstance(output, list) else []
    body = ex.json()
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return []
    return [dict(message)] if isinstance(message, dict) else []


def calls_in(turn: list[dict[str, Any]], endpoint: str) -> list[dict[str, Any]]:
    """The tool calls of an assistant turn as {id, name, arguments}."""
    if endpoint == "responses":
        return [{"id": item.get("call_id"), "name": item.get("name"), "arguments": item.get("arguments")}
                for item in turn if item.get("type") == "function_call"]
    found = []
    for message in turn:
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                found.append({"id": call.get("id"), "name": function.get("name"), "arguments": function.get("arguments")})
    return found


def results_for(calls: list[dict[str, Any]], endpoint: str) -> list[dict[str, Any]]:
    if endpoint == "responses":
        return [{"type": "function_call_output", "call_id": call["id"], "output": FILE_TEXT} for call in calls]
    return [{"role": "tool", "tool_call_id": call["id"], "content": FILE_TEXT} for call in calls]


def stripped(turn: list[dict[str, Any]], endpoint: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The assistant turn as many agents rebuild it, and the names of what that leaves out."""
    dropped: list[str] = []
    if endpoint == "responses":
        kept = []
        for item in turn:
            keep = KEPT_ITEM if item.get("type") == "function_call" else KEPT_TEXT if item.get("type") == "message" else None
            if keep is None:  # reasoning items, and anything else an agent does not know
                dropped.append(f"{item.get('type')} items")
                continue
            kept.append({k: item[k] for k in keep if k in item})
            dropped += [k for k in item if k not in keep]
        return kept, list(dict.fromkeys(dropped))
    messages = []
    for message in turn:
        slim = {k: message[k] for k in KEPT_MESSAGE if k in message}
        dropped += [k for k in message if k not in KEPT_MESSAGE]
        calls = []
        for call in message.get("tool_calls") or []:
            if not isinstance(call, dict):
                continue
            raw = call.get("function")
            function: dict[str, Any] = raw if isinstance(raw, dict) else {}
            calls.append({**{k: call[k] for k in KEPT_CALL if k in call and k != "function"},
                          "function": {k: function[k] for k in KEPT_FUNCTION if k in function}})
            dropped += [k for k in call if k not in KEPT_CALL] + [f"function.{k}" for k in function if k not in KEPT_FUNCTION]
        if "tool_calls" in slim:
            slim["tool_calls"] = calls
        messages.append(slim)
    return messages, list(dict.fromkeys(dropped))


# -- the conversation -----------------------------------------------------------------------------------------------

CALL, CALL_REQUIRED, REPLAY, STRIPPED = "call", "call-required", "replay", "stripped"


def next_step(loop: Loop, answers: list[Exchange]) -> tuple[str, Turn] | None:
    """The round trip's next turn, and its role, from the answers so far (the first turn is the probe itself)."""
    return step_after(loop, answers, roles_of(loop, answers))


def roles_of(loop: Loop, answers: list[Exchange]) -> list[str]:
    """What each turn made was: the forced call, its retry with "required", an exact replay, the stripped one."""
    roles = [CALL]
    for i in range(1, len(answers)):
        step = step_after(loop, answers[:i], roles)
        roles.append(step[0] if step else "?")
    return roles


def step_after(loop: Loop, answers: list[Exchange], roles: list[str]) -> tuple[str, Turn] | None:
    last = answers[-1]
    if roles[-1] == CALL and refused_structured(last):
        return CALL_REQUIRED, Turn(loop.first("required"), stream=loop.first_streams)
    call_at = max(i for i, role in enumerate(roles) if role in (CALL, CALL_REQUIRED))
    turn = assistant_turn(answers[call_at], loop.endpoint)
    calls = calls_in(turn, loop.endpoint)
    if not calls or not answer_of(answers[call_at], loop.endpoint).tool_calls:
        return None
    replays = [i for i, role in enumerate(roles) if role == REPLAY]
    last_ok = replays and (answers[replays[-1]].status or 0) // 100 == 2
    if not replays or (len(replays) < loop.replays and last_ok):
        return REPLAY, Turn(loop.follow([*turn, *results_for(calls, loop.endpoint)]))
    if STRIPPED not in roles:
        slim, dropped = stripped(turn, loop.endpoint)
        if dropped:
            return STRIPPED, Turn(loop.follow([*slim, *results_for(calls, loop.endpoint)]))
    return None


def synthetic_parallel(settings: Settings, model: str, endpoint: str, first: Opening, *, follow_up: bool) -> dict[str, Any]:
    tool = reading_tool(settings.profile)
    name = str(tool.get("name"))
    calls = [{"id": f"call_rtparallel{i}", "name": name, "arguments": arguments_for(tool, path)}
             for i, path in enumerate(("README.md", "CHANGELOG.md"))]
    user = {"role": "user", "content": PARALLEL_PROMPT.format(tool=name)}
    if endpoint == "responses":
        history: list[dict[str, Any]] = [{"type": "function_call", "call_id": c["id"], "name": name, "arguments": c["arguments"]} for c in calls]
    else:
        history = [{"role": "assistant", "content": None,
                    "tool_calls": [{"id": c["id"], "type": "function", "function": {"name": name, "arguments": c["arguments"]}}
                                   for c in calls]}]
    messages = [user, *history, *results_for(calls, endpoint)]
    if follow_up:
        messages.append({"role": "user", "content": FOLLOW_UP})
    payload = messages_payload(settings, endpoint, model, messages)
    payload["tools"] = tools_payload(settings.profile, endpoint)
    payload["tool_choice"] = "auto"
    return ahead(first, payload, endpoint)


def chained_next(loop: Loop, answers: list[Exchange]) -> Turn | None:
    if len(answers) != 1:
        return None
    final = completed_response(answers[0])
    calls = calls_in(assistant_turn(answers[0], loop.endpoint), loop.endpoint)
    if not final or not isinstance(final.get("id"), str) or not final["id"] or not calls:
        return None
    payload = {k: v for k, v in loop.base.items() if k not in ("store", "include")}
    if loop.opening.instructions is not None:  # sent on every request, as the agent sends them
        payload["instructions"] = loop.opening.instructions
    return Turn({**payload, "previous_response_id": final["id"], "input": results_for(calls, loop.endpoint), "tool_choice": "auto"})


def own_probes(settings: Settings, model: str) -> list[Probe]:
    if not settings.profile.uses_tools:
        return []
    endpoint = endpoint_of(settings)
    path = settings.path_for(endpoint)
    loop = loop_for(settings, model)

    def follow(answers: list[Exchange]) -> Turn | None:
        step = next_step(loop, answers)
        return step[1] if step else None

    first = loop.first(forced(endpoint, loop.tool))
    probes = [Probe(ROUND_TRIP, "POST", path, first, stream=loop.first_streams, next_turn=follow, max_turns=2 + loop.replays + 1),
              Probe(PARALLEL, "POST", path, synthetic_parallel(settings, model, endpoint, loop.opening, follow_up=False)),
              Probe(PARALLEL_USER, "POST", path, synthetic_parallel(settings, model, endpoint, loop.opening, follow_up=True))]
    if endpoint == "responses" and settings.profile.previous_response_id:
        chain = Loop(loop.endpoint, loop.tool, {k: v for k, v in loop.base.items() if k not in ("store", "include")}, loop.user, False, 1,
                     loop.opening)
        probes.append(Probe(CHAINED, "POST", path, chain.first(forced(endpoint, loop.tool)),
                            next_turn=lambda answers: chained_next(chain, answers), max_turns=2))
    return probes


# -- judging --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    status: Status
    category: Category
    line: str
    always: bool = False  # said whatever the outcome (how the call had to be forced)


def passed(line: str) -> Part:
    return Part(Status.PASS, Category.NONE, line)


def unanswered(ex: Exchange, endpoint: str, what: str, *, path_served: bool = False) -> Part | None:
    """An evidence gap: the turn got no usable answer for a reason of infrastructure or configuration. A 404 on a path
    that has already answered this run (`path_served`) is an answer about the turn, not a wrong path."""
    failure = describe_failure(ex, f"paths.{endpoint}")
    if failure is not None and failure[0] is Category.CONFIG and path_served:
        return None
    if failure is not None and failure_status(failure[0]) is Status.ERROR:
        return Part(Status.ERROR, failure[0], f"{what} got no answer: {failure[1]}")
    return None


def judge_next_turn(ex: Exchange, endpoint: str, sent: list[dict[str, Any]], what: str, *, path_served: bool = True) -> Part:
    """A turn after tool results: 200 and a well-formed turn that is not the identical call again."""
    gap = unanswered(ex, endpoint, what, path_served=path_served)
    if gap is not None:
        return gap
    gen = answer_of(ex, endpoint)
    if not gen.ok and not gen.tool_calls:
        if ex.status is not None and 400 <= ex.status < 500:
            return Part(Status.FAIL, Category.GATEWAY, f"{what} would be refused: {refusal_text(ex)}")
        return Part(Status.FAIL, gen.category, f"{what} would get no usable answer: {gen.reason}")
    repeated = same_call(gen.tool_calls, sent)
    if repeated is not None:
        return Part(Status.FAIL, Category.GATEWAY,
                    f"{what} got the identical call again right after its result: the agent would call {show_repr(repeated)} again "
                    f"forever (the tool result did not reach the model)")
    shape = "a different call" if gen.tool_calls and not gen.text.strip() else "text"
    return passed(f"{what}: HTTP {ex.status}, {shape}")


def refusal_text(ex: Exchange, limit: int = 140) -> str:
    parsed = parse_error_body(ex.json())
    said = excerpt(parsed.message, limit) if parsed else (ex.body_excerpt(100) if ex.body else "(empty body)")
    return f"HTTP {ex.status}: {said}"


def arguments_value(raw: Any) -> Any:
    try:
        return json.loads(raw) if isinstance(raw, str) else raw
    except (ValueError, RecursionError):
        return raw


def same_call(answered: list[dict[str, Any]], sent: list[dict[str, Any]]) -> str | None:
    """The name of a call in `answered` identical (name and arguments) to one already run, else None."""
    for call in answered:
        for earlier in sent:
            if call.get("name") == earlier.get("name") and arguments_value(call.get("arguments")) == arguments_value(earlier.get("arguments")):
                return str(call.get("name"))
    return None


def first_turn(ev: Evidence, turns: list[Exchange], roles: list[str], endpoint: str) -> tuple[Part | None, int | None]:
    """Turn 1 (and its retry with "required"): a problem, and where the call is."""
    at = max(i for i, role in enumerate(roles) if role in (CALL, CALL_REQUIRED))
    ex = turns[at]
    retried = " (after the object form of tool_choice was refused, with \"required\")" if roles[at] == CALL_REQUIRED else ""
    what = f"the agent's forced first call{retried}"
    gap = unanswered(ex, endpoint, what)
    if gap is not None:
        return gap, None
    gen = answer_of(ex, endpoint)
    if not gen.tool_calls:
        if not gen.ok:
            return Part(failure_status(gen.category), gen.category, f"{what} failed: {gen.reason}"), None
        return Part(Status.FAIL, Category.GATEWAY, f"{what} was answered without a tool call: tool_choice is ignored on this route, "
                                                   f"so the agent's tool loop cannot be checked"), None
    calls = calls_in(assistant_turn(ex, endpoint), endpoint)
    if any(not isinstance(call.get("id"), str) or not call["id"].strip() for call in calls):
        field = "call_id" if endpoint == "responses" else "id"
        return Part(Status.FAIL, Category.GATEWAY, f"{what} came back with an empty {field}: the agent cannot pair its tool result "
                                                   f"with the call"), at
    if ex.events is not None:
        streamed = judge_stream_ids(ex)
        if streamed is not None:
            return Part(Status.FAIL, Category.GATEWAY, f"{what}, streamed: {streamed}"), at
    return None, at


def judge_stream_ids(ex: Exchange) -> str | None:
    """A streamed Responses turn: one response id from created to completed; every function call's call_id non-empty in
    output_item.added, output_item.done and response.completed."""
    ids: list[str] = []
    for event in ex.events or []:
        payload = sse_json(event)
        if not isinstance(payload, dict):
            continue
        kind = event.event or payload.get("type")
        response = payload.get("response")
        if isinstance(response, dict) and isinstance(response.get("id"), str):
            ids.append(response["id"])
        item = payload.get("item")
        if kind in ("response.output_item.added", "response.output_item.done") and isinstance(item, dict) \
                and item.get("type") == "function_call" and not str(item.get("call_id") or "").strip():
            return f"a function_call in {kind} has an empty call_id: the agent cannot pair its result with the call"
    if len(set(ids)) > 1:
        return "the response id changes between response.created and response.completed: the agent cannot chain the turn"
    return None


def judge_round_trip(ev: Evidence, endpoint: str) -> tuple[list[Part], dict[str, Any]]:
    settings = ev.settings
    loop = loop_for(settings, ev.model)
    turns = ev.turns(ROUND_TRIP)
    roles = roles_of(loop, turns)
    metrics: dict[str, Any] = {"turns": len(turns), "tool_choice_required": CALL_REQUIRED in roles, "replays": roles.count(REPLAY),
                               "turn_2_ms": None, "stripped_refused": None}
    problem, at = first_turn(ev, turns, roles, endpoint)
    parts = [problem] if problem is not None else []
    if CALL_REQUIRED in roles:
        parts.append(Part(Status.PASS, Category.NONE, f"tool_choice naming {loop.tool!r} was refused ({refusal_text(turns[0], 80)}), "
                                                      f"so the call was forced with \"required\"", always=True))
    if at is None:
        return parts, metrics
    turn = assistant_turn(turns[at], endpoint)
    sent = calls_in(turn, endpoint)
    replays = [turns[i] for i, role in enumerate(roles) if role == REPLAY]
    if not replays:  # the conversation stopped before it: never a pass
        return [*parts, Part(Status.ERROR, Category.INFRASTRUCTURE, "the agent's second turn was not made before the run's deadline")], metrics
    judged = [judge_next_turn(ex, endpoint, sent, "the agent's second turn" + (f" (replay {n} of {len(replays)})" if len(replays) > 1 else ""))
              for n, ex in enumerate(replays, 1)]
    bad = [p for p in judged if p.status is not Status.PASS]
    exact = bad[0] if bad else judged[0]
    if not bad:
        metrics["turn_2_ms"] = round(max(ex.elapsed_ms for ex in replays), 1)
        again = f", {len(replays)} times" if len(replays) > 1 else ""
        exact = passed(f"{judged[0].line} (the assistant turn replayed exactly as returned{again})")
    parts.append(exact)
    if STRIPPED in roles:
        parts.append(judge_stripped(settings, turns[roles.index(STRIPPED)], endpoint, turn, exact.status is Status.PASS, metrics))
    return parts, metrics


def judge_stripped(settings: Settings, ex: Exchange, endpoint: str, turn: list[dict[str, Any]], exact_passed: bool,
                   metrics: dict[str, Any]) -> Part:
    what = "the agent's second turn replayed stripped (role, content, tool calls only)"
    gap = unanswered(ex, endpoint, what, path_served=True)
    if gap is not None:
        return gap
    refused = ex.status is not None and 400 <= ex.status < 500
    metrics["stripped_refused"] = refused
    judged = judge_next_turn(ex, endpoint, calls_in(turn, endpoint), what)
    if judged.status is Status.PASS or not exact_passed:
        return passed(f"stripped replay: HTTP {ex.status}")
    _, dropped = stripped(turn, endpoint)
    field = named_field(ex, dropped) if refused else None
    named = repr(field) if field else f"what a stripped turn leaves out ({', '.join(dropped[:4])})"
    fate = f"would be refused ({refusal_text(ex, 100)})" if refused else f"would not get a usable next turn ({judged.line.split(': ', 1)[-1]})"
    line = f"the agent must round-trip {named}: an agent that replays the assistant turn without it {fate}"
    replays = settings.profile.reasoning_fields
    if field and field in replays:
        return passed(f"stripped replay refused, and the profile round-trips {field!r}")
    if replays or settings.profile.drops_reasoning:
        return Part(Status.FAIL, Category.GATEWAY, f"the profile {settings.profile.name!r} does not send it back; {line}")
    required = f"{NAME}.stripped-replay" in settings.required
    return Part(Status.FAIL if required else Status.WARN, Category.GATEWAY, line)


def named_field(ex: Exchange, dropped: list[str]) -> str | None:
    """The left-out field the refusal names first: by its name, or by its first word (`thinking` for
    `thinking_blocks`); a gateway's wrapper may quote more of the request after the provider's own words."""
    parsed = parse_error_body(ex.json())
    said = (parsed.message if parsed else ex.body_excerpt(400)).lower()
    found: list[tuple[int, int, str]] = []
    for order, name in enumerate(dropped):
        word = name.split(".")[-1].replace(" items", "").split("_")[0].lower()
        spots = [said.find(text) for text in (name.lower(), word) if len(text) > 3 and text in said]
        if spots:
            found.append((min(spots), order, name))
    return min(found)[2] if found else None


def judge_parallel(ev: Evidence, endpoint: str) -> list[Part]:
    parts = []
    for label, what in ((PARALLEL, "two parallel calls' results"), (PARALLEL_USER, "two parallel calls' results and a user message")):
        ex = ev.get(label)
        if ex is None:
            continue
        first = ev.get(ROUND_TRIP)
        served = first is not None and first.status is not None and 200 <= first.status < 300
        part = judge_next_turn(ex, endpoint, [], f"the agent's turn after {what}", path_served=served)
        refused = part.status is Status.FAIL and ex.status is not None and 400 <= ex.status < 500
        if refused and asks_for_reasoning(ex):
            part = passed(f"{what}: refused for reasoning state a synthetic history cannot carry (the round trip judges that)")
        elif refused:
            part = Part(Status.FAIL, Category.GATEWAY, f"{part.line} (the gateway's translation of grouped tool results is broken)")
        parts.append(part)
    return parts


def asks_for_reasoning(ex: Exchange) -> bool:
    """A refusal about reasoning state (DeepSeek's reasoning_content, Anthropic's thinking blocks and signatures)."""
    parsed = parse_error_body(ex.json())
    said = (parsed.message if parsed else ex.body_excerpt(400)).lower()
    return any(word in said for word in REASONING_WORDS)


def judge_chained(ev: Evidence, endpoint: str, metrics: dict[str, Any]) -> Part | None:
    """Responses, a profile that chains: turn 2 is the tool output and previous_response_id alone. Used (a well-formed
    answer after the call), refused with a structured 4xx (a warning), never ignored with a 200 (the same call again)."""
    turns = ev.turns(CHAINED)
    if not turns:
        return None
    first, sent = turns[0], calls_in(assistant_turn(turns[0], endpoint), endpoint)
    if len(turns) < 2:
        what = "the chained conversation's forced call"
        gap = unanswered(first, endpoint, what)
        if gap is not None:
            return gap
        final = completed_response(first)
        if not sent:
            gen = answer_of(first, endpoint)
            return Part(failure_status(gen.category) if not gen.ok else Status.FAIL, gen.category if not gen.ok else Category.GATEWAY,
                        f"{what} failed: {gen.reason}" if not gen.ok else f"{what} was answered without a tool call")
        if not final or not final.get("id"):
            return Part(Status.FAIL, Category.GATEWAY, "the response carries no id: the agent cannot chain its next turn by previous_response_id")
        return Part(Status.ERROR, Category.INFRASTRUCTURE, "the agent's chained turn was not made before the run's deadline")
    ex = turns[1]
    what = "the agent's chained turn (previous_response_id and the tool output only)"
    gap = unanswered(ex, endpoint, what, path_served=True)
    if gap is not None:
        return gap
    if refused_structured(ex, not_found=True):
        metrics["previous_response_id"] = "refused"
        required = f"{NAME}.previous-response-id" in ev.settings.required
        return Part(Status.FAIL if required else Status.WARN, Category.GATEWAY,
                    f"{what} is refused ({refusal_text(ex)}): this route does not keep previous_response_id; an agent that chains "
                    f"turns cannot run on it")
    gen = answer_of(ex, endpoint)
    if gen.ok and same_call(gen.tool_calls, sent):
        metrics["previous_response_id"] = "ignored"
        return Part(Status.FAIL, Category.GATEWAY, f"{what} was answered with 200 as if no tool had run (the same call again): "
                                                   f"previous_response_id is ignored, the agent would loop")
    part = judge_next_turn(ex, endpoint, sent, what)
    if part.status is Status.PASS:
        metrics["previous_response_id"] = "used"
    return part


def evaluate(ev: Evidence) -> CheckResult:
    profile = ev.settings.profile
    if not profile.uses_tools:
        return result(NAME, Status.SKIP, Category.NONE, f"the agent profile {profile.name!r} has no tools: there is no tool loop to check")
    endpoint = endpoint_of(ev.settings)
    planned = [p.label for p in own_probes(ev.settings, ev.model)]
    missing = [label for label in planned if label not in ev.exchanges]
    if ROUND_TRIP in missing:
        return not_finished(ev, NAME, ["the round-trip conversation"])
    parts, metrics = judge_round_trip(ev, endpoint)
    parts += judge_parallel(ev, endpoint)
    chained = judge_chained(ev, endpoint, metrics)
    if chained is not None:
        parts.append(chained)
    if missing:
        parts.append(Part(Status.ERROR, Category.INFRASTRUCTURE, f"{', '.join(missing)} did not finish before the run's deadline"))
    exchanges = [ex for label in planned for ex in ev.turns(label)]
    duration = duration_of(*exchanges)
    return combine(parts, metrics, duration)


SHOWN_FIRST = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.PASS: 3, Status.SKIP: 4}


def combine(parts: list[Part], metrics: dict[str, Any], duration: float) -> CheckResult:
    """A finding about what was answered outranks a turn that got no answer (as in every check); the worst first."""
    ordered = sorted(parts, key=lambda p: SHOWN_FIRST[p.status])
    top = ordered[0] if ordered else Part(Status.ERROR, Category.INFRASTRUCTURE, "no turn of the tool loop was made")
    status = top.status
    shown = [p for p in ordered if p.status is not Status.PASS] or [p for p in ordered if not p.always]
    notes = [p for p in ordered if p.always and p not in shown]
    lines = [p.line for p in [*shown[:1], *notes, *shown[1:]]]
    return result(NAME, status, top.category, "; ".join(lines), duration_ms=duration, metrics=metrics)
