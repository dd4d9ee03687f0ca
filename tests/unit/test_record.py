"""The record: every template field, valid against the shipped schema, secret-free; and record diffs."""

from __future__ import annotations

import json

import pytest

from approval.engine.suite import run_suite
from approval.record.build import RecordInvalid, build_record, record_paths, validate_record
from approval.record.diff import diff_records
from harness.mocked_gateway import is_sample, make_settings

TEMPLATE_FIELDS = {
    "record_type", "run_id", "gateway_base_url", "candidate_model_id", "endpoint_family", "happy_path_status", "error_path_status",
    "latency_ms", "output_non_empty", "overall_result", "approved_by", "approved_at", "notes",
}


def make_record(gateway, **flags):
    outcome = run_suite(make_settings(**flags))
    return build_record(outcome, outcome.candidates[0], {"repository": "o/r", "commit": "abc", "run_url": "https://gh.test/o/r/actions/runs/1"})


def test_record_has_every_template_field_and_validates(gateway):
    record = make_record(gateway, approved_by="alice")
    assert set(record) >= TEMPLATE_FIELDS
    validate_record(record)
    assert record["overall_result"] == "pass" and record["approved_by"] == "alice"
    assert record["approved_at"].endswith("Z") and record["output_non_empty"] is True
    assert len(record["prompt_sha256"]) == 64 and record["tool_version"]
    assert isinstance(record["latency_ms"], float)


def test_record_never_holds_prompt_or_body(gateway):
    gateway.on(is_sample, lambda _b, _r: (200, {}, json.dumps({"id": "x", "object": "chat.completion", "created": 1, "model": "cand-model",
                                                              "choices": [{"index": 0, "message": {"role": "assistant", "content": "UNIQUE-OUTPUT-TEXT"},
                                                                           "finish_reason": "stop"}]})))
    text = json.dumps(make_record(gateway))
    assert "UNIQUE-OUTPUT-TEXT" not in text
    assert "add(a, b)" not in text  # the prompt


def test_failed_run_lists_categories_and_gaps(gateway):
    gateway.on(is_sample, lambda _b, _r: (503, {}, "<html>down</html>"))
    record = make_record(gateway)
    validate_record(record)
    assert record["overall_result"] == "fail"
    assert "infrastructure" in record["failure_categories"]
    assert record["evidence_gaps"]


def test_schema_rejects_a_record_with_extra_or_missing_fields(gateway):
    record = make_record(gateway)
    with pytest.raises(RecordInvalid):
        validate_record({**record, "api_key": "x"})
    bad = dict(record)
    del bad["overall_result"]
    with pytest.raises(RecordInvalid, match="overall_result"):
        validate_record(bad)
    with pytest.raises(RecordInvalid):
        validate_record({**record, "gateway_base_url": "https://u:p@x.test/v1"})


def test_record_paths_for_several_candidates(tmp_path):
    base = tmp_path / "approval-record.json"
    assert record_paths(base, ["a"]) == [base]
    assert [p.name for p in record_paths(base, ["org/m:1", "b"])] == ["approval-record.org_m_1.json", "approval-record.b.json"]


def test_diff_reports_verdict_checks_latency_and_environment(gateway):
    old = make_record(gateway)
    new = json.loads(json.dumps(old))
    new["overall_result"] = "fail"
    new["checks"][0]["status"] = "fail"
    new["latency_ms"] = (old["latency_ms"] or 1) * 3 + 100
    new["tool_version"] = "9.9.9"
    lines, material = diff_records(old, new)
    text = "\n".join(lines)
    assert material and "verdict: pass → fail" in text and "reachability: pass → fail" in text
    assert "latency p50" in text and "tool_version" in text
    assert diff_records(old, old) == ([], False)


def as_schema_1(record):
    """The same run as a schema-1 record wrote it: the template fields copied the check statuses."""
    old = json.loads(json.dumps(record))
    checks = {c["name"]: c["status"] for c in old["checks"]}
    old.update(schema_version=1, happy_path_status=checks.get("happy-path", "not_run"), error_path_status=checks.get("error-path", "not_run"))
    del old["answered_calls"], old["policy"], old["agent_profile"]
    return old


def as_schema_2(record):
    """The same run as a schema-2 record wrote it: no agent profile named."""
    old = json.loads(json.dumps(record))
    old["schema_version"] = 2
    del old["agent_profile"]
    return old


