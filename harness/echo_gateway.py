"""A small hand-written OpenAI-compatible gateway on 127.0.0.1 that echoes the last user message back.

Another implementation than the fault gateway's, for the verdict-integrity tests: it answers chat completions and
Responses (plain and streamed) with the prompt's own text, and can be told to misbehave in the ways a real gateway
does without saying so:

- ``served_model``: the `model` its answers name (default: the one asked for) — another model, or another version;
- ``headers``: extra response headers on every answer (a gateway's routing evidence);
- ``stream_as_json``: answer ``stream: true`` with a plain JSON body instead of an event stream;
- ``sdk_served_model``: the `model` its answers name for the openai SDK's calls (its User-Agent), as a gateway whose
  routing rules send one client elsewhere (or whose fallback hit just those calls);
- ``midstream_model``: the `model` a stream names after its first chunk (Responses: in ``response.completed``), as a
  gateway that falls back mid-stream does;
- ``models``: what ``GET /models`` lists (default: every model asked for so far is usable, none listed but these).

Every request is counted in ``requests`` (method, path, model).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class EchoGateway:
    models: tuple[str, ...] = ("echo-model",)
    served_model: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stream_as_json: bool = False
    midstream_model: str | None = None
    sdk_served_model: str | None = None
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    base_url: str = ""

    def answer_text(self, body: dict[str, Any]) -> str:
        items = body.get("messages", body.get("input")) or []
        last = items[-1] if isinstance(items, list) and items and isinstance(items[-1], dict) else {}
        content = last.get("content", "") if isinstance(last, dict) else ""
        return f"echo: {content if isinstance(content, str) else json.dumps(content)}"


def _handler(gw: EchoGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:  # quiet
            return

        def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in gw.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _error(self, status: int, message: str) -> None:
            self._send(status, json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                                     "code": None}}).encode())

        def do_GET(self) -> None:
            gw.requests.append(("GET", self.path, None))
            if self.path.rstrip("/").endswith("/v1/models"):
                self._send(200, json.dumps({"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "echo"}
                                                                      for m in gw.models]}).encode())
            else:
                self._error(404, "Not Found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._error(400, "the body is not JSON")
                return
            model = body.get("model") if isinstance(body, dict) else None
            gw.requests.append(("POST", self.path, model))
            if not isinstance(body, dict) or not model:
                self._error(400, "you must provide a model parameter")
                return
            if model not in gw.models:
                self._error(404, f"The model `{model}` does not exist")
                return
            if not body.get("messages", body.get("input")):
                self._error(400, "messages must not be empty")
                return
            sdk = str(self.headers.get("User-Agent", "")).startswith("OpenAI/")
            named = (gw.sdk_served_model if sdk else None) or gw.served_model or model
            text = gw.answer_text(body)
            responses_api = self.path.rstrip("/").endswith("/responses")
            if responses_api:
                obj: dict[str, Any] = {"id": "resp_echo", "object": "response", "created_at": 0, "model": named, "status": "completed",
                                       "error": None, "incomplete_details": None,
                                       "output": [{"type": "message", "role": "assistant",
                                                   "content": [{"type": "output_text", "text": text, "annotations": []}]}]}
            else:
                obj = {"id": "chatcmpl-echo", "object": "chat.completion", "created": 0, "model": named,
                       "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}
            if body.get("stream") and not gw.stream_as_json:
                self._send(200, _stream(obj, text, named, responses_api, gw.midstream_model or named), "text/event-stream")
                return
            self._send(200, json.dumps(obj).encode())

    return Handler


def _stream(obj: dict[str, Any], text: str, named: str, responses_api: bool, later: str) -> bytes:
    """The answer as an event stream: the first chunk (event) names `named`, the rest `later`."""
    if responses_api:
        events = [("response.created", {"type": "response.created", "response": {**obj, "status": "in_progress", "output": []}}),
                  ("response.output_text.delta", {"type": "response.output_text.delta", "delta": text}),
                  ("response.completed", {"type": "response.completed", "response": {**obj, "model": later}})]
        return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()
    chunks = [{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": named,
               "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
              {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": later,
               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    return ("".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n").encode()


@contextmanager
def echo_gateway(**options: Any) -> Iterator[EchoGateway]:
    """Start an echo gateway on a free 127.0.0.1 port; `options` are EchoGateway's fields."""
    gw = EchoGateway(**options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(gw))
    server.daemon_threads = True
    gw.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield gw
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
