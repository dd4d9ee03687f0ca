"""The agent's own client: the official openai SDK, configured as an agent configures it, driving the agent-client
check's calls. Imported only by runs that select agent-client, in a background thread (the import costs ~0.4 s).

What the SDK sees comes from Settings alone: the base URL, the key and its header, the extra headers, the proxy and
the CA bundle are given to it explicitly, through an httpx client that does not read the environment; what the SDK
itself would take from OPENAI_* variables (organization, project, admin key, custom headers) is cleared.

Attempts are counted by a transport wrapper, the one place every HTTP request of the SDK passes (the SDK is never
patched). The same wrapper keeps the run's bounds without changing the SDK's policy: each attempt holds a slot of the
run's concurrency cap, and no attempt is sent or read past the call's window (the run's deadline, or
agent.max_wait_seconds after the first attempt). The SDK's own waits between retries cannot be interrupted, so each
call runs in a daemon thread and is watched only until its window closes: a call still running then is reported
with what it went through so far.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import certifi
import httpx2
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent

from approval.common.redact import excerpt
from approval.engine import routing
from approval.engine.agent_calls import AgentRun, Attempt, SDKCall, SDKRequest, plan_requests
from approval.engine.deadline import Deadline
from approval.engine.results import Category
from approval.settings.build import Settings

# The paths the SDK's own methods post to; any other configured path is posted to with the SDK's generic `post`.
SDK_PATHS = {"chat": "/chat/completions", "responses": "/responses"}
MIN_ATTEMPT_S = 0.05  # an attempt is not started with less time than this left in its window
POLL_S = 0.1  # how often a watched call's window is looked at again (it moves once the first attempt starts)
MESSAGE_CHARS = 120
# The SDK logs request options (the prompt among them) when OPENAI_LOG asks it to: its loggers stay silent here.
SDK_LOGGERS = ("openai", "httpx2", "httpcore2")
# Not a credential: stands in for the key when the key goes in another header (or none), so the SDK sends no bearer.
NO_BEARER = "unused"

for _name in SDK_LOGGERS:  # a level no record reaches: their child loggers (openai._base_client, …) inherit it
    logging.getLogger(_name).setLevel(logging.CRITICAL + 1)


class WindowClosed(openai.OpenAIError):
    """No further attempt: the call's window (the run's deadline or agent.max_wait_seconds) has closed. An
    OpenAIError, which the SDK passes on without retrying."""


class BodyTooLarge(openai.OpenAIError):
    """The answer is larger than max_response_bytes: not read further (the raw probes keep the same cap)."""


@dataclass
class CallLog:
    """The attempts of one call, written by the transport wrapper and read by the watcher."""

    deadline: Deadline
    max_wait_s: float
    first_at: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    in_flight_since: float | None = None
    headers: tuple[tuple[str, str], ...] = ()  # the last answer's response headers, lower-cased names
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def window_end(self) -> float:
        """Monotonic time after which the call is no longer watched."""
        with self.lock:
            end = self.deadline.at
            return end if self.first_at is None else min(end, self.first_at + self.max_wait_s)

    def begin(self, now: float) -> None:
        with self.lock:
            self.first_at = now if self.first_at is None else self.first_at
            self.in_flight_since = now

    def end(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.append(attempt)
            self.in_flight_since = None

    def snapshot(self, now: float) -> tuple[tuple[Attempt, ...], float]:
        """The attempts so far (one still in flight counts as unfinished) and the seconds since the first."""
        with self.lock:
            attempts = list(self.attempts)
            if self.in_flight_since is not None:
                attempts.append(Attempt(None, "unfinished", now - self.in_flight_since))
            return tuple(attempts), (now - self.first_at) if self.first_at is not None else 0.0


class _WatchedStream(httpx2.SyncByteStream):
    """A response body that holds its concurrency slot until closed, and stops at the call's window."""

    def __init__(self, inner: httpx2.SyncByteStream, log: CallLog, status: int, started: float, release: threading.Semaphore,
                 cap: int) -> None:
        self.inner = inner
        self.cap = cap
        self.log = log
        self.status = status
        self.started = started
        self.release = release
        self.failure: str | None = None
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        try:
            for chunk in self.inner:
                if time.monotonic() >= self.log.window_end():
                    raise httpx2.ReadTimeout("the call's window closed while its body was being read")
                size += len(chunk)
                if size > self.cap:
                    raise BodyTooLarge("the answer is larger than the size cap (max_response_bytes)")
                yield chunk
        except Exception as exc:
            self.failure = "too-large" if isinstance(exc, BodyTooLarge) else _failure_kind(exc)
            raise

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.inner.close()
        finally:
            self.release.release()
            self.log.end(Attempt(self.status, self.failure, time.monotonic() - self.started))


