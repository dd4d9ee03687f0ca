"""Pure validators of the OpenAI wire contract and of the ways real gateways bend it.

No I/O here: every function takes parsed data (status, JSON, text) and returns findings, so each shape in the
reference notes is one unit test away.
"""

from __future__ import annotations

import ast
import json
import re
import reprlib
from dataclasses import dataclass, field
from typing import Any

from approval.common.redact import excerpt, redact, redact_head
from approval.engine.results import Category

# -- error envelopes ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedError:
    message: str
    type: str | None
    code: str | None
    shape: str  # openai | string | detail | flat | status-failure | stream


class _RedactingRepr(reprlib.Repr):
    """reprlib cuts long strings to their head and tail: redact first, so the cut never leaves part of a secret."""

    def repr_str(self, x: str, level: int) -> str:
        return super().repr_str(redact(x), level)


_SHOW = _RedactingRepr()
_SHOW.maxlevel, _SHOW.maxstring, _SHOW.maxother, _SHOW.maxlong = 3, 200, 200, 60


def show(value: Any) -> str:
    """`str()` of a value from a gateway's JSON, bounded in depth and length (a hostile body nests hundreds of levels)."""
    return value if isinstance(value, str) else _SHOW.repr(value)


def show_repr(value: Any) -> str:
    """`repr()` of a value from a gateway's JSON, bounded likewise."""
    return _SHOW.repr(value)


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = show(value)
    return None if text in ("", "None", "null") else text


_MAX_MESSAGE_DEPTH = 8  # real envelopes nest two or three levels; a hostile body may nest hundreds


def _message_text(value: Any, depth: int = 0) -> str:
    """`message` may be a string, a dict, a list, or a stringified dict (LiteLLM)."""
    if depth > _MAX_MESSAGE_DEPTH:
        return "(nested too deeply)"
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            for loader in (json.loads, ast.literal_eval):
                try:
                    inner = loader(stripped)
                except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
                    continue
                if isinstance(inner, dict):
                    return _message_text(inner.get("message") or inner.get("error") or inner.get("detail") or stripped, depth + 1)
        return value
    if isinstance(value, dict):
        for key in ("message", "msg", "detail", "error"):
            if key in value:
                return _message_text(value[key], depth + 1)
        try:
            return redact_head(json.dumps(value), 300)
        except (ValueError, RecursionError):
            return "(structured error)"
    if isinstance(value, list):
        return "; ".join(_message_text(v, depth + 1) for v in value[:5])
    return str(value)


def parse_error_body(body: Any) -> ParsedError | None:
    """Recognise a structured error in any shape the reference lists; None when the body is not one."""
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict) and err:
        message = _message_text(err.get("message", err.get("msg", err.get("detail", ""))))
        if message or err.get("type") or err.get("code") is not None:
            return ParsedError(message or "(no message)", _clean(err.get("type")), _clean(err.get("code")), "openai")
    if isinstance(err, str) and err.strip():
        return ParsedError(err, _clean(body.get("type")), _clean(body.get("code")), "string")
    if "detail" in body and body["detail"] not in (None, "", []):
        detail = body["detail"]
        if isinstance(detail, list):
            parts = [
                f"{'.'.join(map(show, d.get('loc', [])))}: {show(d.get('msg', ''))}" if isinstance(d, dict) else show(d) for d in detail[:5]
            ]
            return ParsedError("; ".join(parts), None, None, "detail")
        return ParsedError(_message_text(detail), None, None, "detail")
    if body.get("object") == "error" and body.get("message"):
        return ParsedError(_message_text(body["message"]), _clean(body.get("type")), _clean(body.get("code")), "flat")
    if body.get("status") in ("failure", "error") and body.get("message"):
        return ParsedError(_message_text(body["message"]), None, _clean(body.get("code")), "status-failure")
    if set(body) <= {"message", "type", "code", "param", "status"} and isinstance(body.get("message"), str) and body["message"]:
        return ParsedError(body["message"], _clean(body.get("type")), _clean(body.get("code")), "flat")
    return None


def error_in_success_body(body: Any) -> ParsedError | None:
    """An error carried inside a 2xx body (OpenRouter and others do this)."""
    if not isinstance(body, dict):
        return None
    if body.get("error") not in (None, {}, "") and not (body.get("object") == "response" and body.get("error") is None):
        return parse_error_body(body) or ParsedError(excerpt(show(body.get("error"))), None, None, "openai")
    if body.get("object") == "error" or body.get("status") in ("failure", "error"):
        return parse_error_body(body)
    return None


