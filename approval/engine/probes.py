"""The calls a run makes. Each probe is one independent request; checks are pure functions of their answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Probe:
    label: str  # unique within one model's run
    method: str
    path: str
    payload: dict[str, Any] | None
    stream: bool = False


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


def plan(settings: Settings, model: str, checks: tuple[str, ...]) -> list[Probe]:
    """The probes the selected checks need, for one model."""
    endpoint = settings.endpoint
    path = settings.path_for(endpoint)
    prompt = settings.prompt.as_chat_messages()
    probes: list[Probe] = []
    wanted = set(checks)
    if "reachability" in wanted:
        probes.append(Probe("reach", "POST", path, messages_payload(settings, endpoint, model, [{"role": "user", "content": REACH_TEXT}])))
        probes.append(Probe("models", "GET", settings.models_path, None))
    if wanted & {"happy-path", "latency", "model-echo", "output-quality"}:
        samples = settings.latency_samples if "latency" in wanted else 1
        for i in range(1, samples + 1):
            probes.append(Probe(f"sample-{i}", "POST", path, messages_payload(settings, endpoint, model, prompt)))
    if "error-path" in wanted and not any(p.label in ("reach", "sample-1") for p in probes):
        # error-path judges its malformed requests against one well-formed call to the same path (a wrong path
        # answers 4xx to everything): made here when no other selected check makes one
        probes.append(Probe("reach", "POST", path, messages_payload(settings, endpoint, model, [{"role": "user", "content": REACH_TEXT}])))
    if "error-path" in wanted:
        ok_messages = [{"role": "user", "content": "Say hello."}]
        probes.append(Probe("err-missing-model", "POST", path, messages_payload(settings, endpoint, None, ok_messages)))
        probes.append(Probe("err-unknown-model", "POST", path, messages_payload(settings, endpoint, UNKNOWN_MODEL, ok_messages)))
        probes.append(Probe("err-empty-messages", "POST", path, messages_payload(settings, endpoint, model, [])))
    if "streaming" in wanted:
        payload = messages_payload(settings, endpoint, model, prompt)
        payload["stream"] = True
        probes.append(Probe("stream", "POST", path, payload, stream=True))
    if "tool-calling" in wanted:
        payload = messages_payload(settings, endpoint, model, [{"role": "user", "content": TOOL_PROMPT}])
        if endpoint == "responses":
            payload["tools"] = [{"type": "function", "name": TOOL_NAME, "description": "Current weather for a city",
                                 "parameters": TOOL_PARAMETERS}]
        else:
            payload["tools"] = [{"type": "function", "function": {"name": TOOL_NAME, "description": "Current weather for a city",
                                                                  "parameters": TOOL_PARAMETERS}}]
        payload["tool_choice"] = "auto"
        probes.append(Probe("tools", "POST", path, payload))
    if "structured-output" in wanted:
        payload = messages_payload(settings, endpoint, model, [{"role": "user", "content": STRUCTURED_PROMPT}])
        if endpoint == "responses":
            payload["text"] = {"format": {"type": "json_schema", "name": "approval_probe", "schema": STRUCTURED_SCHEMA, "strict": True}}
        else:
            payload["response_format"] = {"type": "json_schema",
                                          "json_schema": {"name": "approval_probe", "schema": STRUCTURED_SCHEMA, "strict": True}}
        probes.append(Probe("structured", "POST", path, payload))
    return probes
