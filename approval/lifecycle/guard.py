"""registry-guard: what a pull request does to the approved list, judged against this run's verdicts.

A pure function of (the registry at the base commit, the registry at the head, this run's outcomes):

- every model the pull request adds must have been a candidate of this run and passed it, and carry the evidence
  of its approval (`approval promote` writes it); a model entering the list without evidence is a `config` failure;
- `model_in_use` may change only to a model approved at the base commit or in this run;
- models removed are listed (a revocation is a reviewed change too), and so are models whose evidence was refreshed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from approval.engine.results import Category, CheckResult, RunCheck, Status
from approval.report.render import md_cell, md_code
from approval.settings.registry import Registry

NAME = "registry-guard"


@dataclass(frozen=True)
class Verdict:
    """One candidate's outcome in this run, as the guard needs it."""

    result: str  # pass | fail
    category: Category = Category.NONE  # of its first blocking check


def promote_command(model: str, candidates: list[str], registry_files: str) -> str:
    """The `approval promote` command that lists `model`, as it runs: the record this run writes for it under the
    default name (approval-record.json; approval-record.<model>.json beside it with several candidates) and the file
    the approved list is written to (the approved-models markdown file when there is one, else the gateway.yaml)."""
    import shlex
    from pathlib import Path

    from approval.record.build import record_paths

    models = candidates if model in candidates else [model]
    record = record_paths(Path("approval-record.json"), models)[models.index(model)]
    registry = registry_files.rsplit(", ", maxsplit=1)[-1] if registry_files != "the registry" else "AGENTS.md"
    return f"approval promote --record {shlex.quote(str(record))} --registry {shlex.quote(registry)}"


@dataclass(frozen=True)
class _Finding:
    category: Category
    text: str  # names the model, the problem and the fix


def registry_guard(base: Registry, head: Registry, outcomes: Mapping[str, Verdict], *, registry_files: str = "the registry",
                   base_label: str = "the base commit") -> RunCheck:
    """The guard's result and its details for the report. `outcomes` holds this run's candidates."""
    added = [m for m in head.models if m not in base.models]
    removed = [m for m in base.models if m not in head.models]
    refreshed = [m for m in head.models if m in base.models and head.get(m) != base.get(m)]
    findings: list[_Finding] = []
    for model in added:
        entry = head.get(model)
        assert entry is not None
        outcome = outcomes.get(model)
        if entry.approval is None:
            why = f" ({entry.problem})" if entry.problem else ""
            findings.append(_Finding(Category.CONFIG, f"{model} enters the approved list without evidence{why} — list it with "
                                                      f"`{promote_command(model, list(outcomes), registry_files)}` "
                                                      "after it passes, not by hand"))
        if outcome is None:
            findings.append(_Finding(Category.CONFIG, f"{model} is added but was not a candidate of this run — make it a candidate "
                                                      "(candidate_model, candidates or the candidate-model-id input) so the pull request "
                                                      "approves it before listing it"))
        elif outcome.result != "pass":
            findings.append(_Finding(outcome.category if outcome.category is not Category.NONE else Category.MODEL,
                                     f"{model} is added but failed in this run — fix the cause, or leave it out of the approved list"))
    in_use_before, in_use_after = base.model_in_use, head.model_in_use
    if in_use_after and in_use_after != in_use_before:
        approved_here = outcomes.get(in_use_after, Verdict("fail")).result == "pass"
        if in_use_after not in base.models and not approved_here:
            findings.append(_Finding(Category.CONFIG, f"model_in_use changes to {in_use_after}, approved neither at {base_label} nor in "
                                                      "this run — approve it first (a passing candidate of this run), or keep "
                                                      f"{in_use_before or 'the model in use'}"))

    summary = []
    if added:
        summary.append(f"added: {', '.join(added)}")
    if removed:
        summary.append(f"removed: {', '.join(removed)}")
    if refreshed:
        summary.append(f"evidence refreshed: {', '.join(refreshed)}")
    if in_use_after != in_use_before:
        summary.append(f"model_in_use: {in_use_before or '(none)'} → {in_use_after or '(none)'}")
    metrics = {"added": len(added), "removed": len(removed), "refreshed": len(refreshed)}
    if findings:
        category = Category.CONFIG if any(f.category is Category.CONFIG for f in findings) else findings[0].category
        result = CheckResult(NAME, Status.FAIL, category, 0.0, "; ".join(f.text for f in findings), metrics)
    else:
        result = CheckResult(NAME, Status.PASS, Category.NONE, 0.0,
                             f"the approved list against {base_label}: " + ("; ".join(summary) if summary else "unchanged"), metrics)

    lines = [f"The approved list in {md_cell(registry_files)} at {md_cell(base_label)} against this pull request:", ""]
    for model in added:
        state = outcomes.get(model)
        entry = head.get(model)
        proof = "with evidence" if entry is not None and entry.approval is not None else "**without evidence**"
        verdict = "approved in this run" if state and state.result == "pass" else ("**failed in this run**" if state else "**not a candidate of this run**")
        lines.append(f"- added {md_code(model)}: {verdict}, {proof}")
    lines += [f"- removed {md_code(m)}" for m in removed]
    lines += [f"- evidence refreshed for {md_code(m)}" for m in refreshed]
    if in_use_after != in_use_before:
        lines.append(f"- model in use: {md_code(in_use_before or '(none)')} → {md_code(in_use_after or '(none)')}")
    if not (added or removed or refreshed or in_use_after != in_use_before):
        lines.append("- no change")
    if findings:
        lines += ["", *(f"- ❌ **{f.category.value}**: {md_cell(f.text)}" for f in findings)]
    return RunCheck(result, tuple(lines))


def guard_unavailable(reason: str) -> RunCheck:
    """The guard could not read the registry it must compare: an evidence gap, never a pass."""
    result = CheckResult(NAME, Status.ERROR, Category.INFRASTRUCTURE, 0.0, f"could not be checked: {reason}")
    return RunCheck(result, (f"The approved list could not be compared: {md_cell(reason)}",))


def verdicts_of(candidates: list[tuple[str, str, list[CheckResult]]]) -> dict[str, Verdict]:
    """(model, result, checks) of this run's candidates → what the guard needs."""
    out = {}
    for model, result, checks in candidates:
        blocking = next((c.category for c in checks if c.blocking), Category.NONE)
        out[model] = Verdict(result, blocking)
    return out
