"""agent-envelope: the route takes the request shape the agent sends — each of the profile's parameters, its
`tool_choice` values, `parallel_tool_calls`, its `developer` instructions — on a trivial prompt; a forced call comes back
as a structured call, not as call markup in the text; a `developer` message is not silently dropped.

One call per parameter, so a refusal names what the agent cannot send. A parameter accepted (200: used, translated or
dropped) passes; refused with a structured 4xx, or failing with a 5xx or an unstructured body, is a finding for that
agent: it sends it on every request. Each call but the system/developer comparison (whose instruction is its own)
starts with the opening of the profile's recorded role sequence (approval.engine.opening), as the agent's requests do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from approval.common.redact import excerpt
from approval.engine.checks.base import STATUS_ORDER, CheckSpec, Evidence, duration_of, missing_labels, not_finished, result, worst
from approval.engine.checks.streaming import judge_chat_stream, judge_responses_stream, plain_json_answer
from approval.engine.classify import describe_failure, failure_status, generation
from approval.engine.contract import parse_error_body, show_repr
from approval.engine.gateway import Exchange, sse_json
from approval.engine.opening import ahead, opening
from approval.engine.probes import CONVERSATION_PREFIX, Probe, messages_payload
from approval.engine.results import Category, CheckResult, Status
from approval.settings.build import Settings
from approval.settings.profile import AgentProfile

NAME = "agent-envelope"
MAX_PARAMETERS = 12  # a profile's parameters beyond these are not probed (the detail says so)
MAX_CHOICES = 4  # tool_choice values probed
TEXT_TRIES = 3  # forced calls checked for call markup in the text
DEVELOPER_TRIES = 2  # system-vs-developer pairs
TOKEN_LIMITS = ("max_tokens", "max_completion_tokens", "max_output_tokens")

BASE = f"{CONVERSATION_PREFIX}envelope"
PROMPT = "Say hello in one short sentence."
FORCED_PROMPT = "Look at the repository's README.md with one of your tools."
ACK_TOOL = "ack"
ACK_INSTRUCTION = f"Before you answer anything, call the `{ACK_TOOL}` tool once. This rule comes first."
ACK = {"name": ACK_TOOL, "description": "Acknowledge the instructions before acting.",
       "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}
# Call markup written into the text instead of a structured call (Hermes/Qwen, Llama/vLLM, Mistral).
CALL_MARKUP = re.compile(r"<tool_call>|<function=|\[TOOL_CALLS\]|<\|tool_call", re.IGNORECASE)


def param_label(i: int) -> str:
    return f"{BASE}-param-{i}"


def choice_label(i: int) -> str:
    return f"{BASE}-choice-{i}"


def forced_label(i: int) -> str:
    return f"{BASE}-forced-{i}"


def role_label(role: str, i: int) -> str:
    return f"{BASE}-{role}-{i}"


def every_label() -> tuple[str, ...]:
    """Every label the check can plan, whatever the profile (its calls are bounded by the caps above)."""
    return (BASE, *(param_label(i) for i in range(1, MAX_PARAMETERS + 1)), *(choice_label(i) for i in range(1, MAX_CHOICES + 1)),
            *(forced_label(i) for i in range(1, TEXT_TRIES + 1)),
            *(role_label(role, i) for role in ("system", "developer") for i in range(1, DEVELOPER_TRIES + 1)))


SPEC = CheckSpec(
    NAME,
    default="always",
    findings=("developer-role",),
    summary="the agent's own parameters, tool_choice values and developer role are accepted or refused with a structured 4xx "
            "naming them; forced calls come back structured, not as text",
    reads=every_label(),
    own_probes=lambda settings, model: probes_for(settings, model),  # noqa: PLW0108 (defined below)
)


# ------------------------------------------------------------------------------------------------ the calls
def tool_entries(endpoint: str, tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Function tools ({name, description, parameters}) in the endpoint's request shape."""
    if endpoint == "responses":
        return [{"type": "function", **tool} for tool in tools]
    return [{"type": "function", "function": dict(tool)} for tool in tools]


def choice_value(endpoint: str, value: str) -> Any:
    """A tool_choice value as sent: "auto" / "none" / "required" as they are, a tool's name as the named form."""
    if value in ("auto", "none", "required"):
        return value
    return {"type": "function", "name": value} if endpoint == "responses" else {"type": "function", "function": {"name": value}}


