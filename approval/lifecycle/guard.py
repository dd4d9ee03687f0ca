"""registry-guard: what a pull request does to the approved list, judged against this run's verdicts.

A pure function of (the registry at the base commit, the registry at the head, this run's outcomes):

- every model the pull request adds must have been a candidate of this run and passed it, and carry the evidence
  of its approval (`approval promote` writes it); a model entering the list without evidence is a `config` failure;
- `model_in_use` may change only to a model approved at the base commit or in this run;
- models removed are listed (a revocation is a reviewed change too), and so are models whose evidence was refreshed;
- an approval holds for one agent profile: an entry whose profile changes (or an added entry naming a profile) needs a
  passing run of that model under that profile in this run — else it is the environment mismatch the approval was
  meant to catch, a `config` failure naming the model, the old and the new profile and the fix.

Evidence is checked for meaning, not shape (`evidence_problems`): a record_sha256 that is the hash of no record, an
approved_at in the future, a run URL that is not a run of this repository make an entry "without evidence". What
cannot be verified where the guard runs (no repository context on the command line) is said, never passed silently.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from approval.common.markdown import md_cell, md_code
from approval.engine.results import Category, CheckResult, RunCheck, Status
from approval.record.build import record_paths
from approval.settings.registry import Approval, Registry, parse_time

NAME = "registry-guard"


@dataclass(frozen=True)
class Verdict:
    """One candidate's outcome in this run, as the guard needs it."""

    result: str  # pass | fail
    category: Category = Category.NONE  # of its first blocking check
    profile: str = ""  # the agent profile this run used ("" when unknown)
    profile_sha256: str = ""

    def ran_under(self, approval: Approval) -> bool:
        """This run used the profile the entry names (by name, and by sha256 when both are known)."""
        if not approval.profile or approval.profile != self.profile:
            return False
        return not (approval.profile_sha256 and self.profile_sha256) or approval.profile_sha256 == self.profile_sha256


CLOCK_SKEW = timedelta(minutes=5)  # an approved_at this far ahead of the guard's clock is still believed
# the sha256 of documents that are no record: nothing, an empty object or list, null (with or without a line end)
_HASHES_OF_NOTHING = frozenset(hashlib.sha256(doc).hexdigest() for doc in
                               (b"", b"\n", b"{}", b"{}\n", b"[]", b"[]\n", b"null", b"null\n", b"\"\"", b" "))
_ANY_RUN_URL = re.compile(r"^https://[^/\s]+/[^/\s]+/[^/\s]+/actions/runs/\d+(?:/attempts/\d+)?$")


