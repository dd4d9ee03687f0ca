"""The agent profile: what one coding agent sends, so that a verdict holds for that agent and not for a curl.

An approval is for a model, on a gateway, for an agent. The profile is data (YAML, validated by the shipped
approval/schemas/profile.schema.json): the endpoint family the agent speaks, whether it streams, its tools and their
schemas, whether it asks for parallel calls, the parameters it sends, the reasoning fields it round-trips, whether it
chains `previous_response_id`, the role it gives its instructions, its context size, the client library that rebuilds
its streams, and where the shape comes from; a profile written by `approval capture` also keeps the role sequence (roles
and lengths) and header names it saw. The conversation checks send what the profile says; the record, the
comment and the registry entry name the profile and its sha256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from approval.common.errors import ConfigError
from approval.common.userfile import read_user_file, yaml_document
from approval.settings.configfile import validate_against_schema

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
    date: str = ""  # when the source was read or the capture made (YYYY-MM-DD); "" for a profile made in code
    endpoint: Literal["chat", "responses"] | None = None  # None: the run's endpoint family
    tools: tuple[Mapping[str, Any], ...] = DEFAULT_TOOLS  # () for an agent without tools: the tool checks do not apply
    streams: bool = True  # the agent streams its turns (tool calls included)
    parallel_tool_calls: bool | None = True  # what it sends as parallel_tool_calls; None: it sends nothing
    tool_choice: tuple[str, ...] = ("auto",)  # the tool_choice values it sends
    parameters: Mapping[str, Any] = field(default_factory=dict)  # the other request fields it sends, with their values
    instruction_role: Literal["system", "developer"] = "system"
    reasoning_fields: tuple[str, ...] = ()  # fields it replays in the assistant turn (reasoning_content, thinking, …)
    drops_reasoning: bool = False  # it replays none (read in its source): a model that requires reasoning back breaks it
    previous_response_id: bool = False  # Responses: it chains turns by previous_response_id (else it replays the input)
    context_tokens: int | None = None  # the context window it assumes; None: the context check does not apply
    client: Client = "openai-python"  # whose stream rebuilding a streamed tool call is judged by
    relies_on_finish_reason: bool = False  # a wrong finish_reason breaks it (else a finding about it is a warning)
    role_sequence: tuple[Mapping[str, Any], ...] = ()  # a capture's longest conversation as roles and lengths, never text
    header_names: tuple[str, ...] = ()  # the names of the headers it sends (a capture's), never their values
    user_agent: str = ""  # the first product token of its User-Agent (gateways branch on it); "": the gate's own

    @property
    def uses_tools(self) -> bool:
        return bool(self.tools)

    @property
    def short_sha(self) -> str:
        """The first 12 hex digits of the file's sha256, as the comment and the terminal show it ("" when none)."""
        return self.sha256[:12]

    @property
    def label(self) -> str:
        """`name` and its short sha256, as a person reads it next to a verdict."""
        return f"{self.name} ({self.short_sha})" if self.sha256 else self.name


GENERIC_TOOLS = AgentProfile(name="generic-tools", source="built in: what most coding agents send (chat, streaming, function tools)")
PLAIN_CHAT = AgentProfile(name="plain-chat", source="built in: an agent without tools", tools=(), streams=False,
                          parallel_tool_calls=None, tool_choice=())


# --- loading ---------------------------------------------------------------------------------------------------------

DEFAULT_PROFILE = GENERIC_TOOLS.name
MAX_PROFILE_BYTES = 256 * 1024  # a profile is a few tools and fields; a larger file was not written as one


def builtin_names() -> tuple[str, ...]:
    """The names of the shipped profiles (approval/profiles/*.yaml), sorted."""
    from importlib import resources  # here, not at the top: only a run that loads a profile lists them

    return tuple(sorted(entry.name.removesuffix(".yaml") for entry in resources.files("approval.profiles").iterdir()
                        if entry.name.endswith(".yaml")))


def profile_schema() -> dict[str, Any]:
    from importlib import resources  # here, not at the top: only a profile file is checked against the schema

    loaded: dict[str, Any] = json.loads(resources.files("approval.schemas").joinpath("profile.schema.json").read_text("utf-8"))
    return loaded


def is_profile_path(spec: str) -> bool:
    """A profile is named by a path when it has a folder separator or a YAML suffix; else it is a built-in's name."""
    return "/" in spec or "\\" in spec or spec.lower().endswith((".yaml", ".yml"))


