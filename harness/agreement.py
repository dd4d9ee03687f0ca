"""The agreement matrix: does the gate's verdict predict what each real coding agent experiences?

For every agent of harness/agents.py and every stub defect reproducible here (``DEFECTS``) plus the healthy model, one
cell runs the real agent on its task through LiteLLM (its openai provider) in front of the stub upstream model, then
the gate, ``approval run --profile <the agent's built-in profile>`` (the real command, a subprocess, its default
checks), against the same gateway and model. A defect that needs two calls at once (``TWO_CALLS``) gives the agent
``PARALLEL_TASK``; the healthy model runs both tasks, the second as the control that the agent handles two calls.

A cell **agrees** when the gate approved and the agent completed, or the gate did not approve and the agent broke. A
**false approval** (approved, the agent broke) is what the gate must never give. A verdict of ``infrastructure``
(the gate could not judge: exit 2 or 3, or every failing check an infrastructure one) never agrees.

Everything here but ``run_gate`` / ``run_cell`` / ``run_matrix`` is pure: the JSON written (``to_json``), the summary
(``summary``) and the README's compatibility table (``readme_table``) come from the rows or the JSON alone, so the
README's table is checked against the committed JSON without running anything. From a shell (``bash bench/agents``)::

    python -m harness.agreement --readme          # every agent x every defect: the JSON and the README's table
    python -m harness.agreement --agent aider --defect refuse-turn-2   # a part of it: printed only
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import enum
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from harness.agents import AGENTS, PARALLEL_TASK, TASK, AgentError, install, installed, run_agent, stub_gateway
from harness.commands import run_env
from harness.peer_gateway import REPO_ROOT
from harness.stub_upstream import StubUpstream

__all__ = [
    "DEFECTS",
    "PROFILES",
    "GateRun",
    "Row",
    "Verdict",
    "readme_table",
    "run_cell",
    "run_gate",
    "run_matrix",
    "summary",
    "to_json",
    "verdict_of",
]

# each agent's built-in profile (approval/profiles/<name>.yaml)
PROFILES: Final[Mapping[str, str]] = {"codex": "codex-cli", "opencode": "opencode", "qwen-code": "qwen-code",
                                      "openai-agents": "openai-agents", "aider": "aider"}
DEFECTS: Final = ("refuse-turn-2", "drop-tool-results", "stream-duplicate-summary", "stream-index-zero", "text-tool-calls",
                  "finish-stop", "ignore-tool-choice", "empty-call-id", "require-reasoning-roundtrip", "drop-developer",
                  # a route that refuses a request field the agent may send: which agents break depends on their envelope
                  "refuse-param=stream_options", "refuse-param=parallel_tool_calls", "refuse-param=max_tokens")
TWO_CALLS: Final = frozenset({"stream-index-zero"})  # shows only with two calls at once
ONE_CALL: Final = "one call"
TWO: Final = "two calls"
HEALTHY: Final = ""
ROUTE: Final = "openai"  # LiteLLM's openai provider to the stub (the model is ``openai-<stub model>``)
GATE_TIMEOUT_S: Final = 60  # the gate's own --timeout
GATE_WALL_S: Final = 300.0  # the subprocess's bound
RESULTS: Final = REPO_ROOT / "bench" / "agents-matrix.json"
README: Final = REPO_ROOT / "README.md"
TABLE_START: Final = "<!-- agents-matrix:start -->"
TABLE_END: Final = "<!-- agents-matrix:end -->"
FAILED: Final = frozenset({"fail", "error"})  # a check's statuses that keep a model from approval
DETAIL_CHARS: Final = 400


class Verdict(enum.StrEnum):
    APPROVED = "approved"
    NOT_APPROVED = "not approved"
    INFRASTRUCTURE = "infrastructure"  # no verdict on the model: the gate could not judge


@dataclass(frozen=True)
class GateRun:
    """One ``approval run``: its verdict, exit code, wall time and the checks that failed (``name:category``)."""

    verdict: Verdict
    exit_code: int
    seconds: float
    failed: tuple[str, ...]
    details: Mapping[str, str]  # each failing check's detail (shortened), or the command's output when no record


@dataclass(frozen=True)
class Row:
    """One cell: an agent on a model (healthy, or one defect), its task, what it experienced and what the gate said."""

    agent: str
    defect: str  # "" for the healthy model
    task: str  # ONE_CALL or TWO
    completed: bool
    reason: str | None
    agent_seconds: float
    requests: int
    egress: tuple[str, ...]
    gate: Verdict
    gate_exit: int
    gate_seconds: float
    failed_checks: tuple[str, ...]
    gate_details: Mapping[str, str]

    @property
    def agrees(self) -> bool:
        return self.gate is not Verdict.INFRASTRUCTURE and (self.gate is Verdict.APPROVED) == self.completed

    @property
    def false_approval(self) -> bool:
        return self.gate is Verdict.APPROVED and not self.completed


def verdict_of(exit_code: int, record: Mapping[str, Any] | None) -> tuple[Verdict, tuple[str, ...]]:
    """The gate's verdict from its exit code and record: 0 approved; 1 not approved, unless every failing check is an
    infrastructure one; anything else (a usage error, no verdict) infrastructure. Also the failing checks."""
    checks = [c for c in (record or {}).get("checks") or [] if isinstance(c, dict)]
    failed = tuple(f"{c.get('name')}:{c.get('category')}" for c in checks if c.get("status") in FAILED)
    if exit_code == 0:
        return Verdict.APPROVED, failed
    if exit_code == 1 and failed and not all(f.endswith(":infrastructure") for f in failed):
        return Verdict.NOT_APPROVED, failed
    return Verdict.INFRASTRUCTURE, failed


def run_gate(base_url: str, api_key: str, model: str, profile: str, *, upstream: str | None = None,
             timeout_s: float = GATE_WALL_S) -> GateRun:
    """``approval run --profile <profile>`` with its default checks against ``base_url`` and ``model``: the command of
    this checkout (``python -m approval``), in a scratch directory, with nothing of this machine's gateway settings.
    ``upstream``: the name the answers may carry for ``model`` (a config of ``model_aliases`` alone): LiteLLM passes
    Responses answers through with the upstream's own model name."""
    env = {**run_env(), "GATEWAY_API_KEY": api_key, "PYTHONPATH": str(REPO_ROOT)}
    with tempfile.TemporaryDirectory(prefix="agreement-gate-") as tmp:
        record_path = Path(tmp) / "record.json"
        argv = [sys.executable, "-m", "approval", "run", "--base-url", base_url, "--model", model, "--profile", profile,
                "--timeout", str(GATE_TIMEOUT_S), "--record-out", str(record_path)]
        if upstream is not None:
            config = Path(tmp) / "gateway.yaml"
            config.write_text(json.dumps({"model_aliases": {model: [upstream]}}) + "\n", encoding="utf-8")
            argv += ["--config", str(config)]
        started = time.monotonic()
        try:
            done = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
            code, output = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired:
            code, output = -1, f"killed after {timeout_s:.0f} s"
        seconds = time.monotonic() - started
        record = None
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(record_path.read_text(encoding="utf-8"))
    verdict, failed = verdict_of(code, record)
    details = {str(c.get("name")): str(c.get("detail", ""))[:DETAIL_CHARS] for c in (record or {}).get("checks") or []
               if isinstance(c, dict) and c.get("status") in FAILED}
    if record is None:
        details = {"output": output[-DETAIL_CHARS:]}
    return GateRun(verdict=verdict, exit_code=code, seconds=seconds, failed=failed, details=details)


