"""The opening of an agent's conversation replayed from its profile's role_sequence (approval/engine/opening.py): the
agent's instruction and context messages at the recorded lengths, capped, valid for the endpoint family, filler text
only; and the checks that send it (tool-round-trip, agent-envelope) put it ahead of their own turns."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval.engine.checks import agent_envelope, tool_round_trip
from approval.engine.opening import FILLER, MAX_CHARS, MAX_MESSAGES, NONE, Opening, ahead, filler, opening
from approval.settings.profile import GENERIC_TOOLS, load_profile
from harness.mocked_gateway import make_settings

CHAT = [{"role": "system", "chars": 9618}, {"role": "user", "chars": 71}, {"role": "assistant", "chars": 0, "tool_calls": 1},
        {"role": "tool", "chars": 57}]
CODEX = [{"type": "message", "role": "developer", "chars": 16979}, {"type": "message", "role": "developer", "chars": 2483},
         {"type": "message", "role": "user", "chars": 447}, {"type": "message", "role": "user", "chars": 69},
         {"type": "function_call", "chars": 57}, {"type": "function_call_output", "chars": 160}]


def sent(probe: Any) -> list[dict[str, Any]]:
    """The messages (chat) or input items (Responses) a probe's payload carries."""
    payload = probe.payload or {}
    items = payload.get("input", payload.get("messages"))
    assert isinstance(items, list)
    return items


def shape(op: Opening) -> list[tuple[str, int]]:
    return [(str(m["role"]), len(str(m["content"]))) for m in op.messages]


def test_a_chat_agent_s_system_prompt_is_replayed_at_its_length_and_its_task_is_left_to_the_check() -> None:
    op = opening(CHAT, "chat")
    assert op.instructions is None and shape(op) == [("system", 9618)]
    assert all(set(m) == {"role", "content"} for m in op.messages)


def test_codex_s_developer_messages_and_context_become_responses_message_items() -> None:
    op = opening(CODEX, "responses")
    assert shape(op) == [("developer", 16979), ("developer", 2483), ("user", 447)]  # its task (69) is the check's own turn
    assert all(m["type"] == "message" for m in op.messages)


@pytest.mark.parametrize(("endpoint", "instructions", "first"), [("responses", 1200, []), ("chat", None, [("system", 1200)])])
def test_responses_instructions_are_the_instructions_field_or_a_system_message_on_chat(endpoint: str, instructions: int | None,
                                                                                       first: list[tuple[str, int]]) -> None:
    sequence = [{"role": "instructions", "chars": 1200}, {"type": "message", "role": "user", "chars": 30}]
    op = opening(sequence, endpoint)
    assert (len(op.instructions) if op.instructions is not None else None) == instructions and shape(op) == first


def test_the_opening_ends_at_the_agent_s_first_exchange_and_keeps_only_roles_a_message_may_carry() -> None:
    sequence = [{"role": "system", "chars": 10}, {"role": "other", "chars": 5}, {"role": "system", "chars": 7}]
    assert shape(opening(sequence, "chat")) == [("system", 10)]
    history = [{"role": "system", "chars": 10}, {"role": "user", "chars": 5}, {"role": "assistant", "chars": 3},
               {"role": "system", "chars": 99}, {"role": "user", "chars": 4}]
    assert shape(opening(history, "chat")) == [("system", 10)]
    assert opening([{"type": "reasoning", "reasoning": ["encrypted_content"]}, *CODEX], "responses") == NONE


def test_an_entry_recorded_empty_is_left_out() -> None:
    sequence = [{"role": "system", "chars": 0}, {"role": "developer", "chars": 12}, {"role": "user", "chars": 3}]
    assert shape(opening(sequence, "chat")) == [("developer", 12)]


def test_a_long_opening_is_capped_in_messages_and_characters_each_keeping_its_share() -> None:
    many = [{"role": "system", "chars": 100} for _ in range(40)] + [{"role": "user", "chars": 5}]
    assert len(opening(many, "chat").messages) == MAX_MESSAGES
    huge = [{"role": "system", "chars": 90_000}, {"role": "developer", "chars": 30_000}, {"role": "user", "chars": 5}]
    op = opening(huge, "chat")
    lengths = [n for _, n in shape(op)]
    assert sum(lengths) <= MAX_CHARS and lengths[0] == 3 * lengths[1]
    with_instructions = opening([{"role": "instructions", "chars": 50_000}, *many], "responses")
    assert with_instructions.chars <= MAX_CHARS and len(with_instructions.messages) == MAX_MESSAGES - 1


