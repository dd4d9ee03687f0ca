"""The calls a run makes. Each probe is one independent request; checks are pure functions of their answers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from approval.engine.gateway import Exchange
from approval.settings.build import Settings

REACH_TEXT = "Reply with one short sentence confirming you are available."
UNKNOWN_MODEL = "approval-gate-no-such-model-7f3c9e"
TOOL_NAME = "get_weather"
TOOL_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name, e.g. Paris"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city"],
    "additionalProperties": False,
}
TOOL_PROMPT = "What is the weather in Paris right now? Use the get_weather tool; do not answer from memory."
STRUCTURED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}
STRUCTURED_PROMPT = 'Is Python dynamically typed? Reply as a JSON object {"answer": "<one short sentence>"}.'


# Probe labels. A check names the ones it needs and reads (its SPEC); SAMPLES stands for every latency sample.
REACH = "reach"
MODELS = "models"
SAMPLE_1 = "sample-1"
SAMPLES = "sample-*"
ERR_MISSING_MODEL = "err-missing-model"
ERR_UNKNOWN_MODEL = "err-unknown-model"
ERR_EMPTY_MESSAGES = "err-empty-messages"
STREAM = "stream"
TOOLS = "tools"
STRUCTURED = "structured"
# Generation calls made with the candidate's name (every sample and every turn of a conversation too): who served each
# is read, whichever check reads it.
GENERATION = (REACH, STREAM, TOOLS, STRUCTURED)
# A conversation's label starts with this; its later turns are labelled `<label>#2`, `<label>#3`, … (turn_label).
CONVERSATION_PREFIX = "conv-"


def is_sample(label: str) -> bool:
    return label.startswith("sample-")


def is_generation(label: str) -> bool:
    return label in GENERATION or is_sample(label) or label.startswith(CONVERSATION_PREFIX)


def turn_label(label: str, turn: int) -> str:
    """The label of a conversation's turn (1-based): the first turn is the conversation's own label."""
    return label if turn == 1 else f"{label}#{turn}"


def conversation_of(label: str) -> str:
    return label.split("#", 1)[0]


def expand(patterns: Iterable[str], planned: Iterable[str]) -> set[str]:
    """The planned labels that `patterns` name (SAMPLES: every planned sample)."""
    planned = set(planned)
    return {label for label in planned
            if label in patterns or conversation_of(label) in patterns or (SAMPLES in patterns and is_sample(label))}


@dataclass(frozen=True)
class Probe:
    label: str  # unique within one model's run
    method: str
    path: str
    payload: dict[str, Any] | None
    stream: bool = False
    # A conversation (label CONVERSATION_PREFIX…): the next turn's request from the answers so far (in order), or None
    # when the conversation ends. Its turns run one after the other, in one worker, under the run's deadline.
    next_turn: Callable[[list[Exchange]], Turn | None] | None = None
    max_turns: int = 1


@dataclass(frozen=True)
class Turn:
    """A conversation's next request: its payload (same path and method as the first), and whether it streams."""

    payload: dict[str, Any]
    stream: bool = False


def messages_key(endpoint: str) -> str:
    """Where a request carries its conversation: Responses' `input`, chat's `messages`."""
    return "input" if endpoint == "responses" else "messages"


def messages_payload(settings: Settings, endpoint: str, model: str | None, messages: list[dict[str, str]]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if model is not None:
        payload["model"] = model
    if endpoint == "responses":
        payload["input"] = messages
        if settings.max_completion_tokens:
            payload["max_output_tokens"] = settings.max_completion_tokens
    else:
        payload["messages"] = messages
        if settings.max_completion_tokens:
            payload["max_completion_tokens"] = settings.max_completion_tokens
    return payload


def plan(settings: Settings, model: str, labels: Iterable[str]) -> list[Probe]:
    """The probes for `labels` (SAMPLE_1: the first sample; SAMPLES: all of them), for one model, in a fixed order."""
    endpoint = settings.endpoint
    path = settings.path_for(endpoint)
    prompt = settings.prompt.as_chat_messages()
    wanted = set(labels)
    probes: list[Probe] = []
    if REACH in wanted:
        probes.append(Probe(REACH, "POST", path, messages_payload(settings, endpoint, model, [{"role": "user", "content": REACH_TEXT}])))
    if MODELS in wanted:
        probes.append(Probe(MODELS, "GET", settings.models_path, None))
    if wanted & {SAMPLE_1, SAMPLES}:
        samples = settings.latency_samples if SAMPLES in wanted else 1
        for i in range(1, samples + 1):
            probes.append(Probe(f"sample-{i}", "POST", path, messages_payload(settings, endpoint, model, prompt)))
    ok_messages = [{"role": "user", "content": "Say hello."}]
    if ERR_MISSING_MODEL in wanted:
        probes.append(Probe(ERR_MISSING_MODEL, "POST", path, messages_payload(settings, endpoint, None, ok_messages)))
    if ERR_UNKNOWN_MODEL in wanted:
        probes.append(Probe(ERR_UNKNOWN_MODEL, "POST", path, messages_payload(settings, endpoint, UNKNOWN_MODEL, ok_messages)))
    if ERR_EMPTY_MESSAGES in wanted:
        probes.append(Probe(ERR_EMPTY_MESSAGES, "POST", path, messages_payload(settings, endpoint, model, [])))
    if STREAM in wanted:
        payload = messages_payload(settings, endpoint, model, prompt)
        payload["stream"] = True
        probes.append(Probe(STREAM, "POST", path, payload, stream=True))
    if TOOLS in wanted:
        payload = messages_payload(settings, endpoint, model, [{"role": "user", "content": TOOL_PROMPT}])
        if endpoint == "responses":
            payload["tools"] = [{"type": "function", "name": TOOL_NAME, "description": "Current weather for a city",
                                 "parameters": TOOL_PARAMETERS}]
        else:
            payload["tools"] = [{"type": "function", "function": {"name": TOOL_NAME, "description": "Current weather for a city",
                                                                  "parameters": TOOL_PARAMETERS}}]
        payload["tool_choice"] = "auto"
        probes.append(Probe(TOOLS, "POST", path, payload))
    if STRUCTURED in wanted:
        payload = messages_payload(settings, endpoint, model, [{"role": "user", "content": STRUCTURED_PROMPT}])
        if endpoint == "responses":
            payload["text"] = {"format": {"type": "json_schema", "name": "approval_probe", "schema": STRUCTURED_SCHEMA, "strict": True}}
        else:
            payload["response_format"] = {"type": "json_schema",
                                          "json_schema": {"name": "approval_probe", "schema": STRUCTURED_SCHEMA, "strict": True}}
        probes.append(Probe(STRUCTURED, "POST", path, payload))
    return probes
