"""context-window: a request that fills ~75 % of the window the agent assumes (its profile's `context_tokens`) keeps its
front — the tools and the system prompt — or is refused with a context-length error; a request over the window (~1.2×)
is refused with a 4xx the agent can classify, never answered 200 (cut silently) or with a 5xx.

Tokens are estimated as characters / 4: the sizes are estimates, not the model's own token counts.
"""

from __future__ import annotations

import json
import re
from typing import Any

from approval.common.redact import excerpt
from approval.engine.checks.agent_envelope import tool_entries
from approval.engine.checks.base import CheckSpec, Evidence, duration_of, missing_labels, not_finished, result, worst
from approval.engine.classify import describe_failure, failure_status, generation
from approval.engine.contract import parse_error_body
from approval.engine.gateway import Exchange
from approval.engine.probes import CONVERSATION_PREFIX, Probe, messages_key, messages_payload
from approval.engine.results import Category, CheckResult, Status
from approval.settings.build import Settings

NAME = "context-window"
FILL = f"{CONVERSATION_PREFIX}context-fill"
OVER = f"{CONVERSATION_PREFIX}context-over"
FILL_SHARE = 0.75
OVER_SHARE = 1.2
CHARS_PER_TOKEN = 4  # the estimate: characters / 4
MAX_REQUEST_BYTES = 2 * 1024 * 1024  # no call is larger; a window too large for it is filled only up to it (said)
FILLER_MESSAGE_CHARS = 48 * 1024  # the history is split into user/assistant turns of at most this many characters
STATUS_TOOL = "report_status"
STATUS = {"name": STATUS_TOOL, "description": "Report the agent's current status to the user.",
          "parameters": {"type": "object", "properties": {"state": {"type": "string", "enum": ["ok", "blocked"]}},
                         "required": ["state"], "additionalProperties": False}}
SYSTEM = (f"You are a coding agent working in a repository. Whenever the user asks for your status, you call the `{STATUS_TOOL}` "
          f"tool; you never describe your status in text.")
LAST = f"The review is done. Report your status now: call the `{STATUS_TOOL}` tool with state 'ok'."
CONTEXT_WORDS = re.compile(r"context|too long|too many tokens|maximum.{0,40}tokens|token limit|length", re.IGNORECASE)

SPEC = CheckSpec(
    NAME,
    default="opt-in",
    summary="near the agent's context window the tools and system prompt are kept (or a context error is given); over it, a "
            "4xx the agent can classify",
    reads=(FILL, OVER),
    own_probes=lambda settings, model: probes_for(settings, model),  # noqa: PLW0108 (defined below)
)


def filler_line(i: int) -> str:
    return f"src/module_{i % 97}.py:{i}: def helper_{i}(value): return value + {i}  # unchanged; "


def filler(chars: int) -> str:
    """Deterministic source-like text of `chars` characters, nothing JSON escapes (so its size in the request is known)."""
    lines: list[str] = []
    size = i = 0
    while size < chars:
        line = filler_line(i)
        lines.append(line)
        size += len(line)
        i += 1
    return "".join(lines)[:chars]


def sized_payload(settings: Settings, model: str, target_chars: int) -> dict[str, Any]:
    """Tools and system prompt first, a history of about `target_chars` characters in all, and a last turn asking for
    a call of report_status."""
    profile = settings.profile
    endpoint = profile.endpoint or settings.endpoint
    frame = messages_payload(settings, endpoint, model, [{"role": "system", "content": SYSTEM}, {"role": "user", "content": LAST}])
    frame["tools"] = tool_entries(endpoint, [STATUS, *profile.tools])
    frame["tool_choice"] = "auto"
    room = max(0, target_chars - len(json.dumps(frame)))
    history: list[dict[str, str]] = []
    pair = len(json.dumps([{"role": "user", "content": ""}, {"role": "assistant", "content": "Noted."}]))
    while room > pair:
        size = min(room - pair, FILLER_MESSAGE_CHARS)
        history += [{"role": "user", "content": filler(size)}, {"role": "assistant", "content": "Noted."}]
        room -= size + pair
    key = messages_key(endpoint)
    frame[key] = [frame[key][0], *history, frame[key][-1]]
    return frame


def sizes(context_tokens: int) -> tuple[int, int | None]:
    """The characters of the filled and the over-window call; the over-window call is None when it would exceed the
    request cap."""
    fill = min(int(context_tokens * FILL_SHARE) * CHARS_PER_TOKEN, MAX_REQUEST_BYTES)
    over = int(context_tokens * OVER_SHARE) * CHARS_PER_TOKEN
    return fill, over if over <= MAX_REQUEST_BYTES else None


def probes_for(settings: Settings, model: str) -> list[Probe]:
    window = settings.profile.context_tokens
    if not window:
        return []
    endpoint = settings.profile.endpoint or settings.endpoint
    path = settings.path_for(endpoint)
    fill, over = sizes(window)
    probes = [Probe(FILL, "POST", path, sized_payload(settings, model, fill))]
    if over is not None:
        probes.append(Probe(OVER, "POST", path, sized_payload(settings, model, over)))
    return probes


