"""The GitHub Action front end: action inputs → Settings → the shared pipeline → GitHub publishers.

`entrypoint.py` calls `main()`. The verdict and the record never depend on a GitHub call succeeding: every
publisher reports "skipped" with a reason instead of raising, and that reason reaches the log and the job summary.

Lazy imports: each publisher is imported where it is used, so a run that does not comment, upload or open an issue
never loads its module (or PyGithub), and the calls to the gateway start sooner.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from approval import __version__
from approval.common import exitcodes
from approval.common.console import say
from approval.common.errors import ConfigError
from approval.common.redact import register_secret
from approval.engine.results import RunCheck, Status
from approval.github import commands
from approval.github.context import GitHubContext, resolve_mode
from approval.github.inputs import get_bool_input, get_input
from approval.lifecycle.previous import Previous, drift_section, from_file
from approval.settings.flags import Flags
from approval.settings.network import CA_BUNDLE_VARIABLES, PROXY_VARIABLES
from approval.settings.profile import DEFAULT_PROFILE

if TYPE_CHECKING:
    from approval.settings.build import Settings

RECORD_NAME = "approval-record.json"
REPORT_NAME = "approval-report.md"
FORK_HELP = (
    "pull requests from forks get no secrets and a read-only token: run the approval on `push` / `schedule`, "
    "or after a maintainer's review; never check out fork code under `pull_request_target` with secrets"
)


@dataclass
class Publication:
    """What the GitHub side did, for the summary and the outputs."""

    comment_url: str = ""
    artifact_id: str = ""
    artifact_url: str = ""
    issue_url: str = ""
    messages: list[str] = field(default_factory=list)


def _flags(environ: Mapping[str, str], *, reapprove: bool) -> Flags:
    """The action's inputs as the settings builder takes them; a scheduled run re-approves everything approved."""
    return Flags(
        base_url=get_input(environ, "gateway-base-url"),
        models=(get_input(environ, "candidate-model-id"),),
        endpoint=get_input(environ, "endpoint-family"),
        profile=get_input(environ, "agent-profile"),
        prompt_file=get_input(environ, "prompt-file"),
        config=get_input(environ, "config"),
        max_latency_ms=get_input(environ, "max-latency-ms"),
        samples=get_input(environ, "latency-samples"),
        timeout=get_input(environ, "timeout-seconds"),
        checks=get_input(environ, "checks"),
        baseline_model=get_input(environ, "baseline-model"),
        concurrency=get_input(environ, "concurrency"),
        approved_by=get_input(environ, "approved-by"),
        include_model_output=get_bool_input(environ, "include-model-output", False),
        reapprove=reapprove,
    )


def _settings_environment(environ: Mapping[str, str], api_key: str) -> dict[str, str]:
    """The environment Settings may read: the key from the input (or GATEWAY_API_KEY), the fall-back variables, and
    the proxy and CA-bundle variables a step's `env:` sets (approval.settings.network)."""
    wanted = {"GATEWAY_BASE_URL", "CANDIDATE_MODEL_ID", "GATEWAY_API_KEY", "GITHUB_ACTOR", "GITHUB_RUN_ID", "GITHUB_JOB", *CA_BUNDLE_VARIABLES}
    env = {k: v for k, v in environ.items() if k in wanted or k.upper() in PROXY_VARIABLES}
    if api_key:
        env["GATEWAY_API_KEY"] = api_key
    return env


def _ci(ctx: GitHubContext) -> dict[str, Any] | None:
    if not ctx.repository:
        return None
    return {"repository": ctx.repository, "commit": ctx.sha, "ref": ctx.ref, "event": ctx.event_name, "workflow": ctx.workflow,
            "run_url": ctx.run_url, "pull_request": ctx.pr_number}


def _fail_config(exc: ConfigError, environ: Mapping[str, str], file: str | None) -> int:
    line = exc.line()
    commands.error(line, file=file, title="Model approval: configuration error")
    commands.append_summary(environ.get("GITHUB_STEP_SUMMARY", ""),
                            f"## ⛔ Model approval: configuration error\n\n{line}\n\nNothing was sent to the gateway.\n")
    commands.set_outputs(environ.get("GITHUB_OUTPUT", ""), {"result": "error"})
    return exitcodes.CONFIG_ERROR


