"""What the agent's own client went through: the calls the agent-client check makes, and one record per call.

Pure data and planning, no SDK import: the suite imports this module on every run, and only runs that select
`agent-client` import the SDK (approval.engine.agent_sdk), in the background.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from approval.engine.probes import UNKNOWN_MODEL, messages_payload
from approval.engine.results import Category
from approval.settings.build import Settings

# The malformed requests, as error-path sends them (same names, same payloads).
MALFORMED = ("missing-model", "unknown-model", "empty-messages")
# The well-formed calls: answers of the candidate, read for who served them.
SDK_GENERATION = ("answer", "stream")


@dataclass(frozen=True)
class SDKRequest:
    name: str  # answer | stream | missing-model | unknown-model | empty-messages
    path: str  # the configured path of the endpoint family
    payload: dict[str, Any]
    stream: bool = False


@dataclass(frozen=True)
class Attempt:
    """One HTTP request the SDK sent for a call."""

    status: int | None  # None: no answer (see `failure`)
    failure: str | None  # timeout | connect | transport | unfinished (still waiting when the check stopped watching)
    seconds: float  # sent → body read, or → the failure


@dataclass(frozen=True)
class SDKCall:
    """One call through the SDK: what it raised or returned, after how many attempts and how long."""

    name: str
    attempts: tuple[Attempt, ...]
    seconds: float  # the first attempt → the SDK returned or raised (its retries and waits included), or → `cut`
    cut: str | None = None  # "deadline" | "max-wait": the check stopped watching before the SDK was done
    raised: str | None = None  # the SDK's exception class, e.g. NotFoundError; None when it returned
    status: int | None = None  # the status the SDK's exception carries
    message: str = ""  # the message the SDK extracted (redacted, short)
    code: str | None = None  # the code the SDK extracted
    parsed: str | None = None  # the SDK type the answer parsed into (ChatCompletion, Response, ChatCompletionChunk…)
    output_chars: int = 0
    finding: str = ""  # why a parsed answer is not a usable one (no choices, empty text, a stream that did not complete…)
    finding_category: Category = Category.NONE  # model (the output itself) or gateway (its shape)
    # Who served the answer, as the gateway says it (approval.engine.routing reads them like the raw probes' answers): the
    # last attempt's response headers (lower-cased names), and each distinct identity (`model`, `provider`, …) the
    # answer or its stream's events gave.
    headers: tuple[tuple[str, str], ...] = ()
    identities: tuple[dict[str, Any], ...] = ()

    @property
    def retried(self) -> bool:
        return len(self.attempts) > 1


@dataclass(frozen=True)
class AgentRun:
    """Every SDK call made for one model, and how the SDK was configured."""

    calls: tuple[SDKCall, ...]
    sdk: str  # e.g. "openai 3.57.0"
    import_ms: float  # what importing the SDK cost in this run (paid once, alongside the raw probes)
    max_retries: int
    timeout_s: float | None  # per attempt; None: no timeout
    setup_error: str = ""  # the SDK could not be set up at all (e.g. a proxy it cannot use): why

    def call(self, name: str) -> SDKCall | None:
        return next((c for c in self.calls if c.name == name), None)


def plan_requests(settings: Settings, model: str) -> list[SDKRequest]:
    """The SDK calls for one model: the representative prompt (streamed too when `streaming` is selected), and the
    malformed requests of error-path."""
    endpoint = settings.endpoint
    path = settings.path_for(endpoint)
    prompt = settings.prompt.as_chat_messages()
    requests = [SDKRequest("answer", path, messages_payload(settings, endpoint, model, prompt))]
    if "streaming" in settings.checks:
        requests.append(SDKRequest("stream", path, {**messages_payload(settings, endpoint, model, prompt), "stream": True}, stream=True))
    hello = [{"role": "user", "content": "Say hello."}]
    requests.append(SDKRequest("missing-model", path, messages_payload(settings, endpoint, None, hello)))
    requests.append(SDKRequest("unknown-model", path, messages_payload(settings, endpoint, UNKNOWN_MODEL, hello)))
    requests.append(SDKRequest("empty-messages", path, messages_payload(settings, endpoint, model, [])))
    return requests
