"""`approval capture`'s shape extraction (approval/capture/shape.py): the requests an agent sends, in every variant an
agent sends them (chat and Responses, streamed or not, tools in both forms, parallel calls, the developer role,
reasoning fields, previous_response_id, Codex-style client_metadata), become a profile that validates against the
shipped schema, loads with load_profile, says the agent's shape — and holds no key, no content and no identifying value
in any form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from approval.capture.proxy import check_out, parse_listen, parse_upstream
from approval.capture.shape import (
    REDACTED,
    Seen,
    authenticating_values,
    profile_shape,
    profile_text,
    seen_request,
    summary_lines,
)
from approval.common.errors import ConfigError
from approval.common.redact import holds_secret
from approval.settings.configfile import validate_against_schema
from approval.settings.profile import load_profile, profile_schema

KEY = "sk-capturecanary0123456789abcdefXYZ"
CONTENT = "CANARY-CONTENT"  # in every message, tool result, instruction and argument the agent sends
IDS = ["0190a5e2-7b3c-7d4e-8f10-1a2b3c4d5e6f", "3f9a1c0d2b4e6f8a9c1d3e5f7a9b1c2d", "/home/alice/work/secret-project",
       "alice@example.com", "C:\\Users\\alice\\repo"]

READ_FILE = {"name": "read_file", "description": "Read a file of the workspace at /home/alice/work/secret-project.",
             "parameters": {"type": "object", "properties": {"path": {"type": "string", "description": "Path under /home/alice/work"}},
                            "required": ["path"], "additionalProperties": False}}
SHELL = {"name": "run_shell", "description": "Run a command.", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}


def chat_tools(*tools: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": t} for t in tools]


def flat_tools(*tools: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "function", **t, "strict": False} for t in tools]


def headers(**extra: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {KEY}"), ("Content-Type", "application/json"), ("User-Agent", "QwenCode/0.24.4 (linux; x64)"),
            ("X-Stainless-Lang", "js"), *extra.items()]


def seen(path: str, body: dict[str, Any], hdrs: list[tuple[str, str]] | None = None) -> Seen:
    made = seen_request("POST", path, hdrs if hdrs is not None else headers(), json.dumps(body).encode())
    assert made is not None
    return made


def chat_turns(system_role: str = "system", reasoning: str | None = None) -> list[dict[str, Any]]:
    assistant: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": json.dumps({"path": CONTENT})}},
        {"id": "call_2", "type": "function", "function": {"name": "read_file", "arguments": json.dumps({"path": CONTENT + "2"})}}]}
    if reasoning:
        assistant[reasoning] = f"{CONTENT} thought"
    return [{"role": system_role, "content": f"{CONTENT} you are an agent in /home/alice/work"},
            {"role": "user", "content": [{"type": "text", "text": f"{CONTENT} read it"}]},
            assistant,
            {"role": "tool", "tool_call_id": "call_1", "content": f"{CONTENT} the file's text"},
            {"role": "tool", "tool_call_id": "call_2", "content": f"{CONTENT} the other file"}]


def codex_turns() -> list[dict[str, Any]]:
    return [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": f"{CONTENT} dev"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": f"{CONTENT} task"}]},
            {"type": "reasoning", "summary": [], "encrypted_content": f"gAAAA{CONTENT}"},
            {"type": "function_call", "call_id": "call_9", "name": "exec_command", "arguments": json.dumps({"cmd": f"cat {CONTENT}"})},
            {"type": "function_call_output", "call_id": "call_9", "output": f"{CONTENT} output"}]


CODEX_METADATA = {"session_id": IDS[0], "thread_id": IDS[0], "turn_id": "7", "installation_id": IDS[1], "workspace": IDS[2]}

# name: (requests, what the profile must say)
VARIANTS: dict[str, tuple[list[Seen], dict[str, Any]]] = {
    "chat, not streamed, one tool": (
        [seen("/v1/chat/completions", {"model": "m", "messages": chat_turns()[:2], "tools": chat_tools(READ_FILE)})],
        {"endpoint": "chat", "streams": False, "tools": ["read_file"], "parallel_tool_calls": None, "tool_choice": [],
         "instruction_role": "system", "client": "openai-node"}),
    "chat, streamed, parallel, the tool result back": (
        [seen("/v1/chat/completions", {"model": "m", "messages": chat_turns()[:2], "tools": chat_tools(READ_FILE, SHELL), "stream": True,
                                       "stream_options": {"include_usage": True}, "parallel_tool_calls": True, "tool_choice": "auto",
                                       "temperature": 0, "max_tokens": 4096}),
         seen("/v1/chat/completions", {"model": "m", "messages": chat_turns(), "tools": chat_tools(READ_FILE, SHELL), "stream": True,
                                       "stream_options": {"include_usage": True}, "parallel_tool_calls": True, "tool_choice": "required",
                                       "temperature": 0, "max_tokens": 4096})],
        {"endpoint": "chat", "streams": True, "tools": ["read_file", "run_shell"], "parallel_tool_calls": True,
         "tool_choice": ["auto", "required"], "parameters": {"stream_options": {"include_usage": True}, "temperature": 0, "max_tokens": 4096},
         "sequence": ["system", "user", "assistant", "tool", "tool"]}),
    "chat, developer role, forced tool by name": (
        [seen("/v1/chat/completions", {"model": "m", "messages": chat_turns("developer"), "tools": chat_tools(READ_FILE),
                                       "tool_choice": {"type": "function", "function": {"name": "read_file"}},
                                       "parallel_tool_calls": False, "max_completion_tokens": 800, "reasoning_effort": "high"})],
        {"instruction_role": "developer", "tool_choice": ["read_file"], "parallel_tool_calls": False,
         "parameters": {"max_completion_tokens": 800, "reasoning_effort": "high"}}),
    "chat, reasoning_content round-tripped": (
        [seen("/v1/chat/completions", {"model": "m", "messages": chat_turns(reasoning="reasoning_content"), "tools": chat_tools(READ_FILE)})],
        {"reasoning_fields": ["reasoning_content"]}),
    "chat, thinking round-tripped": (
        [seen("/v1/chat/completions", {"model": "m", "messages": chat_turns(reasoning="thinking"), "tools": chat_tools(READ_FILE)})],
        {"reasoning_fields": ["thinking"]}),
    "chat, identifying parameters": (
        [seen("/v1/chat/completions", {"model": "m", "messages": chat_turns(), "tools": chat_tools(READ_FILE), "user": IDS[3],
                                       "safety_identifier": "user-1234", "prompt_cache_key": IDS[0],
                                       "metadata": {"session": "s", "repo": IDS[2], "dir": IDS[4]}, "seed": 7})],
        {"parameters": {"user": REDACTED, "safety_identifier": REDACTED, "prompt_cache_key": REDACTED,
                        "metadata": {"session": REDACTED, "repo": REDACTED, "dir": REDACTED}, "seed": 7}}),
    "responses, Codex-style": (
        [seen("/v1/responses", {"model": "m", "instructions": f"{CONTENT} instructions", "input": codex_turns()[:2],
                                "tools": [*flat_tools({**SHELL, "name": "exec_command"}), {"type": "web_search"}, {"type": "namespace", "name": "x"}],
                                "stream": True, "store": False, "include": ["reasoning.encrypted_content"], "parallel_tool_calls": True,
                                "tool_choice": "auto", "reasoning": {"summary": "auto"}, "prompt_cache_key": IDS[0],
                                "client_metadata": CODEX_METADATA},
              headers(**{"session-id": IDS[0], "thread-id": IDS[0], "originator": "codex_exec", "User-Agent": "codex_exec/0.169.0 (Ubuntu)"})),
         seen("/v1/responses", {"model": "m", "input": codex_turns(), "tools": flat_tools({**SHELL, "name": "exec_command"}), "stream": True,
                                "store": False, "include": ["reasoning.encrypted_content"], "parallel_tool_calls": True, "tool_choice": "auto",
                                "reasoning": {"summary": "auto"}, "prompt_cache_key": IDS[0], "client_metadata": CODEX_METADATA},
              headers(**{"session-id": IDS[0], "User-Agent": "codex_exec/0.169.0 (Ubuntu)"}))],
        {"endpoint": "responses", "streams": True, "tools": ["exec_command"], "instruction_role": "developer",
         "reasoning_fields": ["encrypted_content"], "previous_response_id": False,
         "parameters": {"store": False, "include": ["reasoning.encrypted_content"], "reasoning": {"summary": "auto"},
                        "prompt_cache_key": REDACTED, "client_metadata": dict.fromkeys(CODEX_METADATA, REDACTED)},
         "sequence": ["developer", "user", "reasoning", "function_call", "function_call_output"], "headers": {"session-id", "originator"}}),
    "responses, chained by previous_response_id": (
        [seen("/v1/responses", {"model": "m", "input": f"{CONTENT} first", "tools": flat_tools(READ_FILE)}),
         seen("/v1/responses", {"model": "m", "previous_response_id": "resp_" + IDS[1], "tools": flat_tools(READ_FILE),
                                "input": [{"type": "function_call_output", "call_id": "c", "output": CONTENT}]})],
        {"endpoint": "responses", "previous_response_id": True, "streams": False, "instruction_role": "system", "tools": ["read_file"]}),
    "key in other headers and in the body": (
        [seen("/v1/chat/completions", {"model": "m", "messages": chat_turns(), "tools": chat_tools({**READ_FILE, "description": f"uses {KEY}"}),
                                       "api_key": KEY, "extra": {"note": f"key {KEY}"}},
              [("api-key", KEY), ("x-api-key", KEY), ("Cookie", f"session={KEY}; theme=dark"), ("User-Agent", "OpenAI/Python 1.99.0"),
               ("X-Stainless-Lang", "python")])],
        {"client": "openai-python", "parameters": {"api_key": REDACTED, "extra": {"note": REDACTED}}}),
}


def written(shape_requests: list[Seen], tmp_path: Path, name: str | None = None) -> tuple[str, Any]:
    shape = profile_shape(shape_requests, today="2026-12-02", name=name)
    text = profile_text(shape)
    path = tmp_path / "captured.yaml"
    path.write_text(text, encoding="utf-8")
    return text, shape


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_profile_says_the_agents_shape_and_loads(variant: str, tmp_path: Path) -> None:
    requests, expected = VARIANTS[variant]
    _, shape = written(requests, tmp_path)
    validate_against_schema(shape.doc, profile_schema(), "captured")
    profile = load_profile(str(tmp_path / "captured.yaml"))
    assert profile.source.startswith("seen: captured from ") and f"{len(requests)} requests" in profile.source
    assert profile.date == "2026-12-02" and len(profile.sha256) == 64
    for key, value in expected.items():
        if key == "tools":
            assert [t["name"] for t in profile.tools] == value
        elif key == "sequence":
            assert [e.get("role") if e.get("type") in (None, "message") else e["type"] for e in profile.role_sequence] == value
        elif key == "headers":
            assert value <= set(profile.header_names)
        elif key == "parameters":
            assert {k: profile.parameters.get(k) for k in value} == value
        else:
            assert getattr(profile, key) == (tuple(value) if isinstance(value, list) else value), key


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_no_key_content_or_identifying_value_is_written(variant: str, tmp_path: Path) -> None:
    requests, _ = VARIANTS[variant]
    text, shape = written(requests, tmp_path)
    everything = text + "\n".join(summary_lines(shape))
    assert not holds_secret(everything, KEY), "the key is in the profile or its summary"
    assert CONTENT not in everything, "a message's text is in the profile"
    for value in IDS:
        assert value not in everything and json.dumps(value)[1:-1] not in everything, value
    assert "alice" not in everything
    for entry in shape.doc["role_sequence"]:
        assert set(entry) <= {"role", "type", "chars", "tool_calls", "parts", "reasoning"}


def test_the_role_sequence_keeps_roles_and_lengths(tmp_path: Path) -> None:
    turns = chat_turns()
    _, shape = written([seen("/v1/chat/completions", {"model": "m", "messages": turns, "tools": chat_tools(READ_FILE)})], tmp_path)
    sequence = shape.doc["role_sequence"]
    assert sequence[0] == {"role": "system", "chars": len(turns[0]["content"])}
    assert sequence[1] == {"role": "user", "chars": len(turns[1]["content"][0]["text"])}
    assert sequence[2]["tool_calls"] == 2 and sequence[3] == {"role": "tool", "chars": len(turns[3]["content"])}


def test_tools_keep_their_schema_with_paths_scrubbed(tmp_path: Path) -> None:
    _, shape = written([seen("/v1/responses", {"model": "m", "input": "x", "tools": flat_tools(READ_FILE, SHELL)})], tmp_path)
    read = shape.doc["tools"][0]
    assert read["description"] == "Read a file of the workspace at <path>."
    assert read["parameters"]["properties"]["path"] == {"type": "string", "description": "Path under <path>"}
    assert read["parameters"]["required"] == ["path"] and read["parameters"]["additionalProperties"] is False
    assert "strict" not in read and shape.doc["tools"][1] == SHELL


def test_non_function_tools_are_named_in_the_notes_not_the_profile(tmp_path: Path) -> None:
    requests, _ = VARIANTS["responses, Codex-style"]
    _, shape = written(requests, tmp_path)
    assert [t["name"] for t in shape.doc["tools"]] == ["exec_command"]
    assert any("web_search" in note and "namespace" in note for note in shape.notes)
    assert "client_metadata.session_id" in shape.redacted and "prompt_cache_key" in shape.redacted


def test_the_name_comes_from_the_user_agent_or_the_flag(tmp_path: Path) -> None:
    requests, _ = VARIANTS["responses, Codex-style"]
    codex = written(requests, tmp_path)[1].doc
    assert codex["name"] == "captured-codex_exec" and str(codex["user_agent"]).startswith("codex_exec")  # replayed as sent
    assert written(requests, tmp_path, name="our-agent")[1].doc["name"] == "our-agent"
    anonymous = seen("/v1/chat/completions", {"model": "m", "messages": []}, [("User-Agent", IDS[1])])
    shape = written([anonymous], tmp_path)[1]
    assert shape.doc["name"] == "captured-agent" and IDS[1] not in shape.doc["source"] and "user_agent" not in shape.doc
    assert any("client library is not named" in note for note in shape.notes)


def test_one_endpoint_family_the_others_are_noted(tmp_path: Path) -> None:
    chat = seen("/v1/chat/completions", {"model": "m", "messages": chat_turns(), "tools": chat_tools(READ_FILE)})
    responses = seen("/v1/responses", {"model": "m", "input": "x"})
    shape = written([responses, chat, chat], tmp_path)[1]
    assert shape.doc["endpoint"] == "chat" and any("responses endpoint" in note for note in shape.notes)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/v1/models", b""),
    ("POST", "/v1/embeddings", b"{}"),
    ("POST", "/v1/chat/completions", b"not json"),
    ("POST", "/v1/chat/completions", b"[1, 2]"),
    ("GET", "/v1/chat/completions", b"{}"),
])
def test_what_is_not_a_model_request_is_not_recorded(method: str, path: str, body: bytes) -> None:
    assert seen_request(method, path, headers(), body) is None


@pytest.mark.parametrize(("name", "value", "found"), [
    ("Authorization", f"Bearer {KEY}", {f"Bearer {KEY}", KEY}),
    ("api-key", KEY, {KEY}),
    ("x-api-key", KEY, {KEY}),
    ("Cookie", f"a={KEY}; b=other-value", {KEY, "other-value"}),
    ("x-portkey-config", json.dumps({"api_key": KEY}), {KEY}),
    ("Content-Type", "application/json", set()),
])
def test_authenticating_header_values_are_known(name: str, value: str, found: set[str]) -> None:
    assert found <= set(authenticating_values([(name, value)]))
    if not found:
        assert authenticating_values([(name, value)]) == ()


# --- the flags the proxy checks before it listens ---------------------------------------------------------------------

@pytest.mark.parametrize("url", ["ftp://127.0.0.1/v1", "127.0.0.1:4000", "http://", "http://u:p@127.0.0.1/v1", "http://127.0.0.1:99999/v1",
                                 "http://127.0.0.1/v1?x=1", "file:///etc/passwd"])
def test_a_bad_upstream_is_refused(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_upstream(url)
    assert "--upstream" in caught.value.line() and "—" in caught.value.line()
    assert "u:p" not in caught.value.line()


def test_a_good_upstream_keeps_its_base_path() -> None:
    up = parse_upstream("https://gw.example.com/openai/v1/")
    assert (up.scheme, up.host, up.port, up.base_path) == ("https", "gw.example.com", 443, "/openai/v1")


@pytest.mark.parametrize(("listen", "ok"), [("127.0.0.1:0", True), ("localhost:8080", True), ("[::1]:0", True), ("127.0.0.5:1", True),
                                            ("0.0.0.0:8080", False), ("192.168.1.5:0", False), ("[::]:0", False)])
def test_only_loopback_is_listened_on_unless_listen_any(listen: str, ok: bool) -> None:
    if ok:
        assert parse_listen(listen, False)[1] >= 0
    else:
        with pytest.raises(ConfigError, match=r"not a loopback address.*--listen-any"):
            parse_listen(listen, False)
        assert parse_listen(listen, True)[0] in ("0.0.0.0", "192.168.1.5", "::")


@pytest.mark.parametrize("listen", ["8080", "127.0.0.1:http", "127.0.0.1:70000", "example.com:80", ":80"])
def test_a_malformed_listen_is_refused(listen: str) -> None:
    with pytest.raises(ConfigError, match="--listen"):
        parse_listen(listen, True)


def test_out_must_be_in_an_existing_writable_folder(tmp_path: Path) -> None:
    assert check_out(str(tmp_path / "p.yaml")) == tmp_path / "p.yaml"
    with pytest.raises(ConfigError, match="does not exist"):
        check_out(str(tmp_path / "missing" / "p.yaml"))
    with pytest.raises(ConfigError, match="is a directory"):
        check_out(str(tmp_path))
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        import os  # here: only this case needs it

        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write any folder")
        with pytest.raises(ConfigError, match="not writable"):
            check_out(str(locked / "p.yaml"))
    finally:
        locked.chmod(0o700)


def test_a_profile_made_in_code_keeps_its_sha256_without_the_capture_fields() -> None:
    """role_sequence, header_names, drops_reasoning and user_agent are new: a profile made in code without them is hashed
    as before they existed."""
    import dataclasses
    import hashlib

    from approval.settings.profile import AgentProfile, with_file_sha

    made = AgentProfile(name="made-in-code", tools=(), parallel_tool_calls=None)
    before = {f.name: getattr(made, f.name) for f in dataclasses.fields(made) if f.name not in ("sha256", "role_sequence", "header_names",
                                                                                              "drops_reasoning", "user_agent")}
    expected = hashlib.sha256(json.dumps(before, sort_keys=True, separators=(",", ":"), default=list).encode()).hexdigest()
    assert with_file_sha(made).sha256 == expected
    with_sequence = dataclasses.replace(made, role_sequence=({"role": "user", "chars": 3},))
    assert with_file_sha(with_sequence).sha256 != expected, "a captured field, once set, is part of the profile's identity"
