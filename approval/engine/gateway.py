"""HTTP client for the gateway: auth scheme, paths, bounded retries, capped bodies, SSE, and the global deadline.

`requests`' timeout bounds each socket read, not a whole response: a body dripping one byte a second would never
time out. Bodies are therefore read with `read1` (at most one socket read per call) and the per-request time and
the run's deadline are checked between reads. Redirects are never followed, so credentials never reach another host.
"""

from __future__ import annotations

import codecs
import email.utils
import http.client
import json
import math
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

from approval import __version__
from approval.common.redact import excerpt, longest_secret, redact_head
from approval.engine.deadline import Deadline
from approval.settings.build import Settings

RETRY_STATUSES = frozenset({429, 502, 503, 504})
READ_CHUNK = 64 * 1024
MIN_CALL_SECONDS = 0.05
MAX_SSE_EVENTS = 20_000  # a long answer streams a few thousand chunks; past this a stream is cut like an over-cap body
TRUNCATED_KEEP = 4096  # bytes of an over-cap body kept for the evidence excerpt; the rest is dropped at once
EXCERPT_CHARS = 2048  # characters of a body looked at for an evidence excerpt


def user_agent(agent: str = "") -> str:
    """The User-Agent of the gate's requests: its own product token, after the agent's when the profile names one
    (gateways branch on a client's identity by its first token: LiteLLM drops unsupported parameters for Codex)."""
    own = f"model-approval-gate/{__version__}"
    return f"{agent} {own}" if agent else own


@dataclass(frozen=True)
class SSEEvent:
    event: str | None  # the `event:` name, if any
    data: str  # the joined `data:` lines


@dataclass
class Exchange:
    """One logical call to the gateway, after any retries. Bodies stay in memory only; never emitted whole."""

    label: str
    method: str
    path: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False
    transport_error: str | None = None  # timeout | connect | dns | tls | reset | deadline | invalid-response
    transport_detail: str = ""
    elapsed_ms: float = 0.0  # last attempt: request sent → body read
    total_ms: float = 0.0  # every attempt and the waits between them (not the wait for a free request slot)
    ttfb_ms: float | None = None  # last attempt: request sent → headers
    ttft_ms: float | None = None  # streaming: request sent → first content
    attempts: int = 0
    retry_waits: list[float] = field(default_factory=list)
    events: list[SSEEvent] | None = None  # parsed SSE events for streaming calls
    stream_complete: bool = False  # saw the terminal marker of the stream
    _json: Any = None
    _json_parsed: bool = False

    @property
    def ok_transport(self) -> bool:
        return self.transport_error is None and self.status is not None

    def json(self) -> Any:
        """The parsed body, or None when it is not JSON (checked by `is_json`)."""
        if not self._json_parsed:
            self._json_parsed = True
            try:
                self._json = json.loads(self.body.decode("utf-8")) if self.body and not self.truncated else None
            except (UnicodeDecodeError, ValueError, RecursionError):
                self._json = None
        return self._json

    @property
    def is_json(self) -> bool:
        return self.json() is not None

    def body_excerpt(self, limit: int = 160) -> str:
        # 2048 characters and any secret reaching past them: at most 4 bytes a character in UTF-8
        head = self.body[: 4 * (EXCERPT_CHARS + longest_secret())].decode("utf-8", "replace")
        return excerpt(redact_head(head, EXCERPT_CHARS), limit)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class ClientStats:
    calls: int = 0
    attempts: int = 0
    retries: int = 0
    max_wait_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, exchange: Exchange) -> None:
        with self.lock:
            self.calls += 1
            self.attempts += exchange.attempts
            self.retries += max(0, exchange.attempts - 1)
            if exchange.retry_waits:
                self.max_wait_s = max(self.max_wait_s, *exchange.retry_waits)