def test_the_text_is_the_fixed_filler_never_anything_the_agent_sent() -> None:
    op = opening(CODEX, "responses")
    for m in op.messages:
        assert m["content"] == filler(len(m["content"])) and m["content"].startswith(FILLER[:20])
    assert "tool" not in FILLER and "`" not in FILLER  # it names no tool: a model is not steered to call one
    assert filler(0) == "" and len(filler(1000)) == 1000


@given(st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "developer", "user", "instructions", "assistant", "x"]),
                                       "chars": st.integers(min_value=0, max_value=200_000)}), max_size=40),
       st.sampled_from(["chat", "responses"]))
def test_any_recorded_sequence_gives_a_bounded_valid_opening(sequence: list[dict[str, Any]], endpoint: str) -> None:
    op = opening(sequence, endpoint)
    assert op.chars <= MAX_CHARS + MAX_MESSAGES  # each message keeps at least one character
    assert len(op.messages) + (op.instructions is not None) <= MAX_MESSAGES
    assert all(m["role"] in (("system", "developer", "user")) and m["content"] for m in op.messages)
    assert endpoint == "responses" or op.instructions is None


def test_ahead_puts_the_opening_first_and_keeps_the_payload_s_own_instructions() -> None:
    op = opening([{"role": "instructions", "chars": 8}, {"role": "developer", "chars": 5}, {"role": "user", "chars": 1}], "responses")
    payload = {"model": "m", "input": [{"role": "user", "content": "hi"}]}
    sent = ahead(op, payload, "responses")
    assert [m["role"] for m in sent["input"]] == ["developer", "user"] and sent["instructions"] == filler(8)
    assert ahead(op, {**payload, "instructions": "own"}, "responses")["instructions"] == "own"
    assert payload == {"model": "m", "input": [{"role": "user", "content": "hi"}]}, "the payload given is not changed"
    assert ahead(NONE, payload, "chat") == payload


def test_the_round_trip_and_the_envelope_send_codex_s_developer_messages_ahead_of_their_own_turns() -> None:
    settings = make_settings(profile="codex-cli", checks="happy-path,tool-round-trip,agent-envelope")
    round_trip = {p.label: p for p in tool_round_trip.own_probes(settings, "cand-model")}
    first = sent(round_trip[tool_round_trip.ROUND_TRIP])
    assert [m["role"] for m in first] == ["developer", "developer", "user", "user"]
    assert first[-1]["content"].startswith("Read README.md") and len(first[0]["content"]) == 16979
    parallel = sent(round_trip[tool_round_trip.PARALLEL])
    assert [m.get("role") for m in parallel[:3]] == ["developer", "developer", "user"]
    envelope = {p.label: p for p in agent_envelope.probes_for(settings, "cand-model")}
    assert [m["role"] for m in sent(envelope[agent_envelope.BASE])] == ["developer", "developer", "user", "user"]
    compared = sent(envelope[agent_envelope.role_label("developer", 1)])
    assert [m["role"] for m in compared] == ["developer", "user"], "the system/developer comparison sends its own instruction only"


def test_a_profile_without_a_recorded_sequence_sends_what_it_sent_before() -> None:
    settings = make_settings(checks="happy-path,tool-round-trip,agent-envelope")
    assert settings.profile.role_sequence == () and load_profile("generic-tools").role_sequence == ()
    first = next(p for p in tool_round_trip.own_probes(settings, "cand-model") if p.label == tool_round_trip.ROUND_TRIP)
    assert [m["role"] for m in sent(first)] == ["user"]
    with_one = dataclasses.replace(settings, profile=dataclasses.replace(GENERIC_TOOLS, role_sequence=tuple(CHAT)))
    first = next(p for p in tool_round_trip.own_probes(with_one, "cand-model") if p.label == tool_round_trip.ROUND_TRIP)
    assert [m["role"] for m in sent(first)] == ["system", "user"]
