"""A canary key, settings builders and a fake gateway on `responses` (in process: nothing is sent), for the unit
tests; the `gateway` fixture (tests/conftest.py) yields one."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import responses

from approval.engine.checks import CATALOGUE
from approval.settings.build import Settings, build_settings
from approval.settings.flags import Flags
from harness.stub_upstream import chat_answer, responses_answer

CANARY_KEY = "sk-canary-DO-NOT-LEAK-7f3a9c1e5b"
BASE = "http://gateway.test/v1"


def chat_body(
    model: str = "cand-model", content: Any = "def add(a, b):\n    return a + b", **extra: Any
) -> dict[str, Any]:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }
    body.update(extra)
    return body


def responses_body(
    model: str = "cand-model", text: str = "def add(a, b): return a + b", status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": model,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
    }


def make_settings(environ: dict[str, str] | None = None, **flags: Any) -> Settings:
    flags.setdefault("base_url", BASE)
    flags.setdefault("models", ["cand-model"])
    env = {"GATEWAY_API_KEY": CANARY_KEY}
    env.update(environ or {})
    return build_settings(as_flags(flags), env, CATALOGUE)


def as_flags(values: dict[str, Any]) -> Flags:
    """Flags from keyword values as a test writes them (models as a list, numbers as numbers): a name Flags does not
    have is a TypeError, as it is for the front ends."""
    models = values.get("models") or ()
    given: dict[str, Any] = {k: (str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
                             for k, v in values.items() if k != "models"}
    return Flags(models=tuple(models) if isinstance(models, list | tuple) else (models,), **given)


Handler = Callable[[dict[str, Any], Any], tuple[int, dict[str, str], str | bytes]]


def answer_with(status: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    """A handler for `FakeGateway.on()` that answers with this status, body (JSON unless text) and headers."""
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    return lambda _body, _req: (status, headers or {}, text)


class FakeGateway:
    """A well-behaved OpenAI-compatible gateway on `responses`; override any answer with `on()`."""

    def __init__(self, rsps: responses.RequestsMock, model: str = "cand-model") -> None:
        self.rsps = rsps
        self.model = model
        self.models = {model}  # the models it serves (serve_models adds more)
        self.calls: list[dict[str, Any]] = []
        self.overrides: list[tuple[Callable[[dict[str, Any]], bool], Handler]] = []
        self.models_answer: tuple[int, dict[str, str], str] = (
            200,
            {},
            json.dumps({"object": "list", "data": [{"id": model}]}),
        )
        for path in ("/chat/completions", "/responses"):
            rsps.add_callback(responses.POST, BASE + path, callback=self._post)
        rsps.add_callback(responses.GET, BASE + "/models", callback=lambda req: self.models_answer)

    def serve(self, path: str) -> None:
        """Answer POST requests to another path (e.g. a configured `paths.chat`) like the standard ones."""
        self.rsps.add_callback(responses.POST, BASE + path, callback=self._post)

    def serve_models(self, *models: str) -> None:
        """Serve these models too, each answering in its own name."""
        self.models.update(models)

    def on(self, when: Callable[[dict[str, Any]], bool], handler: Handler) -> None:
        self.overrides.append((when, handler))

    def _post(self, request: Any) -> tuple[int, dict[str, str], str | bytes]:
        body = json.loads(request.body)
        self.calls.append({"body": body, "headers": dict(request.headers), "url": request.url})
        for when, handler in self.overrides:
            if when(body):
                return handler(body, request)
        return self.default(body, request.url)

    def default(self, body: dict[str, Any], url: str) -> tuple[int, dict[str, str], str]:
        def err(status: int, msg: str) -> tuple[int, dict[str, str], str]:
            return status, {}, json.dumps({"error": {"message": msg, "type": "invalid_request_error", "param": None, "code": None}})

        if "model" not in body:
            return err(400, "model is required")
        model = body["model"]
        if model not in self.models:
            return err(404, f"The model {model} does not exist")
        items = body.get("messages", body.get("input"))
        if items == []:
            return err(400, "messages must not be empty")
        if in_tool_loop(body):
            return tool_loop_answer(url, body, model)
        if url.endswith("/responses"):
            return 200, {}, json.dumps(responses_body(model))
        if body.get("stream"):
            chunks = [
                {
                    "object": "chat.completion.chunk",
                    "model": model,
                    "choices": [{"index": 0, "delta": {"content": w}}],
                }
                for w in ("Hel", "lo")
            ]
            chunks.append({"object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            return 200, {"Content-Type": "text/event-stream"}, text
        return 200, {}, json.dumps(chat_body(model))


def in_tool_loop(body: dict[str, Any]) -> bool:
    """A request offering tools or carrying a tool turn: what a tool-using model answers differently."""
    items = body.get("messages", body.get("input"))
    turns = items if isinstance(items, list) else []
    return bool(body.get("tools")) or any(isinstance(t, dict) and (t.get("role") == "tool" or t.get("tool_calls")
                                                                    or t.get("type") in ("function_call", "function_call_output"))
                                          for t in turns)


def tool_loop_answer(url: str, body: dict[str, Any], model: str) -> tuple[int, dict[str, str], str]:
    """What the stub upstream model (harness/stub_upstream.py, healthy) answers in a tool loop: a call while no result
    is in the history, text after one, the provider's 400 for a broken pairing. Responses turns are not stored here:
    a `previous_response_id` is refused as unknown, with OpenAI's structured 400."""
    tokens = len(json.dumps(body)) // 4
    if url.endswith("/responses"):
        answer = responses_answer(body, model, frozenset(), tokens, None if body.get("previous_response_id") else (), 1)
    else:
        answer = chat_answer(body, model, frozenset(), tokens)
    if answer.events is not None:
        return 200, {"Content-Type": "text/event-stream"}, b"".join(answer.events).decode()
    return answer.status, {}, json.dumps(answer.body)


def is_sdk(request: Any) -> bool:
    """A request the openai SDK sent (the agent-client check), not one of this tool's raw probes."""
    return str(request.headers.get("User-Agent", "")).startswith("OpenAI/")


def raw_calls(gateway: FakeGateway) -> list[dict[str, Any]]:
    """The raw probes' calls the fake gateway saw (without the agent-client check's SDK calls)."""
    def agent(headers: dict[str, str]) -> bool:
        return any(k.lower() == "user-agent" and str(v).startswith("OpenAI/") for k, v in headers.items())

    return [c for c in gateway.calls if not agent(c["headers"])]


def is_sample(body: dict[str, Any]) -> bool:
    """The representative-prompt calls (not reachability, not error probes)."""
    items = body.get("messages") or body.get("input") or []
    return body.get("model") == "cand-model" and bool(items) and "add(a, b)" in json.dumps(items)
