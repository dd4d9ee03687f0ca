"""The recording proxy of `approval capture`: it listens on loopback, forwards every request to the upstream unchanged
(method, path, body bytes, headers but the hop-by-hop ones) and passes each response back as it arrives — a stream
chunk by chunk, an error as it is — while it keeps the model requests (in memory) for `approval.capture.shape`.

It stops after `requests` model requests (once the last one's response is passed back), after `seconds`, or on Ctrl-C,
and then writes the profile. Nothing it prints or writes holds a request's content, the key or an identifying value.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import ipaddress
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import SplitResult, urlsplit

from approval.capture.shape import HOP_BY_HOP, Seen, Shape, profile_shape, profile_text, seen_request
from approval.common.errors import ConfigError
from approval.common.redact import register_secret
from approval.record.build import write_text_atomic
from approval.settings.profile import profile_from_text

DEFAULT_SECONDS = 300.0
MAX_SECONDS = 24 * 3600.0
MAX_BODY_BYTES = 64 * 1024 * 1024  # a request body larger than this is refused (413), not forwarded
UPSTREAM_TIMEOUT_S = 600.0
DRAIN_S = 10.0  # how long a stop waits for responses still being passed back
CHUNK = 64 * 1024
NOT_FORWARDED = frozenset({"host", "expect"})  # the upstream's host is set; a 100-continue was answered here already


class NothingCaptured(Exception):
    """The limit was reached before any model request arrived: no profile is written."""


@dataclass(frozen=True)
class Upstream:
    scheme: str
    host: str
    port: int
    base_path: str  # "/v1" (no trailing slash), "" for the root

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_upstream(text: str) -> Upstream:
    """The upstream base URL, refused unless it is http(s)://host[:port][/path] without credentials, query or fragment."""
    fix = "give --upstream the gateway's base URL, e.g. http://127.0.0.1:4000/v1"
    try:
        parts: SplitResult = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise ConfigError(f"--upstream {text[:200]!r} is not a valid URL", fix) from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"--upstream {text[:200]!r} is not an http(s) URL", fix)
    if not parts.hostname:
        raise ConfigError(f"--upstream {text[:200]!r} has no host", fix)
    if parts.username is not None or parts.password is not None:
        raise ConfigError("--upstream holds credentials in the URL", "give the URL without user:password@; the agent sends its own key")
    if parts.query or parts.fragment:
        raise ConfigError(f"--upstream {text[:200]!r} has a query or fragment", fix)
    return Upstream(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), parts.path.rstrip("/"))


def parse_listen(text: str, listen_any: bool) -> tuple[str, int]:
    """HOST:PORT to listen on (port 0: a free one). A host that is not loopback is refused unless `listen_any`."""
    fix = "give --listen HOST:PORT, e.g. 127.0.0.1:0 (0 picks a free port)"
    host, sep, port_text = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"--listen {text[:100]!r} is not HOST:PORT", fix)
    loopback = host == "localhost"
    if not loopback:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            raise ConfigError(f"--listen {text[:100]!r}: {host!r} is not an IP address or localhost", fix) from None
    if not loopback and not listen_any:
        raise ConfigError(f"--listen {text[:100]!r} is not a loopback address: anyone who can reach it could send requests through "
                          "the proxy with the agent's traffic recorded", "listen on 127.0.0.1, or add --listen-any to accept it")
    return host, int(port_text)


def check_out(text: str) -> Path:
    """The profile's path: its folder must exist and be writable, and it must not be a folder itself."""
    path = Path(text)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigError(f"--out {text!r} is a directory", "give --out a file name, e.g. agent-profile.yaml")
    if not parent.is_dir():
        raise ConfigError(f"--out {text!r}: the folder {str(parent)!r} does not exist", "create it first, or give --out a path in an existing folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {text!r}: the folder {str(parent)!r} is not writable", "give --out a path in a folder you can write")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"--out {text!r} is not writable", "give --out a path you can write")
    return path