def load_profile(spec: str) -> AgentProfile:
    """The profile `spec` names: a built-in's name (`codex-cli`) or a YAML file's path (relative to the working
    directory). ConfigError (exit 2) for an unknown name, listing the built-ins, and for a file that cannot be read or
    is not a valid profile, in the user's words."""
    text = spec.strip()
    if not text:
        raise ConfigError("the agent profile is empty", f"name a built-in profile ({', '.join(builtin_names())}) or a profile file")
    if is_profile_path(text):
        body, data = read_user_file(text, "profile file", MAX_PROFILE_BYTES, "give the path of a readable profile YAML file "
                                    "(docs/profiles.md)", "a profile is a few tools and fields")
        return profile_from_text(body, data, f"profile file {text!r}")
    return builtin_profile(text)


def builtin_profile(name: str) -> AgentProfile:
    """A shipped profile by its name; ConfigError listing the built-ins for any other name."""
    names = builtin_names()
    if name not in names:
        raise ConfigError(f"unknown agent profile {name[:80]!r}",
                          f"use one of the built-in profiles ({', '.join(names)}) or the path of a profile YAML file")
    from importlib import resources  # here, not at the top: only a run that loads a profile reads the file

    data = resources.files("approval.profiles").joinpath(f"{name}.yaml").read_bytes()
    return profile_from_text(data.decode("utf-8"), data, f"built-in profile {name!r}")


def profile_from_text(text: str, data: bytes, what: str) -> AgentProfile:
    """A profile from its file's text (checked against the shipped schema) and bytes (its sha256)."""
    doc = yaml_document(text, what, smaller="a profile is a few tools and fields", syntax_fix="fix its syntax (docs/profiles.md shows one)")
    if not isinstance(doc, dict):
        raise ConfigError(f"{what} must be a mapping of keys", "start from a built-in profile (docs/profiles.md)")
    validate_against_schema(doc, profile_schema(), what, "fix that value (every field of a profile is described in docs/profiles.md)")
    return profile_from_mapping(doc, hashlib.sha256(data).hexdigest())


def profile_from_mapping(doc: Mapping[str, Any], sha256: str) -> AgentProfile:
    """The dataclass from a schema-valid mapping; what the file leaves out keeps the dataclass's default."""
    given: dict[str, Any] = {"name": str(doc["name"]), "sha256": sha256}
    for key in ("source", "date", "endpoint", "streams", "parallel_tool_calls", "instruction_role", "previous_response_id",
                "context_tokens", "client", "relies_on_finish_reason", "drops_reasoning", "user_agent"):
        if key in doc:
            given[key] = doc[key]
    if "tools" in doc:
        given["tools"] = tuple(dict(tool) for tool in doc["tools"])
    if "role_sequence" in doc:
        given["role_sequence"] = tuple(dict(entry) for entry in doc["role_sequence"])
    for key in ("tool_choice", "reasoning_fields", "header_names"):
        if key in doc:
            given[key] = tuple(str(v) for v in doc[key])
    if "parameters" in doc:
        given["parameters"] = dict(doc["parameters"])
    return AgentProfile(**given)


def check_endpoint(profile: AgentProfile, endpoint: str | None) -> str:
    """The run's endpoint family: the one the user gave (flag or gateway.yaml), which must agree with the profile's
    when it names one; else the profile's; else chat."""
    if endpoint is None:
        return profile.endpoint or "chat"
    if profile.endpoint is not None and profile.endpoint != endpoint:
        raise ConfigError(f"the agent profile {profile.name!r} speaks the {profile.endpoint} endpoint but the run is set to {endpoint}",
                          f"remove endpoint: / --endpoint (the profile's is used), set it to {profile.endpoint}, or choose a profile "
                          f"for {endpoint}")
    return endpoint


# left out of a made profile's sha256 when empty (or false): profiles made before them keep theirs
LEFT_OUT_WHEN_EMPTY = ("role_sequence", "header_names", "drops_reasoning", "user_agent")


def with_file_sha(profile: AgentProfile) -> AgentProfile:
    """The profile with its file's sha256: a built-in made in code (GENERIC_TOOLS, PLAIN_CHAT) is named by its shipped
    file's; any other profile made in code (no file) by the sha256 of its fields as canonical JSON."""
    if profile.sha256:
        return profile
    if profile.name not in builtin_names():
        fields = {f.name: getattr(profile, f.name) for f in dataclasses.fields(profile)
                  if f.name != "sha256" and not (f.name in LEFT_OUT_WHEN_EMPTY and not getattr(profile, f.name))}
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=list)
        return replace(profile, sha256=hashlib.sha256(canonical.encode("utf-8")).hexdigest())
    shipped = builtin_profile(profile.name)
    return replace(profile, sha256=shipped.sha256, source=profile.source or shipped.source, date=profile.date or shipped.date)


def profile_evidence(profile: AgentProfile) -> dict[str, str]:
    """What the record keeps of the profile: its name, its file's sha256 and its source."""
    named = with_file_sha(profile)
    return {"name": named.name, "sha256": named.sha256, "source": named.source}
