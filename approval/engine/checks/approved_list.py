"""approved-list: compare against the config's approved models; warn when the model in use is not approved."""

from __future__ import annotations

from approval.engine.checks.base import CheckSpec, Evidence, result
from approval.engine.results import Category, CheckResult, Status

NAME = "approved-list"
SPEC = CheckSpec(
    NAME,
    default="with-registry",
    findings=("model-in-use",),
    own_answers=False,
    summary="warns when `model_in_use` is not approved; makes no call",
    about_candidate=False,
)


def evaluate(ev: Evidence) -> CheckResult:
    approved = ev.settings.approved_models
    in_use = ev.settings.model_in_use
    listed = ev.model in approved
    metrics = {"candidate_already_approved": listed, "approved_models": len(approved)}
    if in_use and in_use not in approved:
        required = "approved-list.model-in-use" in ev.settings.required
        return result(NAME, Status.FAIL if required else Status.WARN, Category.CONFIG,
                      f"the model in use ({in_use!r}) is not in approved_models", metrics=metrics)
    if listed:
        return result(NAME, Status.PASS, Category.NONE, f"{ev.model!r} is already in approved_models", metrics=metrics)
    return result(NAME, Status.PASS, Category.NONE,
                  f"{ev.model!r} is not yet in approved_models; after approval add: - {ev.model}", metrics=metrics)
