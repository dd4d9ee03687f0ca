r"""A small fault-injection OpenAI-compatible gateway for tests, on 127.0.0.1 only.

``FaultGateway()`` is a context manager around a stdlib ``ThreadingHTTPServer`` bound to ``127.0.0.1`` on a free
port (daemon threads). ``.base_url`` ends in ``/v1``. Every received request is appended to a thread-safe log,
``.requests`` (a snapshot list of ``RecordedRequest``: method, path, lower-cased headers, parsed JSON body, time).

By default it is a well-behaved gateway:

- ``GET /v1/models`` and ``GET /v1/models/{id}`` list the configured models (default ``good-model``).
- ``POST /v1/chat/completions``: a ``chat.completion`` with a fixed text; with ``tools`` a call of the first tool
  (``finish_reason: tool_calls``); with ``response_format`` ``json_object``/``json_schema`` a JSON text;
  ``stream: true`` gives ``chat.completion.chunk`` SSE lines ending in ``data: [DONE]`` (plus a usage chunk when
  ``stream_options.include_usage`` is true).
- ``POST /v1/responses``: a ``response`` object (``status: completed``, text in an ``output_text`` part); with
  ``tools`` a ``function_call`` item; ``stream: true`` gives named events ending in ``response.completed``.
- Errors use the OpenAI envelope ``{"error": {"message", "type", "param", "code"}}``: 400 for a body that is not a
  JSON object, a missing ``model``, empty/missing ``messages`` or ``input``; 404 ``model_not_found`` for an unknown
  model; 404 for an unknown path; 405 for a wrong method; 401 when ``api_key=`` is set and neither
  ``Authorization: Bearer <key>`` nor ``api-key: <key>`` matches.

Selecting a fault, first match wins:

1. the requested model is ``fault:<name>`` or ``fault:<name>:<arg>`` (both families, e.g. ``fault:hang``,
   ``fault:slow:250``); such a model counts as known. An unknown fault name gives a 400 naming the valid ones;
2. a fault set for that model name: ``gw.set_fault("fallback", model="good-model")``;
3. the server-wide fault: ``gw.set_fault("html-502")``. It applies to every request, including ``GET /models`` and
   requests with no or an unknown model, so error-path probes are affected too.

``set_fault(..., times=N)`` applies it to the next N matching requests only (e.g. one 429, then success);
``clear_faults()`` removes all. Faults are applied before the optional key check.

Faults ("stream" = what happens when the request has ``stream: true``; "models" = on ``GET /models``; unless
said otherwise a fault acts the same on every route and with or without streaming):

==================== ===================================================================================
Fault                Behaviour
==================== ===================================================================================
hang                 Read the request, never answer; the connection is held until server shutdown (at most
                     ``max_stall_s``).
close                Read the request, then close the connection without writing a byte.
reset-mid-body       Send a 200 with a ``Content-Length`` larger than what follows, part of the body (stream:
                     SSE headers and one chunk), then reset the connection (RST via ``SO_LINGER`` 0).
drip                 Send 200 headers (``Content-Length`` 1000000), then one byte of a JSON text every
                     ``drip_interval_s`` (1 s) until shutdown or ``max_stall_s``: read timeouts never fire.
headers-only         Send 200 headers with ``Content-Length: 512``, then nothing until shutdown.
html-500             500 with an HTML body (``text/html``).
html-502             502 with an HTML body (``text/html``), like a load balancer in front of a dead upstream.
html-503             503 with an HTML body (``text/html``).
429                  429 rate-limit envelope, no ``Retry-After``.
429-retry-after      429 rate-limit envelope with ``Retry-After: 1``.
429-absurd           429 with ``Retry-After: 99999999`` (seconds, about three years).
429-absurd-date      429 with ``Retry-After: Fri, 31 Dec 9999 23:59:59 GMT`` (a non-numeric HTTP date).
429-bad-retry-after  429 with ``Retry-After: soon-ish`` (neither seconds nor a date).
200-error-envelope   200 whose JSON body is ``{"error": {...}}`` (stream: the same JSON, not SSE).
status-failed        Responses: 200 ``response`` with ``status: failed``, an ``error`` object and empty
                     ``output``. Chat and models: same as ``200-error-envelope``.
choices-null         200 with ``choices: null`` (Responses: ``output: null``; models: ``data: null``; stream:
                     chunks with ``choices: null``, Responses ``response.completed`` with ``output: null``).
choices-empty        200 with ``choices: []`` (Responses: ``output: []``; models: ``data: []``; stream: chunks
                     with ``choices: []`` / no deltas and ``output: []``).
content-null         200 with ``message.content: null`` (Responses: ``text: null``; stream: ``null`` deltas).
wrong-types          200 with ``content`` an int, ``created`` a string, ``index`` a string, ``finish_reason``
                     an int (Responses: ``text`` an int, ``status`` an int; models: ``id`` an int; stream:
                     int deltas).
wrong-types-choices  200 with ``choices`` a string (Responses: ``output`` a string; models: ``data`` a string;
                     stream: chunks with ``choices`` a string).
invalid-json         200 ``application/json`` whose body is not JSON (stream: ``data:`` lines that are not JSON,
                     then ``data: [DONE]``).
empty-200            200 ``application/json`` with an empty body (``Content-Length: 0``).
huge-body            200 with a valid JSON body of ``huge_body_bytes`` (30 MiB; ``huge-body:<MiB>``) written in
                     64 KiB pieces, never held in memory (stream: content chunks of the same total size, then
                     ``[DONE]``).
sse-cut              Stream: a few content chunks, then the stream ends cleanly (chunked terminator) with no
                     finish chunk and no ``[DONE]`` (Responses: no ``response.completed``). Not streaming: normal.
sse-comments         Stream: valid, with comment lines ``: PROCESSING`` before, between and after the events.
                     Not streaming: normal.
sse-error-event      Stream: HTTP 200, one content chunk, then ``data: {"error": {...}}`` and ``data: [DONE]``
                     (both families, as LiteLLM and OpenRouter do). Not streaming: normal.
sse-failed-event     Stream, Responses: ``response.created``, one delta, then ``event: response.failed`` with
                     ``status: failed``. Chat: same as ``sse-error-event``. Not streaming: normal.
redirect             307 to the same path on a second server (``.redirect_target``, another port on
                     127.0.0.1) that answers normally and records what arrived (``redirect_target.requests``):
                     did the ``Authorization`` / ``api-key`` header follow the redirect?
echo-key             401 whose error message echoes the ``Authorization`` and ``api-key`` header values verbatim.
echo-key-encoded     401 whose error text echoes the ``Authorization`` value percent-encoded, base64-encoded and
                     JSON-escaped with ``\/`` (a raw body, so the escapes reach the client as sent).
echo-key-escaped     401 whose error message echoes the key (the ``Authorization`` value after ``Bearer``, else
                     ``api-key``) with its characters escaped: hex (lower and upper case), HTML entities (hex, decimal),
                     ``\u`` and ``\x`` escapes, percent-encoding of every character, and a mix of them.
echo-headers         401 whose error message echoes every request header but the common ones (Host, Accept*,
                     Content-*, User-Agent, Connection) as ``name=value``: the configured extra headers and the key.
fallback             200, normal answer, but ``model`` in the body (and in chunks) is ``fallback_model``
                     (``gpt-4o-mini``), not the requested name; no header says so.
fallback-header      200, normal answer with the requested ``model``, plus LiteLLM-style headers
                     ``x-litellm-model-group: <fallback_model>`` and ``x-litellm-attempted-fallbacks: 1``.
slow                 Normal answer after ``slow_ms`` (500) milliseconds; ``slow:<ms>`` overrides.
401                  401 ``invalid_api_key`` envelope.
403                  403 ``permission_error`` envelope.
404-unknown-model    404 ``model_not_found`` envelope, even for a known model.
==================== ===================================================================================
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import socket
import ssl
import struct
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, cast
from urllib.parse import quote, unquote, urlsplit

from harness.tls import TLSHandlerMixin, TLSServerMixin, server_context

__all__ = [
    "DEFAULT_MODELS",
    "FAULTS",
    "FAULT_PREFIX",
    "FaultGateway",
    "FaultSpec",
    "RecordedRequest",
    "parse_fault",
]

MIB: Final = 1024 * 1024
FAULT_PREFIX: Final = "fault:"
DEFAULT_MODELS: Final = ("good-model",)
DEFAULT_REPLY: Final = "Hello from the fault gateway."
DEFAULT_JSON_REPLY: Final = '{"answer": "ok"}'
DEFAULT_TOOL_ARGUMENTS: Final = '{"city": "Paris"}'
MAX_REQUEST_BODY: Final = 8 * MIB
_PIECE: Final = 64 * 1024

FAULTS: Final[tuple[str, ...]] = (
    "hang",
    "close",
    "reset-mid-body",
    "drip",
    "headers-only",
    "html-500",
    "html-502",
    "html-503",
    "429",
    "429-retry-after",
    "429-absurd",
    "429-absurd-date",
    "429-bad-retry-after",
    "200-error-envelope",
    "status-failed",
    "choices-null",
    "choices-empty",
    "content-null",
    "wrong-types",
    "wrong-types-choices",
    "invalid-json",
    "empty-200",
    "huge-body",
    "sse-cut",
    "sse-comments",
    "sse-error-event",
    "sse-failed-event",
    "redirect",
    "echo-key",
    "echo-key-encoded",
    "echo-key-escaped",
    "echo-headers",
    "fallback",
    "fallback-header",
    "slow",
    "401",
    "403",
    "404-unknown-model",
)
_FAULTS_WITH_ARG: Final = frozenset({"slow", "huge-body"})
_SHAPE_FAULTS: Final = frozenset({"choices-null", "choices-empty", "content-null", "wrong-types", "wrong-types-choices", "fallback"})

_HTML_STATUS: Final = {"html-500": 500, "html-502": 502, "html-503": 503}
_RETRY_AFTER: Final[dict[str, str | None]] = {
    "429": None,
    "429-retry-after": "1",
    "429-absurd": "99999999",
    "429-absurd-date": "Fri, 31 Dec 9999 23:59:59 GMT",
    "429-bad-retry-after": "soon-ish",
}


@dataclass(frozen=True)
class FaultSpec:
    """A fault name from ``FAULTS`` and its optional argument (``slow:<ms>``, ``huge-body:<MiB>``)."""

    name: str
    arg: int | None = None


def parse_fault(text: str) -> FaultSpec:
    """Parse ``name`` or ``name:<int>`` (an optional leading ``fault:`` is accepted). Raises ``ValueError``."""
    body = text.removeprefix(FAULT_PREFIX)
    name, sep, raw_arg = body.partition(":")
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; known faults: {', '.join(FAULTS)}")
    if not sep:
        return FaultSpec(name)
    if name not in _FAULTS_WITH_ARG:
        raise ValueError(f"fault {name!r} takes no argument")
    try:
        arg = int(raw_arg)
    except ValueError:
        raise ValueError(f"fault {name!r} needs an integer argument, got {raw_arg!r}") from None
    if arg < 0:
        raise ValueError(f"fault {name!r} needs a non-negative argument, got {arg}")
    return FaultSpec(name, arg)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. ``headers`` has lower-cased names; ``body`` is the parsed JSON or None."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    raw_body: bytes
    time: float

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def authorization(self) -> str | None:
        return self.header("authorization")

    @property
    def model(self) -> str | None:
        if isinstance(self.body, dict):
            model = self.body.get("model")
            if isinstance(model, str):
                return model
        return None


@dataclass
class _ArmedFault:
    spec: FaultSpec
    remaining: int | None


def error_envelope(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _html_page(status: int) -> bytes:
    titles = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable"}
    title = f"{status} {titles.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


class _Server(TLSServerMixin, ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, gateway: FaultGateway) -> None:
        self.gateway = gateway
        self.tls_context = server_context(*gateway.tls) if gateway.tls is not None else None
        super().__init__((host, 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up on purpose in these tests; anything else is kept for inspection, not printed.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError)):  # a client refusing our certificate is a test case
            return
        self.gateway._record_error(repr(exc))


class FaultGateway:
    """A fault-injection OpenAI-compatible gateway; see the module docstring for the faults."""

    def __init__(
        self,
        *,
        models: Sequence[str] = DEFAULT_MODELS,
        api_key: str | None = None,
        reply_text: str = DEFAULT_REPLY,
        json_reply: str = DEFAULT_JSON_REPLY,
        tool_arguments: str = DEFAULT_TOOL_ARGUMENTS,
        fallback_model: str = "gpt-4o-mini",
        slow_ms: int = 500,
        drip_interval_s: float = 1.0,
        huge_body_bytes: int = 30 * MIB,
        max_stall_s: float = 120.0,
        with_redirect_target: bool = True,
        host: str = "127.0.0.1",
        tls: tuple[Path, Path] | None = None,
        _honour_faults: bool = True,
    ) -> None:
        self.models: tuple[str, ...] = tuple(models)
        self.api_key = api_key
        self.reply_text = reply_text
        self.json_reply = json_reply
        self.tool_arguments = tool_arguments
        self.fallback_model = fallback_model
        self.slow_ms = slow_ms
        self.drip_interval_s = drip_interval_s
        self.huge_body_bytes = huge_body_bytes
        self.max_stall_s = max_stall_s
        self.host = host
        self.tls = tls  # (certificate, key): serve https
        self._honour_faults = _honour_faults
        self._with_redirect_target = with_redirect_target
        self._lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._server_fault: _ArmedFault | None = None
        self._model_faults: dict[str, _ArmedFault] = {}
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.redirect_target: FaultGateway | None = None

    # ----------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("FaultGateway already started")
        self._stop.clear()
        if self._with_redirect_target:
            self.redirect_target = FaultGateway(
                models=self.models,
                reply_text=self.reply_text,
                with_redirect_target=False,
                host=self.host,
                _honour_faults=False,
            ).start()
        self._server = _Server(self.host, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes every stalled handler (hang, drip, headers-only, huge-body)
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self.redirect_target is not None:
            self.redirect_target.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------------------- addresses
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FaultGateway not started")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    # ----------------------------------------------------------------------------------------------- faults
    def set_fault(self, fault: str | None, *, model: str | None = None, times: int | None = None) -> None:
        """Arm ``fault`` (``name`` or ``name:<int>``) server-wide, or for one model name; None disarms it.

        With ``times`` it applies to that many matching requests only.
        """
        if times is not None and times < 1:
            raise ValueError("times must be >= 1")
        armed = None if fault is None else _ArmedFault(parse_fault(fault), times)
        with self._lock:
            if model is None:
                self._server_fault = armed
            elif armed is None:
                self._model_faults.pop(model, None)
            else:
                self._model_faults[model] = armed

    def clear_faults(self) -> None:
        with self._lock:
            self._server_fault = None
            self._model_faults.clear()

    def _take_fault(self, model: str | None) -> FaultSpec | None:
        with self._lock:
            armed = self._model_faults.get(model) if model is not None else None
            key: str | None = model
            if armed is None:
                armed, key = self._server_fault, None
            if armed is None:
                return None
            if armed.remaining is not None:
                armed.remaining -= 1
                if armed.remaining <= 0:
                    if key is None:
                        self._server_fault = None
                    else:
                        del self._model_faults[key]
            return armed.spec

    # ----------------------------------------------------------------------------------------------- log
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._log)

    @property
    def handler_errors(self) -> list[str]:
        """Unexpected exceptions raised in request handlers (disconnects excluded); empty when all is well."""
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

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._log.append(request)

    def _record_error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)

    def _stall(self, seconds: float | None = None) -> bool:
        """Sleep up to ``seconds`` (default ``max_stall_s``); True when the server is stopping."""
        return self._stop.wait(self.max_stall_s if seconds is None else min(seconds, self.max_stall_s))


class _Handler(TLSHandlerMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FaultGateway/1"

    def version_string(self) -> str:
        return self.server_version

    @property
    def gw(self) -> FaultGateway:
        return cast(_Server, self.server).gateway

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    # ------------------------------------------------------------------------------------------- dispatch
    def _handle(self) -> None:
        self.close_connection = True
        raw = self._read_body()
        body: Any = None
        body_ok = False
        if raw:
            try:
                body = json.loads(raw)
                body_ok = True
            except ValueError:
                body = None
        path = urlsplit(self.path).path
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.gw._record(RecordedRequest(self.command, path, headers, body, raw, time.time()))
        route = path.removeprefix("/v1") or "/"
        model = body.get("model") if isinstance(body, dict) else None
        model_name = model if isinstance(model, str) else None
        stream = isinstance(body, dict) and body.get("stream") is True
        try:
            fault = self._select_fault(model_name)
        except ValueError as exc:
            self._send_json(400, error_envelope(str(exc), "invalid_request_error", "unknown_fault", "model"))
            return
        try:
            if fault is not None and self._apply_fault(fault, route, model_name, stream):
                return
            self._route(route, raw=raw, body=body, body_ok=body_ok, model=model_name, stream=stream, fault=fault)
        except (ConnectionError, TimeoutError):
            return

    def _select_fault(self, model: str | None) -> FaultSpec | None:
        if not self.gw._honour_faults:
            return None
        if model is not None and model.startswith(FAULT_PREFIX):
            return parse_fault(model)
        return self.gw._take_fault(model)

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length <= 0:
            return b""
        return self.rfile.read(min(length, MAX_REQUEST_BODY))

    def _known_model(self, model: str) -> bool:
        return model in self.gw.models or model.startswith(FAULT_PREFIX) or not self.gw._honour_faults

    def _key_ok(self) -> bool:
        key = self.gw.api_key
        if key is None:
            return True
        return self.headers.get("Authorization") == f"Bearer {key}" or self.headers.get("api-key") == key

    def _route(
        self,
        route: str,
        *,
        raw: bytes,
        body: Any,
        body_ok: bool,
        model: str | None,
        stream: bool,
        fault: FaultSpec | None,
    ) -> None:
        if not self._key_ok():
            self._send_json(401, error_envelope("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))
            return
        fname = fault.name if fault is not None else None
        if route == "/models" or route.startswith("/models/"):
            if self.command != "GET":
                self._method_not_allowed()
            elif route == "/models":
                self._send_json(200, self._models_list(fname))
            else:
                self._model_object(unquote(route.removeprefix("/models/")))
            return
        if route not in ("/chat/completions", "/responses"):
            self._send_json(
                404,
                error_envelope(f"Invalid URL ({self.command} {urlsplit(self.path).path})", "invalid_request_error", None),
            )
            return
        if self.command != "POST":
            self._method_not_allowed()
            return
        if not body_ok or not isinstance(body, dict):
            what = "We could not parse the JSON body of your request." if raw else "The request body is empty."
            self._send_json(400, error_envelope(what, "invalid_request_error", None))
            return
        if model is None:
            self._send_json(400, error_envelope("you must provide a model parameter", "invalid_request_error", None, "model"))
            return
        if not self._known_model(model):
            self._send_json(404, self._unknown_model_envelope(model))
            return
        if route == "/chat/completions":
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                self._send_json(
                    400,
                    error_envelope(
                        "Invalid 'messages': empty array. Expected an array with minimum length 1.",
                        "invalid_request_error",
                        "empty_array",
                        "messages",
                    ),
                )
                return
            self._chat(body, model, stream, fname)
        else:
            inp = body.get("input")
            if inp is None or inp in ("", []):
                self._send_json(400, error_envelope("Missing required parameter: 'input'.", "invalid_request_error", None, "input"))
                return
            self._responses(body, model, stream, fname)

    def _method_not_allowed(self) -> None:
        self._send_json(405, error_envelope(f"Method {self.command} not allowed.", "invalid_request_error", None))

    @staticmethod
    def _unknown_model_envelope(model: str) -> dict[str, Any]:
        return error_envelope(
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
            "model",
        )

    # ------------------------------------------------------------------------------------------- faults
    def _apply_fault(self, fault: FaultSpec, route: str, model: str | None, stream: bool) -> bool:
        """Act out a fault that replaces the answer. False when the normal route must run (maybe altered)."""
        name = fault.name
        gw = self.gw
        if name == "slow":
            gw._stall((fault.arg if fault.arg is not None else gw.slow_ms) / 1000.0)
            return False
        if name in _SHAPE_FAULTS or name.startswith("sse-") or name == "fallback-header":
            return False
        if name == "hang":
            gw._stall()
        elif name == "close":
            pass  # write nothing; the connection is closed when the handler returns
        elif name == "reset-mid-body":
            self._reset_mid_body(route, model, stream)
        elif name == "drip":
            self._drip(stream)
        elif name == "headers-only":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "512")
            self.end_headers()
            self.wfile.flush()
            gw._stall()
        elif name in _HTML_STATUS:
            self._send_bytes(_HTML_STATUS[name], _html_page(_HTML_STATUS[name]), "text/html; charset=utf-8")
        elif name in _RETRY_AFTER:
            retry_after = _RETRY_AFTER[name]
            extra = {"Retry-After": retry_after} if retry_after is not None else {}
            envelope = error_envelope("Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded")
            self._send_json(429, envelope, extra)
        elif name == "200-error-envelope" or (name == "status-failed" and route != "/responses"):
            self._send_json(200, error_envelope("The upstream provider failed.", "server_error", "upstream_error"))
        elif name == "status-failed":
            obj = self._response_object(model or "unknown", None, None)
            obj.update(status="failed", output=[], error={"code": "server_error", "message": "The model failed to respond."})
            self._send_json(200, obj)
        elif name == "invalid-json":
            self._invalid_json(stream)
        elif name == "empty-200":
            self._send_bytes(200, b"", "application/json")
        elif name == "huge-body":
            size = fault.arg * MIB if fault.arg is not None else gw.huge_body_bytes
            self._huge_body(route, model or "unknown", stream, size)
        elif name == "redirect":
            target = gw.redirect_target
            location = (target.root_url if target is not None else gw.root_url + "/elsewhere") + self.path
            self._send_json(307, {"redirect": location}, {"Location": location})
        elif name == "echo-key":
            auth = self.headers.get("Authorization")
            api_key = self.headers.get("api-key")
            message = f"Incorrect API key provided: Authorization={auth!s}; api-key={api_key!s}."
            self._send_json(401, error_envelope(message, "invalid_request_error", "invalid_api_key"))
        elif name == "echo-key-encoded":
            auth = self.headers.get("Authorization") or self.headers.get("api-key") or ""
            escaped = json.dumps(auth)[1:-1].replace("/", "\\/")
            encoded = base64.b64encode(auth.encode()).decode()
            raw = (f'{{"error": {{"message": "bad credentials: {escaped} / {quote(auth, safe="")} / {encoded}", '
                   f'"type": "invalid_request_error", "code": "invalid_api_key"}}}}')
            self._send_bytes(401, raw.encode(), "application/json")
        elif name == "echo-key-escaped":
            auth = self.headers.get("Authorization") or ""
            key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else self.headers.get("api-key") or auth
            third = len(key) // 3
            forms = [key.encode().hex(), key.encode().hex().upper(), "".join(f"&#x{ord(c):x};" for c in key),
                     "".join(f"&#{ord(c)};" for c in key), "".join(f"\\u{ord(c):04x}" for c in key),
                     "".join(f"\\x{ord(c):02x}" for c in key), "".join(f"%{ord(c):02X}" for c in key),
                     "".join(f"&#{ord(c)};" for c in key[:third]) + "".join(f"\\u{ord(c):04X}" for c in key[third:2 * third])
                     + key[2 * third:]]
            self._send_json(401, error_envelope("bad credentials: " + " / ".join(forms), "invalid_request_error", "invalid_api_key"))
        elif name == "echo-headers":
            common = ("host", "content-length", "content-type", "user-agent", "accept", "accept-encoding", "connection")
            echoed = "; ".join(f"{k}={v}" for k, v in self.headers.items() if k.lower() not in common)
            self._send_json(401, error_envelope(f"Rejected request with headers: {echoed}.", "invalid_request_error", "invalid_api_key"))
        elif name == "401":
            self._send_json(401, error_envelope("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))
        elif name == "403":
            self._send_json(403, error_envelope("You are not allowed to use this model.", "permission_error", "forbidden"))
        elif name == "404-unknown-model":
            self._send_json(404, self._unknown_model_envelope(model or "unknown"))
        else:  # pragma: no cover - FAULTS and this dispatch are kept in step by the unit tests
            raise AssertionError(f"fault {name!r} not implemented")
        return True

    def _reset_mid_body(self, route: str, model: str | None, stream: bool) -> None:
        if stream:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            first = self._chat_chunk(model or "unknown", "chatcmpl-reset", {"role": "assistant", "content": "Hel"}, None)
            self._write_chunk(b"data: " + json.dumps(first).encode() + b"\n\n")
        else:
            body = json.dumps(self._chat_completion(model or "unknown", self.gw.reply_text, None)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        time.sleep(0.05)  # let the client read the partial answer before the reset
        self._reset_connection()

    def _reset_connection(self) -> None:
        conn = self.connection
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for f in (self.rfile, self.wfile):
            with contextlib.suppress(OSError):
                f.close()
        conn.close()  # linger 0: the kernel sends RST
        # The stdlib flushes and closes these after the handler; give it harmless stand-ins.
        self.rfile = io.BytesIO()
        self.wfile = io.BytesIO()

    def _drip(self, stream: bool) -> None:
        gw = self.gw
        prefix = b'{"id":"chatcmpl-drip","object":"chat.completion","choices":['
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if stream else "application/json")
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        self.wfile.flush()
        interval = max(gw.drip_interval_s, 0.01)
        steps = min(int(gw.max_stall_s / interval) + 1, 1_000_000)
        for i in range(steps):
            self.wfile.write(prefix[i : i + 1] if i < len(prefix) else b" ")
            self.wfile.flush()
            if gw._stall(interval):
                return

    def _invalid_json(self, stream: bool) -> None:
        if not stream:
            self._send_bytes(200, b'{"id": "chatcmpl-broken", "choices": [{"message": {"content": "Hel', "application/json")
            return
        self._start_sse()
        self._write_chunk(b'data: {"id": "chatcmpl-broken", "choices": [\n\n')
        self._write_chunk(b"data: not json at all\n\n")
        self._write_chunk(b"data: [DONE]\n\n")
        self._end_chunks()

    def _huge_body(self, route: str, model: str, stream: bool, size: int) -> None:
        gw = self.gw
        piece = "a" * _PIECE
        if stream:
            self._start_sse()
            sent = 0
            limit = size // _PIECE + 2
            for _ in range(limit):
                if sent >= size or gw._stop.is_set():
                    break
                if route == "/responses":
                    event = {
                        "type": "response.output_text.delta",
                        "item_id": "msg_1",
                        "output_index": 0,
                        "content_index": 0,
                        "delta": piece,
                    }
                    data = b"event: response.output_text.delta\ndata: " + json.dumps(event).encode() + b"\n\n"
                else:
                    chunk = self._chat_chunk(model, "chatcmpl-huge", {"content": piece}, None)
                    data = b"data: " + json.dumps(chunk).encode() + b"\n\n"
                self._write_chunk(data)
                sent += len(data)
            if route == "/responses":
                done = {"type": "response.completed", "response": self._response_object(model, "(huge)", None)}
                self._write_chunk(b"event: response.completed\ndata: " + json.dumps(done).encode() + b"\n\n")
            else:
                self._write_chunk(b"data: [DONE]\n\n")
            self._end_chunks()
            return
        if route == "/responses":
            obj = self._response_object(model, "\x00", None)
        else:
            obj = self._chat_completion(model, "\x00", None)
        prefix, _, suffix = json.dumps(obj).partition("\\u0000")
        head, tail = prefix.encode(), suffix.encode()
        filler = max(size - len(head) - len(tail), 0)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(head) + filler + len(tail)))
        self.end_headers()
        self.wfile.write(head)
        data = piece.encode()
        left = filler
        for _ in range(filler // _PIECE + 1):
            if left <= 0 or gw._stop.is_set():
                break
            n = min(left, _PIECE)
            self.wfile.write(data[:n])
            left -= n
        if left <= 0:
            self.wfile.write(tail)

    # ------------------------------------------------------------------------------------------- models
    def _models_list(self, fault: str | None) -> dict[str, Any]:
        data: Any = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "fault-gateway"} for m in self.gw.models]
        if fault == "choices-null":
            data = None
        elif fault == "choices-empty":
            data = []
        elif fault == "wrong-types":
            data = [{"id": i, "object": "model", "created": "yesterday", "owned_by": None} for i in range(len(data))]
        elif fault == "wrong-types-choices":
            data = "good-model"
        return {"object": "list", "data": data}

    def _model_object(self, model_id: str) -> None:
        if model_id in self.gw.models:
            self._send_json(200, {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "fault-gateway"})
        else:
            self._send_json(404, self._unknown_model_envelope(model_id))

    # ------------------------------------------------------------------------------------------- chat
    def _answer_kind(self, body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """The reply text and, when the request offers tools, the tool call to make."""
        tools = body.get("tools")
        if isinstance(tools, list) and tools and body.get("tool_choice") != "none":
            first: dict[str, Any] = tools[0] if isinstance(tools[0], dict) else {}
            nested = first.get("function")
            fn: dict[str, Any] = nested if isinstance(nested, dict) else first
            name = fn.get("name") if isinstance(fn.get("name"), str) else "tool"
            return "", {"name": name, "arguments": self.gw.tool_arguments}
        fmt = body.get("response_format")
        text_cfg = body.get("text")
        if isinstance(text_cfg, dict):
            fmt = text_cfg.get("format")
        if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
            return self.gw.json_reply, None
        return self.gw.reply_text, None

    def _served_model(self, model: str, fault: str | None) -> str:
        return self.gw.fallback_model if fault == "fallback" else model

    def _fallback_headers(self, fault: str | None) -> dict[str, str]:
        if fault != "fallback-header":
            return {}
        return {"x-litellm-model-group": self.gw.fallback_model, "x-litellm-attempted-fallbacks": "1"}

    def _chat_completion(self, model: str, text: str | None, tool_call: dict[str, Any] | None, fault: str | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        finish = "stop"
        if tool_call is not None:
            message["content"] = None
            message["tool_calls"] = [{"id": "call_1", "type": "function", "function": tool_call}]
            finish = "tool_calls"
        choices: Any = [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}]
        created: Any = int(time.time())
        if fault == "choices-null":
            choices = None
        elif fault == "choices-empty":
            choices = []
        elif fault == "content-null":
            message["content"] = None
        elif fault == "wrong-types":
            message["content"] = 42
            choices[0].update(index="0", finish_reason=7)
            created = "yesterday"
        elif fault == "wrong-types-choices":
            choices = text or ""
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": created,
            "model": self._served_model(model, fault),
            "choices": choices,
            "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
        }

    def _chat_chunk(self, model: str, cid: str, delta: dict[str, Any], finish: str | None, fault: str | None = None) -> dict[str, Any]:
        choices: Any = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        created: Any = int(time.time())
        if fault == "choices-null":
            choices = None
        elif fault == "choices-empty":
            choices = []
        elif fault == "wrong-types-choices":
            choices = str(delta.get("content") or "")
        elif fault == "content-null" and "content" in delta:
            delta["content"] = None
        elif fault == "wrong-types":
            if "content" in delta:
                delta["content"] = 42
            created = "yesterday"
        return {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": self._served_model(model, fault),
            "choices": choices,
        }

    def _chat(self, body: dict[str, Any], model: str, stream: bool, fault: str | None) -> None:
        text, tool_call = self._answer_kind(body)
        headers = self._fallback_headers(fault)
        if not stream:
            self._send_json(200, self._chat_completion(model, text, tool_call, fault), headers)
            return
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        events: list[bytes] = []

        def data(obj: Any) -> bytes:
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        pieces = [text[i : i + 8] for i in range(0, len(text), 8)] or [""]
        if tool_call is not None:
            first_delta: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": tool_call}],
            }
            events.append(data(self._chat_chunk(model, cid, first_delta, None, fault)))
            finish = "tool_calls"
        else:
            events.append(data(self._chat_chunk(model, cid, {"role": "assistant", "content": pieces[0]}, None, fault)))
            events.extend(data(self._chat_chunk(model, cid, {"content": p}, None, fault)) for p in pieces[1:])
            finish = "stop"
        if fault in ("sse-error-event", "sse-failed-event"):
            envelope = error_envelope("Upstream stream failed.", "internal_server_error", "500")
            events = [*events[:1], data(envelope), b"data: [DONE]\n\n"]
        elif fault == "sse-cut":
            events = events[: max(1, len(events) // 2)]
        else:
            events.append(data(self._chat_chunk(model, cid, {}, finish, fault)))
            options = body.get("stream_options")
            if isinstance(options, dict) and options.get("include_usage") is True:
                usage_chunk = self._chat_chunk(model, cid, {}, None, fault)
                usage_chunk["choices"] = []
                usage_chunk["usage"] = {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}
                events.append(data(usage_chunk))
            events.append(b"data: [DONE]\n\n")
        self._send_sse(events, comments=fault == "sse-comments", headers=headers)

    # ------------------------------------------------------------------------------------------- responses
    def _response_object(self, model: str, text: str | None, tool_call: dict[str, Any] | None, fault: str | None = None) -> dict[str, Any]:
        item: dict[str, Any]
        if tool_call is not None:
            item = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "status": "completed", **tool_call}
        else:
            part: dict[str, Any] = {"type": "output_text", "text": text, "annotations": []}
            item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed", "content": [part]}
            if fault == "content-null":
                part["text"] = None
            elif fault == "wrong-types":
                part["text"] = 42
        output: Any = [item]
        if fault == "choices-null":
            output = None
        elif fault == "choices-empty":
            output = []
        elif fault == "wrong-types-choices":
            output = text or ""
        return {
            "id": f"resp_{uuid.uuid4().hex[:24]}",
            "object": "response",
            "created_at": int(time.time()),
            "model": self._served_model(model, fault),
            "status": 1 if fault == "wrong-types" else "completed",
            "error": None,
            "incomplete_details": None,
            "output": output,
            "usage": {"input_tokens": 9, "output_tokens": 7, "total_tokens": 16},
        }

    def _responses(self, body: dict[str, Any], model: str, stream: bool, fault: str | None) -> None:
        text, tool_call = self._answer_kind(body)
        headers = self._fallback_headers(fault)
        final = self._response_object(model, text, tool_call, fault)
        if not stream:
            self._send_json(200, final, headers)
            return
        seq = iter(range(1_000_000))

        def event(kind: str, **fields: Any) -> bytes:
            payload = {"type": kind, "sequence_number": next(seq), **fields}
            return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()

        started = {**final, "status": "in_progress", "output": []}
        events = [event("response.created", response=started), event("response.in_progress", response=started)]
        deltas: list[bytes] = []
        if tool_call is None and fault not in ("choices-null", "choices-empty", "wrong-types-choices"):
            item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
            events.append(event("response.output_item.added", output_index=0, item=item))
            empty_part = {"type": "output_text", "text": "", "annotations": []}
            events.append(event("response.content_part.added", item_id="msg_1", output_index=0, content_index=0, part=empty_part))
            pieces: list[Any] = [text[i : i + 8] for i in range(0, len(text), 8)] or [""]
            if fault == "content-null":
                pieces = [None]
            elif fault == "wrong-types":
                pieces = [42]
            deltas = [event("response.output_text.delta", item_id="msg_1", output_index=0, content_index=0, delta=p) for p in pieces]
            events.extend(deltas)
            done_text: Any = None if fault == "content-null" else (42 if fault == "wrong-types" else text)
            done_part: dict[str, Any] = {"type": "output_text", "text": done_text, "annotations": []}
            events.append(event("response.output_text.done", item_id="msg_1", output_index=0, content_index=0, text=done_text))
            events.append(event("response.content_part.done", item_id="msg_1", output_index=0, content_index=0, part=done_part))
            events.append(event("response.output_item.done", output_index=0, item=final["output"][0]))
        elif tool_call is not None:
            events.append(event("response.output_item.added", output_index=0, item=final["output"][0]))
            events.append(event("response.output_item.done", output_index=0, item=final["output"][0]))
        head = events[: 2 + min(3, len(events) - 2)]  # created, in_progress and up to the first delta
        if fault == "sse-error-event":
            envelope = error_envelope("Error processing stream start", "internal_server_error", "500")
            events = [*head, b"data: " + json.dumps(envelope).encode() + b"\n\n", b"data: [DONE]\n\n"]
        elif fault == "sse-failed-event":
            failed = {
                **final,
                "status": "failed",
                "output": [],
                "error": {"code": "server_error", "message": "The model failed to respond."},
            }
            events = [*head, event("response.failed", response=failed)]
        elif fault == "sse-cut":
            events = events[: max(3, len(events) - 3)]
        else:
            events.append(event("response.completed", response=final))
        self._send_sse(events, comments=fault == "sse-comments", headers=headers)

    # ------------------------------------------------------------------------------------------- writing
    def _send_bytes(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(obj).encode(), "application/json", headers)

    def _start_sse(self, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _send_sse(self, events: Sequence[bytes], *, comments: bool, headers: Mapping[str, str]) -> None:
        self._start_sse(headers)
        for piece in _with_comments(events) if comments else iter(events):
            self._write_chunk(piece)
        self._end_chunks()


def _with_comments(events: Sequence[bytes]) -> Iterator[bytes]:
    yield b": PROCESSING\n\n"
    for ev in events:
        yield ev
        yield b": PROCESSING\n\n"
