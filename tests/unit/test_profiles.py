"""Agent profiles: the shipped schema and built-ins, loading by name or path, selecting one (flag > config > default),
the endpoint rule, and where the profile is said — the record, the comment, the terminal, the registry, the guard and
the re-approval."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from approval.common.errors import ConfigError
from approval.engine.checks import CATALOGUE
from approval.engine.results import Category, Status
from approval.frontends.cli import main
from approval.lifecycle.guard import Verdict, registry_guard
from approval.settings.build import reapproval_plan
from approval.settings.configfile import validate_against_schema
from approval.settings.profile import (
    GENERIC_TOOLS,
    PLAIN_CHAT,
    AgentProfile,
    builtin_names,
    builtin_profile,
    check_endpoint,
    load_profile,
    profile_schema,
)
from approval.settings.registry import Approval, Entry, Registry, approval_from_fields, entry_from_line
from approval.settings.selection import Given
from harness.mocked_gateway import BASE, CANARY_KEY, make_settings

BUILTINS = ("aider", "cline", "codex-cli", "generic-tools", "openai-agents", "opencode", "openhands", "plain-chat", "qwen-code")
SHA = {name: hashlib.sha256(resources.files("approval.profiles").joinpath(f"{name}.yaml").read_bytes()).hexdigest() for name in BUILTINS}


# --- the built-ins ---------------------------------------------------------------------------------------------------


def test_the_built_ins_are_the_documented_ones() -> None:
    assert builtin_names() == BUILTINS
    docs = (Path(__file__).resolve().parents[2] / "docs" / "profiles.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in docs for name in BUILTINS), "docs/profiles.md lists every built-in"


@pytest.mark.parametrize("name", BUILTINS)
def test_every_built_in_is_valid_names_its_source_and_date_and_is_hashed_by_its_bytes(name: str) -> None:
    from approval.common.userfile import load_yaml

    data = resources.files("approval.profiles").joinpath(f"{name}.yaml").read_bytes()
    doc = load_yaml(data.decode("utf-8"))
    validate_against_schema(doc, profile_schema(), name)
    assert doc["name"] == name, "a built-in's name is its file's"
    assert doc.get("source") and doc.get("date"), "a built-in says where its shape comes from and when"
    assert any(word in doc["source"] for word in ("seen", "documented", "built in")), "its source says documented or seen"
    profile = load_profile(name)
    assert profile.name == name and profile.sha256 == SHA[name] and profile.short_sha == SHA[name][:12]
    for tool in profile.tools:
        assert tool["parameters"]["type"] == "object"


@pytest.mark.parametrize(("name", "made_in_code"), [("generic-tools", GENERIC_TOOLS), ("plain-chat", PLAIN_CHAT)])
def test_the_built_ins_made_in_code_send_what_their_files_say(name: str, made_in_code: AgentProfile) -> None:
    loaded = load_profile(name)
    differ = {f.name for f in dataclasses.fields(AgentProfile) if getattr(loaded, f.name) != getattr(made_in_code, f.name)}
    assert differ <= {"sha256", "source", "date"}


def test_codex_cli_is_the_measured_responses_shape() -> None:
    codex = load_profile("codex-cli")
    assert codex.endpoint == "responses" and codex.streams and codex.parallel_tool_calls is True and codex.tool_choice == ("auto",)
    assert codex.parameters["store"] is False and codex.parameters["include"] == ["reasoning.encrypted_content"]
    assert codex.parameters["reasoning"] == {"summary": "auto"} and codex.instruction_role == "developer"
    assert {t["name"] for t in codex.tools} >= {"exec_command", "write_stdin"} and not codex.previous_response_id


@pytest.mark.parametrize(("name", "client", "uses_tools"), [("opencode", "ai-sdk", True), ("aider", "litellm", False), ("plain-chat", "openai-python", False),
                                                           ("openhands", "litellm", True), ("cline", "openai-node", True),
                                                           ("qwen-code", "tolerant", True), ("openai-agents", "openai-python", True)])
def test_each_agent_s_client_and_tools(name: str, client: str, uses_tools: bool) -> None:
    profile = load_profile(name)
    assert profile.client == client and profile.uses_tools is uses_tools
    assert profile.relies_on_finish_reason is False  # opencode 1.18.33 completed on finish_reason "stop" (bench/agents-matrix.json)
    assert profile.drops_reasoning is (name == "openai-agents")


# --- a profile file --------------------------------------------------------------------------------------------------

GOOD = "name: my-agent\nsource: seen in a capture\ndate: \"2026-01-02\"\ntools: []\n"
BAD_FILES = {
    "unknown key": ("name: a\ntemperature: 0\n", "unknown key 'temperature'"),
    "unknown tool key": ("name: a\ntools: [{name: t, parameters: {type: object}, strict: true}]\n", "unknown key 'tools.0.strict'"),
    "no name": ("tools: []\n", "`name` is missing"),
    "bad name": ("name: My Agent\n", "short lower-case name"),
    "bad date": ("name: a\ndate: \"2 Jan\"\n", "YYYY-MM-DD"),
    "streams as text": ("name: a\nstreams: \"yes\"\n", "`streams`"),
    "tools not a list": ("name: a\ntools: read_file\n", "`tools`"),
    "tool without parameters": ("name: a\ntools: [{name: t}]\n", "`tools.0.parameters` is missing"),
    "bad tool name": ("name: a\ntools: [{name: \"read file\", parameters: {type: object}}]\n", "function name"),
    "bad endpoint": ("name: a\nendpoint: completions\n", "`endpoint`"),
    "bad client": ("name: a\nclient: curl\n", "`client`"),
    "tiny context": ("name: a\ncontext_tokens: 10\n", "`context_tokens`"),
    "source longer than a record keeps": ("name: a\nsource: " + "x" * 5000 + "\n", "`source`"),
    "duplicate key": ("name: a\nstreams: true\nstreams: false\n", "the key 'streams' appears twice"),
    "ambiguous value": ("name: a\nsource: 1e3\n", "quote it"),
    "not yaml": ("name: [a\n", "is not valid YAML"),
    "a list": ("- name: a\n", "must be a mapping of keys"),
    "empty": ("", "must be a mapping of keys"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_profile_file_is_one_config_error_in_the_user_s_words(tmp_path: Path, case: str) -> None:
    text, words = BAD_FILES[case]
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_profile(str(path))
    line = caught.value.line()
    assert words in line and str(path) in line and "\n" not in line
    assert "docs/profiles.md" in line or "allowed here" in line or "YAML" in line or "quote it" in line or "keep one" in line


@pytest.mark.parametrize("how", ["missing", "directory", "too big", "not utf-8"])
def test_a_profile_file_that_cannot_be_read_is_a_config_error(tmp_path: Path, how: str) -> None:
    path = tmp_path / "agent.yaml"
    if how == "directory":
        path.mkdir()
    elif how == "too big":
        path.write_text(GOOD + "# " + "x" * 300_000 + "\n", encoding="utf-8")
    elif how == "not utf-8":
        path.write_bytes(b"name: a\nsource: \xff\n")
    with pytest.raises(ConfigError) as caught:
        load_profile(str(path))
    assert "profile file" in caught.value.problem


def test_a_profile_file_loads_with_the_sha256_of_its_bytes_and_defaults_for_what_it_leaves_out(tmp_path: Path) -> None:
    path = tmp_path / "agent.yml"
    path.write_bytes(("\ufeff" + GOOD).encode("utf-8"))
    profile = load_profile(str(path))
    assert profile.name == "my-agent" and profile.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert profile.tools == () and not profile.uses_tools and profile.streams and profile.instruction_role == "system"


@pytest.mark.parametrize("name", ["nope", "Generic-Tools", "codex", "generic-tools "])
def test_an_unknown_name_is_refused_listing_the_built_ins(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_profile(name.strip() + ("x" if name.endswith(" ") else ""))
    assert "unknown agent profile" in caught.value.problem
    assert all(builtin in caught.value.fix for builtin in BUILTINS)


# --- choosing one ----------------------------------------------------------------------------------------------------


def test_the_default_is_generic_tools_from_its_file(gateway: Any) -> None:
    profile = make_settings().profile
    assert profile.name == "generic-tools" and profile.sha256 == SHA["generic-tools"]


def test_the_flag_wins_over_the_config_which_wins_over_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mine.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "gateway.yaml").write_text("agent:\n  profile: profiles/mine.yaml\n", encoding="utf-8")
    assert make_settings(config="gateway.yaml").profile.name == "my-agent"  # a path relative to the working directory
    assert make_settings(config="gateway.yaml", profile="aider").profile.name == "aider"
    assert make_settings(profile="plain-chat").profile.name == "plain-chat"
    (tmp_path / "bad.yaml").write_text("agent:\n  profile: nope\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown agent profile 'nope'"):
        make_settings(config="bad.yaml")
    (tmp_path / "wrong-type.yaml").write_text("agent:\n  profile: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"agent\.profile"):
        make_settings(config="wrong-type.yaml")


@pytest.mark.parametrize(("profile_endpoint", "given", "expected"), [
    (None, None, "chat"), (None, "responses", "responses"), ("responses", None, "responses"), ("responses", "responses", "responses"),
    ("chat", None, "chat"), ("chat", "chat", "chat"), ("responses", "chat", None), ("chat", "responses", None)])
def test_the_profile_s_endpoint_agrees_with_the_run_s_or_is_the_run_s(profile_endpoint: Any, given: Any, expected: Any) -> None:
    profile = AgentProfile(name="x", endpoint=profile_endpoint)
    if expected is None:
        with pytest.raises(ConfigError) as caught:
            check_endpoint(profile, given)
        assert profile_endpoint in caught.value.problem and given in caught.value.problem and "'x'" in caught.value.problem
    else:
        assert check_endpoint(profile, given) == expected


def test_the_codex_profile_runs_the_responses_endpoint_unless_told_otherwise(gateway: Any) -> None:
    assert make_settings(profile="codex-cli").endpoint == "responses"
    with pytest.raises(ConfigError, match="speaks the responses endpoint but the run is set to chat"):
        make_settings(profile="codex-cli", endpoint="chat")


def test_the_action_input_reaches_the_settings() -> None:
    from approval.frontends.action import _flags

    assert _flags({"INPUT_AGENT-PROFILE": " codex-cli "}, reapprove=False).profile == "codex-cli"
    assert _flags({}, reapprove=False).profile in ("", None)
    assert _flags({}, reapprove=False).endpoint in ("", None), "an empty endpoint-family leaves the choice to the config or the profile"


# --- said everywhere -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["generic-tools", "plain-chat", "aider"])
def test_the_cli_names_the_profile_in_the_record_the_report_and_the_terminal(gateway: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                              capsys: Any, profile: str) -> None:
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--base-url", BASE, "--model", "cand-model", "--profile", profile, "--checks", "reachability,happy-path",
                 "--record-out", "r.json", "--report-out", "r.md"])
    out = capsys.readouterr().out
    assert code == 0, out
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["schema_version"] == 3 and record["agent_profile"]["name"] == profile and record["agent_profile"]["sha256"] == SHA[profile]
    assert f"RESULT: APPROVED for agent profile {profile} (sha256 {SHA[profile][:12]})" in out
    report = (tmp_path / "r.md").read_text()
    assert f"approved for agent profile `{profile}`" in report and f"profile `{profile}` (sha256 `{SHA[profile][:12]}`)" in report
    assert f"--profile {profile}" in report or profile == "generic-tools"
    assert main(["validate-record", "r.json"]) == 0


@pytest.mark.parametrize("argv", [["--profile", "nope"], ["--profile", "missing.yaml"], ["--profile", "codex-cli", "--endpoint", "chat"]])
def test_a_bad_profile_on_the_command_line_is_exit_2_with_one_line_and_nothing_sent(gateway: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                                     capsys: Any, argv: list[str]) -> None:
    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--base-url", BASE, "--model", "cand-model", *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len([line for line in err.splitlines() if line.strip()]) <= 2
    assert gateway.calls == [] and not (tmp_path / "approval-record.json").exists()


# --- the registry ----------------------------------------------------------------------------------------------------

RECORD_SHA = hashlib.sha256(b"a record").hexdigest()
EVIDENCE = {"approved_at": "2025-03-01T08:00:01Z", "approved_by": "octocat", "record_sha256": RECORD_SHA}


@pytest.mark.parametrize(("extra", "problem"), [
    ({"profile": "codex-cli", "profile_sha256": SHA["codex-cli"]}, ""),
    ({}, ""),
    ({"profile": "codex-cli"}, "profile and profile_sha256 come together"),
    ({"profile_sha256": SHA["codex-cli"]}, "profile and profile_sha256 come together"),
    ({"profile": "Codex CLI", "profile_sha256": SHA["codex-cli"]}, "profile is not an agent profile's name"),
    ({"profile": "codex-cli", "profile_sha256": "abc"}, "profile_sha256 is not the 64-hex sha256"),
    ({"profile": 3, "profile_sha256": SHA["codex-cli"]}, "profile is not an agent profile's name"),
])
def test_the_profile_evidence_is_both_fields_or_neither(extra: dict[str, Any], problem: str) -> None:
    approval, found = approval_from_fields({**EVIDENCE, **extra})
    assert found.startswith(problem) if problem else found == ""
    if not problem:
        assert approval is not None and approval.profile == extra.get("profile", "")
    tokens = " ".join(f"{k}={v}" for k, v in {**EVIDENCE, **extra}.items() if isinstance(v, str))
    entry = entry_from_line(f"- m  # {tokens}")
    if all(isinstance(v, str) for v in extra.values()):
        assert entry is not None and (entry.approval is None) == bool(problem)


def approval(profile: str = "", sha: str = "") -> Approval:
    named_sha = sha or (SHA.get(profile, "") if profile else "")
    return Approval("2025-03-01T08:00:01Z", "octocat", RECORD_SHA, "https://github.com/o/r/actions/runs/7", profile, named_sha)


def guard(old: Approval | None, new: Approval | None, outcome: Verdict | None) -> Any:
    base = Registry((Entry("m", old),)) if old is not None else Registry()
    head = Registry((Entry("m", new),))
    return registry_guard(base, head, {"m": outcome} if outcome else {}, registry_files="AGENTS.md")


@pytest.mark.parametrize(("old", "new", "outcome", "fails"), [
    # a profile change with a passing run under the new profile passes; any other run does not
    (approval("generic-tools"), approval("codex-cli"), Verdict("pass", profile="codex-cli", profile_sha256=SHA["codex-cli"]), False),
    (approval("generic-tools"), approval("codex-cli"), Verdict("pass", profile="generic-tools", profile_sha256=SHA["generic-tools"]), True),
    (approval("generic-tools"), approval("codex-cli"), Verdict("fail", profile="codex-cli", profile_sha256=SHA["codex-cli"]), True),
    (approval("generic-tools"), approval("codex-cli"), None, True),
    (approval("codex-cli"), approval("codex-cli", "0" * 63 + "1"), Verdict("pass", profile="codex-cli", profile_sha256=SHA["codex-cli"]), True),
    (approval(), approval("opencode"), None, True),  # a profile named for the first time needs a run under it
    (approval(), approval("opencode"), Verdict("pass", profile="opencode", profile_sha256=SHA["opencode"]), False),
    (approval("opencode"), approval(), Verdict("pass", profile="opencode", profile_sha256=SHA["opencode"]), True),  # dropped
    (approval("opencode"), approval("opencode"), None, False),  # unchanged
    (None, approval("aider"), Verdict("pass", profile="generic-tools", profile_sha256=SHA["generic-tools"]), True),  # added under another
    (None, approval("aider"), Verdict("pass", profile="aider", profile_sha256=SHA["aider"]), False),
])
def test_registry_guard_fails_a_profile_change_without_a_passing_run_under_the_new_one(old: Any, new: Any, outcome: Any, fails: bool) -> None:
    check = guard(old, new, outcome)
    mismatch = "agent profile" in check.result.detail
    assert mismatch is fails, check.result.detail
    if fails:
        assert check.result.status is Status.FAIL and check.result.category is Category.CONFIG
        assert "m's" in check.result.detail
        if new.profile:
            assert f"to {new.profile} (" in check.result.detail and f"--profile {new.profile}" in check.result.detail
            assert f"from {old.profile if old is not None and old.profile else 'no named profile'}" in check.result.detail
            assert "approval promote --record" in check.result.detail


# --- the re-approval -------------------------------------------------------------------------------------------------


def entries(*pairs: tuple[str, str]) -> list[Entry]:
    return [Entry(model, approval(profile) if profile else None) for model, profile in pairs]


def test_a_reapproval_runs_under_the_one_profile_the_entries_name() -> None:
    profile, due, notices = reapproval_plan(entries(("a", "codex-cli"), ("b", ""), ("c", "codex-cli")), "b", None)
    assert profile.name == "codex-cli" and due == ["a", "b", "c"] and notices == ()
    profile, due, _ = reapproval_plan(entries(("a", ""), ("b", "")), None, None)
    assert profile.name == "generic-tools" and due == ["a", "b"]


def test_a_reapproval_over_several_profiles_is_refused_naming_them_unless_one_is_chosen() -> None:
    listed = entries(("a", "codex-cli"), ("b", "opencode"), ("c", "opencode"), ("d", ""))
    with pytest.raises(ConfigError) as caught:
        reapproval_plan(listed, None, None)
    assert "codex-cli: a" in caught.value.problem and "opencode: b, c" in caught.value.problem
    assert "--reapprove --profile" in caught.value.fix and "agent-profile" in caught.value.fix
    profile, due, notices = reapproval_plan(listed, "b", "opencode")
    assert profile.name == "opencode" and due == ["b", "c", "d"]
    assert len(notices) == 1 and "a (codex-cli)" in notices[0]


def test_a_reapproval_says_when_the_profile_changed_since_the_approval() -> None:
    changed = [Entry("a", approval("aider", "1" * 64))]
    _, due, notices = reapproval_plan(changed, None, None)
    assert due == ["a"] and any("the agent profile aider changed since a was approved" in n for n in notices)


def test_a_reapproval_cannot_rerun_a_profile_file_by_its_name_alone() -> None:
    with pytest.raises(ConfigError, match="no built-in profile"):
        reapproval_plan([Entry("a", approval("my-agent", "2" * 64))], None, None)
    with pytest.raises(ConfigError, match="no approved model names the agent profile 'aider'"):
        reapproval_plan(entries(("a", "codex-cli")), None, "aider")


def test_reapprove_on_the_command_line_uses_the_entries_profile(gateway: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    agents = (f"<!-- approved-models:start -->\n- cand-model  # approved_at=2025-03-01T08:00:01Z approved_by=octocat "
              f"record_sha256={RECORD_SHA} profile=plain-chat profile_sha256={SHA['plain-chat']}\n<!-- approved-models:end -->\n")
    (tmp_path / "AGENTS.md").write_text(agents, encoding="utf-8")
    (tmp_path / "gateway.yaml").write_text("approved_models_file: AGENTS.md\n", encoding="utf-8")
    settings = make_settings(config="gateway.yaml", models=[], reapprove=True)
    assert settings.profile.name == "plain-chat" and settings.candidates == ("cand-model",)
    assert replace(settings.profile, sha256="").name == "plain-chat"


def test_each_profile_keeps_its_own_sticky_comment_and_the_default_keeps_the_old_one(gateway: Any) -> None:
    from approval.frontends.action import comment_key

    default, codex, plain = (comment_key(make_settings(profile=name)) for name in ("generic-tools", "codex-cli", "plain-chat"))
    assert default == f"cand-model@chat@{BASE}", "a comment written before profiles is found again"
    assert len({default, codex, plain}) == 3 and codex.endswith("@profile=codex-cli")


def test_a_profile_made_in_code_is_still_named_by_a_sha256_in_a_valid_record(gateway: Any) -> None:
    from approval.engine.suite import run_suite
    from approval.record.build import build_record, validate_record
    from approval.settings.profile import profile_evidence

    made = AgentProfile(name="made-in-code", tools=(), parallel_tool_calls=None, tool_choice=())
    evidence = profile_evidence(made)
    assert len(evidence["sha256"]) == 64 and evidence == profile_evidence(made)
    assert evidence["sha256"] != profile_evidence(replace(made, streams=False))["sha256"]
    settings = replace(make_settings(checks="reachability,happy-path"), profile=made)
    outcome = run_suite(settings)
    validate_record(build_record(outcome, outcome.candidates[0]))


# --------------------------------------------------------------------------- the standard set follows the profile
CONVERSATION = ("tool-round-trip", "streamed-tool-calls", "agent-envelope")


@pytest.mark.parametrize("name", BUILTINS)
def test_the_standard_set_holds_the_conversation_checks_the_profile_needs(name: str) -> None:
    profile = builtin_profile(name)
    checks = make_settings(profile=name).checks
    assert ("tool-round-trip" in checks) is profile.uses_tools, checks
    assert ("streamed-tool-calls" in checks) is (profile.uses_tools and profile.streams), checks
    assert "agent-envelope" in checks and "happy-path" in checks  # the agent's parameters matter with or without tools
    assert "context-window" not in checks  # it fills most of the window: only when named


def test_the_default_profile_runs_the_conversation_checks_and_plain_chat_opts_out() -> None:
    assert set(CONVERSATION) <= set(make_settings().checks)
    assert not {"tool-round-trip", "streamed-tool-calls"} & set(make_settings(profile="plain-chat").checks)
    assert make_settings(profile="plain-chat", checks="happy-path,tool-round-trip").checks == ("happy-path", "tool-round-trip")


@pytest.mark.parametrize(("given", "added"), [
    (Given(), set()),
    (Given(tools=True), {"tool-round-trip"}),
    (Given(streams=True), {"streaming"}),  # streaming without tools: its streamed answers, no streamed tool call to judge
    (Given(tools=True, streams=True), {"tool-round-trip", "streamed-tool-calls"}),  # streamed-tool-calls streams
    (Given(expect=True, registry=True), {"output-quality", "approved-list"}),
])
def test_what_the_run_was_given_adds_to_the_standard_set(given: Given, added: set[str]) -> None:
    base = set(CATALOGUE.standard(Given()))
    assert set(CATALOGUE.standard(given)) - base == added
