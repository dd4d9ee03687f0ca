"""streaming: SSE for chat (chunks, deltas, [DONE]) or Responses (named events, response.completed); errors inside a
200 stream are detected; time to first token and total time are reported."""

from __future__ import annotations

from typing import Any

from approval.common.redact import excerpt
from approval.engine.checks.base import CheckSpec, Evidence, duration_of, not_finished, result
from approval.engine.classify import describe_failure, failure_status
from approval.engine.contract import ERROR_TEXT, error_in_success_body, parse_error_body, show, show_repr, status_reason
from approval.engine.gateway import MAX_SSE_EVENTS, Exchange, SSEEvent, sse_json
from approval.engine.probes import STREAM
from approval.engine.results import Category, CheckResult, Status

NAME = "streaming"
SPEC = CheckSpec(
    NAME,
    default="with-streamed-text",  # an agent streaming text meets the gateway's streamed answers on every turn
    summary="a well-formed chat SSE or Responses event stream that ends properly; reports time to first token",
    needs=(STREAM,),
    reads=(STREAM,),
)


def judge_chat_stream(events: list[SSEEvent], complete: bool) -> tuple[bool, Category, str, str]:
    """(ok, category, reason, joined text) for a chat completions stream."""
    text: list[str] = []
    chunks = 0
    with_choices = 0
    tool_deltas = 0
    for event in events:
        if event.data.strip() == "[DONE]":
            break
        payload: Any = sse_json(event)
        if payload is None:
            return False, Category.GATEWAY, f"a stream event is not JSON: {excerpt(event.data, 60)}", ""
        if not isinstance(payload, dict):
            return False, Category.GATEWAY, "a stream event is not a JSON object", ""
        if payload.get("error") or event.event == "error":
            parsed = parse_error_body(payload)
            return False, Category.GATEWAY, f"an error event inside the 200 stream: {parsed.message if parsed else 'error'}", ""
        if payload.get("object") not in (None, "chat.completion.chunk"):
            return False, Category.GATEWAY, f"a chunk has object {show_repr(payload.get('object'))}, not 'chat.completion.chunk'", ""
        chunks += 1
        choices = payload.get("choices")
        if "choices" in payload and not isinstance(choices, list):
            return False, Category.GATEWAY, f"a chunk's `choices` is {_kind(choices)}, not a list", ""
        with_choices += bool(choices)
        for choice in choices or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict):
                content = delta.get("content")
                if content is not None and not isinstance(content, str):
                    return False, Category.GATEWAY, f"a chunk's `delta.content` is {_kind(content)}, not a string", ""
                if isinstance(content, str):
                    text.append(content)
                if delta.get("tool_calls"):
                    tool_deltas += 1
    joined = "".join(text)
    if not complete:
        return False, Category.GATEWAY, f"the stream ended before `data: [DONE]` after {chunks} chunk(s)", joined
    if chunks and not with_choices:
        return False, Category.GATEWAY, f"none of the {chunks} chunk(s) carried a choice (`choices` empty or missing)", joined
    if not joined.strip() and not tool_deltas:
        return False, Category.MODEL, f"the stream carried no text in {chunks} chunk(s)", joined
    if ERROR_TEXT.match(joined):
        return False, Category.GATEWAY, f"the streamed text is an error text: {excerpt(joined, 80)}", joined
    return True, Category.NONE, f"{chunks} chunk(s), ended with [DONE]", joined


def judge_responses_stream(events: list[SSEEvent], complete: bool) -> tuple[bool, Category, str, str]:
    text: list[str] = []
    final: str | None = None
    why = ""
    for event in events:
        if event.data.strip() == "[DONE]":
            continue
        payload: Any = sse_json(event)
        if not isinstance(payload, dict):
            return False, Category.GATEWAY, f"a stream event is not a JSON object: {excerpt(event.data, 60)}", ""
        kind = event.event or payload.get("type")
        if kind == "error" or (payload.get("error") and kind not in ("response.completed", "response.failed")):
            # OpenAI's `error` event is flat ({"type": "error", "code", "message", "sequence_number"}); gateways nest it
            parsed = parse_error_body({"error": payload.get("error")}) if payload.get("error") else None
            said = parsed.message if parsed else show(payload.get("message") or payload.get("code") or "error")
            return False, Category.GATEWAY, f"an error event inside the 200 stream: {said}", ""
        if kind == "response.output_text.delta":
            delta = payload.get("delta")
            if delta is not None and not isinstance(delta, str):
                return False, Category.GATEWAY, f"an output_text delta is {_kind(delta)}, not a string", ""
            if isinstance(delta, str):
                text.append(delta)
        if kind in ("response.completed", "response.failed", "response.incomplete"):
            final = kind
            response = payload.get("response")
            why = status_reason(response)
            if kind == "response.completed" and isinstance(response, dict) and "output" in response:
                output = response["output"]
                if not isinstance(output, list):
                    return False, Category.GATEWAY, f"response.completed carries `output` {_kind(output)}, not a list", "".join(text)
                if not output:
                    return False, Category.GATEWAY, "response.completed carries an empty `output` list", "".join(text)
    joined = "".join(text)
    if final is None:
        return False, Category.GATEWAY, "the stream ended without response.completed / failed / incomplete", joined
    if final != "response.completed":
        return False, Category.MODEL if final == "response.incomplete" else Category.GATEWAY, f"the stream ended with {final}{why}", joined
    if not joined.strip():
        return False, Category.MODEL, "the stream carried no output text", joined
    return True, Category.NONE, "named events ending in response.completed", joined