@pytest.mark.parametrize(("older", "version"), [(as_schema_1, 1), (as_schema_2, 2)])
def test_records_of_older_schemas_stay_valid_and_compare_with_the_current_one(gateway, older, version):
    from approval.record.consistency import inconsistencies

    new = make_record(gateway)
    assert new["schema_version"] == 3 and new["happy_path_status"] == "200" and new["error_path_status"] == "400/404"
    assert new["agent_profile"]["name"] == "generic-tools" and len(new["agent_profile"]["sha256"]) == 64
    old = older(new)
    validate_record(old)
    assert inconsistencies(old) == []
    lines, material = diff_records(old, new)
    assert not material and lines[0] == f"record schema: {version} → 3 (compared by checks, latency and environment)"


def test_a_record_of_schema_3_names_the_agent_profile(gateway):
    record = make_record(gateway)
    for broken in ({k: v for k, v in record.items() if k != "agent_profile"}, {**record, "agent_profile": {"name": "x", "sha256": "abc", "source": ""}},
                   {**record, "agent_profile": {"name": "x", "source": ""}}, {**record, "agent_profile": "generic-tools"}):
        with pytest.raises(RecordInvalid):
            validate_record(broken)


def test_a_record_of_schema_3_must_carry_the_template_values(gateway):
    record = make_record(gateway)
    for field, value in (("happy_path_status", "pass"), ("error_path_status", "warn"), ("approved_by", "unknown")):
        with pytest.raises(RecordInvalid):
            validate_record({**record, field: value})


def test_consistency_is_checked_field_by_field(gateway):
    from approval.record.consistency import inconsistencies

    record = make_record(gateway)
    assert inconsistencies(record) == []
    assert any("overall_result" in p for p in inconsistencies({**record, "answered_calls": 0}))
    failing = json.loads(json.dumps(record))
    failing["checks"][0].update(status="error", category="infrastructure")
    problems = inconsistencies(failing)
    assert any("overall_result is 'pass'" in p for p in problems)
    assert any("evidence_gaps does not list" in p for p in problems)
    assert any("failure_categories" in p for p in problems)
    warned = json.loads(json.dumps(record))
    warned["checks"][0]["status"] = "warn"
    assert inconsistencies(warned) == []  # a warning does not block by default …
    warned["policy"]["warnings_block"] = True
    assert any("overall_result is 'pass'" in p for p in inconsistencies(warned))  # … unless the policy says so


def test_a_passing_record_is_false_when_its_checks_do_not_support_the_pass(gateway):
    """Forgeries a schema cannot see: a failing check listed again as passing, a required check that only warned, a
    pass resting on checks that observe no answer of the candidate's own (or skipped everything)."""
    from approval.record.consistency import inconsistencies

    record = make_record(gateway)
    assert record["overall_result"] == "pass" and inconsistencies(record) == []

    twice = json.loads(json.dumps(record))
    twice["checks"].insert(0, {**twice["checks"][1], "status": "fail", "category": "model"})
    assert any(f"checks lists {twice['checks'][0]['name']} more than once" in p for p in inconsistencies(twice))

    required = json.loads(json.dumps(record))
    latency = next(c for c in required["checks"] if c["name"] == "latency")
    latency.update(status="warn", category="model")
    assert inconsistencies(required) == []  # a warning alone does not block …
    required["policy"]["required"] = ["latency"]
    problems = inconsistencies(required)  # … but one the policy requires does: the run would have recorded a fail
    assert any("policy.required lists latency, which warned" in p for p in problems)
    assert any("overall_result is 'pass' but the checks latency block it" in p for p in problems)

    for kept in (["approved-list"], ["agent-client"], ["approved-list", "agent-client"], ["error-path"], ["reachability", "model-echo", "latency"],
                 ["error-path", "approved-list"]):
        alone = json.loads(json.dumps(record))
        alone["checks"] = [c for c in alone["checks"] if c["name"] in kept] or [
            {"name": name, "status": "pass", "category": "none", "duration_ms": 0.0, "detail": "x", "metrics": {}} for name in kept]
        alone.update(happy_path_status="not_run", error_path_status="not_run", latency_ms=None, output_non_empty=False)
        assert any("no check that judges the candidate's own answers (happy-path) passed" in p for p in inconsistencies(alone)), kept

    skipped = json.loads(json.dumps(record))
    for c in skipped["checks"]:
        c.update(status="skip", category="none")
    assert any("no check that judges the candidate's own answers (happy-path) passed" in p for p in inconsistencies(skipped))


def test_approved_by_is_never_unknown():
    from approval.settings.build import approver

    assert approver("alice", {"GITHUB_ACTOR": "bob"}) == "alice"
    assert approver("", {"GITHUB_ACTOR": "bob", "GITHUB_RUN_ID": "42", "GITHUB_JOB": "approve"}) == "bob via run 42/approve"
    assert approver(None, {"USER": "carol"}) == "carol"
    assert approver(None, {}) not in ("", "unknown")
