"""Runs of the action's image as the GitHub runner starts a container action, for the end-to-end tests.

`Runner.run()` prepares a job the way the runner does (harness/action_container.py: RunnerJob): a workspace
that belongs to a non-root user with the example config, the event payload, the file-command files, a fresh runtime
token, the runner's environment with every action.yml input as `INPUT_<NAME>`; then `docker run`s the image with
`--network host`, so that it reaches LiteLLM and the GitHub fake (harness/fake_github.py) on 127.0.0.1. Every
run is checked for leaked secrets (`assert_no_leak`) and for files left to root in the workspace, whatever else its
test looks at.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import shutil
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.action_container import ActionRun, RunnerJob, action_input_env, parse_output_file
from harness.commands import MASTER_KEY
from harness.fake_github import TWIRP_PREFIX, FakeGitHub
from harness.peer_gateway import RunningLiteLLM

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
PR_EVENT = json.loads((DATA / "pull_request_event.json").read_text(encoding="utf-8"))
REPOSITORY: str = PR_EVENT["repository"]["full_name"]
PR_NUMBER: int = PR_EVENT["number"]
ACTOR = "octocat"
WORKFLOW = "Model approval"
SERVER_URL = "https://github.com"
MARKER = "<!-- model-approval-gate:"
TRACKING_LABEL = "model-approval"
RUNNER_USER = (1001, 1001)  # the runner's user on GitHub-hosted runners: the checkout is theirs, not root's
TEST_CA = "/run/approval-test/ca.pem"  # the fake GitHub's throw-away CA, mounted read-only (not a runner mount)


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def runtime_token(run_backend_id: str, job_backend_id: str) -> str:
    """A JWT shaped like ACTIONS_RUNTIME_TOKEN (unsigned: the action only reads the `scp` claim)."""
    claims = {"scp": f"Actions.ExampleScope Actions.Results:{run_backend_id}:{job_backend_id}", "iss": "vstoken.actions.githubusercontent.com",
              "exp": int(time.time()) + 3600}
    return f"{_b64url({'typ': 'JWT', 'alg': 'RS256'})}.{_b64url(claims)}.{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('=')}"


def _workspace_owner() -> tuple[int, int] | None:
    """The runner's user when the tests run as root; otherwise the workspace is already the (non-root) caller's."""
    return RUNNER_USER if os.geteuid() == 0 else None


@dataclass
class Runner:
    """Runs of the action in one repository: each run gets a fresh job (workspace, file-command files, runtime token)."""

    image: str  # what `docker run` runs: a tag, or REGISTRY/NAME@sha256:… as a `docker://` action names it
    github: FakeGitHub
    gateway: RunningLiteLLM
    tmp: Path
    token: str
    count: int = 0
    workflow_path: str = ".github/workflows/model-approval.yml"

    def run(self, event: str, model: str, *, key: str = MASTER_KEY, inputs: dict[str, str] | None = None,
            payload: dict[str, Any] | None = None, checkout: dict[str, str] | None = None) -> ActionRun:
        """One run of the action; `checkout` files are written into the workspace after the example config and prompts."""
        self.count += 1
        job = RunnerJob.create(self.tmp / f"run-{self.count}", owner=_workspace_owner())
        workspace = job.workspace
        # the checkout, as far as the action reads it: the example config and its prompts
        shutil.copytree(ROOT / "examples" / "prompts", workspace / "examples" / "prompts")
        shutil.copy(ROOT / "examples" / "gateway.yaml", workspace / "examples" / "gateway.yaml")
        for name, text in (checkout or {}).items():
            (workspace / name).parent.mkdir(parents=True, exist_ok=True)
            (workspace / name).write_text(text, encoding="utf-8")
        event_path = job.workflow / "event.json"
        if payload is None:
            shutil.copy(DATA / f"{event}_event.json", event_path)
        else:
            event_path.write_text(json.dumps(payload), encoding="utf-8")
        files = {name: job.file_commands / f"{name}_{uuid.uuid4()}" for name in ("set_output", "step_summary", "set_env", "add_path", "save_state")}
        for path in files.values():
            path.touch()
        job.hand_over()
        before = _tree(workspace)
        run_id = str(9_000_000_000 + self.count)
        run_backend_id = str(uuid.uuid4())
        token = runtime_token(run_backend_id, str(uuid.uuid4()))
        self.github.runtime_tokens.add(token)
        sha = PR_EVENT["pull_request"]["merge_commit_sha"] if event == "pull_request" else "1f0e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"
        workflow_id = next((i for i, (path, _) in self.github.workflows.items() if path == self.workflow_path), None)
        if workflow_id is None:
            workflow_id = self.github.add_workflow(self.workflow_path, WORKFLOW)
        self.github.start_run(int(run_id), workflow_id, run_backend_id, event=event, head_sha=sha,
                              head_branch=PR_EVENT["pull_request"]["head"]["ref"] if event == "pull_request" else "main")
        given = {"gateway-base-url": self.gateway.base_url, "api-key": key, "candidate-model-id": model, **(inputs or {})}
        env = {
            **action_input_env(ROOT / "action.yml", given, {"github.token": self.token, "github.actor": ACTOR}),
            "HOME": str(job.home),
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_REPOSITORY_OWNER": REPOSITORY.split("/", maxsplit=1)[0],
            "GITHUB_SHA": sha,
            "GITHUB_REF": f"refs/pull/{PR_NUMBER}/merge" if event == "pull_request" else "refs/heads/main",
            "GITHUB_HEAD_REF": PR_EVENT["pull_request"]["head"]["ref"] if event == "pull_request" else "",
            "GITHUB_BASE_REF": "main" if event == "pull_request" else "",
            "GITHUB_RUN_ID": run_id,
            "GITHUB_RUN_NUMBER": str(self.count),
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_WORKFLOW": WORKFLOW,
            "GITHUB_JOB": "approve",
            "GITHUB_ACTION": "__run",
            "GITHUB_ACTOR": ACTOR,
            "GITHUB_SERVER_URL": SERVER_URL,
            "GITHUB_API_URL": self.github.api_url,
            "GITHUB_GRAPHQL_URL": self.github.api_url + "/graphql",
            "GITHUB_OUTPUT": str(files["set_output"]),
            "GITHUB_STEP_SUMMARY": str(files["step_summary"]),
            "GITHUB_ENV": str(files["set_env"]),
            "GITHUB_PATH": str(files["add_path"]),
            "GITHUB_STATE": str(files["save_state"]),
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_RETENTION_DAYS": "30",
            "RUNNER_OS": "Linux",
            "RUNNER_TEMP": str(job.temp),  # passed on untranslated and not mounted, as the runner does
            "ACTIONS_RUNTIME_TOKEN": token,
            "ACTIONS_RUNTIME_URL": self.github.origin + "/runtime/",
            "ACTIONS_RESULTS_URL": self.github.results_url,
            # Not set by a runner: the fake serves TLS from a throw-away CA, because the action uploads only to https.
            "REQUESTS_CA_BUNDLE": TEST_CA,
        }
        assert self.github.ca_file is not None
        started = time.monotonic()
        try:
            proc = job.run(self.image, env, timeout=150, extra_mounts=[(self.github.ca_file, TEST_CA)])
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"the action ran for more than {exc.timeout}s")
        self.github.finish_run(int(run_id), "success" if proc.returncode == 0 else "failure")
        output_text = files["set_output"].read_text(encoding="utf-8")
        run = ActionRun(proc.returncode, proc.stdout, proc.stderr, parse_output_file(output_text), output_text,
                        files["step_summary"].read_text(encoding="utf-8"), workspace, time.monotonic() - started)
        assert "Traceback" not in run.log, run.log
        assert not self.github.errors, self.github.errors
        assert_no_leak(run, self.github, key=key, github_token=self.token, runtime_token=token)
        assert_left_to_the_workspace_owner(workspace, before)
        return run


def _tree(top: Path) -> set[Path]:
    return {p for p in top.rglob("*")}


def assert_left_to_the_workspace_owner(workspace: Path, before: set[Path]) -> None:
    """Every file the container wrote into the workspace belongs to the workspace's owner, as later steps need."""
    owner = workspace.stat()
    assert owner.st_uid != 0 or os.geteuid() != 0, "the test workspace must not belong to root"
    for path in sorted(_tree(workspace) - before):
        stat = path.lstat()
        assert (stat.st_uid, stat.st_gid) == (owner.st_uid, owner.st_gid), f"{path.relative_to(workspace)} was left to uid {stat.st_uid}"