# -- generations --------------------------------------------------------------------------------------------------

ERROR_TEXT = re.compile(
    r"^\s*(error\b|exception\b|traceback \(most recent call last\)|internal server error|bad gateway|service unavailable"
    r"|gateway time-?out|upstream (connect )?error|rate limit(ed)?|an error (has )?occurred|\{\s*\"error\"\s*:|<!doctype html|<html)",
    re.IGNORECASE,
)
REFUSAL_TEXT = re.compile(
    r"\b(i('| a)m sorry,? but i (can('|no)t|won't)|i can(no|')t (help|assist|comply) with|i('m| am) (not able|unable) to "
    r"(help|assist|comply)|as an ai( language model)?,? i (can('|no)t|won't))",
    re.IGNORECASE,
)


@dataclass
class Generation:
    """What a successful-looking generation call gave, and what is wrong with it."""

    ok: bool
    category: Category
    reason: str  # one line, redacted; empty when ok
    text: str = ""
    model: str | None = None
    finish_reason: str | None = None
    status_detail: str | None = None  # responses: status
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{name, arguments(raw str)}]
    refusal: str | None = None


def _fail(category: Category, reason: str, **kw: Any) -> Generation:
    return Generation(False, category, excerpt(reason, 240), **kw)


def parse_chat_completion(body: Any, *, tools_expected: bool = False) -> Generation:
    if not isinstance(body, dict):
        return _fail(Category.GATEWAY, f"the body is JSON but not an object ({type(body).__name__})")
    embedded = error_in_success_body(body)
    if embedded is not None:
        return _fail(Category.GATEWAY, f"a 200 response carries an error: {embedded.message}")
    model = body.get("model") if isinstance(body.get("model"), str) else None
    choices = body.get("choices")
    if choices is None:
        return _fail(Category.GATEWAY, "`choices` is missing or null", model=model)
    if not isinstance(choices, list):
        return _fail(Category.GATEWAY, f"`choices` is a {type(choices).__name__}, not a list", model=model)
    if not choices:
        return _fail(Category.GATEWAY, "`choices` is an empty list", model=model)
    first = choices[0]
    if not isinstance(first, dict) or not isinstance(first.get("message"), dict):
        return _fail(Category.GATEWAY, "`choices[0].message` is missing or not an object", model=model)
    message = first["message"]
    finish = first.get("finish_reason") if isinstance(first.get("finish_reason"), str) else None
    content = message.get("content")
    refusal = message.get("refusal") if isinstance(message.get("refusal"), str) and message.get("refusal") else None
    tool_calls = _chat_tool_calls(message.get("tool_calls"))
    if content is not None and not isinstance(content, str | list):
        return _fail(Category.GATEWAY, f"`message.content` is a {type(content).__name__}, not a string", model=model, finish_reason=finish)
    text = content if isinstance(content, str) else _join_content_parts(content) if isinstance(content, list) else ""
    gen = Generation(True, Category.NONE, "", text=text, model=model, finish_reason=finish, tool_calls=tool_calls, refusal=refusal)
    return _judge_output(gen, tools_expected)


def _chat_tool_calls(raw: Any) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and isinstance(item.get("function"), dict):
                fn = item["function"]
                calls.append({"name": fn.get("name"), "arguments": fn.get("arguments")})
    return calls


