"""The agreement matrix's pure parts (harness/agreement.py): how the gate's exit code and record become a verdict,
when a cell agrees, and that a false approval (the gate approves, the agent broke) is never counted as agreement."""

from __future__ import annotations

from typing import Any

import pytest

from harness.agreement import ONE_CALL, TWO, Row, Verdict, cells, readme_table, summary, to_json, verdict_of


def _check(name: str, status: str, category: str) -> dict[str, Any]:
    return {"name": name, "status": status, "category": category}


@pytest.mark.parametrize(("code", "checks", "verdict"), [
    (0, [_check("happy-path", "pass", "none")], Verdict.APPROVED),
    (1, [_check("tool-round-trip", "fail", "gateway")], Verdict.NOT_APPROVED),
    (1, [_check("streamed-tool-calls", "error", "model"), _check("latency", "error", "infrastructure")], Verdict.NOT_APPROVED),
    (1, [_check("reachability", "error", "infrastructure")], Verdict.INFRASTRUCTURE),  # the gate could not judge
    (1, [], Verdict.INFRASTRUCTURE),
    (2, [], Verdict.INFRASTRUCTURE),  # a usage error
    (3, [_check("tool-round-trip", "fail", "gateway")], Verdict.INFRASTRUCTURE),  # no verdict
    (-1, [], Verdict.INFRASTRUCTURE),  # killed at its bound
])
def test_the_gates_verdict_comes_from_its_exit_code_and_its_failing_checks(code: int, checks: list[dict[str, Any]],
                                                                          verdict: Verdict) -> None:
    assert verdict_of(code, {"checks": checks})[0] is verdict


def _row(completed: bool, gate: Verdict, agent: str = "codex", defect: str = "refuse-turn-2") -> Row:
    return Row(agent=agent, defect=defect, task=ONE_CALL, completed=completed, reason=None if completed else "api-error",
               agent_seconds=1.0, requests=2, egress=(), gate=gate, gate_exit={Verdict.APPROVED: 0, Verdict.NOT_APPROVED: 1}.get(gate, 3),
               gate_seconds=2.0, failed_checks=(), gate_details={})


@pytest.mark.parametrize(("completed", "gate", "agrees", "false_approval"), [
    (True, Verdict.APPROVED, True, False),
    (False, Verdict.NOT_APPROVED, True, False),
    (False, Verdict.APPROVED, False, True),  # the one the gate must never give
    (True, Verdict.NOT_APPROVED, False, False),  # stricter than the agent needs
    (True, Verdict.INFRASTRUCTURE, False, False),
    (False, Verdict.INFRASTRUCTURE, False, False),
])
def test_a_cell_agrees_when_approved_exactly_when_the_agent_completed(completed: bool, gate: Verdict, agrees: bool,
                                                                     false_approval: bool) -> None:
    row = _row(completed, gate)
    assert (row.agrees, row.false_approval) == (agrees, false_approval)


def test_the_summary_counts_agreement_and_names_every_false_approval() -> None:
    data = to_json([_row(True, Verdict.APPROVED, defect=""), _row(False, Verdict.APPROVED), _row(False, Verdict.NOT_APPROVED, "aider")],
                   ["codex", "aider"], "2026-12-03")
    s = summary(data["rows"])
    assert (s["cells"], s["agreeing"], s["agreement_rate"]) == (3, 2, 0.667)
    assert s["false_approvals"] == ["codex / refuse-turn-2"] == s["disagreements"]
    assert s["wall_time"]["codex"] == {"agent_seconds": 2.0, "gate_seconds": 4.0}
    table = readme_table(data)
    assert "**broke (api-error) / approved (false approval)**" in table and "false approvals: 1" in table


def test_every_agent_meets_the_healthy_model_on_both_tasks_and_each_defect_on_the_task_it_needs() -> None:
    planned = cells(["codex"], ["refuse-turn-2", "stream-index-zero"])
    assert planned == [("codex", "", ONE_CALL), ("codex", "", TWO), ("codex", "refuse-turn-2", ONE_CALL),
                       ("codex", "stream-index-zero", TWO)]
