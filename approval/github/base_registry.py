"""registry-guard in the action: the registry at the pull request's base commit, read through the contents API,
against the one in the checkout (the merge commit by default), judged by `approval.lifecycle.guard.registry_guard`.

Never raises: a registry that cannot be read at the base is an evidence gap (`error`, infrastructure), which fails the
gate like any check that could not gather its evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from approval.common.errors import ConfigError
from approval.common.userfile import YamlAmbiguous, load_yaml
from approval.engine.results import RunCheck
from approval.github import contents
from approval.github.context import GitHubContext
from approval.github.rest import explain_failure, make_client
from approval.lifecycle.guard import Verification, guard_unavailable, record_hashes, registry_guard, verdicts_of
from approval.settings.configfile import head_registry, load_config_file
from approval.settings.profile import with_file_sha
from approval.settings.registry import NoBlock, Registry, registry_of, registry_sources

if TYPE_CHECKING:
    from approval.engine.suite import RunOutcome
    from approval.settings.build import Settings

MODES = ("auto", "true", "false")


def base_sha(ctx: GitHubContext) -> str:
    sha = ((ctx.event.get("pull_request") or {}).get("base") or {}).get("sha")
    return sha if isinstance(sha, str) else ""


def guard_wanted(requested: str, ctx: GitHubContext, mode: str, settings: Settings) -> bool:
    """Whether to run the guard: `auto` when a registry is configured and this is a pull request event; `true`
    insists (a configuration error when it cannot run); `false` never."""
    value = requested.strip().lower()
    if value not in MODES:
        raise ConfigError(f"input `registry-guard` must be auto, true or false, got {requested!r}", "use `registry-guard: auto`")
    if value == "false":
        return False
    configured = bool(settings.approved_models or settings.approved_models_file or settings.model_in_use)
    applicable = mode == "pull-request" and bool(base_sha(ctx))
    if value == "true" and not configured:
        raise ConfigError("registry-guard is true but no registry is configured", "list approved_models (or approved_models_file) in the config")
    if value == "true" and not applicable:
        raise ConfigError("registry-guard is true but this run is not for a pull request (no base commit)",
                          "run it on `pull_request` events, or set `registry-guard: auto`")
    return configured and applicable


def repo_path(path: str, workspace: Path) -> str:
    """A path as the action resolves it (from the working directory) → its path in the repository."""
    full = (Path.cwd() / path).resolve()
    try:
        return full.relative_to(workspace.resolve()).as_posix()
    except ValueError:
        raise ValueError(f"{path} is outside the checkout") from None


def read_base_registry(client: Any, repository: str, sha: str, config_path: str | None, workspace: Path) -> Registry:
    """The registry at commit `sha`: the config file there (absent: none) and the approved-models file it names."""
    # PyYAML (~25 ms to import) only where a YAML file is read
    import yaml
    from github.GithubException import GithubException


    try:  # a missing file reads as 404 like a missing commit: make sure the commit is there first
        contents.api_get(client, f"/repos/{repository}/git/commits/{sha}")
    except GithubException as exc:
        if exc.status == 404:
            raise ValueError(f"commit {sha[:12]} is not in the repository (was the base branch force-pushed?)") from None
        raise
    doc: Any = {}
    if config_path:
        text = contents.read_text(client, repository, repo_path(config_path, workspace), sha)
        if text is not None:
            try:
                doc = load_yaml(text) or {}
            except YamlAmbiguous as exc:
                raise ValueError(f"{config_path} at the base commit: {exc}") from None
            except (yaml.YAMLError, ValueError, RecursionError):
                raise ValueError(f"{config_path} at the base commit is not valid YAML") from None
            if not isinstance(doc, dict):
                doc = {}
    block_path = doc.get("approved_models_file")
    block_text = None
    if isinstance(block_path, str) and block_path:
        block_text = contents.read_text(client, repository, repo_path(block_path, workspace), sha)
    try:
        return registry_of(doc, block_text, str(block_path or ""), config_path or "")
    except NoBlock:  # the file at the base has no marked block yet: it listed nothing
        return registry_of(doc, config_source=config_path or "")
    except ConfigError as exc:  # a base the grammar refuses cannot be compared: an evidence gap, named
        raise ValueError(exc.line()) from None


def evaluate(settings: Settings, run: RunOutcome, ctx: GitHubContext, token: str, workspace: Path,
             records: Sequence[tuple[Path, Mapping[str, Any]]] = ()) -> RunCheck:
    """The guard in the action; `records`: the record files this run wrote (evidence naming one must be of its model)."""
    sha = base_sha(ctx)
    label = f"the base commit {sha[:12]}"
    try:
        head = head_registry(settings.config_path, settings.approved_models_file)
        doc = None
        if settings.config_path:
            doc = load_config_file(settings.config_path)[0]
        files = ", ".join(registry_sources(doc, settings.config_path, settings.approved_models_file)) or "the registry"
    except ConfigError as exc:
        return guard_unavailable(f"the registry in the checkout cannot be read: {exc.line()}")
    if not token:
        return guard_unavailable("no GitHub token to read the registry at the base commit — set the `github-token` input")
    try:
        client = make_client(token, ctx.api_url)
        base = read_base_registry(client, ctx.repository, sha, settings.config_path, workspace)
    except ValueError as exc:
        return guard_unavailable(f"reading the registry at {label}: {exc}")
    except Exception as exc:  # noqa: BLE001 - reported as the evidence gap it is
        return guard_unavailable(explain_failure(exc, f"read the registry at {label}", "contents: read", ctx.api_url))
    named = with_file_sha(run.settings.profile)
    verdicts = verdicts_of([(o.model, o.result, o.checks) for o in run.candidates], named.name, named.sha256)
    verify = Verification(repository_url=f"{ctx.server_url}/{ctx.repository}" if ctx.repository else None,
                          records=record_hashes(records))
    return registry_guard(base, head, verdicts, registry_files=files, base_label=label, verify=verify)
