"""The HTTP client: auth schemes, bounded retries, Retry-After, redirects, body cap, SSE parsing."""

from __future__ import annotations

import json
import time

import pytest
import requests
import responses

from approval.engine.deadline import Deadline
from approval.engine.gateway import GatewayClient, SSEParser, parse_retry_after, sse_is_terminal
from harness.mocked_gateway import BASE, CANARY_KEY, chat_body, make_settings


def client(**flags):
    settings = make_settings(**flags)
    return GatewayClient(settings, Deadline(settings.total_timeout_s))


@responses.activate
def test_bearer_auth_and_no_key_anywhere_else():
    responses.add(responses.POST, BASE + "/chat/completions", json=chat_body())
    ex = client().post("x", "/chat/completions", {"model": "m"})
    assert ex.status == 200 and ex.attempts == 1
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {CANARY_KEY}"
    body = sent.body.decode() if isinstance(sent.body, bytes) else str(sent.body or "")
    assert CANARY_KEY not in str(sent.url) and CANARY_KEY not in body


@responses.activate
def test_custom_header_auth_and_extra_headers(tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("auth: {scheme: header, header: api-key}\nheaders: {X-Team: core}\n")
    responses.add(responses.POST, BASE + "/chat/completions", json=chat_body())
    client(config=str(cfg)).post("x", "/chat/completions", {"model": "m"})
    sent = responses.calls[0].request.headers
    assert sent["api-key"] == CANARY_KEY and "Authorization" not in sent and sent["X-Team"] == "core"


@responses.activate
@pytest.mark.parametrize(("profile", "first"), [("generic-tools", "model-approval-gate/"), ("codex-cli", "codex_exec/"),
                                                 ("opencode", "opencode/")])
def test_the_user_agent_names_the_agent_a_profile_captured_ahead_of_this_tool(profile, first):
    """Gateways branch on the client's product token (LiteLLM drops unsupported parameters for Codex): the requests
    present the agent's, as the agent's would, and still name this tool after it."""
    responses.add(responses.POST, BASE + "/chat/completions", json=chat_body())
    client(profile=profile, endpoint=None).post("x", "/chat/completions", {"model": "m"})
    agent = responses.calls[0].request.headers["User-Agent"]
    assert agent.startswith(first) and agent.split(" ")[-1].startswith("model-approval-gate/"), agent
    assert len(agent.split(" ")) == (1 if profile == "generic-tools" else 2), agent


@responses.activate
def test_auth_none_sends_no_credentials(tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("auth: {scheme: none}\n")
    responses.add(responses.POST, BASE + "/chat/completions", json=chat_body())
    client(config=str(cfg)).post("x", "/chat/completions", {"model": "m"})
    assert "Authorization" not in responses.calls[0].request.headers


@responses.activate
def test_429_is_retried_within_the_attempt_bound_and_honours_retry_after(tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("retries: {max_attempts: 3, max_retry_after_seconds: 0.3, backoff_seconds: 0.01}\n")
    responses.add(responses.POST, BASE + "/chat/completions", status=429, headers={"Retry-After": "99999"}, json={"error": {"message": "slow"}})
    started = time.monotonic()
    ex = client(config=str(cfg)).post("x", "/chat/completions", {"model": "m"})
    took = time.monotonic() - started
    assert ex.status == 429 and ex.attempts == 3 and len(responses.calls) == 3
    assert ex.retry_waits == [0.3, 0.3]  # the absurd Retry-After is capped
    assert took < 2.0


@responses.activate
def test_retry_succeeds_after_a_503():
    responses.add(responses.POST, BASE + "/chat/completions", status=503, body="<html>busy</html>")
    responses.add(responses.POST, BASE + "/chat/completions", json=chat_body())
    ex = client().post("x", "/chat/completions", {"model": "m"})
    assert ex.status == 200 and ex.attempts == 2


@pytest.mark.parametrize("status", [400, 401, 404, 500])
@responses.activate
def test_non_retryable_statuses_are_tried_once(status):
    responses.add(responses.POST, BASE + "/chat/completions", status=status, json={"error": {"message": "no"}})
    ex = client().post("x", "/chat/completions", {"model": "m"})
    assert ex.status == status and ex.attempts == 1 and len(responses.calls) == 1


@responses.activate
def test_no_retry_wait_past_the_deadline(tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("retries: {max_attempts: 5, max_retry_after_seconds: 60}\n")
    settings = make_settings(config=str(cfg))
    responses.add(responses.POST, BASE + "/chat/completions", status=429, headers={"Retry-After": "30"})
    c = GatewayClient(settings, Deadline(2.0))
    started = time.monotonic()
    ex = c.post("x", "/chat/completions", {"model": "m"})
    assert time.monotonic() - started < 1.0
    assert ex.attempts == 1 and "deadline" in ex.transport_detail


@responses.activate
def test_redirects_are_not_followed():
    responses.add(responses.POST, BASE + "/chat/completions", status=307, headers={"Location": "http://elsewhere.test/steal"})
    responses.add(responses.POST, "http://elsewhere.test/steal", json=chat_body())
    ex = client().post("x", "/chat/completions", {"model": "m"})
    assert ex.status == 307
    assert [c.request.url for c in responses.calls] == [BASE + "/chat/completions"]


@responses.activate
def test_body_is_capped(tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("max_response_bytes: 2048\n")
    responses.add(responses.POST, BASE + "/chat/completions", body=b"x" * 100_000)
    ex = client(config=str(cfg)).post("x", "/chat/completions", {"model": "m"})
    assert ex.truncated and len(ex.body) <= 2049 and ex.json() is None


@responses.activate
def test_connection_error_is_classified():
    refused = requests.exceptions.ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused")
    responses.add(responses.POST, BASE + "/chat/completions", body=refused)
    ex = client().post("x", "/chat/completions", {"model": "m"})
    assert ex.status is None and ex.transport_error == "connect" and ex.attempts == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("0.5", 0.5), ("-4", 0.0), ("soon", None), (None, None), ("nan", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_parsing(value, expected):
    assert parse_retry_after(value) == expected


def test_sse_parser_handles_comments_crlf_and_split_chunks():
    raw = (
        b": OPENROUTER PROCESSING\r\n\r\ndata: {\"a\":1}\r\n\r\n"
        b"event: response.completed\ndata: {\"type\":\"response.completed\"}\n\ndata: [DONE]\n\n"
    )
    parser = SSEParser()
    events = []
    for i in range(0, len(raw), 7):  # arbitrary chunk boundaries, even inside CRLF
        events += parser.feed(raw[i : i + 7])
    events += parser.flush()
    assert [e.data for e in events] == ['{"a":1}', '{"type":"response.completed"}', "[DONE]"]
    assert events[1].event == "response.completed" and sse_is_terminal(events[1]) and sse_is_terminal(events[2])


@responses.activate
def test_streaming_call_records_events_and_first_token_time():
    chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
    body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
    responses.add(responses.POST, BASE + "/chat/completions", body=body, content_type="text/event-stream")
    ex = client().post("s", "/chat/completions", {"model": "m", "stream": True}, stream=True)
    assert ex.events is not None and len(ex.events) == 2 and ex.stream_complete and ex.ttft_ms is not None


def _wrapped(reason: BaseException) -> BaseException:
    """As requests raises a failure to connect: ConnectionError(MaxRetryError(reason=...))."""
    import requests
    import urllib3

    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/v1/chat/completions", reason))  # type: ignore[arg-type]


def test_transport_errors_are_classified_by_type_not_by_the_host_name_in_their_text() -> None:
    import socket
    import ssl

    import requests
    import urllib3

    from approval.engine.gateway import classify_transport_error

    dns = urllib3.exceptions.NameResolutionError("ssl-certificate-gw.test", None, socket.gaierror(-2, "Name or service not known"))  # type: ignore[arg-type]
    assert classify_transport_error(_wrapped(dns))[0] == "dns"
    refused = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")  # type: ignore[arg-type]
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert classify_transport_error(_wrapped(refused)) == (
        "connect", "the gateway refused the connection (nothing listening on that host and port?)")
    verify = urllib3.exceptions.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed: unable to get local issuer certificate"))
    tls = requests.exceptions.SSLError(urllib3.exceptions.MaxRetryError(None, "/v1", verify))  # type: ignore[arg-type]
    assert classify_transport_error(tls)[0] == "tls"
    slow = urllib3.exceptions.ConnectTimeoutError(None, "timed out")
    timeout = requests.exceptions.ConnectTimeout(urllib3.exceptions.MaxRetryError(None, "/v1", slow))  # type: ignore[arg-type]
    assert classify_transport_error(timeout) == ("timeout", "connecting to the gateway timed out")
    reset = requests.exceptions.ChunkedEncodingError(urllib3.exceptions.ProtocolError("Connection broken", ConnectionResetError(104, "reset")))
    assert classify_transport_error(reset)[0] == "reset"


def test_responses_stream_errors_keep_their_message() -> None:
    from approval.engine.checks.streaming import judge_responses_stream
    from approval.engine.gateway import SSEEvent

    flat = SSEEvent("error", json.dumps({"type": "error", "code": "server_error", "message": "upstream overloaded", "param": None,
                                         "sequence_number": 3}))
    ok, _, reason, _ = judge_responses_stream([flat], True)
    assert not ok and "upstream overloaded" in reason
    failed = SSEEvent("response.failed", json.dumps({"type": "response.failed", "response": {
        "status": "failed", "error": {"code": "server_error", "message": "the model crashed"}}}))
    ok, _, reason, _ = judge_responses_stream([failed], True)
    assert not ok and "response.failed: the model crashed" in reason
    incomplete = SSEEvent("response.incomplete", json.dumps({"type": "response.incomplete", "response": {
        "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}}))
    ok, _, reason, _ = judge_responses_stream([incomplete], True)
    assert not ok and "(max_output_tokens)" in reason


def test_sse_parsing_is_linear_in_the_size_of_the_stream() -> None:
    """1 MiB of keep-alive comments in one read: each line is sliced out, never the rest of the buffer copied."""
    parser = SSEParser()
    started = time.process_time()  # CPU time of this process: a loaded machine does not slow it, a quadratic parser does
    events = parser.feed(b":\n" * (512 * 1024) + b"data: {}\n\n")
    assert time.process_time() - started < 0.5
    assert [e.data for e in events] == ["{}"]


def test_a_stream_of_countless_events_is_cut_like_an_over_cap_body() -> None:
    from approval.engine.gateway import MAX_SSE_EVENTS

    body = b"data: {}\n\n" * (MAX_SSE_EVENTS + 50)
    settings = make_settings()
    with responses.RequestsMock() as mock:
        mock.post(BASE + "/chat/completions", body=body, content_type="text/event-stream")
        ex = GatewayClient(settings, Deadline(10)).post("stream", "/chat/completions", {"model": "m", "stream": True}, stream=True)
    assert ex.truncated
    assert ex.events is not None and len(ex.events) <= MAX_SSE_EVENTS + 1000