class GatewayClient:
    def __init__(self, settings: Settings, deadline: Deadline, limiter: threading.BoundedSemaphore | None = None) -> None:
        self.settings = settings
        self.deadline = deadline
        self.limiter = limiter or threading.BoundedSemaphore(settings.concurrency)
        self.stats = ClientStats()
        self._local = threading.local()

    # -- public -------------------------------------------------------------------------------------------------
    def post(self, label: str, path: str, payload: Mapping[str, Any], *, stream: bool = False, auth: bool = True) -> Exchange:
        return self._call(label, "POST", path, payload, stream=stream, auth=auth)

    def get(self, label: str, path: str) -> Exchange:
        return self._call(label, "GET", path, None, stream=False, auth=True)

    # -- internals ----------------------------------------------------------------------------------------------
    def _deadline_text(self, when: str) -> str:
        return f"cut by the run's deadline of {self.settings.total_timeout_s:g} s {when}"

    def _which_timeout(self, error: tuple[str, str], budget: float, when: str) -> tuple[str, str]:
        """A socket timeout is the run's deadline when the deadline set it (it came before the request timeout)."""
        kind, detail = error
        if kind != "timeout":
            return error
        if budget < self.settings.request_timeout_s and self.deadline.remaining() < MIN_CALL_SECONDS:
            return "deadline", self._deadline_text(when)
        if detail == "the gateway did not answer within the request timeout":
            return kind, f"{detail} of {self.settings.request_timeout_s:g} s"
        return error

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no .netrc credentials; proxy and CA bundle come from Settings (approval.settings.network)
            if self.settings.proxy:
                session.proxies = {"http": self.settings.proxy, "https": self.settings.proxy}
            if self.settings.ca_bundle:
                session.verify = self.settings.ca_bundle
            self._local.session = session
        return session

    def _headers(self, auth: bool, stream: bool) -> dict[str, str]:
        headers = {
            "User-Agent": user_agent(self.settings.profile.user_agent),
            "Accept": "text/event-stream" if stream else "application/json",
            "Content-Type": "application/json",
        }
        headers.update(dict(self.settings.extra_headers))
        scheme = self.settings.auth.scheme
        if auth and scheme == "bearer":
            headers[self.settings.auth.header] = f"Bearer {self.settings.api_key}"
        elif auth and scheme == "header":
            headers[self.settings.auth.header] = f"{self.settings.auth.prefix}{self.settings.api_key}"
        return headers

    def _call(self, label: str, method: str, path: str, payload: Mapping[str, Any] | None, *, stream: bool, auth: bool) -> Exchange:
        exchange = Exchange(label=label, method=method, path=path)
        url = self.settings.base_url + path
        data = json.dumps(payload).encode() if payload is not None else None
        max_attempts = self.settings.max_attempts
        spent_ms = 0.0  # earlier attempts and the waits after them
        for attempt in range(1, max_attempts + 1):
            if self.deadline.remaining() < MIN_CALL_SECONDS:
                if exchange.attempts == 0:
                    exchange.transport_error, exchange.transport_detail = "deadline", self._deadline_text("before the call was sent")
                break
            exchange = self._attempt(exchange, method, url, data, stream, auth)
            exchange.attempts = attempt
            exchange.total_ms = spent_ms + exchange.elapsed_ms
            wait = self._retry_wait(exchange, attempt)
            if wait is None or attempt == max_attempts:
                break
            if wait > self.deadline.remaining() - MIN_CALL_SECONDS:
                exchange.transport_detail = (exchange.transport_detail + " " if exchange.transport_detail else "") + (
                    f"(no retry: waiting {wait:.1f}s would pass the deadline)"
                )
                break
            exchange.retry_waits.append(wait)
            time.sleep(wait)
            spent_ms = exchange.total_ms + wait * 1000
        self.stats.add(exchange)
        return exchange

    def _retry_wait(self, exchange: Exchange, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when this outcome is final."""
        if exchange.transport_error in ("connect", "reset") or (exchange.transport_error is None and exchange.status in RETRY_STATUSES):
            retryable = True
        else:
            retryable = False
        if not retryable:
            return None
        backoff = self.settings.backoff_s * (2.0 ** (attempt - 1)) * (1 + random.random() * 0.25)
        advised = parse_retry_after(exchange.header("retry-after"))
        if advised is not None:
            backoff = max(backoff, advised)
        return min(backoff, self.settings.max_retry_after_s)

    def _attempt(self, previous: Exchange, method: str, url: str, data: bytes | None, stream: bool, auth: bool) -> Exchange:
        exchange = Exchange(label=previous.label, method=method, path=previous.path, retry_waits=previous.retry_waits)
        remaining = self.deadline.remaining()
        if not self.limiter.acquire(timeout=max(remaining, 0.001)):
            exchange.transport_error, exchange.transport_detail = "deadline", self._deadline_text("while the call waited for a free request slot")
            return exchange
        try:
            budget = min(self.settings.request_timeout_s, self.deadline.remaining())
            started = time.monotonic()
            call_deadline = started + budget
            try:
                response = self._session().request(
                    method,
                    url,
                    data=data,
                    headers=self._headers(auth, stream),
                    timeout=(max(budget, 0.01), max(budget, 0.01)),
                    allow_redirects=False,
                    stream=True,
                )
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                exchange.transport_error, exchange.transport_detail = self._which_timeout(classify_transport_error(exc), budget,
                                                                                          "before the gateway answered")
                exchange.elapsed_ms = (time.monotonic() - started) * 1000
                return exchange
            exchange.ttfb_ms = (time.monotonic() - started) * 1000
            exchange.status = response.status_code
            exchange.headers = {k.lower(): v for k, v in response.headers.items()}
            try:
                if stream and 200 <= response.status_code < 300:
                    self._read_stream(response, exchange, started, call_deadline, budget)
                else:
                    self._read_body(response, exchange, call_deadline, budget)
            finally:
                response.close()
            exchange.elapsed_ms = (time.monotonic() - started) * 1000
            return exchange
        finally:
            self.limiter.release()

    def _chunks(self, response: requests.Response, exchange: Exchange, call_deadline: float, budget: float) -> Iterator[bytes]:
        raw: urllib3.HTTPResponse = response.raw
        while True:
            now = time.monotonic()
            if now >= call_deadline or self.deadline.expired():
                exchange.transport_error = "timeout" if not self.deadline.expired() else "deadline"
                exchange.transport_detail = (
                    f"the response body did not finish within the request timeout of {self.settings.request_timeout_s:g} s"
                    if exchange.transport_error == "timeout"
                    else self._deadline_text("while the response was being read")
                )
                return
            try:
                chunk = raw.read1(READ_CHUNK, decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError, requests.RequestException) as exc:
                exchange.transport_error, exchange.transport_detail = self._which_timeout(
                    classify_transport_error(exc), budget, "while the response was being read")
                return
            if not chunk:
                return
            yield chunk

    def _read_body(self, response: requests.Response, exchange: Exchange, call_deadline: float, budget: float) -> None:
        cap = self.settings.max_response_bytes
        parts: list[bytes] = []
        size = 0
        for chunk in self._chunks(response, exchange, call_deadline, budget):
            parts.append(chunk)
            size += len(chunk)
            if size > cap:
                exchange.truncated = True
                break
        # An over-cap body is never parsed (`json()` gives None), so only a head is kept for the excerpt: memory per
        # call stays at about the cap while reading and near zero after, however many calls hit a huge body.
        exchange.body = _head(parts, min(cap + 1, TRUNCATED_KEEP)) if exchange.truncated else b"".join(parts)

    def _read_stream(self, response: requests.Response, exchange: Exchange, started: float, call_deadline: float, budget: float) -> None:
        cap = self.settings.max_response_bytes
        parser = SSEParser()
        events: list[SSEEvent] = []
        size = 0
        kept: list[bytes] = []
        for chunk in self._chunks(response, exchange, call_deadline, budget):
            size += len(chunk)
            if size <= cap:
                kept.append(chunk)
            for event in parser.feed(chunk):
                if exchange.ttft_ms is None and sse_has_content(event):
                    exchange.ttft_ms = (time.monotonic() - started) * 1000
                events.append(event)
                if sse_is_terminal(event):
                    exchange.stream_complete = True
            if size > cap or len(events) > MAX_SSE_EVENTS:
                exchange.truncated = True
                break
            if exchange.stream_complete:
                break
        if not exchange.stream_complete:
            for event in parser.flush():
                events.append(event)
                if sse_is_terminal(event):
                    exchange.stream_complete = True
        exchange.events = events
        exchange.body = _head(kept, min(cap + 1, TRUNCATED_KEEP)) if exchange.truncated else b"".join(kept)


# -- pure helpers --------------------------------------------------------------------------------------------------


def _head(parts: list[bytes], limit: int) -> bytes:
    """The first `limit` bytes of the concatenated parts, without joining them all."""
    head = bytearray()
    for part in parts:
        head += part[: limit - len(head)]
        if len(head) >= limit:
            break
    return bytes(head)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None when absent or unparseable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def _exception_chain(exc: BaseException, limit: int = 12) -> list[BaseException]:
    """`exc` and what it wraps: causes, contexts, urllib3's `reason`, exceptions passed as arguments."""
    found: list[BaseException] = []
    stack: list[object] = [exc]
    while stack and len(found) < limit:
        item = stack.pop()
        if not isinstance(item, BaseException) or any(item is seen for seen in found):
            continue
        found.append(item)
        stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    return found


# Where an exception's text names the host or URL: never matched against (a host called `ssl-gw` is not a TLS error).
_WHERE = re.compile(r"host='[^']*'|url: \S+|\(Caused by|https?://\S+", re.IGNORECASE)


def classify_transport_error(exc: BaseException) -> tuple[str, str]:
    """Map a requests/urllib3/socket exception to a short kind and a one-line, redacted description: by the types in
    its chain first, then by what its text says (with host names and URLs left out)."""
    chain = _exception_chain(exc)

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    text = str(exc)
    lowered = _WHERE.sub(" ", " | ".join(str(e) for e in chain)).lower()
    if has(requests.exceptions.ProxyError, urllib3.exceptions.ProxyError):
        return "connect", "the proxy (HTTPS_PROXY / HTTP_PROXY) refused or failed the connection to the gateway"
    if has(ssl.SSLError, requests.exceptions.SSLError, urllib3.exceptions.SSLError) or "certificate verify failed" in lowered:
        return "tls", "TLS handshake or certificate verification failed"
    if has(socket.gaierror, urllib3.exceptions.NameResolutionError) or any(
        phrase in lowered for phrase in ("name or service not known", "nodename nor servname", "name resolution", "getaddrinfo")
    ):
        return "dns", "the gateway host name could not be resolved (DNS)"
    if has(ConnectionRefusedError) or "connection refused" in lowered:
        return "connect", "the gateway refused the connection (nothing listening on that host and port?)"
    # urllib3's NewConnectionError (any failure to connect) is a subclass of ConnectTimeoutError: not a timeout
    if has(requests.exceptions.ConnectTimeout) or any(
        isinstance(e, urllib3.exceptions.ConnectTimeoutError) and not isinstance(e, urllib3.exceptions.NewConnectionError) for e in chain
    ):
        return "timeout", "connecting to the gateway timed out"
    if has(requests.exceptions.ReadTimeout, socket.timeout, urllib3.exceptions.ReadTimeoutError, TimeoutError):
        return "timeout", "the gateway did not answer within the request timeout"
    if has(ConnectionResetError, BrokenPipeError) or "connection reset" in lowered or "broken pipe" in lowered:
        return "reset", "the connection was reset by the gateway"
    if has(requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError, http.client.IncompleteRead):
        if "remotedisconnected" in lowered.replace(" ", "") or "without response" in lowered:
            return "reset", "the gateway closed the connection without a response"
        return "reset", "the gateway closed the connection before the response was complete"
    if has(requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema):
        return "invalid-response", excerpt(f"invalid request or response: {text}", 160)
    if has(requests.exceptions.ConnectionError):
        return "connect", excerpt(f"connection failed: {type(exc).__name__}", 160)
    return "connect", excerpt(f"{type(exc).__name__}: {text}", 160)


class SSEParser:
    """Incremental Server-Sent Events parser (comment lines skipped; CRLF, LF and CR line ends)."""

    def __init__(self) -> None:
        self._buffer = ""
        self._event: str | None = None
        self._data: list[str] = []
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        text = self._buffer + self._decoder.decode(chunk)
        out: list[SSEEvent] = []
        start = 0  # lines are sliced out by position: no copy of the rest of the buffer per line
        for match in _LINE_BREAK.finditer(text):
            if match.group() == "\r" and match.end() == len(text):
                break  # a CR at the end may be followed by LF
            event = self._line(text[start : match.start()])
            start = match.end()
            if event is not None:
                out.append(event)
        self._buffer = text[start:]
        return out

    def flush(self) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        if self._buffer:
            event = self._line(self._buffer)
            self._buffer = ""
            if event is not None:
                out.append(event)
        event = self._line("")
        if event is not None:
            out.append(event)
        return out

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            if not self._data and self._event is None:
                return None
            event = SSEEvent(self._event, "\n".join(self._data))
            self._event, self._data = None, []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def sse_json(event: SSEEvent) -> Any:
    if event.data in ("", "[DONE]"):
        return None
    try:
        return json.loads(event.data)
    except (ValueError, RecursionError):
        return None


def sse_is_terminal(event: SSEEvent) -> bool:
    if event.data.strip() == "[DONE]":
        return True
    name = event.event or ""
    if name in ("response.completed", "response.failed", "response.incomplete"):
        return True
    payload = sse_json(event)
    return isinstance(payload, dict) and payload.get("type") in ("response.completed", "response.failed", "response.incomplete")


def sse_has_content(event: SSEEvent) -> bool:
    payload = sse_json(event)
    if not isinstance(payload, dict):
        return False
    if payload.get("type") == "response.output_text.delta":
        return bool(payload.get("delta"))
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta")
        if isinstance(delta, dict) and (delta.get("content") or delta.get("tool_calls")):
            return True
    return False
