"""The scheduled re-approval of everything approved: one tracking-issue body per model.

The body is the model's own report, then where its last passing record is and what drifted since, and, for a model
that failed, the registry lines that revoke it; when it is the model in use, a replacement too: an approved model that
passed in this same run.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from approval.common.errors import ConfigError
from approval.common.markdown import fenced, md_code
from approval.common.userfile import read_user_file
from approval.engine.suite import ModelOutcome, RunOutcome
from approval.lifecycle.previous import Previous, drift_lines
from approval.lifecycle.promote import markdown_lines_for, yaml_lines_for
from approval.report.render import render_markdown
from approval.settings.build import Settings
from approval.settings.configfile import MAX_CONFIG_BYTES
from approval.settings.registry import Registry


def revocation_lines(settings: Settings, model: str) -> list[tuple[str, list[str]]]:
    """(file, its lines listing `model`) for each registry file that lists it."""

    found = []
    for path, kind in ((settings.config_path, "yaml"), (settings.approved_models_file, "markdown")):
        if not path:
            continue
        try:
            text, _ = read_user_file(path, "registry", 1024 * 1024, "", "")
            lines = yaml_lines_for(text, model, path) if kind == "yaml" else markdown_lines_for(text, model, path)
        except ConfigError:
            continue
        if lines:
            found.append((path, lines))
    return found


def in_use_line(settings: Settings) -> str | None:
    """The `model_in_use:` line of the config file, as written."""
    if not settings.config_path:
        return None

    try:
        text, _ = read_user_file(settings.config_path, "config file", MAX_CONFIG_BYTES, "", "")
    except ConfigError:
        return None
    return next((line for line in text.splitlines() if re.match(r"^model_in_use\s*:", line)), None)


def replacement_for(model: str, registry: Registry, run: RunOutcome) -> str | None:
    """The first approved model (registry order) other than `model` that passed in this run."""
    passed = {o.model for o in run.candidates if o.result == "pass"}
    return next((m for m in registry.models if m != model and m in passed), None)


def issue_body(run: RunOutcome, outcome: ModelOutcome, registry: Registry, links: Mapping[str, str], previous: Previous | None,
               record: dict[str, Any] | None) -> str:
    settings = run.settings
    lines = [render_markdown(dataclasses.replace(run, candidates=[outcome], baseline=None), links).rstrip()]
    found = previous.by_model.get(outcome.model) if previous else None
    entry = registry.get(outcome.model)
    lines += ["", "### Last approval", ""]
    if found is not None:
        kind = "passing record" if found.record.get("overall_result") == "pass" else "record (not a pass)"
        lines.append(f"- last {kind}: {found.link}, approved at {md_code(str(found.record.get('approved_at')))}")
    if entry is not None and entry.approval is not None:
        run_link = f" in [the approving run]({entry.approval.run_url})" if entry.approval.run_url else ""
        profile = (f", for agent profile {md_code(entry.approval.profile)} (sha256 {md_code(entry.approval.profile_sha256[:12])})"
                   if entry.approval.profile else "")
        lines.append(f"- promoted into the registry on {md_code(entry.approval.approved_at)} by {md_code(entry.approval.approved_by)}{run_link} "
                     f"(record sha256 {md_code(entry.approval.record_sha256[:16])}…){profile}")
    if found is None and (entry is None or entry.approval is None):
        lines.append("- no earlier record of this model was found (set `previous-record: auto`, or keep records with `record-store`)")
    if found is not None and record is not None:
        lines += ["", "### What changed since", "", *drift_lines(found.record, record)]
    if outcome.result == "pass":
        return "\n".join(lines) + "\n"
    revoke = revocation_lines(settings, outcome.model)
    if revoke:
        lines += ["", "### Proposed revocation", "",
                  f"If {md_code(outcome.model)} does not recover, a pull request removing it from the registry (it goes through this gate too):"]
        for path, removed in revoke:
            lines += ["", f"Remove from {md_code(path)}:", "", *fenced(removed)]
    if outcome.model == registry.model_in_use:
        replacement = replacement_for(outcome.model, registry, run)
        lines += ["", "### Proposed replacement", ""]
        current = in_use_line(settings)
        if replacement is None:
            lines.append(f"{md_code(outcome.model)} is the model in use, and no other approved model passed in this run: there is no "
                         "replacement to propose.")
        elif current is not None and settings.config_path:
            new = re.sub(r"^(model_in_use\s*:\s*)(\S+)", lambda m: m.group(1) + replacement, current)
            lines += [f"{md_code(outcome.model)} is the model in use. {md_code(replacement)} is approved and passed in this same run; "
                      f"in {md_code(settings.config_path)} replace", "", *fenced([current], "yaml"), "", "with", "", *fenced([new], "yaml")]
        else:
            lines.append(f"{md_code(outcome.model)} is the model in use. {md_code(replacement)} is approved and passed in this same run: "
                         "make it the model in use.")
    return "\n".join(lines) + "\n"
