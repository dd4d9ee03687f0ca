"""The fault-injection gateway behaves as documented (plain `requests`, short timeouts, 127.0.0.1 only)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from harness.fault_gateway import MIB, FaultGateway

KEY = "sk-fault-test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
MESSAGES = [{"role": "user", "content": "Say OK."}]
TIMEOUT = (2.0, 3.0)


@pytest.fixture
def gw() -> Iterator[FaultGateway]:
    with FaultGateway(max_stall_s=10.0, drip_interval_s=0.05) as gateway:
        yield gateway
        assert gateway.handler_errors == []


def chat(gw: FaultGateway, model: str, **extra: Any) -> requests.Response:
    body = {"model": model, "messages": MESSAGES, **extra}
    return requests.post(f"{gw.base_url}/chat/completions", json=body, headers=AUTH, timeout=TIMEOUT)


def responses_api(gw: FaultGateway, model: str, **extra: Any) -> requests.Response:
    body = {"model": model, "input": "Say OK.", **extra}
    return requests.post(f"{gw.base_url}/responses", json=body, headers=AUTH, timeout=TIMEOUT)


def sse_data(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]


# --------------------------------------------------------------------------------------------- well-behaved default
def test_default_gateway_is_well_behaved(gw: FaultGateway) -> None:
    assert gw.base_url.startswith("http://127.0.0.1:") and gw.base_url.endswith("/v1")
    models = requests.get(f"{gw.base_url}/models", headers=AUTH, timeout=TIMEOUT)
    assert models.status_code == 200 and [m["id"] for m in models.json()["data"]] == ["good-model"]

    answer = chat(gw, "good-model").json()
    assert answer["object"] == "chat.completion" and answer["model"] == "good-model"
    assert answer["choices"][0]["message"]["content"] and answer["choices"][0]["finish_reason"] == "stop"

    streamed = sse_data(chat(gw, "good-model", stream=True).text)
    assert streamed[-1] == "[DONE]"
    text = "".join(json.loads(d)["choices"][0]["delta"].get("content") or "" for d in streamed[:-1])
    assert text == answer["choices"][0]["message"]["content"]

    resp = responses_api(gw, "good-model").json()
    assert resp["object"] == "response" and resp["status"] == "completed"
    assert resp["output"][0]["content"][0]["type"] == "output_text"
    events = responses_api(gw, "good-model", stream=True).text
    assert "event: response.output_text.delta" in events and "event: response.completed" in events


def test_default_error_envelopes(gw: FaultGateway) -> None:
    url = f"{gw.base_url}/chat/completions"
    no_model = requests.post(url, json={"messages": MESSAGES}, timeout=TIMEOUT)
    unknown = requests.post(url, json={"model": "nope", "messages": MESSAGES}, timeout=TIMEOUT)
    empty = requests.post(url, json={"model": "good-model", "messages": []}, timeout=TIMEOUT)
    no_input = requests.post(f"{gw.base_url}/responses", json={"model": "good-model"}, timeout=TIMEOUT)
    assert (no_model.status_code, unknown.status_code, empty.status_code, no_input.status_code) == (400, 404, 400, 400)
    assert unknown.json()["error"]["code"] == "model_not_found"
    assert empty.json()["error"]["param"] == "messages"
    assert set(no_model.json()["error"]) == {"message", "type", "param", "code"}


def test_request_log_records_headers_and_body(gw: FaultGateway) -> None:
    chat(gw, "good-model")
    (seen,) = gw.requests
    assert seen.method == "POST" and seen.path == "/v1/chat/completions"
    assert seen.authorization == f"Bearer {KEY}" and seen.header("AUTHORIZATION") == f"Bearer {KEY}"
    assert seen.body["messages"] == MESSAGES and seen.model == "good-model"
    assert seen.time <= time.time()


def test_api_key_is_enforced_when_configured() -> None:
    with FaultGateway(api_key=KEY, with_redirect_target=False) as gw:
        assert requests.get(f"{gw.base_url}/models", timeout=TIMEOUT).status_code == 401
        assert requests.get(f"{gw.base_url}/models", headers=AUTH, timeout=TIMEOUT).status_code == 200
        assert requests.get(f"{gw.base_url}/models", headers={"api-key": KEY}, timeout=TIMEOUT).status_code == 200


# --------------------------------------------------------------------------------------------- faults


def test_unknown_fault_in_model_name_is_a_400(gw: FaultGateway) -> None:
    r = chat(gw, "fault:no-such-fault")
    assert r.status_code == 400 and "hang" in r.json()["error"]["message"]


def test_hang_times_out(gw: FaultGateway) -> None:
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(f"{gw.base_url}/chat/completions", json={"model": "fault:hang"}, timeout=(1.0, 0.3))
    assert time.monotonic() - started < 2.0


def test_close_and_reset_are_connection_errors(gw: FaultGateway) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        chat(gw, "fault:close")
    for stream in (False, True):
        with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            chat(gw, "fault:reset-mid-body", stream=stream)


def test_drip_keeps_read_timeouts_from_firing(gw: FaultGateway) -> None:
    started = time.monotonic()
    with requests.post(f"{gw.base_url}/chat/completions", json={"model": "fault:drip"}, timeout=(1.0, 0.5), stream=True) as r:
        assert r.status_code == 200
        got = b""
        for piece in r.iter_content(chunk_size=1):
            got += piece
            if len(got) >= 5:
                break
    assert got == b'{"id"'
    assert time.monotonic() - started < 3.0


def test_html_500_is_html(gw: FaultGateway) -> None:
    r = chat(gw, "fault:html-500")
    assert r.status_code == 500
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.text.lstrip().startswith("<html>")
    with pytest.raises(ValueError):
        r.json()


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [
        ("429", None),
        ("429-retry-after", "1"),
        ("429-absurd", "99999999"),
        ("429-absurd-date", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ("429-bad-retry-after", "soon-ish"),
    ],
)
def test_429_retry_after_variants(gw: FaultGateway, fault: str, retry_after: str | None) -> None:
    r = chat(gw, f"fault:{fault}")
    assert r.status_code == 429 and r.headers.get("Retry-After") == retry_after
    assert r.json()["error"]["code"] == "rate_limit_exceeded"


def test_sse_error_event_is_inside_a_200_stream(gw: FaultGateway) -> None:
    for call in (chat, responses_api):
        r = call(gw, "fault:sse-error-event", stream=True)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        errors = [json.loads(d)["error"] for d in sse_data(r.text) if d.startswith('{"error"')]
        assert errors and errors[0]["message"]


def test_sse_cut_and_comments(gw: FaultGateway) -> None:
    cut = chat(gw, "fault:sse-cut", stream=True)
    assert cut.status_code == 200 and sse_data(cut.text) and "[DONE]" not in cut.text
    assert "response.completed" not in responses_api(gw, "fault:sse-cut", stream=True).text
    commented = chat(gw, "fault:sse-comments", stream=True).text
    assert ": PROCESSING" in commented and sse_data(commented)[-1] == "[DONE]"


def test_redirect_target_records_which_credentials_followed(gw: FaultGateway) -> None:
    assert gw.redirect_target is not None
    headers = {**AUTH, "api-key": "azure-style-key"}
    body = {"model": "fault:redirect", "messages": MESSAGES}
    not_followed = requests.post(f"{gw.base_url}/chat/completions", json=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    assert not_followed.status_code == 307
    assert not_followed.headers["Location"].startswith(gw.redirect_target.root_url)
    assert gw.redirect_target.requests == []

    followed = requests.post(f"{gw.base_url}/chat/completions", json=body, headers=headers, timeout=TIMEOUT)
    assert followed.status_code == 200
    (arrived,) = gw.redirect_target.requests
    # requests drops Authorization on a redirect to another host:port, but forwards other credential headers.
    assert arrived.authorization is None
    assert arrived.header("api-key") == "azure-style-key"


def test_echo_key_echoes_both_credential_headers(gw: FaultGateway) -> None:
    r = requests.post(
        f"{gw.base_url}/chat/completions",
        json={"model": "fault:echo-key", "messages": MESSAGES},
        headers={**AUTH, "api-key": "azure-style-key"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 401 and KEY in r.text and "azure-style-key" in r.text


def test_echo_headers_echoes_every_request_header(gw: FaultGateway) -> None:
    r = requests.post(f"{gw.base_url}/chat/completions", json={"model": "fault:echo-headers", "messages": MESSAGES},
                      headers={**AUTH, "x-portkey-provider": "openai", "x-api-key": "extra-key-9"}, timeout=TIMEOUT)
    message = r.json()["error"]["message"]
    assert r.status_code == 401 and f"Bearer {KEY}" in message and "x-portkey-provider=openai" in message
    assert "x-api-key=extra-key-9" in message


def test_huge_body_streams_at_least_30_mib(gw: FaultGateway) -> None:
    total = 0
    with requests.post(f"{gw.base_url}/chat/completions", json={"model": "fault:huge-body", "messages": MESSAGES}, timeout=TIMEOUT, stream=True) as r:
        assert r.status_code == 200
        for piece in r.iter_content(chunk_size=1024 * 1024):
            total += len(piece)
            if total > 64 * MIB:  # a bound, never reached when the fault behaves
                break
    assert 30 * MIB <= total <= 31 * MIB


def test_shape_faults_for_both_families(gw: FaultGateway) -> None:
    assert chat(gw, "fault:choices-null").json()["choices"] is None
    assert chat(gw, "fault:choices-empty").json()["choices"] == []
    assert chat(gw, "fault:content-null").json()["choices"][0]["message"]["content"] is None
    assert isinstance(chat(gw, "fault:wrong-types-choices").json()["choices"], str)
    assert chat(gw, "fault:fallback").json()["model"] == gw.fallback_model
    assert chat(gw, "fault:200-error-envelope").json()["error"]["message"]
    assert responses_api(gw, "fault:choices-empty").json()["output"] == []
    assert responses_api(gw, "fault:content-null").json()["output"][0]["content"][0]["text"] is None
    assert responses_api(gw, "fault:status-failed").json()["status"] == "failed"
    assert responses_api(gw, "fault:fallback").json()["model"] == gw.fallback_model
    with pytest.raises(ValueError):
        chat(gw, "fault:invalid-json").json()


def test_slow_waits_the_given_milliseconds(gw: FaultGateway) -> None:
    started = time.monotonic()
    r = chat(gw, "fault:slow:200")
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    assert time.monotonic() - started >= 0.2


def test_server_wide_fault_hits_models_and_error_probes_and_times_is_honoured(gw: FaultGateway) -> None:
    gw.set_fault("html-502")
    assert requests.get(f"{gw.base_url}/models", timeout=TIMEOUT).status_code == 502
    assert requests.post(f"{gw.base_url}/chat/completions", json={"messages": MESSAGES}, timeout=TIMEOUT).status_code == 502
    assert chat(gw, "no-such-model").status_code == 502
    gw.clear_faults()
    gw.set_fault("429-retry-after", times=1)
    assert [chat(gw, "good-model").status_code for _ in range(2)] == [429, 200]
    gw.set_fault("fallback", model="good-model")
    assert chat(gw, "good-model").json()["model"] == gw.fallback_model
    with pytest.raises(ValueError):
        gw.set_fault("no-such-fault")