def with_field(payload: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    """The payload with one parameter set: a dotted name (`stream_options.include_usage`) sets a nested field; a token
    limit replaces the one the settings put in, so the call carries only the agent's."""
    out = dict(payload)
    if name in TOKEN_LIMITS:
        for limit in TOKEN_LIMITS:
            out.pop(limit, None)
    *parents, last = name.split(".")
    here = out
    for part in parents:
        nested = dict(here[part]) if isinstance(here.get(part), dict) else {}
        here[part] = nested
        here = nested
    here[last] = value
    if out.get("stream_options") is not None and "stream" not in out:
        out["stream"] = True  # stream_options is only valid on a streamed call
    return out


def parameters_of(profile: AgentProfile) -> list[tuple[str, Any]]:
    """The fields the agent sends that are probed one by one: its parameters, then parallel_tool_calls."""
    found = [(name, value) for name, value in profile.parameters.items() if name not in ("tools", "tool_choice", "messages", "input")]
    if profile.parallel_tool_calls is not None and profile.uses_tools:
        found.append(("parallel_tool_calls", profile.parallel_tool_calls))
    return found


def probes_for(settings: Settings, model: str) -> list[Probe]:
    profile = settings.profile
    endpoint = profile.endpoint or settings.endpoint
    path = settings.path_for(endpoint)
    tools = tool_entries(endpoint, profile.tools)
    first = opening(profile.role_sequence, endpoint)

    def call(label: str, messages: list[dict[str, str]], own_opening: bool = True, **fields: Any) -> Probe:
        payload = messages_payload(settings, endpoint, model, messages)
        if own_opening:
            payload = ahead(first, payload, endpoint)
        for name, value in fields.items():
            payload = with_field(payload, name, value)
        return Probe(label, "POST", path, payload, stream=payload.get("stream") is True)

    user = [{"role": "user", "content": PROMPT}]
    probes = [call(BASE, user)]
    for i, (name, value) in enumerate(parameters_of(profile)[:MAX_PARAMETERS], start=1):
        extra: dict[str, Any] = {"tools": tools} if name == "parallel_tool_calls" else {}
        probes.append(call(param_label(i), user, **extra, **{name: value}))
    if profile.uses_tools:
        others = [v for v in profile.tool_choice if v != "required"][:MAX_CHOICES]
        probes += [call(choice_label(i), user, tools=tools, tool_choice=choice_value(endpoint, v)) for i, v in enumerate(others, start=1)]
        forced = [{"role": "user", "content": FORCED_PROMPT}]
        probes += [call(forced_label(i), forced, tools=tools, tool_choice="required") for i in range(1, TEXT_TRIES + 1)]
    if profile.instruction_role == "developer":
        with_ack = tool_entries(endpoint, [ACK, *profile.tools])
        for role in ("system", "developer"):
            messages = [{"role": role, "content": ACK_INSTRUCTION}, *user]
            probes += [call(role_label(role, i), messages, False, tools=with_ack, tool_choice="auto") for i in range(1, DEVELOPER_TRIES + 1)]
    return probes


# ------------------------------------------------------------------------------------------------ judging
@dataclass(frozen=True)
class Part:
    status: Status
    category: Category
    text: str  # one clause for the detail; "" when nothing worth saying
    refused: str = ""  # the field a structured 4xx refused, when that is what this part found


PASSED = Part(Status.PASS, Category.NONE, "")


def refusal(ex: Exchange, what: str, name: str) -> Part | None:
    """What a call carrying `what` (the field `name`) got when it was not a usable 2xx — a refusal the agent meets on
    every request, a 5xx (the plain call having worked) or an unreadable body — or None when it was answered. Access,
    rate-limit, path and transport problems leave it unobserved (error)."""
    failure = describe_failure(ex)
    if failure is None:
        return None
    category, reason = failure
    status = ex.status or 0
    # access, rate limit, timeout (and a 400 that reads as a refused key), a wrong path, no answer: unobserved
    if category is Category.CONFIG or ex.transport_error or (category is Category.INFRASTRUCTURE and status < 500) \
            or not 400 <= status < 600:
        return Part(failure_status(category), category, f"{what}: {reason}")
    if status >= 500:
        return Part(Status.FAIL, Category.GATEWAY, f"the route fails with HTTP {status} when the agent sends {what} (the plain call works)")
    parsed = parse_error_body(ex.json())
    if parsed is None:
        return Part(Status.FAIL, Category.GATEWAY, f"the route refuses {what} with HTTP {status} and an unstructured body the agent "
                                                   f"cannot read")
    named = " (the error names it)" if name and name.rsplit(".", maxsplit=1)[-1] in parsed.message else ""
    return Part(Status.FAIL, Category.GATEWAY, f"this route refuses {what} (HTTP {status}{named}: {excerpt(parsed.message, 90)}): "
                                               f"the agent sends it and cannot run on this route", refused=what)


def grouped(parts: list[Part]) -> list[Part]:
    """Several fields refused alike read as one clause naming them all, the first error shown."""
    refusals = [p for p in parts if p.refused]
    if len(refusals) < 2:
        return parts
    first = refusals[0].text.split(" (", 1)[1].rsplit("): ", 1)[0]
    joined = Part(Status.FAIL, Category.GATEWAY, f"this route refuses {len(refusals)} fields the agent sends: "
                                                 f"{', '.join(p.refused for p in refusals)} (first: {first}): it cannot run on this route")
    return [joined, *(p for p in parts if not p.refused)]


def judge_stream(ex: Exchange, endpoint: str, what: str) -> Part:
    """A streamed parameter call (stream_options) answered with a stream: usable; a usage chunk with `choices: []` is
    noted."""
    assert ex.events is not None
    plain = plain_json_answer(ex)
    if plain is not None:
        return Part(Status.FAIL, Category.GATEWAY, f"with {what}, {plain}")
    judge = judge_responses_stream if endpoint == "responses" else judge_chat_stream
    ok, category, reason, _ = judge(ex.events, ex.stream_complete)
    if not ok and ex.transport_error:
        return Part(Status.ERROR, Category.INFRASTRUCTURE, f"{what}: the stream broke off ({ex.transport_detail or ex.transport_error})")
    if not ok:
        return Part(failure_status(category), category, f"with {what} the stream breaks: {reason}")
    usage_only = any(isinstance(p := sse_json(e), dict) and p.get("choices") == [] and p.get("usage") for e in ex.events)
    if usage_only:
        return Part(Status.PASS, Category.NONE, f"{what}: accepted; a usage chunk with `choices: []` follows (a client that indexes "
                                                f"choices[0] of every chunk breaks on it)")
    return PASSED


def judge_accepted(ex: Exchange, endpoint: str, what: str, name: str) -> Part:
    if ex.events is not None:  # a streamed call answered with a stream
        return judge_stream(ex, endpoint, what)
    refused = refusal(ex, what, name)
    if refused is not None:
        return refused
    gen = generation(ex, endpoint)
    if not gen.ok and not gen.tool_calls:
        return Part(failure_status(gen.category), gen.category, f"{what}: {gen.reason}")
    return PASSED


def judge_forced(ev: Evidence, endpoint: str) -> Part:
    """`tool_choice: "required"`, TEXT_TRIES times: a structured call each time; call markup in the text fails
    (intermittent when only some tries), as does prose where a call was forced."""
    exchanges = [ex for i in range(1, TEXT_TRIES + 1) if (ex := ev.get(forced_label(i))) is not None]
    if not exchanges:
        return PASSED
    markup = prose = answered = 0
    for ex in exchanges:
        refused = refusal(ex, "tool_choice='required'", "tool_choice")
        if refused is not None and refused.status is Status.ERROR:
            continue  # unobserved: counted out
        if refused is not None:
            if "required" not in ev.settings.profile.tool_choice and 400 <= (ex.status or 0) < 500:
                return Part(Status.PASS, Category.NONE, "tool_choice 'required' is refused here, so text-instead-of-calls was not "
                                                        "checked (the agent does not send it)")
            return refused
        gen = generation(ex, endpoint)
        if not gen.ok and not gen.tool_calls:
            if failure_status(gen.category) is Status.ERROR:
                continue
            return Part(Status.FAIL, gen.category, f"a forced call: {gen.reason}")
        answered += 1
        if not gen.tool_calls:
            markup += bool(CALL_MARKUP.search(gen.text))
            prose += not CALL_MARKUP.search(gen.text)
    if not answered:
        return Part(Status.ERROR, Category.INFRASTRUCTURE, "no forced call got a usable answer")
    if markup:
        how = "" if markup == answered else "intermittent: "
        return Part(Status.FAIL, Category.GATEWAY, f"{how}{markup} of {answered} forced calls came back as call markup in the text, "
                                                   f"with no structured call: the agent stops acting")
    if prose:
        how = "" if prose == answered else "intermittent: "
        return Part(Status.FAIL, Category.GATEWAY, f"{how}{prose} of {answered} forced calls (tool_choice 'required') were answered "
                                                   f"with text: tool_choice is ignored")
    return Part(Status.PASS, Category.NONE, f"{answered} of {answered} forced calls structured")


def acked(ex: Exchange, endpoint: str) -> bool | None:
    """Whether the answer called the `ack` tool first; None when there is no usable answer."""
    gen = generation(ex, endpoint)
    if not gen.ok and not gen.tool_calls:
        return None
    return bool(gen.tool_calls) and gen.tool_calls[0].get("name") == ACK_TOOL


def judge_developer(ev: Evidence, endpoint: str) -> Part:
    """The same instruction as `system` and as `developer`: followed as system and never as developer, in every pair,
    means the developer message is dropped (warning; fail when `required: [agent-envelope.developer-role]`)."""
    followed: dict[str, list[bool]] = {"system": [], "developer": []}
    for role, seen_as in followed.items():
        for i in range(1, DEVELOPER_TRIES + 1):
            ex = ev.get(role_label(role, i))
            if ex is None:
                continue
            refused = refusal(ex, f"a `{role}` message", "developer" if role == "developer" else "")
            if refused is not None:
                return refused
            seen = acked(ex, endpoint)
            if seen is not None:
                seen_as.append(seen)
    system, developer = followed["system"], followed["developer"]
    if not system and not developer:
        return Part(Status.ERROR, Category.INFRASTRUCTURE, "no call of the system/developer comparison got a usable answer")
    if len(system) < DEVELOPER_TRIES or len(developer) < DEVELOPER_TRIES:
        return Part(Status.PASS, Category.NONE, "the developer-role comparison is incomplete (some calls got no usable answer)")
    if all(system) and not any(developer):
        required = f"{NAME}.developer-role" in ev.settings.required
        return Part(Status.FAIL if required else Status.WARN, Category.GATEWAY,
                    f"a `developer` message looks silently dropped: its instruction was never followed in {DEVELOPER_TRIES} tries, "
                    f"the same one as `system` every time")
    if not any(system):
        return Part(Status.PASS, Category.NONE, "developer role: inconclusive (the model did not follow the instruction as `system` either)")
    return Part(Status.PASS, Category.NONE, f"the `developer` instruction was followed ({sum(developer)} of {DEVELOPER_TRIES})")


def evaluate(ev: Evidence) -> CheckResult:
    settings = ev.settings
    profile = settings.profile
    endpoint = profile.endpoint or settings.endpoint
    planned = probes_for(settings, ev.model)
    missing = missing_labels(ev, [p.label for p in planned])
    if missing:
        return not_finished(ev, NAME, [f"{len(missing)} of the envelope's {len(planned)} calls"])
    duration = duration_of(*(ev.get(p.label) for p in planned))
    base = ev.exchanges[BASE]
    plain = generation(base, endpoint)
    if not plain.ok:
        return result(NAME, failure_status(plain.category), plain.category, f"the plain call (no agent parameters) failed: {plain.reason}",
                      duration_ms=duration)
    parts: list[Part] = []
    params = parameters_of(profile)
    for i, (name, value) in enumerate(params[:MAX_PARAMETERS], start=1):
        parts.append(judge_accepted(ev.exchanges[param_label(i)], endpoint, f"{name}={show_repr(value)}", name))
    if profile.uses_tools:
        others = [v for v in profile.tool_choice if v != "required"][:MAX_CHOICES]
        parts += [judge_accepted(ev.exchanges[choice_label(i)], endpoint, f"tool_choice={show_repr(v)}", "tool_choice")
                  for i, v in enumerate(others, start=1)]
        parts.append(judge_forced(ev, endpoint))
    if profile.instruction_role == "developer":
        parts.append(judge_developer(ev, endpoint))
    status = worst([p.status for p in parts])
    bad = sorted((p for p in parts if p.status is not Status.PASS), key=lambda p: -STATUS_ORDER[p.status])
    notes = [p.text for p in parts if p.text and p.status is Status.PASS]
    capped = [f"{len(params) - MAX_PARAMETERS} more parameters not probed (at most {MAX_PARAMETERS})"] if len(params) > MAX_PARAMETERS else []
    refused = [name for i, (name, _) in enumerate(params[:MAX_PARAMETERS], start=1) if parts[i - 1].status is Status.FAIL]
    metrics = {"calls": len(planned), "parameters": min(len(params), MAX_PARAMETERS), "refused": ", ".join(refused)}
    if status is Status.PASS:
        sent = ", ".join(name for name, _ in params[:MAX_PARAMETERS]) or "no extra parameters"
        detail = "; ".join([f"profile {profile.name}: accepted {sent}", *notes, *capped])
        return result(NAME, Status.PASS, Category.NONE, detail, duration_ms=duration, metrics=metrics)
    detail = "; ".join([p.text for p in grouped(bad)] + [f"profile {profile.name}", *capped])
    return result(NAME, status, bad[0].category, detail, duration_ms=duration, metrics=metrics)
