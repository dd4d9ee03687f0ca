"""The built-in profiles' regeneration, without running an agent (harness/profile_captures.py): the overlay of what a
capture cannot know, the deterministic writer, the lengths that keep the shipped ones, and the diff `--check` prints.
The committed captured profiles are the writer's own output."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import pytest
import yaml

from approval.settings.profile import load_profile, profile_from_text
from harness.agents import AGENTS, TASK
from harness.profile_captures import (
    CHARS_SLACK,
    FIELD_ORDER,
    OVERLAYS,
    Overlay,
    leaks,
    load_overlays,
    regenerated,
    render,
    settle,
    shape_diff,
)

CAPTURED = ("codex-cli", "opencode", "qwen-code", "openai-agents", "aider")
OVERLAY = Overlay("demo-agent", "opencode", "openai-stub-model", "Demo Agent", "npm demo-agent", "A demo agent.",
                  "Relies on finish_reason: documented.", {"client": "ai-sdk", "relies_on_finish_reason": True,
                                                           "parameters": {"prompt_cache_key": "stand-in"}})


def capture(**changes: Any) -> dict[str, Any]:
    """A profile mapping as approval capture's profile_shape makes it (its own name, source and date)."""
    doc: dict[str, Any] = {
        "name": "captured-demo", "source": "seen: captured from demo/1.0", "date": "2026-12-01", "endpoint": "chat",
        "tools": [{"name": "read", "description": "Reads a file.\nUse it often.", "parameters": {"type": "object", "properties": {}}}],
        "streams": True, "parallel_tool_calls": None, "tool_choice": ["auto"],
        "parameters": {"stream_options": {"include_usage": True}, "prompt_cache_key": "<redacted>",
                       "client_metadata": {"b": "<redacted>", "a": "<redacted>"}, "max_tokens": 32000},
        "instruction_role": "system", "reasoning_fields": [], "previous_response_id": False, "client": "openai-node",
        "role_sequence": [{"role": "system", "chars": 9618}, {"role": "user", "chars": 69}], "header_names": ["authorization"],
    }
    doc.update(changes)
    return doc


def made(doc: dict[str, Any], date: str = "2026-12-03", shipped: dict[str, Any] | None = None) -> dict[str, Any]:
    return regenerated(doc, OVERLAY, "1.2.3", date, TASK, shipped)


# --- the overlay -----------------------------------------------------------------------------------------------------


def test_every_captured_built_in_has_an_overlay_naming_a_pinned_agent() -> None:
    overlays = load_overlays(OVERLAYS.read_text(encoding="utf-8"))
    assert set(overlays) == set(CAPTURED)
    for name, overlay in overlays.items():
        assert overlay.agent in AGENTS and resources.files("approval.profiles").joinpath(f"{name}.yaml").is_file()
        assert "client" in overlay.set, "the client library is the overlay's: a capture only guesses it from headers"