def main(environ: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    os.umask(0o022)  # files written into the workspace stay readable by later steps
    api_key = get_input(env, "api-key")
    token = get_input(env, "github-token")
    for secret in (api_key, token):
        if secret:
            commands.add_mask(secret)
            register_secret(secret)
    ctx = GitHubContext.from_env(env)
    summary_path = env.get("GITHUB_STEP_SUMMARY", "")
    output_path = env.get("GITHUB_OUTPUT", "")
    config_file: str | None = None
    try:
        workdir = get_input(env, "working-directory", ".")
        if not Path(workdir).is_dir():
            raise ConfigError(f"working-directory {workdir!r} is not a directory", "give a directory inside the checkout")
        os.chdir(workdir)
        mode = resolve_mode(get_input(env, "mode", "auto"), ctx)
        fail_on_reject = get_bool_input(env, "fail-on-reject", True)
        fail_on_missing = get_bool_input(env, "fail-on-missing-secrets", True)
        want_comment = get_bool_input(env, "comment", True)
        want_artifact = get_bool_input(env, "upload-artifact", True)
        retention_text = get_input(env, "artifact-retention-days", "90")
        if not retention_text.isdigit() or not 1 <= int(retention_text) <= 400:
            raise ConfigError(f"artifact-retention-days {retention_text!r} is not a number of days (1-400)", "e.g. artifact-retention-days: 90")
        artifact_name = get_input(env, "artifact-name", "model-approval-record")
        from approval.github.artifact import validate_artifact_name

        validate_artifact_name(artifact_name)
        flags = _flags(env, reapprove=mode == "schedule")
        config_file = flags.config or None
        _refuse_fork_code_with_secrets(ctx, config_file)
        if not api_key and not env.get("GATEWAY_API_KEY") and not fail_on_missing:
            why = FORK_HELP if ctx.is_fork_pr else "set the `api-key` input from a secret"
            commands.notice(f"approval skipped: no API key ({why})", title="Model approval skipped")
            commands.append_summary(summary_path, f"## ⏭️ Model approval skipped\n\nNo API key was given: {why}.\n")
            commands.set_outputs(output_path, {"result": "skipped"})
            return exitcodes.APPROVED
        from approval.engine.checks import CATALOGUE
        from approval.settings.build import build_settings

        try:
            settings = build_settings(flags, _settings_environment(env, api_key), CATALOGUE)
        except ConfigError as exc:
            if not api_key and "API key is missing" in exc.problem:
                hint = FORK_HELP if ctx.is_fork_pr else "pass `api-key: ${{ secrets.GATEWAY_API_KEY }}`"
                raise ConfigError("the api-key input is empty", hint) from None
            raise
        from approval.github.base_registry import guard_wanted

        guard_on = guard_wanted(get_input(env, "registry-guard", "auto"), ctx, mode, settings)
        record_store = get_input(env, "record-store")
        if record_store:
            from approval.github.record_store import validate_branch

            validate_branch(record_store, ctx)
    except ConfigError as exc:
        return _fail_config(exc, env, config_file)

    from approval.common.markdown import md_cell
    from approval.frontends.pipeline import execute, write_text_file
    from approval.report.render import progress_line, render_markdown

    for notice in settings.notices:
        commands.warning(notice, title="Model approval: configuration")
    several = len(settings.candidates) > 1 or settings.baseline_model is not None
    say(f"approval {__version__}: {', '.join(settings.candidates)} on {settings.base_url} [{settings.endpoint}] ({mode} mode)")
    commands.group("Approval checks")
    links = {"run": ctx.run_url, **_commit_links(ctx)}
    result = execute(settings, Path(RECORD_NAME), Path(REPORT_NAME), on_check=lambda m, c: say(progress_line(m, c, several)),
                     ci=_ci(ctx), links=links)
    commands.endgroup()

    run_checks: list[RunCheck] = []
    if guard_on and result.run is not None:
        from approval.github.base_registry import evaluate

        run_checks.append(evaluate(settings, result.run, ctx, token, Path(env.get("GITHUB_WORKSPACE") or Path.cwd()), result.records))
        say(progress_line("", run_checks[-1].result, False))
    gated = any(c.result.blocking for c in run_checks)

    publication = Publication(messages=list(result.output_errors))
    previous = _previous(get_input(env, "previous-record"), result, settings, token, ctx, artifact_name, record_store)
    for note in previous.notes if previous is not None else []:  # a record not found is a notice, never a failed gate
        commands.notice(note, title="Model approval: previous records")
    if want_artifact and result.records:
        _upload(result.records, artifact_name, int(retention_text), ctx, env, publication)
    if record_store and result.records:
        from approval.github.record_store import store_records

        publication.messages += store_records(token, ctx, record_store, result.records)
    markdown = result.markdown
    if result.run is not None:
        links = {**links, "artifact": publication.artifact_url}
        markdown = render_markdown(result.run, links, promotions=result.promotions, run_checks=run_checks)
        markdown += drift_section(previous, result.records)
        try:
            write_text_file(Path(REPORT_NAME), markdown)
        except OSError as exc:
            publication.messages.append(f"the report could not be written to {REPORT_NAME} ({exc.strerror or type(exc).__name__}); "
                                        f"the verdict stands")
    if mode == "pull-request" and want_comment:
        _comment(settings, markdown, token, ctx, publication)
    elif mode == "schedule" and result.run is not None:
        _track(result, links, previous, token, ctx, publication)
    _annotate(result, settings, env.get("GITHUB_WORKSPACE", ""))
    _hand_over(result.records, Path(REPORT_NAME), env.get("GITHUB_WORKSPACE", ""))
    notes = "".join(f"\n> {md_cell(m)}" for m in publication.messages)
    commands.append_summary(summary_path, markdown + ("\n**Publishing:**\n" + notes + "\n" if notes else ""))
    for message in publication.messages:
        say(message)
    _set_outputs(output_path, result, publication, env.get("GITHUB_WORKSPACE", ""), gated)
    if result.internal_error:
        commands.error(f"no verdict: {result.internal_error}", title="Model approval: no verdict")
        return exitcodes.NO_VERDICT
    registry_file = settings.approved_models_file or settings.config_path
    for check in run_checks:
        if check.result.blocking:
            where = _relative(Path(registry_file).resolve(), Path(env.get("GITHUB_WORKSPACE") or Path.cwd())) if registry_file else None
            commands.error(f"{check.result.name} ({check.result.category.value}): {check.result.detail}", file=where,
                           title=f"Model approval: {check.result.name} {check.result.status.value}")
    approved = result.result == "pass" and not gated
    say(f"RESULT: {'APPROVED' if approved else 'NOT APPROVED'}")
    if not approved and not fail_on_reject:
        commands.warning("not approved, but fail-on-reject is false: the step passes", title="Model approval")
        return exitcodes.APPROVED
    return exitcodes.APPROVED if approved else exitcodes.NOT_APPROVED


def _refuse_fork_code_with_secrets(ctx: GitHubContext, config_file: str | None) -> None:
    """Under `pull_request_target` the job has the secrets; with anything but the base commit checked out (the fork's
    head, the merge ref), the fork's gateway.yaml would decide where the API key is sent. Refused before anything is
    read or sent."""
    if ctx.event_name != "pull_request_target" or not ctx.is_fork_pr or not config_file:
        return
    from approval.github.context import checked_out_commit

    checked_out = checked_out_commit(Path(config_file))
    if checked_out is not None and ctx.sha and checked_out != ctx.sha:
        raise ConfigError(
            f"pull_request_target from a fork with commit {checked_out[:12]} checked out, not the base commit {ctx.sha[:12]}: "
            "the fork's config file would choose where the API key goes",
            "check out the base commit (actions/checkout's default under pull_request_target), or use `pull_request`",
        )


def _previous(value: str, result: Any, settings: Settings, token: str, ctx: GitHubContext, artifact_name: str, store: str) -> Previous | None:
    """The records to compare with: `auto` (this workflow's last successful runs, then the record store), or a path."""
    if not value or result.run is None:
        return None
    if value.lower() == "auto":
        from approval.github.last_runs import fetch_previous

        return fetch_previous(token, ctx, artifact_name, list(settings.candidates), settings.base_url, settings.endpoint, store)
    return from_file(value, result.records)


def _commit_links(ctx: GitHubContext) -> dict[str, str]:
    if not (ctx.sha and ctx.repository):
        return {}
    return {"commit": ctx.sha, "commit_url": f"{ctx.server_url}/{ctx.repository}/commit/{ctx.sha}"}


def _upload(records: list[tuple[Path, dict[str, Any]]], name: str, retention: int, ctx: GitHubContext, env: Mapping[str, str],
            publication: Publication) -> None:
    from approval.common.names import unique_names
    from approval.github.artifact import upload_record_artifact

    suffixes = unique_names([str(record["candidate_model_id"]) for _, record in records])
    for (path, _record), suffix in zip(records, suffixes, strict=True):
        artifact = name if len(records) == 1 else f"{name}-{suffix}"
        outcome = upload_record_artifact(path, artifact, retention, ctx, env)
        if outcome.action == "uploaded":
            publication.artifact_id = publication.artifact_id or outcome.artifact_id
            publication.artifact_url = publication.artifact_url or outcome.url
        publication.messages.append(outcome.message)


def comment_key(settings: Any) -> str:
    """One comment per (workflow, models, endpoint, gateway, agent profile): matrix jobs over several gateways or
    profiles keep theirs apart. The default profile adds nothing, so a comment written before profiles is found again."""
    key = f"{','.join(settings.candidates)}@{settings.endpoint}@{settings.base_url}"
    return key if settings.profile.name == DEFAULT_PROFILE else f"{key}@profile={settings.profile.name}"


def _comment(settings: Any, markdown: str, token: str, ctx: GitHubContext, publication: Publication) -> None:
    from approval.github.comment import comment_marker, upsert_sticky_comment

    marker = comment_marker(ctx.workflow or "workflow", comment_key(settings))
    outcome = upsert_sticky_comment(token, ctx.api_url, ctx.repository, ctx.pr_number, marker, markdown)
    publication.comment_url = outcome.url
    message = outcome.message
    if outcome.action == "skipped" and ctx.is_fork_pr:
        message += f" ({FORK_HELP})"
    publication.messages.append(message)


def _track(result: Any, links: Mapping[str, str], previous: Previous | None, token: str, ctx: GitHubContext, publication: Publication) -> None:
    """One tracking issue per model (and endpoint and gateway): opened or updated while it fails, closed when it passes."""
    from approval.github.tracking_issue import sync_tracking_issue
    from approval.lifecycle.reapproval import issue_body
    from approval.settings.configfile import head_registry
    from approval.settings.registry import Registry

    run = result.run
    try:
        registry = head_registry(run.settings.config_path, run.settings.approved_models_file)
    except ConfigError:
        registry = Registry()
    records = {str(rec.get("candidate_model_id")): rec for _, rec in result.records}
    failing_urls: list[str] = []
    other_urls: list[str] = []
    for outcome in run.candidates:
        subject = f"{outcome.model}@{run.settings.endpoint}@{run.settings.base_url}"
        title = f"Model approval failing: {outcome.model} ({run.settings.endpoint})"
        body = issue_body(run, outcome, registry, links, previous, records.get(outcome.model))
        issue = sync_tracking_issue(token, ctx.api_url, ctx.repository, subject, title, outcome.result != "pass", body)
        if issue.url:
            (failing_urls if outcome.result != "pass" else other_urls).append(issue.url)
        publication.messages.append(issue.message)
    publication.issue_url = next(iter(failing_urls + other_urls), "")  # the output names the first failing model's issue


def _annotate(result: Any, settings: Any, workspace_env: str) -> None:
    if result.run is None:
        return
    base = Path(workspace_env) if workspace_env else Path.cwd()
    for outcome in result.run.candidates:
        for check in outcome.checks:
            if check.status not in (Status.FAIL, Status.ERROR):
                continue
            file = settings.config_path
            if check.name == "output-quality" and settings.prompt.expect is not None:
                file = settings.prompt.source
            if file:  # GitHub places annotations by a path from the repository root, not from working-directory
                file = _relative(Path(file).resolve(), base)
            commands.error(f"{outcome.model}: {check.name} ({check.category.value}): {check.detail}", file=file,
                           title=f"Model approval: {check.name} {check.status.value}")


def _hand_over(records: list[tuple[Path, dict[str, Any]]], report: Path, workspace_env: str) -> None:
    """Give the files written into the workspace to the workspace's owner: the container runs as root, the steps
    after it as the runner's user, who must be able to rewrite or remove them (self-hosted runners keep workspaces)."""
    if not workspace_env or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    try:
        owner = Path(workspace_env).stat()
    except OSError:
        return
    for path in [p for p, _ in records] + [report]:
        with contextlib.suppress(OSError):
            os.chown(path, owner.st_uid, owner.st_gid)


def _set_outputs(path: str, result: Any, publication: Publication, workspace_env: str, gated: bool = False) -> None:
    latency = ""
    if result.run is not None and result.run.candidates:
        lat = result.run.candidates[0].check("latency")
        value = lat.metrics.get("p50_ms") if lat else None
        latency = f"{value:.0f}" if isinstance(value, int | float) else ""
    workspace = Path.cwd()
    base = Path(workspace_env) if workspace_env else workspace
    paths = [_relative(p.resolve(), base) for p, _ in result.records]
    commands.set_outputs(path, {
        "result": "fail" if gated else result.result,
        "record-path": "\n".join(paths),
        "report-path": _relative((workspace / REPORT_NAME).resolve(), base),
        "latency-ms": latency,
        "comment-url": publication.comment_url,
        "artifact-id": publication.artifact_id,
        "artifact-url": publication.artifact_url,
        "issue-url": publication.issue_url,
    })


def _relative(path: Path, base: Path) -> str:
    """Paths relative to the workspace: the container's absolute paths mean nothing to later steps."""
    try:
        return str(path.relative_to(base.resolve()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
