"""`approval promote`: the approved model and its evidence written into AGENTS.md or gateway.yaml, once, reviewably."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from approval.common.userfile import load_yaml
from approval.engine.checks import CATALOGUE
from approval.engine.suite import run_suite
from approval.frontends.cli import main
from approval.lifecycle.promote import RegistryEditError, comment_start, markdown_lines_for, promote_markdown, promote_yaml, yaml_lines_for
from approval.record.build import build_record, write_json
from approval.settings.build import build_settings
from approval.settings.registry import Approval, parse_block_entries, registry_of
from harness.mocked_gateway import BASE, CANARY_KEY, as_flags, is_sample, make_settings

AGENTS = """# Agents

Use only approved models. <!-- reviewers: keep this list short -->

<!-- approved-models:start -->
- `old-model`
- retired-model # until June
<!-- approved-models:end -->

More text.
"""

GATEWAY_YAML = f"""# The gateway this repository gates.
base_url: {BASE}   # the gateway
endpoint: chat
approved_models:   # the registry, reviewed like code
  - old-model    # the first one
  # the next one is kept for the batch jobs
  - retired-model
model_in_use: old-model   # what agents use today
"""

EVIDENCE = Approval("2025-03-01T08:00:01Z", "octocat", "a" * 64, "https://github.com/o/r/actions/runs/1")


def write_record(tmp_path: Path, name: str = "approval-record.json", *, fail: bool = False, ci: bool = True) -> Path:
    import responses

    from harness.mocked_gateway import FakeGateway, answer_with

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        gateway = FakeGateway(rsps)
        if fail:
            gateway.on(is_sample, answer_with(200, {"choices": []}))
        outcome = run_suite(make_settings(approved_by="octocat"))
    ci_context = {"repository": "o/r", "commit": "abc", "run_url": "https://github.com/o/r/actions/runs/42"} if ci else None
    path = tmp_path / name
    write_json(path, build_record(outcome, outcome.candidates[0], ci_context))
    return path


def promote(record: Path, registry: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["promote", "--record", str(record), "--registry", str(registry)])
    out, err = capsys.readouterr()
    return code, out, err


def test_promote_into_agents_md_adds_one_line_with_the_evidence_and_is_idempotent(tmp_path, capsys):
    record = write_record(tmp_path)
    agents = tmp_path / "AGENTS.md"
    agents.write_text(AGENTS)
    code, out, _ = promote(record, agents, capsys)
    assert code == 0, out
    text = agents.read_text()
    sha = hashlib.sha256(record.read_bytes()).hexdigest()
    approved_at = json.loads(record.read_text())["approved_at"]
    profile = json.loads(record.read_text())["agent_profile"]
    assert profile["name"] == "generic-tools"
    line = (f"- cand-model  # approved_at={approved_at} approved_by=octocat run_url=https://github.com/o/r/actions/runs/42 "
            f"record_sha256={sha} profile=generic-tools profile_sha256={profile['sha256']}")
    assert text == AGENTS.replace("- retired-model # until June\n", f"- retired-model # until June\n{line}\n")
    assert f"+ {line}" in out
    (entry,) = [e for e in parse_block_entries(text, "AGENTS.md") if e.model == "cand-model"]
    assert entry.approval == Approval(approved_at, "octocat", sha, "https://github.com/o/r/actions/runs/42", "generic-tools", profile["sha256"])

    code, out, _ = promote(record, agents, capsys)
    assert code == 0 and "nothing changed" in out
    assert agents.read_text() == text, "promoting the same record again changes nothing"

    newer = write_record(tmp_path, "newer.json", ci=False)
    code, out, _ = promote(newer, agents, capsys)
    assert code == 0
    updated = agents.read_text()
    assert updated.count("cand-model") == 1, "re-promoting replaces the evidence, never duplicates the line"
    assert f"record_sha256={hashlib.sha256(newer.read_bytes()).hexdigest()}" in updated and "run_url" not in updated
    assert f"- {line}" in out and "+ - cand-model  # approved_at=" in out


def test_promote_into_gateway_yaml_keeps_every_comment_and_the_order(tmp_path, capsys):
    record = write_record(tmp_path)
    config = tmp_path / "gateway.yaml"
    config.write_text(GATEWAY_YAML)
    os.chmod(config, 0o640)
    code, out, err = promote(record, config, capsys)
    assert code == 0, err
    text = config.read_text()
    sha = hashlib.sha256(record.read_bytes()).hexdigest()
    assert text == GATEWAY_YAML.replace("  - retired-model\n", "  - retired-model\n  - model: cand-model\n"
                                        f'    approved_at: "{json.loads(record.read_text())["approved_at"]}"\n    approved_by: "octocat"\n'
                                        f'    run_url: "https://github.com/o/r/actions/runs/42"\n    record_sha256: "{sha}"\n'
                                        f'    profile: "generic-tools"\n    profile_sha256: "{json.loads(record.read_text())["agent_profile"]["sha256"]}"\n')
    assert stat.S_IMODE(config.stat().st_mode) == 0o640, "the file keeps its mode"
    settings = build_settings(as_flags({"config": str(config), "models": ["x"]}), {"GATEWAY_API_KEY": CANARY_KEY}, CATALOGUE)
    assert settings.approved_models == ("old-model", "retired-model", "cand-model")
    assert registry_of(load_yaml(text)).get("cand-model").approval.record_sha256 == sha  # type: ignore[union-attr]

    code, out, _ = promote(record, config, capsys)
    assert code == 0 and "nothing changed" in out and config.read_text() == text

    # the promoted model already listed as a plain item: its line becomes the evidence mapping, its comment kept
    config.write_text(GATEWAY_YAML.replace("old-model    # the first one", "cand-model    # the first one"))
    code, _, err = promote(record, config, capsys)
    assert code == 0, err
    lines = config.read_text().splitlines()
    assert lines[4] == "  - model: cand-model  # the first one" and lines[11] == "  # the next one is kept for the batch jobs"
    assert config.read_text().count("cand-model") == 1


def test_a_record_that_is_not_a_pass_or_not_valid_changes_nothing(tmp_path, capsys):
    agents = tmp_path / "AGENTS.md"
    agents.write_text(AGENTS)
    failing = write_record(tmp_path, "failing.json", fail=True)
    code, _, err = promote(failing, agents, capsys)
    assert code == 1 and "not promoted: cand-model was not approved in that run" in err
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({**json.loads(write_record(tmp_path).read_text()), "overall_result": "maybe"}))
    code, _, err = promote(invalid, agents, capsys)
    assert code == 1 and "not a valid approval record" in err and "overall_result" in err
    assert agents.read_text() == AGENTS
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary file left behind"


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("AGENTS.md", "# Agents\n- cand-model\n", "has no approved-models block"),
        ("AGENTS.md", "<!-- approved-models:start --> - a\n<!-- approved-models:end -->\n", "line 1: the approved-models start marker is not"),
        ("AGENTS.md", "<!-- approved-models:start -->\n- cand-model\n- cand-model\n<!-- approved-models:end -->\n", "line 3: cand-model is listed again"),
        ("gateway.yaml", "approved_models: &registry [a]\n", "in a form this tool does not edit"),
        ("gateway.yaml", "approved_models: [a,\n  b]\n", "in a form this tool does not edit"),
        ("gateway.yaml", "approved_models:\n  - model: cand-model\n    # why\n    approved_by: x\n", "holds comments the update would lose"),
        ("gateway.yaml", "approved_models: [a]\nunknown_key: 1\n", "unknown key 'unknown_key'"),
        ("gateway.yaml", "base_url: http://other.test/v1\napproved_models: [a]\n", "configures http://other.test/v1"),
        ("gateway.yaml", "endpoint: responses\napproved_models: [a]\n", "configures responses"),
        ("registry.json", "{}", "neither markdown"),
    ],
)
def test_a_registry_that_cannot_be_edited_safely_is_exit_2_and_left_alone(tmp_path, capsys, name, content, needle):
    record = write_record(tmp_path)
    registry = tmp_path / name
    registry.write_text(content)
    code, out, err = promote(record, registry, capsys)
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert registry.read_text() == content


def test_flow_lists_and_a_missing_list_become_block_lists_that_read_back_the_same():
    edit = promote_yaml("approved_models: [a, 'b:c']  # short list\nendpoint: chat\n", "b:c", EVIDENCE, "g.yaml")
    assert edit.text.splitlines()[:3] == ["approved_models:  # short list", "  - a", '  - model: "b:c"']
    assert load_yaml(edit.text)["approved_models"][1] == {"model": "b:c", **EVIDENCE.fields()}
    added = promote_yaml("endpoint: chat", "m", EVIDENCE, "g.yaml")
    assert added.text.startswith("endpoint: chat\napproved_models:\n  - model: m\n")
    crlf = promote_yaml("approved_models:\r\n- a\r\nendpoint: chat\r\n", "m", EVIDENCE, "g.yaml").text
    assert "\n" not in crlf.replace("\r\n", "") and crlf.startswith("approved_models:\r\n- a\r\n- model: m\r\n  approved_at:")


def test_markdown_keeps_a_persons_comment_and_the_line_style():
    text = "<!-- approved-models:start -->\n* `m`  # the default\n<!-- approved-models:end -->\n"
    edit = promote_markdown(text, "m", EVIDENCE, "AGENTS.md")
    assert edit.text.splitlines()[1] == ("* `m`  # the default approved_at=2025-03-01T08:00:01Z approved_by=octocat "
                                         f"run_url=https://github.com/o/r/actions/runs/1 record_sha256={'a' * 64}")
    again = promote_markdown(edit.text, "m", Approval("2025-04-01T00:00:00Z", "Jane Doe", "b" * 64), "AGENTS.md")
    assert again.text.splitlines()[1] == f'* `m`  # the default approved_at=2025-04-01T00:00:00Z approved_by="Jane Doe" record_sha256={"b" * 64}'
    (entry,) = parse_block_entries(again.text, "AGENTS.md")
    assert entry.approval == Approval("2025-04-01T00:00:00Z", "Jane Doe", "b" * 64)
    with pytest.raises(RegistryEditError):
        promote_markdown(text, "bad`model", EVIDENCE, "AGENTS.md")


def test_a_line_with_an_html_comment_is_an_entry_and_keeps_its_comment_when_promoted():
    text = ("<!-- approved-models:start -->\n- `old-model`  <!-- kept for the batch jobs, see #12 -->\n"
            "- m <!-- the default -->  # owner: platform\n<!-- approved-models:end -->\n")
    assert [e.model for e in parse_block_entries(text, "AGENTS.md")] == ["old-model", "m"]
    edit = promote_markdown(text, "m", EVIDENCE, "AGENTS.md")
    assert edit.text.splitlines()[2] == (f"- m  <!-- the default -->  # owner: platform {' '.join(f'{k}={v}' for k, v in EVIDENCE.fields().items())}")
    added = promote_markdown(text, "new", EVIDENCE, "AGENTS.md")
    assert added.text.splitlines()[1:4] == ["- `old-model`  <!-- kept for the batch jobs, see #12 -->", "- m <!-- the default -->  # owner: platform",
                                            f"- new  # {' '.join(f'{k}={v}' for k, v in EVIDENCE.fields().items())}"]
    assert promote_markdown(added.text, "old-model", EVIDENCE, "AGENTS.md").text.splitlines()[1].startswith(
        "- `old-model`  <!-- kept for the batch jobs, see #12 -->  # approved_at=")


def test_evidence_that_is_malformed_is_reported_not_trusted():
    text = "<!-- approved-models:start -->\n- m  # approved_at=yesterday approved_by=me record_sha256=abc\n<!-- approved-models:end -->\n"
    (entry,) = parse_block_entries(text, "AGENTS.md")
    assert entry.approval is None and "approved_at" in entry.problem and "record_sha256" in entry.problem
    registry = registry_of({"approved_models": ["a", {"model": "b", "approved_by": "x"}], "model_in_use": "a"})
    assert registry.models == ("a", "b") and registry.model_in_use == "a"
    assert registry.get("a").problem == "" and "approved_at" in registry.get("b").problem  # type: ignore[union-attr]


def test_the_lines_a_revocation_removes():
    promoted = promote_yaml(GATEWAY_YAML, "cand-model", EVIDENCE, "g.yaml").text
    assert yaml_lines_for(promoted, "cand-model", "g.yaml") == [
        "  - model: cand-model", '    approved_at: "2025-03-01T08:00:01Z"', '    approved_by: "octocat"',
        '    run_url: "https://github.com/o/r/actions/runs/1"', f'    record_sha256: "{"a" * 64}"']
    assert yaml_lines_for(promoted, "old-model", "g.yaml") == ["  - old-model    # the first one"]
    assert yaml_lines_for(promoted, "absent", "g.yaml") == []
    assert markdown_lines_for(AGENTS, "retired-model", "AGENTS.md") == ["- retired-model # until June"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [("a: b # c", 5), ("a: 'b # c'", None), ('a: "b \\" # c"', None), ("a: b#c", None), ("# only", 0), ("a: it's # x", 8)],
)
def test_yaml_comment_detection(line, expected):
    assert comment_start(line) == expected


# --- promote edits the file the registry is ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "content"), [("AGENTS.md", AGENTS), ("gateway.yaml", GATEWAY_YAML)])
def test_a_symlinked_registry_is_edited_in_its_target_and_stays_a_link(tmp_path, capsys, name, content):
    record = write_record(tmp_path)
    (tmp_path / "shared").mkdir()
    target = tmp_path / "shared" / name
    target.write_text(content)
    link = tmp_path / name
    link.symlink_to(Path("shared") / name)
    code, out, err = promote(record, link, capsys)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(Path("shared") / name), "the link is left a link"
    assert "cand-model" in target.read_text() and target.read_text() != content
    assert f"(the file it links to, {target})" in out
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == [name], "no temporary file left behind"


@pytest.mark.parametrize(("name", "content"), [("AGENTS.md", AGENTS), ("gateway.yaml", GATEWAY_YAML)])
def test_a_read_only_registry_is_refused_with_one_line_and_left_alone(tmp_path, capsys, name, content):
    record = write_record(tmp_path)
    registry = tmp_path / name
    registry.write_text(content)
    os.chmod(registry, 0o444)
    code, out, err = promote(record, registry, capsys)
    assert code == 2, out + err
    (line,) = err.strip().splitlines()
    assert line == (f"error: registry {str(registry)!r} is read-only: it cannot be written; it is unchanged — "
                    "make it writable (chmod u+w) if it is meant to change, then promote again")
    assert registry.read_text() == content and stat.S_IMODE(registry.stat().st_mode) == 0o444


def test_a_record_from_another_gateway_is_refused_for_every_registry_kind(tmp_path, capsys):
    """One rule: the record's gateway and endpoint are those of the gateway.yaml governing the registry — the registry
    itself, or for a markdown file the gateway.yaml given with --config, which must name it."""
    record = write_record(tmp_path)
    agents = tmp_path / "AGENTS.md"
    agents.write_text(AGENTS)
    cases = {
        "base_url: http://other.test/v1\napproved_models_file: AGENTS.md\n": "configures http://other.test/v1",
        "endpoint: responses\napproved_models_file: AGENTS.md\n": "configures responses",
        f"base_url: {BASE}\napproved_models_file: OTHER.md\n": "does not name",
    }
    for text, needle in cases.items():
        (tmp_path / "gateway.yaml").write_text(text)
        code = main(["promote", "--record", str(record), "--registry", str(agents), "--config", str(tmp_path / "gateway.yaml")])
        err = capsys.readouterr().err
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
        assert agents.read_text() == AGENTS
    (tmp_path / "gateway.yaml").write_text(f"base_url: {BASE}\napproved_models_file: AGENTS.md\n")
    code = main(["promote", "--record", str(record), "--registry", str(agents), "--config", str(tmp_path / "gateway.yaml")])
    out, err = capsys.readouterr()
    assert code == 0 and "+ - cand-model" in out and err == ""


def test_a_markdown_registry_promoted_without_its_gateway_yaml_says_the_gateway_was_not_checked(tmp_path, capsys):
    record = write_record(tmp_path)
    agents = tmp_path / "AGENTS.md"
    agents.write_text(AGENTS)
    code, out, err = promote(record, agents, capsys)
    assert code == 0 and "+ - cand-model" in out
    assert err.strip() == (f"warning: the record's gateway ({BASE}, chat) was not checked against the gateway.yaml that names "
                           f"{agents} — give it with --config to check it")


def test_the_registry_is_written_by_the_one_atomic_writer(tmp_path, capsys, monkeypatch):
    from approval.record import build as record_module

    record = write_record(tmp_path)
    agents = tmp_path / "AGENTS.md"
    agents.write_text(AGENTS)
    written = []
    real = record_module.write_text_atomic

    def spy(path, text, mode=None):
        written.append(path)
        real(path, text, mode)

    monkeypatch.setattr(record_module, "write_text_atomic", spy)
    code, _, err = promote(record, agents, capsys)
    assert code == 0, err
    assert written == [agents]


def test_promote_keeps_a_byte_order_mark_the_registry_starts_with(tmp_path, capsys):
    """Every reader accepts a leading byte-order mark; promote writes it back, so the diff is the model's line alone."""
    record = write_record(tmp_path)
    agents = tmp_path / "AGENTS.md"
    agents.write_bytes(b"\xef\xbb\xbf" + AGENTS.encode("utf-8"))
    assert main(["promote", "--record", str(record), "--registry", str(agents)]) == 0
    written = agents.read_bytes()
    assert written.startswith(b"\xef\xbb\xbf") and written.count(b"\xef\xbb\xbf") == 1
    assert "cand-model" in written.decode("utf-8-sig")