def cells(agents: Sequence[str], defects: Sequence[str]) -> list[tuple[str, str, str]]:
    """(agent, defect, task) for every cell: the healthy model on both tasks, each defect on the task it needs."""
    plan = [(HEALTHY, ONE_CALL), (HEALTHY, TWO), *((d, TWO if d in TWO_CALLS else ONE_CALL) for d in defects)]
    return [(agent, defect, task) for agent in agents for defect, task in plan]


def stub_model(defect: str) -> str:
    return f"stub-model+{defect}" if defect else "stub-model"


def run_cell(agent: str, defect: str, task: str, *, stub: StubUpstream, base_url: str, api_key: str,
             gate_runs: dict[tuple[str, str], GateRun], route: str = ROUTE) -> Row:
    """One cell: the agent, then the gate (one gate run per profile and model, shared by the healthy model's two tasks).
    ``route``: LiteLLM's provider to the stub, ``openai`` or ``anthropic`` (its translation to Anthropic Messages)."""
    model = f"{route}-{stub_model(defect)}"
    outcome = run_agent(AGENTS[agent], stub=stub, base_url=base_url, api_key=api_key, model=model,
                        task=PARALLEL_TASK if task == TWO else TASK)
    key = (PROFILES[agent], model)
    if key not in gate_runs:
        gate_runs[key] = run_gate(base_url, api_key, model, PROFILES[agent], upstream=stub_model(defect))
    gate = gate_runs[key]
    return Row(agent=agent, defect=defect, task=task, completed=outcome.completed,
               reason=None if outcome.reason is None else str(outcome.reason), agent_seconds=round(outcome.seconds, 1),
               requests=outcome.requests, egress=outcome.egress, gate=gate.verdict, gate_exit=gate.exit_code,
               gate_seconds=round(gate.seconds, 1), failed_checks=gate.failed, gate_details=gate.details)


