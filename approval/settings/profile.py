"""The agent profile: what one coding agent sends, so that a verdict holds for that agent and not for a curl.

An approval is for a model, on a gateway, for an agent. The profile is data (YAML, validated by the shipped
approval/schemas/profile.schema.json): the endpoint family the agent speaks, whether it streams, its tools and their
schemas, whether it asks for parallel calls, the parameters it sends, the reasoning fields it round-trips, whether it
chains `previous_response_id`, the role it gives its instructions, its context size, the client library that rebuilds
its streams, and where the shape comes from. The conversation checks send what the profile says; the record, the
comment and the registry entry name the profile and its sha256.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Client = Literal["openai-python", "openai-node", "ai-sdk", "litellm", "tolerant"]

# The tools a profile uses when it names none: a coding agent's file reader and directory lister.
DEFAULT_TOOLS: tuple[Mapping[str, Any], ...] = (
    {
        "name": "read_file",
        "description": "Read a file of the repository and return its text.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string", "description": "Path relative to the repository root"}},
            "required": ["path"],
            "additionalProperties": False,
        },
    },
    {
        "name": "list_dir",
        "description": "List the entries of a folder of the repository.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string", "description": "Folder relative to the repository root"}},
            "required": ["path"],
            "additionalProperties": False,
        },
    },
)


@dataclass(frozen=True)
class AgentProfile:
    """One agent's request shape. Tools are function tools as {name, description, parameters (JSON Schema)}."""

    name: str
    sha256: str = ""  # of the profile's file (a built-in's shipped file); "" for the built-in default made in code
    source: str = ""  # where the shape comes from: documentation, a capture of a pinned release, with its date
    endpoint: Literal["chat", "responses"] | None = None  # None: the run's endpoint family
    tools: tuple[Mapping[str, Any], ...] = DEFAULT_TOOLS  # () for an agent without tools: the tool checks do not apply
    streams: bool = True  # the agent streams its turns (tool calls included)
    parallel_tool_calls: bool | None = True  # what it sends as parallel_tool_calls; None: it sends nothing
    tool_choice: tuple[str, ...] = ("auto",)  # the tool_choice values it sends
    parameters: Mapping[str, Any] = field(default_factory=dict)  # the other request fields it sends, with their values
    instruction_role: Literal["system", "developer"] = "system"
    reasoning_fields: tuple[str, ...] = ()  # fields it replays in the assistant turn (reasoning_content, thinking, …)
    previous_response_id: bool = False  # Responses: it chains turns by previous_response_id (else it replays the input)
    context_tokens: int | None = None  # the context window it assumes; None: the context check does not apply
    client: Client = "openai-python"  # whose stream rebuilding a streamed tool call is judged by
    relies_on_finish_reason: bool = False  # a wrong finish_reason breaks it (else a finding about it is a warning)

    @property
    def uses_tools(self) -> bool:
        return bool(self.tools)


GENERIC_TOOLS = AgentProfile(name="generic-tools", source="built in: what most coding agents send (chat, streaming, function tools)")
PLAIN_CHAT = AgentProfile(name="plain-chat", source="built in: an agent without tools", tools=(), parallel_tool_calls=None,
                          tool_choice=())
