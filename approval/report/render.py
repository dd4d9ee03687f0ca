"""Render a run as markdown (PR comment, job summary, --report-out) and as plain text (terminal).

Every string leaving this module has gone through `redact()`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from approval.common.console import one_line, visible
from approval.common.markdown import fence_lines, fenced, fmt_ms, html_text, md_cell, md_code
from approval.common.redact import redact
from approval.engine.results import CheckResult, RunCheck, Status
from approval.engine.suite import ModelOutcome, RunOutcome
from approval.settings.profile import DEFAULT_PROFILE, AgentProfile, with_file_sha

ICONS = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌", Status.ERROR: "⛔", Status.SKIP: "⏭️"}
VERDICT_WORD = {"pass": "approved", "fail": "not approved"}


def profile_words(profile: AgentProfile) -> tuple[str, str]:
    """The profile's name and its short sha256, as the comment and the terminal say which agent the verdict holds for."""
    named = with_file_sha(profile)
    return named.name, named.short_sha


def reproduce_command(run: RunOutcome, model: str | None = None) -> str:
    s = run.settings
    parts = ["approval", "run", "--base-url", s.base_url, "--model", model or ",".join(s.candidates), "--endpoint", s.endpoint]
    if s.baseline_model and model is None:
        parts += ["--baseline-model", s.baseline_model]
    if s.config_path:
        parts += ["--config", s.config_path]
    if s.prompt.source != "built-in":
        parts += ["--prompt-file", s.prompt.source]
    if s.profile.name != DEFAULT_PROFILE or s.config_path:  # the config may name another: the flag says which this run used
        parts += ["--profile", s.profile.name]
    if s.checks:
        parts += ["--checks", ",".join(s.checks)]
    if not s.config_path:  # with a config, it sets them; without, the flags this run had
        defaults = {"--max-latency-ms": (s.max_latency_ms, 30_000), "--samples": (s.latency_samples, 3), "--timeout": (s.total_timeout_s, 300),
                    "--concurrency": (s.concurrency, 8)}
        parts += [part for flag, (value, default) in defaults.items() if value != default for part in (flag, f"{value:g}")]
    # runs as written: the key from the environment, or a clear message from the shell when it is not set
    env = f'{s.auth.api_key_env}="${{{s.auth.api_key_env}:?set it to the gateway key}}"' if s.auth.scheme != "none" else ""
    return redact((env + " " if env else "") + " ".join(shlex.quote(p) for p in parts))


def _model_output(o: ModelOutcome) -> list[str]:
    if o.sample_output is None:
        return []
    text = visible(o.sample_output).split("\n")
    return ["", f"<details><summary>Model output of {html_text(o.model)} (first sample, opted in)</summary>", "", *fence_lines(text, "text"), "",
            "</details>"]


def _checks_table(checks: list[CheckResult]) -> list[str]:
    lines = ["| Check | Result | Category | Time | Evidence |", "|---|---|---|---:|---|"]
    for c in checks:
        category = c.category.value if c.category.value != "none" else ""
        lines.append(f"| {md_cell(c.name)} | {ICONS[c.status]} {c.status.value} | {category} | {fmt_ms(c.duration_ms)} | {md_cell(c.detail)} |")
    return lines


def why_not_approved(o: ModelOutcome, warnings_block: bool) -> list[str]:
    """What blocked the verdict beyond failing checks: warnings under `warnings_block`, or no evidence at all."""
    reasons = list(o.gaps)
    warned = [c.name for c in o.checks if c.status is Status.WARN]
    if warnings_block and warned and o.result == "fail":
        reasons.append(f"warnings block approval (warnings_block: true), and {', '.join(warned)} warned")
    return reasons


def _failures(o: ModelOutcome, warnings_block: bool) -> list[str]:
    lines = [f"- **{md_cell(c.name)}** ({c.category.value}): {md_cell(c.detail)}" for c in o.checks if c.status in (Status.FAIL, Status.ERROR)]
    return lines + [f"- {md_cell(reason)}" for reason in why_not_approved(o, warnings_block)]


def _latency(o: ModelOutcome) -> float | None:
    c = o.check("latency")
    value = c.metrics.get("p50_ms") if c else None
    return float(value) if isinstance(value, int | float) else None