def context_error(ex: Exchange) -> str | None:
    """The context-length error of a 4xx, as an agent classifies it (code `context_length_exceeded`, or a message about
    the context or the length, or a 413); None when it is another refusal."""
    status = ex.status or 0
    if not 400 <= status < 500:
        return None
    parsed = parse_error_body(ex.json())
    if parsed is None:
        return "HTTP 413" if status == 413 else None
    if parsed.code == "context_length_exceeded" or CONTEXT_WORDS.search(parsed.message) or status == 413:
        return f"HTTP {status}: {excerpt(parsed.message, 80)}"
    return None


def unobserved(ex: Exchange, *, server_error_is_finding: bool) -> tuple[Category, str] | None:
    """Why the call left the route unobserved (no answer, access, rate limit, a wrong path; a 5xx unless a smaller
    call of the same shape was answered), or None."""
    failure = describe_failure(ex)
    if failure is None or failure_status(failure[0]) is not Status.ERROR:
        return None
    if server_error_is_finding and ex.transport_error is None and (ex.status or 0) >= 500:
        return None
    return failure


def judge_fill(ex: Exchange, endpoint: str, share: str) -> tuple[Status, Category, str]:
    gap = unobserved(ex, server_error_is_finding=False)
    if gap is not None:
        return Status.ERROR, gap[0], f"the call at {share}: {gap[1]}"
    said = context_error(ex)
    if said is not None:
        return Status.PASS, Category.NONE, f"at {share} refused with a context-length error the agent can classify ({said})"
    gen = generation(ex, endpoint)
    if not gen.ok and not gen.tool_calls:
        return failure_status(gen.category), gen.category, f"at {share}: {gen.reason}"
    if any(call.get("name") == STATUS_TOOL for call in gen.tool_calls):
        return Status.PASS, Category.NONE, f"at {share} the agent's tools and instructions still work ({STATUS_TOOL} called)"
    return Status.FAIL, Category.GATEWAY, (f"at {share} the answer is a 200 without the {STATUS_TOOL} call its instructions ask for: the "
                                           f"front of the prompt (tools, system prompt) looks cut silently, so the agent forgets them")


def judge_over(ex: Exchange, share: str, fill_answered: bool) -> tuple[Status, Category, str]:
    gap = unobserved(ex, server_error_is_finding=fill_answered)
    if gap is not None:
        return Status.ERROR, gap[0], f"the call at {share}: {gap[1]}"
    said = context_error(ex)
    if said is not None:
        return Status.PASS, Category.NONE, f"over the window ({share}) a context-length error the agent can classify ({said})"
    status = ex.status or 0
    if status >= 500:
        return Status.FAIL, Category.GATEWAY, f"over the window ({share}) HTTP {status}: the agent sees a server failure, not a context error"
    if 400 <= status < 500:
        parsed = parse_error_body(ex.json())
        shown = f": {excerpt(parsed.message, 80)}" if parsed else " with an unstructured body"
        return Status.FAIL, Category.GATEWAY, f"over the window ({share}) HTTP {status}{shown}, which the agent cannot classify as a context error"
    return Status.FAIL, Category.GATEWAY, (f"over the window ({share}) answered HTTP {status}: the request was cut silently (or the "
                                           f"model's window is larger than the profile's context_tokens)")


def evaluate(ev: Evidence) -> CheckResult:
    settings = ev.settings
    profile = settings.profile
    window = profile.context_tokens
    if not window:
        return result(NAME, Status.SKIP, Category.NONE, f"the profile {profile.name} gives no context_tokens: the context window "
                                                        f"was not checked")
    labels = [p.label for p in probes_for(settings, ev.model)]
    if missing_labels(ev, labels):
        return not_finished(ev, NAME, ["the context-window calls"])
    endpoint = profile.endpoint or settings.endpoint
    fill_chars, over_chars = sizes(window)
    share = f"~{fill_chars / CHARS_PER_TOKEN / window:.0%} of {window} tokens"
    parts = [judge_fill(ev.exchanges[FILL], endpoint, share)]
    notes = [f"sizes estimated as characters / {CHARS_PER_TOKEN}"]
    if fill_chars == MAX_REQUEST_BYTES:
        notes.append(f"filled only up to the {MAX_REQUEST_BYTES // (1024 * 1024)} MiB request cap")
    if over_chars is None:
        notes.append(f"the over-window call was not made (over the {MAX_REQUEST_BYTES // (1024 * 1024)} MiB request cap)")
    else:
        parts.append(judge_over(ev.exchanges[OVER], f"~{OVER_SHARE:.1f}×", fill_answered=parts[0][0] is not Status.ERROR))
    status = worst([p[0] for p in parts])
    shown = [p for p in parts if p[0] is status] if status is not Status.PASS else parts
    metrics = {"context_tokens": window, "fill_chars": fill_chars, "over_chars": over_chars}
    return result(NAME, status, shown[0][1], "; ".join([*(p[2] for p in shown), *notes]),
                  duration_ms=duration_of(*(ev.get(label) for label in labels)), metrics=metrics)
