"""What every check gets (the evidence of one model's run) and small helpers to build results."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from approval.common.redact import excerpt
from approval.engine.agent_calls import AgentRun
from approval.engine.gateway import Exchange
from approval.engine.probes import Probe, turn_label
from approval.engine.results import Category, CheckResult, Status
from approval.settings.build import Settings
from approval.settings.selection import CheckFacts


@dataclass(frozen=True)
class CheckSpec(CheckFacts):
    """A check describes itself once, at the top of its module: what the settings need to know of it (CheckFacts: name,
    when it runs by default, the findings `required:` can make blocking, whether its evidence is the candidate's own
    answers), the calls it needs and reads, and one line for people. The catalogue, the CLI's and the action's check
    lists, the config schema's names and the README's table all come from these (engine/checks/__init__.py)."""

    summary: str = ""  # passes when …, in one line
    needs: tuple[str, ...] = ()  # probe labels it makes (engine/probes.py; SAMPLES: every latency sample)
    reads: tuple[str, ...] = ()  # probe labels it judges: what it needs and what other checks' calls give it
    control: bool = False  # judged against one well-formed call to the same path, made when no other check makes one
    about_candidate: bool = True  # False: about the gateway's own handling, so another model answering does not taint it
    # The calls only this check makes (a conversation, say), built by the check itself for one model; their labels go
    # in `reads` too. Calls other checks share are planned by engine/probes.py from `needs`.
    own_probes: Callable[[Settings, str], list[Probe]] | None = None


@dataclass(frozen=True)
class Evidence:
    settings: Settings
    model: str
    exchanges: Mapping[str, Exchange]  # probe label → its exchange; absent when it did not finish in time
    deadline_hit: bool = False
    elapsed_s: float = 0.0
    agent: AgentRun | None = None  # the agent-client check's SDK calls; None when not made or not finished in time

    def get(self, label: str) -> Exchange | None:
        return self.exchanges.get(label)

    def turns(self, label: str) -> list[Exchange]:
        """A conversation's turns that were made, in order (engine/probes.py: turn_label)."""
        found: list[Exchange] = []
        while (ex := self.exchanges.get(turn_label(label, len(found) + 1))) is not None:
            found.append(ex)
        return found

    def samples(self) -> list[Exchange]:
        found = []
        for i in range(1, self.settings.latency_samples + 1):
            ex = self.exchanges.get(f"sample-{i}")
            if ex is not None:
                found.append(ex)
        return found


def result(name: str, status: Status, category: Category, detail: str, *, duration_ms: float = 0.0,
           metrics: dict[str, Any] | None = None) -> CheckResult:
    return CheckResult(name, status, category if status not in (Status.PASS, Status.SKIP) else Category.NONE, duration_ms,
                       excerpt(detail, 300), metrics or {})


def not_finished(ev: Evidence, name: str, labels: list[str]) -> CheckResult:
    return result(name, Status.ERROR, Category.INFRASTRUCTURE,
                  f"could not be checked: {', '.join(labels)} did not finish before the run's deadline of {ev.settings.total_timeout_s:g} s")


def missing_labels(ev: Evidence, labels: list[str]) -> list[str]:
    return [label for label in labels if label not in ev.exchanges]


def duration_of(*exchanges: Exchange | None) -> float:
    return max((max(ex.total_ms, ex.elapsed_ms) for ex in exchanges if ex is not None), default=0.0)


STATUS_ORDER = {Status.PASS: 0, Status.SKIP: 0, Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 3}


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=lambda s: STATUS_ORDER[s], default=Status.PASS)