class CountingTransport(httpx2.BaseTransport):
    """Counts and times every attempt of one call, under the run's concurrency cap and within the call's window."""

    def __init__(self, inner: httpx2.BaseTransport, log: CallLog, limiter: threading.Semaphore, max_body_bytes: int) -> None:
        self.inner = inner
        self.log = log
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        remaining = self.log.window_end() - time.monotonic()
        if remaining < MIN_ATTEMPT_S or not self.limiter.acquire(timeout=remaining):
            raise WindowClosed("the call's window closed before this attempt")
        started = time.monotonic()
        remaining = self.log.window_end() - started
        if remaining < MIN_ATTEMPT_S:
            self.limiter.release()
            raise WindowClosed("the call's window closed before this attempt")
        self.log.begin(started)
        timeouts = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {k: remaining if v is None else min(float(v), remaining) for k, v in
                                         {**{"connect": None, "read": None, "write": None, "pool": None}, **timeouts}.items()}
        try:
            response = self.inner.handle_request(request)
        except BaseException as exc:
            self.limiter.release()
            self.log.end(Attempt(None, _failure_kind(exc), time.monotonic() - started))
            raise
        with self.log.lock:
            self.log.headers = tuple((name.lower(), value) for name, value in response.headers.items())
        stream = _WatchedStream(cast(httpx2.SyncByteStream, response.stream), self.log, response.status_code, started, self.limiter,
                                self.max_body_bytes)
        return httpx2.Response(response.status_code, headers=response.headers, stream=stream, extensions=response.extensions)

    def close(self) -> None:  # the shared connection pool is closed by its owner
        return


def _failure_kind(exc: BaseException) -> str:
    if isinstance(exc, httpx2.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx2.ConnectError | httpx2.ProxyError):
        return "connect"
    return "transport"


# -- configuring the SDK as the agent does ---------------------------------------------------------------------------


def _tls_context(settings: Settings) -> ssl.SSLContext:
    """The CA bundle of Settings (a file or a directory), else certifi's: the same roots the raw probes trust."""
    bundle = settings.ca_bundle
    if bundle and Path(bundle).is_dir():
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle or certifi.where())


def shared_transport(settings: Settings) -> httpx2.HTTPTransport:
    """One connection pool for every SDK call of the run, through Settings.proxy, trusting Settings.ca_bundle."""
    needs_tls = settings.base_url.startswith("https:") or (settings.proxy or "").startswith("https:")
    # a plain-HTTP gateway reached directly never opens a TLS connection: no context (and no CA bundle read) needed
    verify: ssl.SSLContext | bool = _tls_context(settings) if needs_tls else False
    return httpx2.HTTPTransport(verify=verify, trust_env=False, proxy=settings.proxy)


# Canned answers for `load_family`: the smallest well-formed ones of each family, plain and streamed.
_CANNED_CHAT = {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
_CANNED_CHUNK = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                 "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]}
_CANNED_RESPONSE = {"id": "r", "object": "response", "created_at": 0, "model": "m", "status": "completed", "error": None,
                    "incomplete_details": None, "output": [{"type": "message", "id": "i", "role": "assistant", "status": "completed",
                                                            "content": [{"type": "output_text", "text": "ok", "annotations": []}]}]}
_CANNED_EVENTS = [
    {"type": "response.output_text.delta", "sequence_number": 0, "item_id": "i", "output_index": 0, "content_index": 0, "delta": "ok"},
    {"type": "response.completed", "sequence_number": 1, "response": _CANNED_RESPONSE},
]


def _canned(request: httpx2.Request) -> httpx2.Response:
    body = json.loads(request.content or b"{}")
    responses = request.url.path.endswith("/responses")
    if not body.get("stream"):
        return httpx2.Response(200, json=_CANNED_RESPONSE if responses else _CANNED_CHAT)
    if responses:
        text = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in _CANNED_EVENTS)
    else:
        text = f"data: {json.dumps(_CANNED_CHUNK)}\n\ndata: [DONE]\n\n"
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=text.encode())