@dataclass(frozen=True)
class Verification:
    """What the guard can check evidence against: its clock, the repository's runs (`https://HOST/OWNER/REPO`, the
    server URL and repository of the GitHub context; None outside a repository context) and the sha256 of this run's
    records, each with its model."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    repository_url: str | None = None
    records: Mapping[str, str] = field(default_factory=dict)


def record_hashes(records: Sequence[tuple[Path, Mapping[str, Any]]]) -> dict[str, str]:
    """The sha256 of each record file this run wrote → its model (what `Verification.records` holds)."""
    hashes = {}
    for path, data in records:
        try:
            hashes[hashlib.sha256(path.read_bytes()).hexdigest()] = str(data.get("candidate_model_id"))
        except OSError:
            continue
    return hashes


def placeholder_sha256(sha: str) -> bool:
    """A sha256 that is no record's: the hash of an empty document, or a repeating pattern (all zeros, `abab…`) that
    hashing never gives in practice."""
    return sha in _HASHES_OF_NOTHING or any(sha[period:] == sha[:-period] for period in range(1, 17))


def evidence_problems(approval: Approval, model: str, verify: Verification) -> list[str]:
    """Why evidence that has the right shape is still no evidence (empty when it holds up as far as can be checked)."""
    problems = []
    if placeholder_sha256(approval.record_sha256):
        problems.append("record_sha256 is the hash of no record (an empty document or a placeholder)")
    elif verify.records.get(approval.record_sha256, model) != model:
        problems.append(f"record_sha256 is this run's record of {verify.records[approval.record_sha256]}, not of {model}")
    when = parse_time(approval.approved_at)
    if when is not None and when > verify.now + CLOCK_SKEW:
        problems.append(f"approved_at {approval.approved_at} lies in the future")
    if approval.run_url:
        if verify.repository_url is not None:
            runs = re.escape(verify.repository_url.rstrip("/")) + r"/actions/runs/\d+(?:/attempts/\d+)?"
            if not re.fullmatch(runs, approval.run_url):
                problems.append(f"run_url is not a run of this repository ({verify.repository_url}/actions/runs/N)")
        elif not _ANY_RUN_URL.match(approval.run_url):
            problems.append("run_url is not the https URL of a workflow run (https://HOST/OWNER/REPO/actions/runs/N)")
    return problems


def promote_command(model: str, candidates: list[str], registry_files: str) -> str:
    """The `approval promote` command that lists `model`, as it runs: the record this run writes for it under the
    default name (approval-record.json; approval-record.<model>.json beside it with several candidates) and the file
    the approved list is written to (the approved-models markdown file when there is one, else the gateway.yaml)."""

    models = candidates if model in candidates else [model]
    record = record_paths(Path("approval-record.json"), models)[models.index(model)]
    registry = registry_files.rsplit(", ", maxsplit=1)[-1] if registry_files != "the registry" else "AGENTS.md"
    return f"approval promote --record {shlex.quote(str(record))} --registry {shlex.quote(registry)}"


@dataclass(frozen=True)
class _Finding:
    category: Category
    text: str  # names the model, the problem and the fix


def registry_guard(base: Registry, head: Registry, outcomes: Mapping[str, Verdict], *, registry_files: str = "the registry",
                   base_label: str = "the base commit", verify: Verification | None = None) -> RunCheck:
    """The guard's result and its details for the report. `outcomes` holds this run's candidates; `verify` what the
    evidence can be checked against (default: the clock only, no repository context)."""
    verify = verify or Verification()
    added = [m for m in head.models if m not in base.models]
    removed = [m for m in base.models if m not in head.models]
    refreshed = [m for m in head.models if m in base.models and head.get(m) != base.get(m)]
    findings: list[_Finding] = []
    unproven: dict[str, str] = {}  # model → why its evidence is none
    for model in [*added, *refreshed]:
        entry = head.get(model)
        assert entry is not None
        if entry.approval is None:
            if model in added or entry.problem:
                unproven[model] = entry.problem
        elif problems := evidence_problems(entry.approval, model, verify):
            unproven[model] = "; ".join(problems)
    for model in refreshed:
        if model in unproven:
            findings.append(_Finding(Category.CONFIG, f"{model}'s evidence is replaced by no evidence ({unproven[model]}) — refresh it "
                                                      f"with `{promote_command(model, list(outcomes), registry_files)}` after it passes, not by hand"))
    for model in added:
        entry = head.get(model)
        assert entry is not None
        outcome = outcomes.get(model)
        if model in unproven:
            why = f" ({unproven[model]})" if unproven[model] else ""
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
    findings += _profile_findings(base, head, outcomes, added, refreshed, registry_files)
    in_use_before, in_use_after = base.model_in_use, head.model_in_use
    if in_use_after and in_use_after != in_use_before:
        approved_here = outcomes.get(in_use_after, Verdict("fail")).result == "pass"
        if in_use_after not in base.models and not approved_here:
            findings.append(_Finding(Category.CONFIG, f"model_in_use changes to {in_use_after}, approved neither at {base_label} nor in "
                                                      "this run — approve it first (a passing candidate of this run), or keep "
                                                      f"{in_use_before or 'the model in use'}"))

    linked = [m for m in [*added, *refreshed] if (e := head.get(m)) is not None and e.approval is not None and e.approval.run_url]
    unverified = ("not verified here (no repository context): that the run_url of " + ", ".join(linked) + " is a run of this repository"
                  if verify.repository_url is None and linked else "")
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
                             f"the approved list against {base_label}: " + ("; ".join(summary) if summary else "unchanged")
                             + (f"; {unverified}" if unverified else ""), metrics)

    lines = [f"The approved list in {md_cell(registry_files)} at {md_cell(base_label)} against this pull request:", ""]
    for model in added:
        state = outcomes.get(model)
        entry = head.get(model)
        proof = "with evidence" if model not in unproven else "**without evidence**"
        verdict = "approved in this run" if state and state.result == "pass" else ("**failed in this run**" if state else "**not a candidate of this run**")
        lines.append(f"- added {md_code(model)}: {verdict}, {proof}")
    lines += [f"- removed {md_code(m)}" for m in removed]
    lines += [f"- evidence refreshed for {md_code(m)}" + (" **without evidence**" if m in unproven else "") for m in refreshed]
    if in_use_after != in_use_before:
        lines.append(f"- model in use: {md_code(in_use_before or '(none)')} → {md_code(in_use_after or '(none)')}")
    if not (added or removed or refreshed or in_use_after != in_use_before):
        lines.append("- no change")
    if unverified:
        lines += ["", f"- {unverified}"]
    if findings:
        lines += ["", *(f"- ❌ **{f.category.value}**: {md_cell(f.text)}" for f in findings)]
    return RunCheck(result, tuple(lines))


def _profile_findings(base: Registry, head: Registry, outcomes: Mapping[str, Verdict], added: Sequence[str], refreshed: Sequence[str],
                      registry_files: str) -> list[_Finding]:
    """The environment mismatch: an entry whose agent profile changes, or that enters naming one, without a passing
    run of that model under that profile in this run."""
    findings = []
    for model in [*added, *refreshed]:
        new_entry, old_entry = head.get(model), base.get(model)
        new = new_entry.approval if new_entry is not None else None
        old = old_entry.approval if old_entry is not None else None
        if new is None:
            continue
        old_label = old.profile_label if old is not None else "no named profile"
        if old is not None and (old.profile, old.profile_sha256) == (new.profile, new.profile_sha256):
            continue
        if not new.profile:
            if old is not None and old.profile:
                command = promote_command(model, list(outcomes), registry_files)
                findings.append(_Finding(Category.CONFIG, f"{model}'s evidence drops its agent profile ({old_label}) — keep the profile "
                                                          f"its approval holds for, or refresh the entry with `{command}`"))
            continue
        outcome = outcomes.get(model)
        if outcome is not None and outcome.result == "pass" and outcome.ran_under(new):
            continue
        ran = (f"this run used {outcome.profile} and {'passed' if outcome.result == 'pass' else 'failed'}" if outcome is not None and outcome.profile
               else "it was not a candidate of this run" if outcome is None else "this run did not pass it")
        findings.append(_Finding(Category.CONFIG, f"{model}'s agent profile changes from {old_label} to {new.profile_label} without a passing "
                                                  f"run under {new.profile} ({ran}) — run it with `--profile {new.profile}` (agent.profile: "
                                                  f"{new.profile}) and promote that record with "
                                                  f"`{promote_command(model, list(outcomes), registry_files)}`, or keep {old_label}"))
    return findings


def verdicts_of(candidates: list[tuple[str, str, list[CheckResult]]], profile: str = "", profile_sha256: str = "") -> dict[str, Verdict]:
    """(model, result, checks) of this run's candidates, and the agent profile the run used → what the guard needs."""
    out = {}
    for model, result, checks in candidates:
        blocking = next((c.category for c in checks if c.blocking), Category.NONE)
        out[model] = Verdict(result, blocking, profile, profile_sha256)
    return out


def guard_unavailable(reason: str) -> RunCheck:
    """The guard could not read the registry it must compare: an evidence gap, never a pass."""
    result = CheckResult(NAME, Status.ERROR, Category.INFRASTRUCTURE, 0.0, f"could not be checked: {reason}")
    return RunCheck(result, (f"The approved list could not be compared: {md_cell(reason)}",))