def run_matrix(agents: Sequence[str], defects: Sequence[str], say: Callable[[str], None] = print) -> list[Row]:
    """Every cell, one after another (an agent's run and the gate's never share the stub at once)."""
    missing = [a for a in agents if not installed(AGENTS[a])]
    if missing:
        install(missing, say=say)
    rows: list[Row] = []
    gate_runs: dict[tuple[str, str], GateRun] = {}
    with stub_gateway([stub_model(d) for d in (HEALTHY, *defects)]) as (stub, base_url, key):
        for agent, defect, task in cells(agents, defects):
            row = run_cell(agent, defect, task, stub=stub, base_url=base_url, api_key=key, gate_runs=gate_runs)
            rows.append(row)
            say(line(row))
    return rows


# ---------------------------------------------------------------------------------------------------- pure views
def _label(defect: str, task: str) -> str:
    name = defect or "healthy"
    return f"{name} (two calls)" if task == TWO else name


def _outcome(completed: bool, reason: str | None) -> str:
    return "completed" if completed else f"broke ({reason})"


def line(row: Row) -> str:
    mark = "FALSE APPROVAL" if row.false_approval else ("agrees" if row.agrees else "disagrees")
    return (f"{row.agent:14} {_label(row.defect, row.task):34} {_outcome(row.completed, row.reason):28} {row.agent_seconds:5.1f} s"
            f"  gate: {row.gate:15} {row.gate_seconds:5.1f} s  {mark}"
            + (f"  [{', '.join(row.failed_checks)}]" if row.failed_checks and not row.agrees else ""))