def load_family(settings: Settings) -> None:
    """Make the SDK ready for the endpoint family: one call and one stream on canned answers, in memory (nothing is
    sent). The SDK loads its resource modules and prepares its types on first use (~0.3 s of CPU for the Responses
    API); paid here, once, it counts as the SDK's import, and the concurrent real calls do not each pay it again."""
    _load(settings.endpoint)


def warm_up() -> None:
    """Load what the check uses of the SDK for both endpoint families, on canned answers (the image's build runs this
    to compile exactly those modules, and no others)."""
    for endpoint in ("chat", "responses"):
        _load(endpoint)


def _load(endpoint: str) -> None:
    client = openai.OpenAI(api_key=NO_BEARER, base_url="http://canned.invalid/v1", max_retries=0,
                           http_client=httpx2.Client(transport=httpx2.MockTransport(_canned)))
    messages: list[Any] = [{"role": "user", "content": "ok"}]
    if endpoint == "responses":
        _ = client.responses.create(model="m", input=messages).output_text
        with client.responses.create(model="m", input=messages, stream=True) as events:
            for _event in events:
                pass
    else:
        _ = client.chat.completions.create(model="m", messages=messages).choices
        with client.chat.completions.create(model="m", messages=messages, stream=True) as chunks:
            for _chunk in chunks:
                pass


def _headers(settings: Settings) -> tuple[str, dict[str, str | openai.Omit]]:
    """(the SDK's api_key, its default headers): the key in the header the config names, and nowhere else."""
    headers: dict[str, str | openai.Omit] = dict(settings.extra_headers)
    auth = settings.auth
    if auth.scheme == "bearer" and auth.header.lower() == "authorization":
        return settings.api_key, headers  # the SDK's own bearer auth
    headers["Authorization"] = openai.omit
    if auth.scheme == "bearer":
        headers[auth.header] = f"Bearer {settings.api_key}"
    elif auth.scheme == "header":
        headers[auth.header] = f"{auth.prefix}{settings.api_key}"
    return NO_BEARER, headers


def build_client(settings: Settings, transport: httpx2.BaseTransport) -> openai.OpenAI:
    api_key, headers = _headers(settings)
    agent = settings.agent
    options: dict[str, Any] = {}
    if agent.max_retries is not None:
        options["max_retries"] = agent.max_retries
    if agent.timeout_s is not None:
        options["timeout"] = agent.timeout_s
    http_client = httpx2.Client(transport=transport, trust_env=False, follow_redirects=False)
    client = openai.OpenAI(api_key=api_key, base_url=settings.base_url, http_client=http_client,
                           default_headers=cast(Mapping[str, str], headers), **options)
    # The SDK fills these from OPENAI_ORG_ID, OPENAI_PROJECT_ID, OPENAI_ADMIN_KEY, OPENAI_WEBHOOK_SECRET and
    # OPENAI_CUSTOM_HEADERS when they are not given: the agent's configuration comes from Settings alone.
    client.organization = None
    client.project = None
    client.admin_api_key = None
    client.webhook_secret = None
    client._custom_headers = cast(Mapping[str, str], headers)
    return client


# -- one call ----------------------------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    raised: str | None = None
    status: int | None = None
    message: str = ""
    code: str | None = None
    parsed: str | None = None
    output_chars: int = 0
    finding: str = ""
    finding_category: Category = Category.NONE
    identities: list[dict[str, Any]] = field(default_factory=list)

    def found(self, finding: str, category: Category = Category.GATEWAY) -> None:
        self.finding, self.finding_category = finding, category

    def served_by(self, obj: object) -> None:
        """Keep the identity an answer (or one stream event) gives, once per distinct one: who served it."""
        identity = _identity(obj)
        if identity and routing.identity_key(identity) not in {routing.identity_key(i) for i in self.identities}:
            self.identities.append(identity)


