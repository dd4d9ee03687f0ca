"""The registry's one grammar, through every reader of it: the reader (head registry, settings), registry-guard's
base readers (`--registry-base`, the contents API at the base commit) and `approval promote` — all against ONE table
(harness/registry_variants.py), so none of them can read a registry differently from the others."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from approval.common.errors import ConfigError
from approval.common.userfile import YamlAmbiguous, load_yaml
from approval.engine.results import Category, Status
from approval.lifecycle.guard import Verdict, Verification, evidence_problems, placeholder_sha256, registry_guard
from approval.lifecycle.promote import promote_text
from approval.settings.configfile import head_registry
from approval.settings.registry import Approval, Entry, Registry, config_entries, parse_block, registry_of
from harness.registry_variants import VARIANTS, Variant

NEW = "new-model"
PROOF = Approval("2025-03-01T08:00:01Z", "octocat", hashlib.sha256(b"a record").hexdigest(), "https://github.com/o/r/actions/runs/1")


def ids(variant: Variant) -> str:
    return f"{variant.kind}-{variant.id}"


def files(tmp_path: Path, variant: Variant) -> tuple[str | None, str | None]:
    """The variant as a checkout holds it: (gateway.yaml, AGENTS.md)."""
    if variant.kind == "yaml":
        (tmp_path / "gateway.yaml").write_text(variant.text, encoding="utf-8")
        return str(tmp_path / "gateway.yaml"), None
    (tmp_path / "AGENTS.md").write_text(variant.text, encoding="utf-8")
    return None, str(tmp_path / "AGENTS.md")


def read_text_registry(variant: Variant) -> tuple[str, ...]:
    """The pure reader: the block, or the parsed approved_models list."""
    if variant.kind == "markdown":
        return tuple(parse_block(variant.text, "AGENTS.md"))
    try:
        doc = load_yaml(variant.text) or {}
    except YamlAmbiguous as exc:
        raise ConfigError(str(exc)) from None
    return registry_of(doc, config_source="gateway.yaml").models


@pytest.mark.parametrize("variant", VARIANTS, ids=ids)
def test_the_reader_lists_exactly_what_the_table_says_or_refuses_it_naming_the_line(variant: Variant) -> None:
    if variant.accepted:
        assert read_text_registry(variant) == variant.models
    else:
        with pytest.raises(ConfigError) as raised:
            read_text_registry(variant)
        assert variant.error in str(raised.value)


@pytest.mark.parametrize("variant", VARIANTS, ids=ids)
def test_the_checkout_registry_the_guard_and_the_settings_read_agrees_with_the_table(variant: Variant, tmp_path: Path) -> None:
    config, block = files(tmp_path, variant)
    if variant.accepted:
        head = head_registry(config, block)
        assert head.models == variant.models
        check = registry_guard(Registry(), head, {m: Verdict("pass") for m in head.models})
        assert check.result.metrics["added"] == len(variant.models), "every listed model is one the guard sees added"
    else:
        with pytest.raises(ConfigError) as raised:
            head_registry(config, block)
        assert variant.error in str(raised.value)


@pytest.mark.parametrize("variant", VARIANTS, ids=ids)
def test_the_base_registry_read_through_the_contents_api_agrees_with_the_table(variant: Variant, tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from approval.github import contents
    from approval.github.base_registry import read_base_registry

    config = "approved_models_file: AGENTS.md\n" if variant.kind == "markdown" else variant.text
    at_base = {"gateway.yaml": config, "AGENTS.md": variant.text}
    monkeypatch.setattr(contents, "api_get", lambda *_a, **_k: {})
    monkeypatch.setattr(contents, "read_text", lambda _c, _r, path, _ref: at_base.get(path))
    monkeypatch.chdir(tmp_path)
    if variant.accepted:
        assert read_base_registry(object(), "o/r", "a" * 40, "gateway.yaml", tmp_path).models == variant.models
    elif variant.id == "no-block":  # a registry not started yet at the base lists nothing
        assert read_base_registry(object(), "o/r", "a" * 40, "gateway.yaml", tmp_path).models == ()
    else:
        with pytest.raises(ValueError) as raised:  # the guard reports it as the evidence gap it is, naming the line
            read_base_registry(object(), "o/r", "a" * 40, "gateway.yaml", tmp_path)
        assert variant.error in str(raised.value)


@pytest.mark.parametrize("variant", VARIANTS, ids=ids)
def test_promote_adds_to_exactly_what_the_table_lists_or_refuses_what_it_refuses(variant: Variant) -> None:
    source = "AGENTS.md" if variant.kind == "markdown" else "gateway.yaml"
    if variant.models is not None:
        edit = promote_text(variant.kind, variant.text, NEW, PROOF, source)
        again = Variant(variant.id, variant.kind, edit.text)
        assert read_text_registry(again) == (*variant.models, NEW)
    else:
        with pytest.raises(ConfigError) as raised:
            promote_text(variant.kind, variant.text, NEW, PROOF, source)
        assert variant.error in str(raised.value)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if not v.accepted], ids=ids)
def test_the_command_line_refuses_a_refused_registry_with_one_line_and_exit_2(variant: Variant, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from approval.frontends.cli import main
    from harness.mocked_gateway import BASE, CANARY_KEY

    monkeypatch.setenv("GATEWAY_API_KEY", CANARY_KEY)
    monkeypatch.chdir(tmp_path)
    config, _ = files(tmp_path, variant)
    if config is None:
        (tmp_path / "gateway.yaml").write_text("approved_models_file: AGENTS.md\n", encoding="utf-8")
    code = main(["run", "--base-url", BASE, "--model", "m", "--config", "gateway.yaml"])
    err = capsys.readouterr().err
    assert code == 2
    (line,) = err.strip().splitlines()
    assert variant.error in line and " — " in line, "the problem with its line, then the fix"


# --- YAML: model IDs another YAML reader would take for another type are written quoted -----------------------------------


@pytest.mark.parametrize("model", ["1e3", "yes", "no", "on", "off", "y", "n", "null", "~", "0x10", "0o17", "2024-01-01", ".inf",
                                   "-.5", "+1", "1_000", "12:30", "true", "False", "NULL", "None", "007"])
def test_promote_quotes_a_model_id_yaml_would_read_as_another_type(model: str) -> None:
    edit = promote_text("yaml", "approved_models:\n  - a\n", model, PROOF, "gateway.yaml")
    assert f"  - model: {json.dumps(model)}" in edit.text.splitlines()
    assert [e.model for e in config_entries(load_yaml(edit.text)["approved_models"])] == ["a", model]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4", "meta-llama/Llama-3.1-8B"])
def test_promote_writes_a_plain_model_id_bare(model: str) -> None:
    edit = promote_text("yaml", "approved_models:\n  - a\n", model, PROOF, "gateway.yaml")
    assert f"  - model: {model}" in edit.text.splitlines()


@pytest.mark.parametrize(("text", "needle"), [
    ("messages:\n  - {role: user, content: hi}\nmessages: []\n", "the key 'messages' appears twice"),
    ("prompt: a\nexpect: {}\nprompt: b\n", "the key 'prompt' appears twice"),
    ("prompt: 1e3\n", "the value '1e3' (line 1) is text to this tool but a number, boolean or null to other YAML readers — quote it"),
])
def test_every_yaml_file_the_tool_reads_refuses_what_yaml_readers_read_differently(tmp_path: Path, text: str, needle: str) -> None:
    from approval.settings.prompt import load_prompt

    path = tmp_path / "prompt.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_prompt(str(path))
    assert needle in str(raised.value) and "prompt.yaml" in str(raised.value)


# --- registry-guard: evidence checked for meaning ----------------------------------------------------------------------


NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
GITHUB = Verification(now=NOW, repository_url="https://github.com/o/r")


@pytest.mark.parametrize("sha", [hashlib.sha256(b"").hexdigest(), "0" * 64, "f" * 64, "ab" * 32, "0123456789abcdef" * 4,
                                 hashlib.sha256(b"{}").hexdigest(), hashlib.sha256(b"null\n").hexdigest()])
def test_a_record_sha256_of_nothing_is_no_evidence(sha: str) -> None:
    assert placeholder_sha256(sha)
    problems = evidence_problems(Approval("2025-03-01T08:00:01Z", "octocat", sha), NEW, GITHUB)
    assert problems == ["record_sha256 is the hash of no record (an empty document or a placeholder)"]


def test_the_records_this_run_wrote_are_known_by_their_sha256(tmp_path: Path) -> None:
    from approval.lifecycle.guard import record_hashes

    one, two = tmp_path / "a.json", tmp_path / "b.json"
    one.write_bytes(b'{"candidate_model_id": "a"}\n')
    two.write_bytes(b'{"candidate_model_id": "b"}\n')
    hashes = record_hashes([(one, {"candidate_model_id": "a"}), (two, {"candidate_model_id": "b"}), (tmp_path / "gone.json", {})])
    assert hashes == {hashlib.sha256(one.read_bytes()).hexdigest(): "a", hashlib.sha256(two.read_bytes()).hexdigest(): "b"}


def test_a_real_sha256_is_not_a_placeholder() -> None:
    assert not any(placeholder_sha256(hashlib.sha256(str(n).encode()).hexdigest()) for n in range(2000))


def test_a_record_sha256_of_another_models_record_in_this_run_is_no_evidence() -> None:
    verify = Verification(now=NOW, records={PROOF.record_sha256: "other-model"})
    assert evidence_problems(PROOF, NEW, verify) == [f"record_sha256 is this run's record of other-model, not of {NEW}"]
    assert evidence_problems(PROOF, "other-model", verify) == []


@pytest.mark.parametrize(("at", "problem"), [
    ("2025-06-01T12:04:59Z", None),  # within the clock-skew allowance
    ("2025-06-01T12:05:01Z", "approved_at 2025-06-01T12:05:01Z lies in the future"),
    ("2031-01-01T00:00:00Z", "approved_at 2031-01-01T00:00:00Z lies in the future"),
])
def test_an_approved_at_in_the_future_is_no_evidence(at: str, problem: str | None) -> None:
    problems = evidence_problems(Approval(at, "octocat", PROOF.record_sha256), NEW, GITHUB)
    assert problems == ([problem] if problem else [])


@pytest.mark.parametrize("at", ["2025-02-30T08:00:00Z", "2025-13-01T08:00:00Z", "2025-04-31T00:00:00Z", "2025-03-01T24:00:00Z",
                                "2025-03-01T08:60:00Z", "2025-03-01", "yesterday"])
def test_an_approved_at_that_is_no_real_time_is_no_evidence(at: str) -> None:
    text = f"<!-- approved-models:start -->\n- {NEW}  # approved_at={at} approved_by=octocat record_sha256={PROOF.record_sha256}\n" \
           "<!-- approved-models:end -->\n"
    head = registry_of({}, text, "AGENTS.md")
    check = registry_guard(Registry(), head, {NEW: Verdict("pass")}, verify=GITHUB)
    assert check.result.status is Status.FAIL and check.result.category is Category.CONFIG
    assert f"{NEW} enters the approved list without evidence (approved_at is not a real ISO-8601 UTC time" in check.result.detail


@pytest.mark.parametrize(("repository_url", "run_url", "fine"), [
    ("https://github.com/o/r", "https://github.com/o/r/actions/runs/1", True),
    ("https://github.com/o/r", "https://github.com/o/r/actions/runs/1/attempts/2", True),
    ("https://ghe.example.test/o/r", "https://ghe.example.test/o/r/actions/runs/9", True),
    ("https://github.com/o/r", "https://ghe.example.test/o/r/actions/runs/9", False),
    ("https://github.com/o/r", "http://github.com/o/r/actions/runs/1", False),
    ("https://github.com/o/r", "https://github.com/o/other/actions/runs/1", False),
    ("https://github.com/o/r", "https://github.com/o/r/actions/runs/x", False),
    ("https://github.com/o/r", "https://github.com/o/r/actions/runs/1?x=1", False),
    ("https://github.com/o/r", "https://github.com/o/r/pull/1", False),
    ("https://github.com/o/r", "https://github.com.evil.test/o/r/actions/runs/1", False),
    ("https://github.com/o/r", "https://evil.test/#https://github.com/o/r/actions/runs/1", False),
])
def test_a_run_url_must_be_a_run_of_this_repository(repository_url: str, run_url: str, fine: bool) -> None:
    verify = Verification(now=NOW, repository_url=repository_url)
    problems = evidence_problems(Approval("2025-03-01T08:00:01Z", "octocat", PROOF.record_sha256, run_url), NEW, verify)
    assert problems == ([] if fine else [f"run_url is not a run of this repository ({repository_url}/actions/runs/N)"])


def test_without_a_repository_context_the_guard_says_what_it_could_not_verify() -> None:
    local = Verification(now=NOW)
    check = registry_guard(Registry(), Registry((Entry(NEW, PROOF),)), {NEW: Verdict("pass")}, verify=local)
    assert check.result.status is Status.PASS
    assert f"not verified here (no repository context): that the run_url of {NEW} is a run of this repository" in check.result.detail
    assert any("not verified here" in line for line in check.lines)
    bogus = Approval(PROOF.approved_at, "octocat", PROOF.record_sha256, "ftp://x/runs/1")
    refused = registry_guard(Registry(), Registry((Entry(NEW, bogus),)), {NEW: Verdict("pass")}, verify=local)
    assert "run_url is not the https URL of a workflow run" in refused.result.detail
    in_repo = registry_guard(Registry(), Registry((Entry(NEW, PROOF),)), {NEW: Verdict("pass")}, verify=GITHUB)
    assert "not verified" not in in_repo.result.detail


def test_evidence_refreshed_to_no_evidence_fails_while_dropping_it_does_not() -> None:
    base = Registry((Entry("kept", PROOF),))
    placeholder = Approval(PROOF.approved_at, "octocat", "0" * 64, PROOF.run_url)
    check = registry_guard(base, Registry((Entry("kept", placeholder),)), {}, verify=GITHUB)
    assert check.result.status is Status.FAIL and "kept's evidence is replaced by no evidence (record_sha256 is the hash" in check.result.detail
    assert registry_guard(base, Registry((Entry("kept"),)), {}, verify=GITHUB).result.status is Status.PASS
    future = Approval((NOW + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "octocat", PROOF.record_sha256, PROOF.run_url)
    assert registry_guard(base, Registry((Entry("kept", future),)), {}, verify=GITHUB).result.status is Status.FAIL


@pytest.mark.parametrize(("server_url", "run_url", "passes"), [
    ("https://github.com", "https://github.com/o/r/actions/runs/7", True),
    ("https://ghe.example.test", "https://ghe.example.test/o/r/actions/runs/7", True),
    ("https://ghe.example.test", "https://github.com/o/r/actions/runs/7", False),
    ("https://github.com", "https://github.com/someone/else/actions/runs/7", False),
])
def test_the_action_checks_run_urls_against_its_own_repository_and_server_and_knows_this_runs_records(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_url: str, run_url: str, passes: bool) -> None:
    from types import SimpleNamespace

    from approval.github import base_registry
    from approval.github.context import GitHubContext

    sha = hashlib.sha256(b"an earlier record").hexdigest()
    (tmp_path / "AGENTS.md").write_text(f"<!-- approved-models:start -->\n- {NEW}  # approved_at=2025-03-01T08:00:01Z approved_by=octocat "
                                        f"run_url={run_url} record_sha256={sha}\n<!-- approved-models:end -->\n", encoding="utf-8")
    record = tmp_path / "approval-record.json"
    record.write_bytes(b"this run's record of another model")
    monkeypatch.setattr(base_registry, "make_client", lambda *_a: object())
    monkeypatch.setattr(base_registry, "read_base_registry", lambda *_a: Registry())
    settings: Any = SimpleNamespace(config_path=None, approved_models_file=str(tmp_path / "AGENTS.md"))
    from approval.settings.profile import GENERIC_TOOLS

    run: Any = SimpleNamespace(candidates=[SimpleNamespace(model=NEW, result="pass", checks=[])], settings=SimpleNamespace(profile=GENERIC_TOOLS))
    ctx = GitHubContext(event={"pull_request": {"base": {"sha": "b" * 40}}}, repository="o/r", server_url=server_url)
    check = base_registry.evaluate(settings, run, ctx, "token", tmp_path, [(record, {"candidate_model_id": "other-model"})])
    assert (check.result.status is Status.PASS) is passes, check.result.detail
    if not passes:
        assert f"run_url is not a run of this repository ({server_url}/o/r/actions/runs/N)" in check.result.detail
    # the record this run wrote for another model cannot stand as this model's evidence
    (tmp_path / "AGENTS.md").write_text((tmp_path / "AGENTS.md").read_text().replace(sha, hashlib.sha256(record.read_bytes()).hexdigest()))
    check = base_registry.evaluate(settings, run, ctx, "token", tmp_path, [(record, {"candidate_model_id": "other-model"})])
    assert f"record_sha256 is this run's record of other-model, not of {NEW}" in check.result.detail
