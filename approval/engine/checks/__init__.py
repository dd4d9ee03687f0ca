"""The named checks. Each module declares itself once (`SPEC`, engine/checks/base.py) and has a pure
`evaluate(Evidence) -> CheckResult`. Everything else that lists checks is built from here: the catalogue the settings
check a selection against, the calls a run makes, and what each check reads.

Adding a check: one module beside these with its SPEC and evaluate, its place in CHECKS below, and its tests
(docs/development.md says how)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from approval.engine.checks import (
    agent_client,
    agent_envelope,
    approved_list,
    context_window,
    error_path,
    happy_path,
    latency,
    model_echo,
    output_quality,
    reachability,
    streamed_tool_calls,
    streaming,
    structured_output,
    tool_calling,
    tool_round_trip,
)
from approval.engine.checks.base import CheckSpec, Evidence
from approval.engine.probes import REACH, SAMPLE_1, SAMPLES, Probe, expand, plan
from approval.engine.results import CheckResult
from approval.settings.build import Settings
from approval.settings.selection import Catalogue, Deprecated


@dataclass(frozen=True)
class Check:
    spec: CheckSpec
    evaluate: Callable[[Evidence], CheckResult]


# In the order a run reports them: the standard set first, then the opt-in checks.
CHECKS: tuple[Check, ...] = tuple(
    Check(module.SPEC, module.evaluate)
    for module in (reachability, happy_path, model_echo, error_path, latency, agent_client, output_quality, streaming, tool_calling,
                   tool_round_trip, streamed_tool_calls, structured_output, agent_envelope, context_window, approved_list)
)
BY_NAME: dict[str, Check] = {check.spec.name: check for check in CHECKS}
CATALOGUE = Catalogue(
    tuple(check.spec for check in CHECKS),
    deprecated=(
        Deprecated("bounded-retry", "agent-client",
                   "it audited this tool's own HTTP client, which is no evidence about the gateway or the agent; 'agent-client' measures "
                   "the retries and time the agent's own client (the openai SDK) needs, and the run's notes say when this tool had to "
                   "retry or reached the deadline"),
    ),
)


def needed_labels(names: Iterable[str]) -> set[str]:
    """The probe labels the checks `names` need. A check judged against a well-formed call of the same path gets one
    (the reachability call) when no other selected check makes one."""
    specs = [BY_NAME[name].spec for name in names]
    labels = {label for spec in specs for label in spec.needs}
    if any(spec.control for spec in specs) and not labels & {REACH, SAMPLE_1, SAMPLES}:
        labels.add(REACH)
    return labels


def plan_for(settings: Settings, model: str, names: Iterable[str]) -> list[Probe]:
    """Every call a run makes for one model: the shared ones the checks need, then each check's own."""
    names = list(names)
    own = [probe for name in names if (build := BY_NAME[name].spec.own_probes) is not None for probe in build(settings, model)]
    return [*plan(settings, model, needed_labels(names)), *own]


def labels_read(name: str, planned: Iterable[str]) -> set[str]:
    """The planned probe labels a check reads."""
    return expand(BY_NAME[name].spec.reads, planned)


def about_candidate(name: str) -> bool:
    return BY_NAME[name].spec.about_candidate