def _identity(obj: object) -> dict[str, Any]:
    """`model` (and `provider`, `system_fingerprint`, `openrouter_metadata`) as the SDK parsed them from an answer or
    a stream event (a Responses event carries them on its `response`); {} when it names no model. The SDK keeps fields
    it does not know (`provider`) as extra attributes."""
    carrier = getattr(obj, "response", None) or obj
    if not isinstance(getattr(carrier, "model", None), str):
        return {}
    found: dict[str, Any] = {}
    for name in routing.IDENTITY_FIELDS:
        value = getattr(carrier, name, None)
        if isinstance(value, str | dict | list):
            found[name] = value
    return found


def _send(client: openai.OpenAI, settings: Settings, request: SDKRequest) -> Any:
    """The call as an agent makes it: the SDK's own method for its own path, its generic `post` for any other path
    (and for the request without a model, which the SDK's methods refuse to build)."""
    endpoint = settings.endpoint
    own_path = request.path == SDK_PATHS[endpoint] and "model" in request.payload
    body = dict(request.payload)
    if own_path and endpoint == "chat":
        return client.chat.completions.create(**body)
    if own_path:
        return client.responses.create(**body)
    if endpoint == "responses":
        return client.post(request.path, cast_to=Response, body=body, stream=request.stream, stream_cls=openai.Stream[ResponseStreamEvent])
    return client.post(request.path, cast_to=ChatCompletion, body=body, stream=request.stream, stream_cls=openai.Stream[ChatCompletionChunk])


def _read(answer: Any, settings: Settings, outcome: _Outcome) -> None:
    """What the answer parsed into, and whether it carries non-empty output."""
    if isinstance(answer, openai.Stream):
        with answer:
            _read_stream(answer, settings, outcome)
        return
    outcome.parsed = type(answer).__name__
    outcome.served_by(answer)
    text = ""
    try:
        if isinstance(answer, ChatCompletion):
            choices = answer.choices
            if not isinstance(choices, list) or not choices:
                outcome.found("the ChatCompletion has no choices")
                return
            content = choices[0].message.content if choices[0].message is not None else None
            if content is not None and not isinstance(content, str):
                outcome.found(f"the message content is a {type(content).__name__}, not text")
                return
            text = content or ""
        elif isinstance(answer, Response):
            if not isinstance(answer.output, list) or not answer.output:
                outcome.found("the Response has no output items")
                return
            text = answer.output_text
            if answer.status not in (None, "completed"):
                outcome.found(f"the Response has status {excerpt(str(answer.status), 40)}",
                              Category.MODEL if answer.status == "incomplete" else Category.GATEWAY)
        else:
            outcome.found(f"the SDK returned {type(answer).__name__}, not its type for this endpoint")
            return
    except (AttributeError, TypeError, IndexError) as exc:  # a body of the wrong shape, which the SDK does not validate
        outcome.found(f"reading it raised {type(exc).__name__} (a body of the wrong shape)")
        return
    outcome.output_chars = len(text)
    if not text.strip() and not outcome.finding:
        outcome.found("the output text is empty", Category.MODEL)


def _read_stream(stream: openai.Stream[Any], settings: Settings, outcome: _Outcome) -> None:
    pieces: list[str] = []
    events = 0
    final: str | None = None
    for event in stream:
        events += 1
        outcome.served_by(event)
        if settings.endpoint == "responses":
            kind = getattr(event, "type", None)
            delta = getattr(event, "delta", None)
            if kind == "response.output_text.delta" and isinstance(delta, str):
                pieces.append(delta)
            if kind in ("response.completed", "response.failed", "response.incomplete"):
                final = kind
        else:
            choices = getattr(event, "choices", None)
            for choice in choices if isinstance(choices, list) else []:
                content = getattr(getattr(choice, "delta", None), "content", None)
                if content is not None and not isinstance(content, str):
                    outcome.found(f"a chunk's delta content is a {type(content).__name__}, not text")
                    return
                if isinstance(content, str):
                    pieces.append(content)
                final = getattr(choice, "finish_reason", None) or final
    outcome.parsed = f"{events} {'ResponseStreamEvent' if settings.endpoint == 'responses' else 'ChatCompletionChunk'}(s)"
    outcome.output_chars = len("".join(pieces))
    if settings.endpoint == "responses" and final != "response.completed":
        outcome.found(f"the stream ended with {final}" if final else "the stream ended without response.completed",
                      Category.MODEL if final == "response.incomplete" else Category.GATEWAY)
    elif settings.endpoint == "chat" and final is None:  # the SDK ends a cut stream quietly: the agent would take a partial answer
        outcome.found("the stream ended without a finish_reason (cut short), and the SDK raised nothing")
    elif not "".join(pieces).strip():
        outcome.found(f"the stream carried no text in {events} event(s)", Category.MODEL if events else Category.GATEWAY)


