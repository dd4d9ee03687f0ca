"""Turn one gateway exchange into a finding: what went wrong, and whose fault it is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from approval.common.redact import excerpt
from approval.engine import routing
from approval.engine.contract import Generation, parse_chat_completion, parse_error_body, parse_responses_object
from approval.engine.gateway import Exchange, SSEEvent, sse_json
from approval.engine.results import Category, Status
from approval.settings.build import Settings

TRANSPORT_WORDS = {
    "timeout": "timed out",
    "deadline": "was cut off by the run's deadline",
    "connect": "could not connect",
    "dns": "could not resolve the host",
    "tls": "failed TLS",
    "reset": "lost the connection",
    "invalid-response": "got an invalid response",
}


def failure_status(category: Category) -> Status:
    """The status of a check whose call did not give a usable answer. An infrastructure or configuration cause (no
    answer, the run's deadline, a refused key, a rate limit, a provider's 5xx, a wrong path) leaves the candidate
    unobserved: an evidence gap (`error`), the same in every check. What the gateway or the model did answer is a
    finding (`fail`)."""
    return Status.ERROR if category in (Category.INFRASTRUCTURE, Category.CONFIG) else Status.FAIL


def path_miss(status: int, message: str | None) -> bool:
    """A 404 or 405 that is not about a model: the path does not exist on this gateway (a wrong `paths.*` or
    `base_url`), whatever model was asked for."""
    return status in (404, 405) and (message is None or "model" not in message.lower())


def describe_failure(exchange: Exchange, path_key: str | None = None) -> tuple[Category, str] | None:
    """Category and one-line reason when the exchange did not yield a usable 2xx JSON body; None otherwise.

    `path_key` names the setting that chose the path (`paths.chat`, …), for the fix of a path that does not exist."""
    if exchange.transport_error is not None and (exchange.status is None or exchange.transport_error in ("timeout", "deadline")):
        detail = exchange.transport_detail or TRANSPORT_WORDS.get(exchange.transport_error, exchange.transport_error)
        retries = f" after {exchange.attempts} attempts" if exchange.attempts > 1 else ""
        return Category.INFRASTRUCTURE, f"{detail}{retries}"
    if exchange.transport_error is not None:  # got headers, then the body broke
        return Category.INFRASTRUCTURE, f"HTTP {exchange.status}, then {exchange.transport_detail or exchange.transport_error}"
    status = exchange.status or 0
    parsed = parse_error_body(exchange.json())
    said = f": {excerpt(parsed.message, 140)}" if parsed else (f": {exchange.body_excerpt(100)}" if exchange.body else "")
    retried = f" (after {exchange.attempts} attempts)" if exchange.attempts > 1 else ""
    if exchange.transport_detail and exchange.transport_error is None:  # e.g. a retry skipped because of the deadline
        retried += f" {exchange.transport_detail}"
    if 300 <= status < 400:
        return Category.GATEWAY, f"HTTP {status} redirect (not followed: credentials are never sent to another location)"
    if status in (401, 403, 407):
        return Category.INFRASTRUCTURE, f"HTTP {status} access denied{said} — check the API key and its permissions for this model"
    if status == 429:
        return Category.INFRASTRUCTURE, f"HTTP 429 rate limited{retried}{said}"
    if status == 408:
        return Category.INFRASTRUCTURE, f"HTTP 408 request timeout{retried}"
    if status >= 500:
        kind = "provider or gateway failure"
        return Category.INFRASTRUCTURE, f"HTTP {status} {kind}{retried}{said}"
    if path_miss(status, parsed.message if parsed else None):
        key = path_key or "paths"
        return Category.CONFIG, (f"HTTP {status} at {exchange.path}{said}: this path does not answer on the gateway — check {key} and "
                                 f"base_url in the config")
    if 400 <= status < 500:
        if auth_hint(parsed.message if parsed else "") and status == 400:
            return Category.INFRASTRUCTURE, f"HTTP 400 that reads as an access problem{said} — check the API key"
        return Category.MODEL, f"the gateway rejected the call to this model (HTTP {status}){said}"
    if not (200 <= status < 300):
        return Category.GATEWAY, f"unexpected HTTP status {status}"
    if exchange.truncated:
        return Category.GATEWAY, "the response body is larger than the size cap (max_response_bytes)"
    if not exchange.is_json:
        what = "an HTML page" if exchange.body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")) else "not JSON"
        shown = f": {exchange.body_excerpt(80)}" if exchange.body else " (empty body)"
        return Category.GATEWAY, f"HTTP {status} but the body is {what}{shown}"
    return None


def auth_hint(message: str) -> bool:
    lowered = message.lower()
    return any(w in lowered for w in ("api key", "api_key", "authentication", "unauthorized", "no connected db", "invalid key"))


def generation(exchange: Exchange, endpoint: str, *, tools_expected: bool = False) -> Generation:
    """The generation an exchange carries, with transport and HTTP failures folded in."""
    failure = describe_failure(exchange, f"paths.{endpoint}")
    if failure is not None:
        category, reason = failure
        return Generation(False, category, reason)
    body = exchange.json()
    if endpoint == "responses":
        return parse_responses_object(body, tools_expected=tools_expected)
    return parse_chat_completion(body, tools_expected=tools_expected)


def routing_of(exchange: Exchange, settings: Settings, model: str) -> routing.Reading:
    """What the gateway's own evidence in this exchange says about the model and route that served it
    (approval.engine.routing): headers, and the body; for a stream, every distinct identity its events give (a gateway that
    falls back mid-stream names the candidate in the first chunks and another model in the rest)."""
    if exchange.events is None:
        body = exchange.json()
        return read_route(exchange.headers, [body] if isinstance(body, dict) else [], settings, model)
    return read_route(exchange.headers, stream_identities(exchange.events), settings, model)


def read_route(headers: Mapping[str, str], identities: Sequence[Mapping[str, Any]], settings: Settings, model: str) -> routing.Reading:
    """The routing evidence of one answer: its headers (lower-cased names) read with its first identity (the body, or
    a stream's first chunk that names a model), then every other identity it gave."""
    options: dict[str, Any] = {"aliases": settings.model_aliases.get(model, ()), "route": settings.route,
                               "portkey_config": routing.portkey_config_of(settings.extra_headers)}
    reading = routing.read(headers, identities[0] if identities else {}, model, **options)
    for later in identities[1:]:  # the headers were read once, with the first
        reading = reading.merged(routing.read({}, later, model, **options))
    return reading


def stream_identities(events: list[SSEEvent]) -> list[dict[str, Any]]:
    """The distinct identities (`model`, and `provider`, `system_fingerprint`) the stream's events give, in order: a
    chat chunk, or the `response` object of a Responses event."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for event in events:
        payload = sse_json(event)
        if not isinstance(payload, dict):
            continue
        response = payload.get("response")
        carrier: dict[str, Any] = response if isinstance(response, dict) else payload
        if not isinstance(carrier.get("model"), str):
            continue
        identity = {k: carrier[k] for k in routing.IDENTITY_FIELDS if k in carrier}
        key = routing.identity_key(identity)
        if key not in seen:
            seen.add(key)
            found.append(identity)
    return found


def stream_identity(events: list[SSEEvent]) -> dict[str, Any]:
    """`model` (and `provider`, `system_fingerprint`) from the first stream event that names a model."""
    identities = stream_identities(events)
    return identities[0] if identities else {}
