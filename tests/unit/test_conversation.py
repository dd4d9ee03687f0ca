"""A conversation: turns that depend on the answers before them, run one after the other under the run's deadline."""

from __future__ import annotations

import json

import responses

from approval.engine.checks.base import Evidence
from approval.engine.deadline import Deadline
from approval.engine.gateway import Exchange, GatewayClient
from approval.engine.probes import Probe, Turn, expand, is_generation, turn_label
from approval.engine.suite import converse
from harness.mocked_gateway import BASE, chat_body, make_settings

URL = f"{BASE}/chat/completions"


def echo_next(turns: list[Exchange]) -> Turn | None:
    """The next turn replays the last answer's text as the user's message (so each turn depends on the one before)."""
    last = turns[-1].json()
    return Turn({"model": "cand-model", "messages": [{"role": "user", "content": last["choices"][0]["message"]["content"]}]})


def probe(max_turns: int) -> Probe:
    return Probe("conv-test", "POST", "/chat/completions", {"model": "cand-model", "messages": [{"role": "user", "content": "one"}]},
                 next_turn=echo_next, max_turns=max_turns)


@responses.activate
def test_each_turn_is_made_from_the_answers_before_it_and_labelled_in_order() -> None:
    for text in ("two", "three", "four"):
        responses.post(URL, json=chat_body(content=text))
    settings = make_settings()
    turns = converse(GatewayClient(settings, Deadline(10)), probe(max_turns=3))
    assert [t.label for t in turns] == ["conv-test", "conv-test#2", "conv-test#3"]
    sent = [json.loads(call.request.body or "")["messages"][0]["content"] for call in responses.calls]
    assert sent == ["one", "two", "three"]  # turn n carries turn n-1's answer; no fourth turn past max_turns
    evidence = Evidence(settings, "cand-model", {t.label: t for t in turns})
    assert [t.label for t in evidence.turns("conv-test")] == ["conv-test", "conv-test#2", "conv-test#3"]


@responses.activate
def test_a_conversation_ends_at_the_first_turn_that_got_no_answer() -> None:
    responses.post(URL, body=ConnectionError("refused"))
    turns = converse(GatewayClient(make_settings(), Deadline(10)), probe(max_turns=3))
    assert len(turns) == 1 and turns[0].transport_error is not None
    assert len(responses.calls) >= 1 and all(json.loads(c.request.body or "")["messages"][0]["content"] == "one" for c in responses.calls)


@responses.activate
def test_a_conversation_ends_when_the_next_turn_says_so() -> None:
    responses.post(URL, json=chat_body(content="done"))
    one_turn = Probe("conv-test", "POST", "/chat/completions", {"model": "cand-model", "messages": []}, next_turn=lambda turns: None,
                     max_turns=5)
    assert len(converse(GatewayClient(make_settings(), Deadline(10)), one_turn)) == 1


def test_every_turn_is_a_generation_call_and_a_check_reading_the_conversation_reads_its_turns() -> None:
    assert is_generation("conv-test") and is_generation(turn_label("conv-test", 2))
    assert turn_label("conv-test", 1) == "conv-test"
    assert expand(("conv-test",), {"conv-test", "conv-other", "reach"}) == {"conv-test"}