def _baseline_section(run: RunOutcome) -> list[str]:
    base = run.baseline
    if base is None:
        return []
    lines = ["", f"### Compared with the baseline {md_code(base.model)}", ""]
    header = "| Check | " + " | ".join(md_code(o.model, cell=True) for o in run.candidates) + f" | {md_code(base.model, cell=True)} (baseline) |"
    lines += [header, "|---|" + "---|" * (len(run.candidates) + 1)]
    for name in run.settings.checks:
        row = []
        base_check = base.check(name)
        for o in run.candidates:
            c = o.check(name)
            mark = f"{ICONS[c.status]} {c.status.value}" if c else "—"
            if c and base_check and c.status != base_check.status:
                mark = f"**{mark}** (differs)"
            row.append(mark)
        row.append(f"{ICONS[base_check.status]} {base_check.status.value}" if base_check else "—")
        lines.append(f"| {md_cell(name)} | " + " | ".join(row) + " |")
    base_p50 = _latency(base)
    ratios = []
    for o in run.candidates:
        p50 = _latency(o)
        if p50 is not None and base_p50:
            ratios.append(f"{md_code(o.model)} p50 {fmt_ms(p50)} vs {fmt_ms(base_p50)} → ratio **{p50 / base_p50:.2f}×**")
    if ratios:
        lines += ["", "Latency, candidate / baseline: " + "; ".join(ratios) + "."]
    lines += ["", f"The baseline's result ({VERDICT_WORD[base.result]}) does not affect this verdict."]
    return lines


@dataclass(frozen=True)
class Promotion:
    """What `approval promote` would add to the registry for a passing candidate, and the record it would rest on."""

    lines: tuple[str, ...]
    record_path: str


def _approved_line(run: RunOutcome, promotions: Mapping[str, Promotion]) -> list[str]:
    """For each candidate that passed and is not listed yet: the exact registry lines `approval promote` would add."""
    s = run.settings
    new = [o.model for o in run.candidates if o.result == "pass" and o.model not in s.approved_models]
    if not new or not (s.approved_models or s.approved_models_file or "approved-list" in s.checks):
        return []
    registry = s.approved_models_file or s.config_path
    kind: Literal["markdown", "yaml"] = "markdown" if s.approved_models_file else "yaml"
    if s.approved_models_file:
        lines = ["", f"To record the approval, add to the approved-models block of {md_code(s.approved_models_file)}:", ""]
    else:
        lines = ["", "To record the approval, add to `approved_models` in the gateway config:", ""]
    body: list[str] = []
    for model in new:
        if model in promotions:
            body += promotions[model].lines
        else:
            body.append(f"- {model}" if kind == "markdown" else f"  - {model}")
    lines += fenced(body, kind)
    if registry and any(m in promotions for m in new):
        # a markdown registry is promoted with the gateway.yaml that names it, so that promote can check the record's gateway
        config = f" --config {shlex.quote(s.config_path)}" if s.approved_models_file and s.config_path else ""
        commands = [f"approval promote --record {shlex.quote(promotions[m].record_path)} --registry {shlex.quote(registry)}{config}"
                    for m in new if m in promotions]
        lines += ["", "or, with this run's record (its artifact), run:", "", *fenced(commands, "bash")]
    return lines


def _run_checks(run_checks: Sequence[RunCheck]) -> list[str]:
    lines: list[str] = []
    for check in run_checks:
        c = check.result
        lines += [f"### {ICONS[c.status]} {md_cell(c.name)}: {c.status.value}" + (f" ({c.category.value})" if c.blocking else ""), ""]
        lines += [*check.lines, ""]
    return lines