def summary(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The agreement rate, the false approvals and each agent's wall time (agent, gate), from rows as in the JSON."""
    rows = list(rows)
    agreeing = [r for r in rows if r["agrees"]]
    times: dict[str, dict[str, float]] = {}
    for r in rows:
        spent = times.setdefault(r["agent"], {"agent_seconds": 0.0, "gate_seconds": 0.0})
        spent["agent_seconds"] = round(spent["agent_seconds"] + r["agent_seconds"], 1)
        spent["gate_seconds"] = round(spent["gate_seconds"] + r["gate_seconds"], 1)
    return {"cells": len(rows), "agreeing": len(agreeing), "agreement_rate": round(len(agreeing) / len(rows), 3) if rows else None,
            "false_approvals": [f"{r['agent']} / {_label(r['defect'], r['task'])}" for r in rows if r["false_approval"]],
            "disagreements": [f"{r['agent']} / {_label(r['defect'], r['task'])}" for r in rows if not r["agrees"]],
            "wall_time": times}


def _row_json(row: Row) -> dict[str, Any]:
    data = asdict(row)
    data["gate"] = str(row.gate)
    data["egress"] = list(row.egress)
    data["failed_checks"] = list(row.failed_checks)
    data["gate_details"] = dict(row.gate_details)
    data["agrees"] = row.agrees
    data["false_approval"] = row.false_approval
    return data


def _pin(pattern: str, path: Path) -> str:
    match = re.search(pattern, path.read_text(encoding="utf-8"), re.MULTILINE)
    return match.group(1) if match else "unknown"


def to_json(rows: Sequence[Row], agents: Sequence[str], date: str, notes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What ``bench/agents-matrix.json`` holds: the date, the versions, the rows, the summary, the notes."""
    from approval import __version__

    as_json = [_row_json(r) for r in rows]
    litellm = _pin(r"^litellm\[proxy\]==(\S+)", REPO_ROOT / "requirements" / "gateway.txt")
    return {"date": date, "route": f"LiteLLM {litellm} ({ROUTE} provider) in front of harness/stub_upstream.py",
            "approval": __version__,
            "agents": {a: {"version": AGENTS[a].version, "profile": PROFILES[a]} for a in agents},
            "rows": as_json, "summary": summary(as_json), "notes": dict(notes or {})}


def _cell(row: Mapping[str, Any]) -> str:
    text = f"{_outcome(row['completed'], row['reason'])} / {row['gate']}"
    return f"**{text} (false approval)**" if row["false_approval"] else text if row["agrees"] else f"{text} (disagrees)"


def readme_table(data: Mapping[str, Any]) -> str:
    """The README's compatibility table (agent x defect: agent outcome / gate verdict) from the JSON alone."""
    agents = list(data["agents"])
    head = ["| model | " + " | ".join(f"{a} {data['agents'][a]['version']}" for a in agents) + " |",
            "|---|" + "---|" * len(agents)]
    by_cell = {(r["agent"], r["defect"], r["task"]): r for r in data["rows"]}
    order: list[tuple[str, str]] = []
    for r in data["rows"]:
        if (r["defect"], r["task"]) not in order:
            order.append((r["defect"], r["task"]))
    body = []
    for defect, task in order:
        found = [by_cell.get((a, defect, task)) for a in agents]
        body.append(f"| {_label(defect, task)} | " + " | ".join(_cell(r) if r else "" for r in found) + " |")
    s = data["summary"]
    foot = (f"Agreement {s['agreeing']}/{s['cells']} ({s['agreement_rate']:.0%}), false approvals: {len(s['false_approvals'])}; "
            f"measured {data['date']} with approval {data['approval']} through {data['route']}.")
    return "\n".join([*head, *body, "", foot])


def write_readme(table: str, readme: Path = README) -> None:
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(TABLE_START) + r"\n.*?" + re.escape(TABLE_END), re.DOTALL)
    if not pattern.search(text):
        raise AgentError(f"{readme.name} lacks the {TABLE_START} ... {TABLE_END} block")
    readme.write_text(pattern.sub(lambda _: f"{TABLE_START}\n{table}\n{TABLE_END}", text), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.agreement", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--agent", action="append", choices=list(PROFILES), help="default: every agent")
    parser.add_argument("--defect", action="append", choices=list(DEFECTS), help="default: every defect")
    parser.add_argument("--out", type=Path, help=f"the JSON written (default: {RESULTS.relative_to(REPO_ROOT)} for the whole "
                                                 "matrix, none for a part of it)")
    parser.add_argument("--readme", action="store_true", help="also write the README's table from the whole matrix")
    args = parser.parse_args(argv)
    agents = args.agent or list(PROFILES)
    whole = args.agent is None and args.defect is None
    out = args.out or (RESULTS if whole else None)
    started = time.monotonic()
    try:
        rows = run_matrix(agents, args.defect or list(DEFECTS))
    except AgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    previous: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError, TypeError):
        previous = json.loads(Path(out or RESULTS).read_text(encoding="utf-8"))
    data = to_json(rows, agents, datetime.datetime.now(datetime.UTC).date().isoformat(), previous.get("notes"))
    s = data["summary"]
    print(f"\nagreement {s['agreeing']}/{s['cells']} ({s['agreement_rate']:.0%}); false approvals: {len(s['false_approvals'])}"
          + "".join(f"\n  FALSE APPROVAL {c}" for c in s["false_approvals"])
          + "".join(f"\n  disagrees: {c}" for c in s["disagreements"] if c not in s["false_approvals"]))
    for agent, spent in s["wall_time"].items():
        print(f"{agent:14} agent {spent['agent_seconds']:6.1f} s   gate {spent['gate_seconds']:6.1f} s")
    print(f"in all {time.monotonic() - started:.0f} s")
    if out is not None and str(out) != os.devnull:
        out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}")
    if args.readme and whole:
        write_readme(readme_table(data))
        print(f"wrote the table of {README.name}")
    return 1 if s["false_approvals"] else 0


if __name__ == "__main__":
    sys.exit(main())
