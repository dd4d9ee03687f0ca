"""The opening of an agent's conversation, replayed: the messages a profile's `role_sequence` says the agent sends
ahead of its task (its system or developer instructions, Responses' `instructions`, context it adds as user messages),
rebuilt as synthetic messages of the lengths recorded, so the conversation checks reach the gateway in the agent's own
shape — a long developer prompt first, two system messages, instructions beside the input — ahead of their own turns.

Pure. The text is a fixed filler (`FILLER`), never anything the agent or its user wrote (a profile holds none); it
names no tool and asks for nothing. Bounded: at most `MAX_MESSAGES` messages and `MAX_CHARS` characters in all (longer
recordings are scaled down, each message keeping its share). What is replayed: the leading run of instruction and
context entries (roles system, developer, user; Responses' `instructions`) up to the agent's first exchange, without
the last user message of that run — the agent's task, which the check's own first user turn stands in for. Entries
recorded empty are left out (a gateway may refuse an empty message the agent never relied on).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from approval.engine.probes import messages_key

MAX_CHARS = 32_000  # in all, instructions included
MAX_MESSAGES = 16
FILLER = ("Background notes for this conversation, kept for reference; none of them asks for anything or needs an answer. ")
OPENING_ROLES = ("system", "developer", "user")  # what a chat message and a Responses message item may carry here
INSTRUCTIONS = "instructions"  # Responses' instructions field, recorded as a role of its own


@dataclass(frozen=True)
class Opening:
    """The synthetic opening for one endpoint family: Responses' `instructions` text (None: not sent; chat never has
    one) and the messages (chat) or message input items (Responses) that go ahead of the check's own turns."""

    instructions: str | None = None
    messages: tuple[Mapping[str, Any], ...] = ()

    @property
    def chars(self) -> int:
        return len(self.instructions or "") + sum(len(str(m.get("content", ""))) for m in self.messages)

    def __bool__(self) -> bool:
        return self.instructions is not None or bool(self.messages)


NONE = Opening()


def filler(chars: int) -> str:
    """`chars` characters of the fixed filler text (repeated, cut to length)."""
    if chars <= 0:
        return ""
    return (FILLER * (chars // len(FILLER) + 1))[:chars]


def leading(sequence: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """The (role, chars) of the leading instruction and context entries, the last user message of them (the task) left
    out; an entry of another kind (an assistant turn, a tool call or result, a reasoning item) ends the run."""
    run: list[tuple[str, int]] = []
    for entry in sequence:
        role = entry.get("role")
        kind = entry.get("type", "message")
        if kind != "message" or role not in (*OPENING_ROLES, INSTRUCTIONS):
            break
        chars = entry.get("chars")
        run.append((str(role), chars if isinstance(chars, int) and chars > 0 else 0))
    users = [i for i, (role, _) in enumerate(run) if role == "user"]
    if users:
        del run[users[-1]]
    return [(role, chars) for role, chars in run if chars > 0]


def capped(lengths: list[int], budget: int = MAX_CHARS) -> list[int]:
    """The lengths scaled down to fit `budget` in all (each keeps its share, at least one character)."""
    total = sum(lengths)
    if total <= budget:
        return list(lengths)
    return [max(1, n * budget // total) for n in lengths]


def opening(sequence: Iterable[Mapping[str, Any]], endpoint: str) -> Opening:
    """The opening `sequence` (a profile's role_sequence) records, for `endpoint` ("chat" or "responses")."""
    run = leading(sequence)
    first = next((i for i, (role, _) in enumerate(run) if role == INSTRUCTIONS), None)
    kept = [(role, n) for i, (role, n) in enumerate(run) if role != INSTRUCTIONS or i == first]  # one instructions field
    if endpoint != "responses":  # chat has no instructions field: Responses' instructions read as a system message
        kept = [("system" if role == INSTRUCTIONS else role, n) for role, n in kept]
    instruction = next(((role, n) for role, n in kept if role == INSTRUCTIONS), None)
    messages = [(role, n) for role, n in kept if role != INSTRUCTIONS][:MAX_MESSAGES - (1 if instruction else 0)]
    lengths = capped([n for _, n in ([instruction] if instruction else []) + messages])
    instructions = filler(lengths.pop(0)) if instruction else None
    built = tuple(message(endpoint, role, filler(n)) for (role, _), n in zip(messages, lengths, strict=True))
    return Opening(instructions, built)


def message(endpoint: str, role: str, text: str) -> dict[str, Any]:
    """One opening message: a chat message, or a Responses message input item."""
    if endpoint == "responses":
        return {"type": "message", "role": role, "content": text}
    return {"role": role, "content": text}


def ahead(opening_: Opening, payload: Mapping[str, Any], endpoint: str) -> dict[str, Any]:
    """`payload` with the opening ahead of its own messages (chat `messages`, Responses `input`) and, on Responses,
    the opening's instructions unless the payload gives its own."""
    if not opening_:
        return dict(payload)
    out = dict(payload)
    key = messages_key(endpoint)
    own = out.get(key)
    out[key] = [*(dict(m) for m in opening_.messages), *(own if isinstance(own, list) else [])]
    if endpoint == "responses" and opening_.instructions is not None and "instructions" not in out:
        out["instructions"] = opening_.instructions
    return out