def _kind(value: Any) -> str:
    return "null" if value is None else f"a{'n' if type(value).__name__[0] in 'aeiou' else ''} {type(value).__name__}"


def plain_json_answer(ex: Exchange) -> str | None:
    """What a 2xx answer to `stream: true` said when it was a plain JSON body instead of an event stream."""
    if ex.events or ex.status is None or not 200 <= ex.status < 300 or ex.truncated:
        return None
    body = ex.json()
    if not isinstance(body, dict | list):
        return None
    kind = ex.header("content-type") or "no content type"
    embedded = error_in_success_body(body)
    if embedded is not None:
        return f"the gateway answered `stream: true` with a plain JSON body ({kind}), not an event stream, and it carries an error: {embedded.message}"
    return f"the gateway answered `stream: true` with a plain JSON body ({kind}), not an event stream"


def evaluate(ev: Evidence) -> CheckResult:
    ex: Exchange | None = ev.get("stream")
    if ex is None:
        return not_finished(ev, NAME, ["the streaming call"])
    duration = duration_of(ex)
    # Measured over a usable stream only: a failed one has no time to first token or total to report.
    unmeasured: dict[str, Any] = {"total_ms": None, "ttft_ms": None}
    if ex.events is None or (ex.transport_error and not ex.events):
        failure = describe_failure(ex, f"paths.{ev.settings.endpoint}")
        category, reason = failure if failure else (Category.GATEWAY, "no stream")
        return result(NAME, failure_status(category), category, reason, duration_ms=duration, metrics=unmeasured)
    plain = plain_json_answer(ex)
    if plain is not None:
        return result(NAME, Status.FAIL, Category.GATEWAY, plain, duration_ms=duration, metrics=unmeasured)
    if ex.truncated:
        return result(NAME, Status.FAIL, Category.GATEWAY,
                      f"the stream is larger than the size cap (max_response_bytes) or has more than {MAX_SSE_EVENTS} events",
                      duration_ms=duration, metrics=unmeasured)
    judge = judge_responses_stream if ev.settings.endpoint == "responses" else judge_chat_stream
    ok, category, reason, _ = judge(ex.events, ex.stream_complete)
    if not ok and ex.transport_error:
        # the stream broke off (a reset, a stall cut by the request timeout or the run's deadline): nothing to judge by
        reason += f" ({ex.transport_detail or ex.transport_error})"
        category = Category.INFRASTRUCTURE if category is Category.GATEWAY and ex.transport_error != "invalid-response" else category
    if not ok:
        return result(NAME, failure_status(category), category, reason, duration_ms=duration, metrics=unmeasured)
    metrics: dict[str, Any] = {"total_ms": round(ex.elapsed_ms, 1), "ttft_ms": round(ex.ttft_ms, 1) if ex.ttft_ms is not None else None}
    timing = f"time to first token {ex.ttft_ms:.0f} ms, total {ex.elapsed_ms:.0f} ms" if ex.ttft_ms is not None else f"total {ex.elapsed_ms:.0f} ms"
    bound = ev.settings.max_ttft_ms
    if bound is not None and ex.ttft_ms is not None and ex.ttft_ms > bound:
        return result(NAME, Status.FAIL, Category.MODEL, f"{timing}; over the time-to-first-token bound {bound:.0f} ms",
                      duration_ms=duration, metrics=metrics)
    return result(NAME, Status.PASS, Category.NONE, f"{reason}; {timing}", duration_ms=duration, metrics=metrics)