def run_call(client: openai.OpenAI, settings: Settings, request: SDKRequest) -> _Outcome:
    outcome = _Outcome()
    try:
        _read(_send(client, settings, request), settings, outcome)
    except openai.APIStatusError as exc:
        outcome.raised, outcome.status = type(exc).__name__, exc.status_code
        outcome.message, outcome.code = excerpt(exc.message, MESSAGE_CHARS), _code(exc.code)
    except openai.APIError as exc:  # connection, timeout, an error event inside a stream
        outcome.raised, outcome.message, outcome.code = type(exc).__name__, excerpt(exc.message, MESSAGE_CHARS), _code(exc.code)
    except WindowClosed:
        outcome.raised = WindowClosed.__name__
    except BodyTooLarge:
        outcome.raised = BodyTooLarge.__name__
    except Exception as exc:  # noqa: BLE001 - whatever the SDK raises on a body it cannot handle is the finding
        outcome.raised, outcome.message = type(exc).__name__, excerpt(str(exc), MESSAGE_CHARS)
    return outcome


def _code(code: object) -> str | None:
    return excerpt(str(code), 60) if code is not None else None


# -- every call of one model, watched until each window closes ------------------------------------------------------


@dataclass
class _Watched:
    request: SDKRequest
    log: CallLog
    client: openai.OpenAI
    done: threading.Event = field(default_factory=threading.Event)
    outcome: _Outcome | None = None
    ended_at: float = 0.0


def drive(settings: Settings, model: str, deadline: Deadline, limiter: threading.Semaphore, transport: httpx2.BaseTransport,
          import_ms: float) -> AgentRun:
    """Make every SDK call for `model` at once and watch each until it ends or its window closes."""
    watched = []
    for request in plan_requests(settings, model):
        log = CallLog(deadline, settings.agent.max_wait_s)
        watched.append(_Watched(request, log, build_client(settings, CountingTransport(transport, log, limiter, settings.max_response_bytes))))

    def one(item: _Watched) -> None:
        try:
            item.outcome = run_call(item.client, settings, item.request)
        finally:
            item.ended_at = time.monotonic()
            item.done.set()

    for item in watched:
        threading.Thread(target=one, args=(item,), name=f"approval-agent-{item.request.name}", daemon=True).start()
    calls = [_watch(item) for item in watched]
    client = watched[0].client
    return AgentRun(tuple(calls), f"openai {openai.__version__}", import_ms, client.max_retries, _attempt_timeout(client.timeout))


def _watch(item: _Watched) -> SDKCall:
    """The call's record once it ends, or what it went through when its window closed."""
    log = item.log
    while not item.done.is_set():
        left = log.window_end() - time.monotonic()
        if left <= 0:
            break
        item.done.wait(min(POLL_S, left))
    now = time.monotonic()
    o = item.outcome
    # An end at the window's close is the window's doing (its last attempt timed out because it was cut), not the SDK's.
    if item.done.is_set() and o is not None and o.raised != WindowClosed.__name__ and item.ended_at < log.window_end():
        attempts, _ = log.snapshot(now)
        seconds = item.ended_at - log.first_at if log.first_at is not None else 0.0
        with log.lock:
            headers = log.headers
        return SDKCall(item.request.name, attempts, seconds, None, o.raised, o.status, o.message, o.code, o.parsed, o.output_chars, o.finding,
                       o.finding_category, headers, tuple(o.identities))
    attempts, seconds = log.snapshot(min(now, log.window_end()))
    by_max_wait = log.first_at is not None and log.first_at + log.max_wait_s <= log.deadline.at
    return SDKCall(item.request.name, attempts, seconds, "max-wait" if by_max_wait else "deadline")


def _attempt_timeout(timeout: object) -> float | None:
    if isinstance(timeout, int | float):
        return float(timeout)
    if isinstance(timeout, httpx2.Timeout):
        return timeout.read
    return None