def assert_no_leak(run: ActionRun, github: FakeGitHub, *, key: str, github_token: str, runtime_token: str) -> None:
    """The canary: no secret in any output, file, request body or artifact; `::add-mask::` printed first for each."""
    masked = [s for s in (key, github_token) if s]
    lines = run.stdout.splitlines()
    assert lines[: len(masked)] == [f"::add-mask::{s}" for s in masked], "the secrets were not masked before anything else was printed"
    sinks = {
        "stdout": "\n".join(lines[len(masked):]),
        "stderr": run.stderr,
        "GITHUB_OUTPUT": run.output_text,
        "GITHUB_STEP_SUMMARY": run.summary,
    }
    for path in sorted(run.workspace.rglob("*")):
        if path.is_file():
            sinks[f"workspace file {path.relative_to(run.workspace)}"] = path.read_bytes().decode("utf-8", "replace")
    for number, request in enumerate(github.requests):
        sinks[f"request #{number} body ({request.method} {request.path})"] = request.body.decode("utf-8", "replace")
        sinks[f"request #{number} path ({request.method} {request.path})"] = request.path
        for header, value in request.headers.items():
            if header != "authorization":
                sinks[f"request #{number} header {header}"] = value
    for blob in github.blobs.values():
        sinks[f"uploaded blob {blob.path}"] = blob.data.decode("latin-1")
        with zipfile.ZipFile(io.BytesIO(blob.data)) as archive:
            for member in archive.namelist():
                sinks[f"uploaded blob {blob.path}: {member}"] = archive.read(member).decode("utf-8", "replace")
    canaries = {"the API key": key, "the GitHub token": github_token, "the runtime token": runtime_token}
    canaries |= {f"the signed URL's sig of {a.name}": a.signature for a in github.artifacts}
    for what, secret in canaries.items():
        if not secret:
            continue
        for where, text in sinks.items():
            if what.startswith("the signed URL") and "path (PUT /blob/" in where:
                continue
            assert secret not in text, f"{what} leaked into {where}"
    for request in github.requests:
        auth = request.headers.get("authorization")
        if request.path.startswith("/blob/"):
            assert auth is None, "an Authorization header was sent to the blob store"
        elif request.path.startswith(TWIRP_PREFIX):
            assert auth in {f"Bearer {t}" for t in github.runtime_tokens}, "the runtime token goes to the artifact service"
        else:
            assert auth == f"token {github_token}"


def example_files() -> dict[str, str]:
    """The files of the checkout the action reads, as the repository's base commit holds them."""
    files = {f"examples/prompts/{p.name}": p.read_text(encoding="utf-8") for p in (ROOT / "examples" / "prompts").iterdir()}
    return {**files, "examples/gateway.yaml": (ROOT / "examples" / "gateway.yaml").read_text(encoding="utf-8")}


def github_fake() -> Iterator[FakeGitHub]:
    """The GitHub fake for one test: the repository of the example events with their pull request and base commit."""
    with FakeGitHub(REPOSITORY, token=f"ghs_{secrets.token_hex(18)}", repo_id=PR_EVENT["repository"]["id"]) as fake:
        fake.add_pull_request(PR_NUMBER, PR_EVENT["pull_request"]["title"], PR_EVENT["pull_request"]["user"]["login"])
        fake.add_commit(example_files(), sha=PR_EVENT["pull_request"]["base"]["sha"], branch="main")  # the registry's base: unchanged
        yield fake