def _join_content_parts(parts: list[Any]) -> str:
    texts = [p.get("text") for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return "".join(t for t in texts if t)


def parse_responses_object(body: Any, *, tools_expected: bool = False) -> Generation:
    if not isinstance(body, dict):
        return _fail(Category.GATEWAY, f"the body is JSON but not an object ({type(body).__name__})")
    if body.get("error") not in (None, {}, ""):
        parsed = parse_error_body(body)
        return _fail(Category.GATEWAY, f"a 200 response carries an error: {parsed.message if parsed else excerpt(show(body['error']))}")
    model = body.get("model") if isinstance(body.get("model"), str) else None
    if body.get("object") != "response":
        embedded = error_in_success_body(body)
        if embedded is not None:
            return _fail(Category.GATEWAY, f"a 200 response carries an error: {embedded.message}", model=model)
        return _fail(Category.GATEWAY, f"`object` is {show_repr(body.get('object'))}, not 'response'", model=model)
    status = body.get("status")
    output = body.get("output")
    if not isinstance(output, list):
        return _fail(Category.GATEWAY, "`output` is missing or not a list", model=model, status_detail=show(status))
    if status != "completed":
        why = status_reason(body)
        category = Category.MODEL if status == "incomplete" else Category.GATEWAY
        return _fail(category, f"response status is {show_repr(status)}{why}, not 'completed'", model=model, status_detail=show(status))
    if not output:  # like chat's `choices: []`: a completed response must carry at least one output item
        return _fail(Category.GATEWAY, "`output` is an empty list", model=model, status_detail="completed")
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    refusal = None
    for item in output:
        if not isinstance(item, dict):
            return _fail(Category.GATEWAY, "an `output` item is not an object", model=model)
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif isinstance(part, dict) and part.get("type") == "refusal":
                    refusal = show(part.get("refusal") or "refusal")
        elif item.get("type") == "function_call":
            tool_calls.append({"name": item.get("name"), "arguments": item.get("arguments")})
    gen = Generation(True, Category.NONE, "", text="".join(texts), model=model, finish_reason=None, status_detail="completed",
                     tool_calls=tool_calls, refusal=refusal)
    return _judge_output(gen, tools_expected)


def status_reason(response: Any) -> str:
    """Why a Responses object is not completed: `: <message>` from its `error`, or ` (<reason>)` from its
    `incomplete_details`; "" when it says neither."""
    if not isinstance(response, dict):
        return ""
    parsed = parse_error_body({"error": response.get("error")}) if response.get("error") else None
    if parsed is not None:
        return f": {parsed.message}"
    details = response.get("incomplete_details")
    return f" ({show(details.get('reason'))})" if isinstance(details, dict) and details.get("reason") else ""


def _judge_output(gen: Generation, tools_expected: bool) -> Generation:
    if gen.text.strip():
        if ERROR_TEXT.match(gen.text):
            gen.ok, gen.category, gen.reason = False, Category.GATEWAY, f"the output is an error text: {excerpt(gen.text, 100)}"
        return gen
    if tools_expected and gen.tool_calls:
        return gen
    if gen.refusal:
        gen.ok, gen.category, gen.reason = False, Category.MODEL, "the model refused (refusal field set, no content)"
        return gen
    if gen.tool_calls:
        gen.ok, gen.category, gen.reason = False, Category.MODEL, "the model answered with tool calls although no tools were sent"
        return gen
    finish = f" (finish_reason {gen.finish_reason!r})" if gen.finish_reason else ""
    gen.ok, gen.category, gen.reason = False, Category.MODEL, f"the first output is empty{finish}"
    return gen


# -- model identity -----------------------------------------------------------------------------------------------

# A snapshot date only (`-2024-07-18`, `-20241022`, `-0613`, `@20240229`): `-latest`, `-v2` or `-preview` name other
# models as often as not, and are accepted only as configured aliases.
_DATE_SUFFIX = re.compile(r"^(-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|\d{2}-\d{2})|@\d{8})$")


def _split(name: str) -> tuple[str | None, str]:
    """(provider prefix or None, model) of `provider/model`, lower-cased."""
    lowered = name.strip().lower()
    provider, slash, model = lowered.rpartition("/")
    return (provider, model) if slash else (None, lowered)


def _same_route(a: str, b: str) -> bool:
    """`openrouter/openai` and `openai` name one route (a router in front of the provider); `azure` and `openai` do not."""
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


def _same(requested: str, returned: str) -> bool:
    want_provider, want = _split(requested)
    got_provider, got = _split(returned)
    if want_provider is not None and got_provider is not None and not _same_route(want_provider, got_provider):
        return False  # `azure/x` answered for `openai/x` is another deployment: a fallback
    return got == want or (got.startswith(want) and _DATE_SUFFIX.match(got[len(want):]) is not None)


def model_matches(requested: str, returned: str, aliases: tuple[str, ...] = ()) -> bool:
    """True when the gateway's `model` names the requested model: the same ID, a configured alias, the same with or
    without a provider prefix (`openai/x` ~ `x`, but not `azure/x`), or a dated snapshot (`x-2024-07-18` for `x`)."""
    return any(_same(name, returned) for name in (requested, *aliases))


# -- JSON in text --------------------------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


def parse_json_text(text: str) -> tuple[bool, Any]:
    """Parse text as JSON, also when the model wrapped it in one markdown code fence."""
    for candidate in (text, *(m.group(1) for m in [_FENCE.match(text)] if m)):
        try:
            return True, json.loads(candidate)
        except (ValueError, RecursionError):  # nesting past the parser's limit is not JSON we can use
            continue
    return False, None


def looks_like_refusal(text: str) -> bool:
    return bool(REFUSAL_TEXT.search(text[:2000]))