@pytest.mark.parametrize(("text", "said"), [
    ("a: {agent: x, model: m, label: l, package: p, comment: c, source: s, set: {name: b}}", "cannot set name"),
    ("a: {agent: x, model: m, label: l, package: p, comment: c, source: s, set: {source: b}}", "cannot set source"),
    ("a: {agent: x, model: m, label: l, package: p, comment: c}", "has no source"),
    ("- a", "must map profile names"),
])
def test_an_overlay_that_sets_what_the_capture_or_the_writer_owns_is_refused(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        load_overlays(text)


def test_the_overlay_replaces_what_a_capture_cannot_know_and_keeps_what_it_saw() -> None:
    doc = made(capture())
    assert doc["name"] == "demo-agent" and doc["client"] == "ai-sdk" and doc["relies_on_finish_reason"] is True
    assert doc["parameters"]["prompt_cache_key"] == "stand-in", "a stand-in for the value the capture redacted"
    assert doc["parameters"]["stream_options"] == {"include_usage": True} and doc["tool_choice"] == ["auto"]
    assert doc["source"].startswith("seen: Demo Agent 1.2.3 (npm demo-agent) captured on 2026-12-03")
    assert doc["source"].endswith("Relies on finish_reason: documented.") and TASK in doc["source"]
    assert list(doc) == [k for k in FIELD_ORDER if k in doc]


# --- the writer ------------------------------------------------------------------------------------------------------


def test_the_file_is_the_same_whatever_order_the_agent_sent_its_parameters_in() -> None:
    shuffled = capture(parameters={"max_tokens": 32000, "client_metadata": {"a": "<redacted>", "b": "<redacted>"},
                                   "prompt_cache_key": "<redacted>", "stream_options": {"include_usage": True}})
    one, other = render(made(capture()), "A demo agent."), render(made(shuffled), "A demo agent.")
    assert one == other
    assert one.index("client_metadata: {a:") < one.index("max_tokens") < one.index("stream_options")
    profile = profile_from_text(one, one.encode(), "the demo")  # schema-valid, loads as a profile
    assert profile.name == "demo-agent" and profile.role_sequence[0] == {"role": "system", "chars": 9618}
    assert "description: |-\n" in one, "a multi-line description is a literal block, read line by line in a diff"


def test_a_run_s_key_ports_scratch_folder_and_ids_are_found_in_a_file() -> None:
    text = render(made(capture()), "A demo agent.")
    assert leaks(text, {"the key": "sk-stub-master", "a port": "41233", "the scratch folder": "/x/capture-opencode-ab12"}) == []
    leaked = text.replace("Reads a file.", "Reads /x/capture-opencode-ab12 at 127.0.0.1:41233 (call_0123456789abcdef01)")
    assert leaks(leaked, {"the key": "sk-stub-master", "a port": "41233", "the scratch folder": "/x/capture-opencode-ab12"}) == [
        "a port", "the scratch folder", "a tool call or response id"]


# --- lengths and dates that move from run to run -----------------------------------------------------------------------


def test_a_length_that_moved_by_a_run_s_path_or_date_keeps_the_shipped_one_and_a_real_change_does_not() -> None:
    shipped = made(capture())
    moved = capture(role_sequence=[{"role": "system", "chars": 9618 + CHARS_SLACK // 2}, {"role": "user", "chars": 71}])
    assert settle(made(moved), shipped)["role_sequence"] == shipped["role_sequence"]
    grown = capture(role_sequence=[{"role": "system", "chars": 14000}, {"role": "user", "chars": 69}])
    assert settle(made(grown), shipped)["role_sequence"] == [{"role": "system", "chars": 14000}, {"role": "user", "chars": 69}]
    other_roles = capture(role_sequence=[{"role": "developer", "chars": 9618}, {"role": "user", "chars": 69}])
    assert settle(made(other_roles), shipped)["role_sequence"][0]["role"] == "developer"


def test_an_unchanged_agent_keeps_its_file_and_a_changed_one_gets_today_s_date() -> None:
    shipped = made(capture(), date="2026-11-01")
    again = made(capture(role_sequence=[{"role": "system", "chars": 9620}, {"role": "user", "chars": 69}]), "2026-12-03", shipped)
    assert again == shipped and render(again, "c") == render(shipped, "c"), "a regeneration of an unchanged agent changes nothing"
    changed = made(capture(tool_choice=[]), "2026-12-03", shipped)
    assert changed["date"] == "2026-12-03" and "captured on 2026-12-03" in changed["source"]


# --- --check's diff ----------------------------------------------------------------------------------------------------


def test_the_diff_ignores_the_prose_and_the_date_and_shows_a_changed_shape() -> None:
    shipped = made(capture(), date="2026-11-01")
    reworded = {**made(capture()), "source": "seen: said otherwise"}
    assert shape_diff(shipped, reworded, "demo-agent") == ""
    diff = shape_diff(shipped, made(capture(tool_choice=[], parameters={})), "demo-agent")
    assert diff.startswith("--- approval/profiles/demo-agent.yaml (shipped)\n+++ demo-agent (captured)\n")
    changed = {line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")}
    assert "-tool_choice: [auto]" in changed and "+tool_choice: []" in changed
    assert "-  max_tokens: 32000" in changed and not any("source" in line or "date" in line for line in changed)
    assert shape_diff(None, shipped, "demo-agent").count("\n+") > 5, "no shipped file: everything is new"


@pytest.mark.parametrize("name", CAPTURED)
def test_each_committed_captured_profile_is_the_writer_s_own_output(name: str) -> None:
    """Edited by hand, a captured built-in would be overwritten by the next regeneration: the overlay is where to edit."""
    overlay = load_overlays(OVERLAYS.read_text(encoding="utf-8"))[name]
    text = resources.files("approval.profiles").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    shipped = yaml.safe_load(text)
    version = re.match(rf"seen: {re.escape(overlay.label)} (\S+) \(", shipped["source"])
    assert version, shipped["source"][:120]
    assert render(regenerated(shipped, overlay, version.group(1), "2099-01-01", TASK, shipped), overlay.comment) == text
    assert load_profile(name).role_sequence and load_profile(name).header_names, "a captured built-in keeps what was seen"