def render_markdown(run: RunOutcome, links: Mapping[str, str] | None = None, *, promotions: Mapping[str, Promotion] | None = None,
                    run_checks: Sequence[RunCheck] = ()) -> str:
    """The PR comment / job summary body (without the sticky marker). `promotions`: each candidate's evidence and
    record path, for the registry lines to add; `run_checks`: checks of the run as a whole (registry-guard)."""
    s = run.settings
    links = links or {}
    gate = [c.result.name for c in run_checks if c.result.blocking]
    icon = "✅" if run.result == "pass" and not gate else "❌"
    models = ", ".join(md_code(o.model) for o in run.candidates)
    name, short = profile_words(s.profile)
    lines = [f"## {icon} Model approval: {models} {VERDICT_WORD[run.result]} for agent profile {md_code(name)}"
             + (f" — {', '.join(gate)} failed" if gate else ""), ""]
    meta = [f"gateway {md_code(s.base_url)}", f"endpoint {md_code(s.endpoint)}", f"profile {md_code(name)} (sha256 {md_code(short)})",
            f"{len(s.checks)} checks", f"{run.elapsed_s:.1f} s"]
    if links.get("commit") and links.get("commit_url"):  # what was evaluated: after a push, or on an issue_comment run
        meta.append(f"commit [{md_code(links['commit'][:12])}]({links['commit_url']})")
    if links.get("run"):
        meta.append(f"[workflow run]({links['run']})")
    if links.get("artifact"):
        meta.append(f"[approval record]({links['artifact']})")
    lines += [" · ".join(meta), ""]
    for note in run.notes:
        lines.append(f"> {md_cell(note)}")
    lines += _run_checks(run_checks)
    if len(run.candidates) == 1:
        o = run.candidates[0]
        lines += _checks_table(o.checks)
        failures = _failures(o, s.warnings_block)
        if failures:
            lines += ["", "### Why it was not approved", "", *failures]
        lines += _model_output(o)
    else:
        lines += ["| Candidate | Result | p50 latency | Failed checks |", "|---|---|---:|---|"]
        for o in run.candidates:
            failed = ", ".join(c.name for c in o.checks if c.status in (Status.FAIL, Status.ERROR)) or "—"
            p50 = _latency(o)
            lines.append(f"| {md_code(o.model, cell=True)} | {'✅' if o.result == 'pass' else '❌'} {VERDICT_WORD[o.result]} | "
                         f"{fmt_ms(p50) if p50 is not None else '—'} | {md_cell(failed)} |")
        policy = "every candidate must pass" if s.pass_policy == "all" else "one passing candidate is enough"
        lines += ["", f"Policy: {policy}.", ""]
        for o in run.candidates:
            lines += ["<details>", f"<summary>{'✅' if o.result == 'pass' else '❌'} {html_text(o.model)} — {VERDICT_WORD[o.result]}</summary>", ""]
            lines += _checks_table(o.checks)
            failures = _failures(o, s.warnings_block)
            if failures:
                lines += ["", *failures]
            lines += _model_output(o)
            lines += ["", "</details>", ""]
    lines += _baseline_section(run)
    lines += _approved_line(run, promotions or {})
    lines += ["", "<details><summary>Reproduce locally</summary>", "", *fenced([reproduce_command(run)], "bash"), "", "</details>"]
    return redact("\n".join(lines).rstrip() + "\n")


TEXT_STATUS = {Status.PASS: "PASS ", Status.WARN: "WARN ", Status.FAIL: "FAIL ", Status.ERROR: "ERROR", Status.SKIP: "SKIP "}


def progress_line(model: str, check: CheckResult, several: bool) -> str:
    category = f" [{check.category.value}]" if check.category.value != "none" else ""
    who = f"{one_line(model)}: " if several else ""
    return redact(f"  {TEXT_STATUS[check.status]} {who}{one_line(check.name):<18} {fmt_ms(check.duration_ms):>8}{category}  {one_line(check.detail)}")


def render_text(run: RunOutcome, run_checks: Sequence[RunCheck] = ()) -> str:
    """The closing summary printed to the terminal."""
    lines = []
    for note in run.notes:
        lines.append(f"note: {one_line(note)}")
    for o in ([*run.candidates, run.baseline] if run.baseline else run.candidates):
        failed = [c for c in o.checks if c.status in (Status.FAIL, Status.ERROR)]
        warned = [c for c in o.checks if c.status is Status.WARN]
        role = " (baseline, not gating)" if o.role == "baseline" else ""
        lines.append(f"{one_line(o.model)}{role}: {VERDICT_WORD[o.result].upper()} — {len(o.checks) - len(failed) - len(warned)} passed, "
                     f"{len(warned)} warning(s), {len(failed)} failed")
        for c in failed:
            lines.append(f"    {one_line(c.name)} ({c.category.value}): {one_line(c.detail)}")
        for reason in why_not_approved(o, run.settings.warnings_block):
            lines.append(f"    not approved: {one_line(reason)}")
    for check in run_checks:
        c = check.result
        lines.append(f"{one_line(c.name)}: {c.status.value.upper()}" + (f" ({c.category.value})" if c.blocking else "") + f" — {one_line(c.detail)}")
    approved = run.result == "pass" and not any(c.result.blocking for c in run_checks)
    name, short = profile_words(run.settings.profile)
    lines.append(f"RESULT: {VERDICT_WORD['pass' if approved else 'fail'].upper()} for agent profile {one_line(name)} (sha256 {short}) "
                 f"in {run.elapsed_s:.1f} s")
    return redact("\n".join(lines))