class Recorder:
    """The model requests seen, and when to stop: after `limit` of them have been answered."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._seen: list[Seen] = []
        self._answered = 0
        self._active = 0

    def admit(self, seen: Seen | None) -> bool:
        """Keep a model request; False when the limit is already reached (the request is then refused, not forwarded)."""
        with self._lock:
            self._active += 1
            if seen is None:
                return True
            if self.limit is not None and len(self._seen) >= self.limit:
                return False
            self._seen.append(seen)
            for secret in seen.secrets:
                register_secret(secret)  # whatever is printed is redacted of it
            return True

    def done(self, seen: Seen | None) -> None:
        with self._lock:
            self._active -= 1
            if seen is not None:
                self._answered += 1
                if self.limit is not None and self._answered >= self.limit:
                    self.stop.set()

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    @property
    def active(self) -> int:
        with self._lock:
            return self._active


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], upstream: Upstream, recorder: Recorder, on_request: Callable[[str], None]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self.upstream = upstream
        self.recorder = recorder
        self.on_request = on_request

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client that went away: nothing to print
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "approval-capture"

    def log_message(self, format: str, *args: Any) -> None:  # the requests are summarised, never logged
        return

    @property
    def _server(self) -> _Server:
        return cast(_Server, self.server)

    def do_GET(self) -> None:
        self._forward()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _read_body(self) -> bytes | None:
        """The request body as sent (chunked bodies decoded); None when it is over the limit."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > MAX_BODY_BYTES:
                    return None
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return None if length > MAX_BODY_BYTES else self.rfile.read(length) if length > 0 else b""

    def _send_error(self, status: int, message: str) -> None:
        body = ('{"error": {"message": "' + message + '", "type": "approval_capture"}}').encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self) -> None:
        server = self._server
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send_error(400, "approval capture could not read the request body")
            return
        if body is None:
            self.close_connection = True
            self._send_error(413, "the request body is larger than approval capture forwards")
            return
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() not in NOT_FORWARDED]
        seen = seen_request(self.command, self.path, headers, body)
        if not server.recorder.admit(seen):
            server.recorder.done(None)
            self.close_connection = True
            self._send_error(503, "approval capture has stopped: it recorded the requests it was asked for")
            return
        try:
            self._relay(headers, body, seen)
        finally:
            server.recorder.done(seen)

    def _relay(self, headers: list[tuple[str, str]], body: bytes, seen: Seen | None) -> None:
        upstream = self._server.upstream
        kind = http.client.HTTPSConnection if upstream.scheme == "https" else http.client.HTTPConnection
        conn = kind(upstream.host, upstream.port, timeout=UPSTREAM_TIMEOUT_S)
        try:
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                host = f"[{upstream.host}]" if ":" in upstream.host else upstream.host
                default = 443 if upstream.scheme == "https" else 80
                conn.putheader("Host", host if upstream.port == default else f"{host}:{upstream.port}")
                for name, value in headers:
                    if name.lower() != "content-length":
                        conn.putheader(name, value)
                if body or self.command in ("POST", "PUT", "PATCH"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body or None)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                self.close_connection = True
                self._send_error(502, f"approval capture could not reach the upstream ({type(exc).__name__})")
                self._server.on_request(f"{self.command} {self.path.split('?', 1)[0]}: upstream unreachable")
                return
            self._pass_back(response)
            if seen is not None:
                stream = " (stream)" if seen.body.get("stream") is True else ""
                self._server.on_request(f"{self.command} {seen.path}{stream} -> {response.status}")
        finally:
            conn.close()

    def _pass_back(self, response: http.client.HTTPResponse) -> None:
        """The response's status and headers, then its body as it arrives: with its length when the upstream gave one,
        else chunk by chunk (a stream is flushed piece by piece, never buffered)."""
        self.send_response_only(response.status, response.reason)
        length = response.getheader("Content-Length")
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        no_body = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        chunked = length is None and not no_body
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        if no_body:
            return
        try:
            while True:
                piece = response.read1(CHUNK)
                if not piece:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except (OSError, http.client.HTTPException):
            self.close_connection = True


@dataclass(frozen=True)
class Captured:
    path: Path
    shape: Shape
    sha256: str


def listen(host: str, port: int, upstream: Upstream, recorder: Recorder, on_request: Callable[[str], None]) -> _Server:
    try:
        return _Server((host, port), upstream, recorder, on_request)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"--listen {host}:{port}: the port is in use", "choose another port, or 0 to pick a free one") from None
        if exc.errno == errno.EACCES:
            raise ConfigError(f"--listen {host}:{port}: not permitted to listen there", "choose a port above 1023, or 0") from None
        raise ConfigError(f"--listen {host}:{port}: cannot listen there ({exc.strerror or type(exc).__name__})",
                          "give a local address, e.g. 127.0.0.1:0") from None


def serve(server: _Server, recorder: Recorder, seconds: float | None) -> str:
    """Serve until the recorder's limit, `seconds`, or Ctrl-C; then stop and let the responses in flight end. What
    stopped it: "limit", "time" or "interrupt"."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="capture-proxy", daemon=True)
    thread.start()
    deadline = time.monotonic() + (seconds if seconds is not None else MAX_SECONDS)
    why = "time"
    try:
        while time.monotonic() < deadline:
            if recorder.stop.wait(timeout=min(0.2, max(0.0, deadline - time.monotonic()))):
                why = "limit"
                break
    except KeyboardInterrupt:
        why = "interrupt"
    finally:
        server.shutdown()
        server.server_close()
        drain = time.monotonic() + DRAIN_S
        with contextlib.suppress(KeyboardInterrupt):
            while recorder.active and time.monotonic() < drain:
                time.sleep(0.05)
    return why


def write_profile(out: Path, seen: list[Seen], name: str | None) -> Captured:
    """The profile of the requests seen, written atomically to `out` (checked first: it loads as a profile)."""
    if not seen:
        raise NothingCaptured
    shape = profile_shape(seen, today=datetime.now(UTC).strftime("%Y-%m-%d"), name=name)
    text = profile_text(shape)
    data = text.encode("utf-8")
    loaded = profile_from_text(text, data, f"captured profile {out}")  # a bug of ours, never the user's, if it fails
    try:
        write_text_atomic(out, text, 0o644)
    except OSError as exc:
        raise ConfigError(f"--out {str(out)!r} could not be written ({exc.strerror or type(exc).__name__})",
                          "give --out a path in a folder you can write") from None
    return Captured(out, shape, loaded.sha256)
