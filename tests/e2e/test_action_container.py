"""The action as GitHub runs it: the image `docker build` makes of the Dockerfile, run the way the runner runs it.

A real container engine builds the image (tests/support/action_container.py; scripts/test starts one) and each run is
a `docker run` with the runner's flags, mounts, HOME, file-command paths and hyphenated `INPUT_` names, in a workspace
that belongs to a non-root user as a runner's checkout does. GitHub is an in-memory fake on 127.0.0.1
(tests/support/fake_github.py) and the gateway a real LiteLLM proxy; the container reaches both with `--network host`.
Every run is checked for leaked secrets (`_assert_no_leak`) and for files left to root in the workspace, whatever
else its test looks at.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.support.action_container import (
    ActionRun,
    BuiltImage,
    EngineError,
    RunnerJob,
    action_input_env,
    build_image,
    docker,
    engine_problem,
    image_layers,
    parse_output_file,
    python_base,
)
from tests.support.commands import require_e2e
from tests.support.fake_github import TWIRP_PREFIX, FakeGitHub
from tests.support.peer_gateway import RunningLiteLLM

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
PR_EVENT = json.loads((DATA / "pull_request_event.json").read_text(encoding="utf-8"))
REPOSITORY: str = PR_EVENT["repository"]["full_name"]
PR_NUMBER: int = PR_EVENT["number"]
ACTOR = "octocat"
WORKFLOW = "Model approval"
SERVER_URL = "https://github.com"
MARKER = "<!-- model-approval-gate:"
TRACKING_LABEL = "model-approval"
UNRELATED_COMMENTS = 130  # more than one page of 100: the sticky comment is found on page 2
IMAGE_TAG = "model-approval-gate:e2e"
RUNNER_USER = (1001, 1001)  # the runner's user on GitHub-hosted runners: the checkout is theirs, not root's
TEST_CA = "/run/approval-test/ca.pem"  # the fake GitHub's throw-away CA, mounted read-only (not a runner mount)


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def runtime_token(run_backend_id: str, job_backend_id: str) -> str:
    """A JWT shaped like ACTIONS_RUNTIME_TOKEN (unsigned: the action only reads the `scp` claim)."""
    claims = {"scp": f"Actions.ExampleScope Actions.Results:{run_backend_id}:{job_backend_id}", "iss": "vstoken.actions.githubusercontent.com",
              "exp": int(time.time()) + 3600}
    return f"{_b64url({'typ': 'JWT', 'alg': 'RS256'})}.{_b64url(claims)}.{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('=')}"


@pytest.fixture(scope="session")
def image() -> BuiltImage:
    """The repository's Dockerfile, built once per session by the container engine (layers cached between sessions)."""
    problem = engine_problem()
    if problem is not None:
        if require_e2e():
            pytest.fail(f"APPROVAL_REQUIRE_E2E=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    try:
        return build_image(ROOT, IMAGE_TAG, base=python_base())
    except EngineError as exc:
        pytest.fail(f"could not build the action's image: {exc}", pytrace=False)


def _workspace_owner() -> tuple[int, int] | None:
    """The runner's user when the tests run as root; otherwise the workspace is already the (non-root) caller's."""
    return RUNNER_USER if os.geteuid() == 0 else None


@dataclass
class Runner:
    """Runs of the action in one repository: each run gets a fresh job (workspace, file-command files, runtime token)."""

    image: BuiltImage
    github: FakeGitHub
    gateway: RunningLiteLLM
    tmp: Path
    token: str
    count: int = 0

    def run(self, event: str, model: str, *, key: str = MASTER_KEY, inputs: dict[str, str] | None = None,
            payload: dict[str, Any] | None = None) -> ActionRun:
        self.count += 1
        job = RunnerJob.create(self.tmp / f"run-{self.count}", owner=_workspace_owner())
        workspace = job.workspace
        # the checkout, as far as the action reads it: the example config and its prompts
        shutil.copytree(ROOT / "examples" / "prompts", workspace / "examples" / "prompts")
        shutil.copy(ROOT / "examples" / "gateway.yaml", workspace / "examples" / "gateway.yaml")
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
        token = runtime_token(str(uuid.uuid4()), str(uuid.uuid4()))
        self.github.runtime_tokens.add(token)
        given = {"gateway-base-url": self.gateway.base_url, "api-key": key, "candidate-model-id": model, **(inputs or {})}
        env = {
            **action_input_env(ROOT / "action.yml", given, {"github.token": self.token, "github.actor": ACTOR}),
            "HOME": str(job.home),
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_REPOSITORY_OWNER": REPOSITORY.split("/", maxsplit=1)[0],
            "GITHUB_SHA": PR_EVENT["pull_request"]["merge_commit_sha"] if event == "pull_request" else "1f0e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6",
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
            proc = job.run(self.image.tag, env, timeout=150, extra_mounts=[(self.github.ca_file, TEST_CA)])
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"the action ran for more than {exc.timeout}s")
        output_text = files["set_output"].read_text(encoding="utf-8")
        run = ActionRun(proc.returncode, proc.stdout, proc.stderr, parse_output_file(output_text), output_text,
                        files["step_summary"].read_text(encoding="utf-8"), workspace, time.monotonic() - started)
        assert "Traceback" not in run.log, run.log
        assert not self.github.errors, self.github.errors
        _assert_no_leak(run, self.github, key=key, github_token=self.token, runtime_token=token)
        _assert_left_to_the_workspace_owner(workspace, before)
        return run


def _tree(top: Path) -> set[Path]:
    return {p for p in top.rglob("*")}


def _assert_left_to_the_workspace_owner(workspace: Path, before: set[Path]) -> None:
    """Every file the container wrote into the workspace belongs to the workspace's owner, as later steps need."""
    owner = workspace.stat()
    assert owner.st_uid != 0 or os.geteuid() != 0, "the test workspace must not belong to root"
    for path in sorted(_tree(workspace) - before):
        stat = path.lstat()
        assert (stat.st_uid, stat.st_gid) == (owner.st_uid, owner.st_gid), f"{path.relative_to(workspace)} was left to uid {stat.st_uid}"


def _assert_no_leak(run: ActionRun, github: FakeGitHub, *, key: str, github_token: str, runtime_token: str) -> None:
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


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(REPOSITORY, token=f"ghs_{secrets.token_hex(18)}", repo_id=PR_EVENT["repository"]["id"]) as fake:
        fake.add_pull_request(PR_NUMBER, PR_EVENT["pull_request"]["title"], PR_EVENT["pull_request"]["user"]["login"])
        yield fake


@pytest.fixture
def runner(image: BuiltImage, github: FakeGitHub, litellm: RunningLiteLLM, tmp_path: Path) -> Runner:
    return Runner(image, github, litellm, tmp_path, github.token)


def _pinned_requirements() -> dict[str, str]:
    text = (ROOT / "requirements" / "runtime.txt").read_text(encoding="utf-8")
    return {_normalize(m.group(1)): m.group(2) for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", text, re.MULTILINE)}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _twirp_and_blob(github: FakeGitHub) -> list[tuple[str, str]]:
    steps = []
    for request in github.requests:
        if request.path.startswith(TWIRP_PREFIX):
            steps.append(("POST", request.path[len(TWIRP_PREFIX):]))
        elif request.path.startswith("/blob/"):
            steps.append((request.method, "blob"))
    return steps


# --- the image ------------------------------------------------------------------------------------------------------

_IMAGE_PROBE = """
import importlib.metadata as m, importlib.util as u, json, os, sys
print(json.dumps({
    "python": "%d.%d" % sys.version_info[:2],
    "cwd": os.getcwd(),
    "app": sorted(os.listdir(".")),
    "pycache": [d for d, _, _ in os.walk(".") if d.endswith("__pycache__")],
    "installed": {d.metadata["Name"]: d.version for d in m.distributions()},
    "test_only": [n for n in ("pytest", "responses", "litellm", "hypothesis") if u.find_spec(n)],
}))
"""


def test_the_image_is_what_the_dockerfile_builds(image: BuiltImage) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    args = re.findall(r"^ARG (.*)$", dockerfile, re.MULTILINE)
    assert len(args) == 1 and re.fullmatch(r"PYTHON_IMAGE=python:3\.12-slim@sha256:[0-9a-f]{64}", args[0]), \
        "the base is pinned by digest, and only the tests' stand-in replaces it"
    assert re.findall(r"^FROM (.*)$", dockerfile, re.MULTILINE) == ["${PYTHON_IMAGE}"]

    layers = image_layers(image.id)
    base_layers = image_layers(image.base)
    assert layers[: len(base_layers)] == base_layers and len(layers) > len(base_layers), f"not built on {image.base}"
    config = image.inspect()["Config"]
    assert config["Entrypoint"] == ["python", "/app/entrypoint.py"] and config["WorkingDir"] == "/app"
    assert {"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"} <= set(config["Env"])

    probe = docker(["run", "--rm", "--network", "none", "--entrypoint", "python", image.id, "-c", _IMAGE_PROBE])
    facts = json.loads(probe.stdout)
    assert facts["python"] == "3.12" and facts["cwd"] == "/app"
    assert facts["app"] == ["approval", "entrypoint.py", "requirements"]
    assert facts["pycache"] == [], ".dockerignore keeps byte code out of the image"
    installed = {_normalize(name): version for name, version in facts["installed"].items()}
    for tool in ("pip", "setuptools", "wheel"):
        installed.pop(tool, None)
    assert installed == _pinned_requirements(), "the image must hold exactly the pinned runtime requirements"
    assert facts["test_only"] == [], "the image's python sees test-only packages"


# --- pull requests --------------------------------------------------------------------------------------------------


def test_pull_request_run_creates_then_edits_one_sticky_comment_and_uploads_the_record(runner: Runner, github: FakeGitHub) -> None:
    for number in range(UNRELATED_COMMENTS):
        github.add_comment(PR_NUMBER, f"Unrelated review remark {number}")
    first = runner.run("pull_request", "good-model", inputs={"config": "examples/gateway.yaml"})
    assert first.code == 0, first.log

    # exactly one comment created, carrying the marker and the verdict
    created = github.requests_matching("POST", rf"/issues/{PR_NUMBER}/comments$")
    assert len(created) == 1 and not github.requests_matching("PATCH", r"/issues/comments/")
    ours = [c for c in github.comments(PR_NUMBER) if MARKER in c.body]
    assert len(ours) == 1 and ours[0].user[0] == "github-actions[bot]"
    assert ours[0].body.startswith(MARKER) and "Model approval: `good-model` approved" in ours[0].body

    # outputs, in the runner's multi-line format
    assert re.search(r"^result<<(ghadelimiter_[0-9a-f-]+)\npass\n\1$", first.output_text, re.MULTILINE)
    outputs = first.outputs
    assert outputs["result"] == "pass"
    assert outputs["record-path"] == "approval-record.json" and outputs["report-path"] == "approval-report.md"
    assert (first.workspace / outputs["record-path"]).is_file() and (first.workspace / outputs["report-path"]).is_file()
    assert outputs["comment-url"] == f"{SERVER_URL}/{REPOSITORY}/pull/{PR_NUMBER}#issuecomment-{ours[0].id}"
    assert outputs["latency-ms"].isdigit() and outputs["issue-url"] == ""
    artifact = github.artifacts[0]
    assert outputs["artifact-id"] == artifact.artifact_id != ""
    assert outputs["artifact-url"] == f"{SERVER_URL}/{REPOSITORY}/actions/runs/9000000001/artifacts/{artifact.artifact_id}"

    # the job summary holds the report and what was published
    assert "## ✅ Model approval: `good-model` approved" in first.summary
    assert f"commented on PR #{PR_NUMBER}" in first.summary and "uploaded artifact model-approval-record" in first.summary

    # the artifact: CreateArtifact → PUT → FinalizeArtifact, with the size and hash of the uploaded bytes
    assert _twirp_and_blob(github) == [("POST", "CreateArtifact"), ("PUT", "blob"), ("POST", "FinalizeArtifact")]
    create, finalize = artifact.create_request, artifact.finalize_request
    assert finalize is not None
    claims = json.loads(base64.urlsafe_b64decode(next(iter(github.requests_matching("POST", "CreateArtifact")))
                                                 .headers["authorization"].split(".")[1] + "=="))
    _, run_backend, job_backend = claims["scp"].split(" ")[1].split(":")
    assert create["workflow_run_backend_id"] == finalize["workflow_run_backend_id"] == run_backend
    assert create["workflow_job_run_backend_id"] == finalize["workflow_job_run_backend_id"] == job_backend
    assert create["name"] == finalize["name"] == "model-approval-record" and create["version"] == 4
    expiry = datetime.strptime(create["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(expiry - (datetime.now(UTC) + timedelta(days=30))) < timedelta(hours=1), "retention capped by GITHUB_RETENTION_DAYS"
    blob = github.blobs[artifact.upload_path]
    assert blob.headers["x-ms-blob-type"] == "BlockBlob" and "authorization" not in blob.headers
    assert finalize["size"] == str(len(blob.data))
    assert finalize["hash"] == "sha256:" + hashlib.sha256(blob.data).hexdigest()
    with zipfile.ZipFile(io.BytesIO(blob.data)) as archive:
        assert archive.namelist() == ["approval-record.json"]
        uploaded = archive.read("approval-record.json")
    assert uploaded == (first.workspace / "approval-record.json").read_bytes()
    record = json.loads(uploaded)
    assert record["candidate_model_id"] == "good-model" and record["overall_result"] == "pass"

    # run 2 (another run of the workflow): the same comment is edited, found on the second page
    before = len(github.requests)
    second = runner.run("pull_request", "good-model", inputs={"config": "examples/gateway.yaml"})
    assert second.code == 0, second.log
    later = github.requests[before:]
    listed = [r for r in later if r.method == "GET" and r.path.endswith(f"/issues/{PR_NUMBER}/comments")]
    assert [r.param("page") for r in listed] == [None, "2"] and listed[0].param("per_page") == "100"
    edits = [r for r in later if r.method == "PATCH"]
    assert [r.path for r in edits] == [f"/repos/{REPOSITORY}/issues/comments/{ours[0].id}"]
    assert not [r for r in later if r.method == "POST" and r.path.endswith("/comments")]
    assert len(github.comments(PR_NUMBER)) == UNRELATED_COMMENTS + 1
    assert github.comment_store[ours[0].id].body == edits[0].json()["body"]
    assert second.outputs["comment-url"] == first.outputs["comment-url"]
    assert f"updated the comment on PR #{PR_NUMBER}" in second.summary
    assert len(github.artifacts) == 2 and second.outputs["artifact-id"] == github.artifacts[1].artifact_id


def test_rejected_model_fails_the_step_unless_fail_on_reject_is_false(runner: Runner, github: FakeGitHub) -> None:
    rejected = runner.run("pull_request", "broken-model")
    assert rejected.code == 1, rejected.log
    assert rejected.outputs["result"] == "fail"
    assert "RESULT: NOT APPROVED" in rejected.stdout and "::error " in rejected.stdout
    (comment,) = [c for c in github.comments(PR_NUMBER) if MARKER in c.body]
    assert "Model approval: `broken-model` not approved" in comment.body
    assert rejected.outputs["artifact-id"], "a rejected model's record is uploaded too"

    reported = runner.run("pull_request", "broken-model", inputs={"fail-on-reject": "false"})
    assert reported.code == 0, reported.log
    assert reported.outputs["result"] == "fail"
    assert "::warning title=Model approval::not approved, but fail-on-reject is false" in reported.stdout
    assert [c.id for c in github.comments(PR_NUMBER) if MARKER in c.body] == [comment.id], "the same comment is edited"


def test_several_candidates_and_a_baseline_share_one_comment_with_a_record_and_an_artifact_each(runner: Runner, github: FakeGitHub) -> None:
    run = runner.run("pull_request", "good-model,fallback-model", inputs={"baseline-model": "slow-model"})
    assert run.code == 1, run.log  # fallback-model is served by another model: the job fails when any candidate fails
    assert run.outputs["result"] == "fail"
    paths = run.outputs["record-path"].splitlines()
    assert paths == ["approval-record.good-model.json", "approval-record.fallback-model.json"]
    records = {json.loads((run.workspace / p).read_text(encoding="utf-8"))["candidate_model_id"]: p for p in paths}
    assert set(records) == {"good-model", "fallback-model"}
    assert json.loads((run.workspace / records["good-model"]).read_text(encoding="utf-8"))["overall_result"] == "pass"
    assert json.loads((run.workspace / records["fallback-model"]).read_text(encoding="utf-8"))["overall_result"] == "fail"
    assert sorted(a.create_request["name"] for a in github.artifacts) == ["model-approval-record-fallback-model",
                                                                          "model-approval-record-good-model"]
    (comment,) = [c for c in github.comments(PR_NUMBER) if MARKER in c.body]
    assert "| `good-model` | ✅ approved |" in comment.body and "| `fallback-model` | ❌ not approved |" in comment.body
    assert "Compared with the baseline `slow-model`" in comment.body
    assert "model-echo" in comment.body and "fallback" in comment.body


def test_comment_refused_with_403_does_not_change_the_verdict(runner: Runner, github: FakeGitHub) -> None:
    github.fail("POST", rf"/issues/{PR_NUMBER}/comments$", 403, "Resource not accessible by integration")
    run = runner.run("pull_request", "good-model")
    assert run.code == 0, run.log
    reason = f"could not comment on PR #{PR_NUMBER}: the token is read-only (403: Resource not accessible by integration)"
    assert reason in run.stdout and reason in run.summary
    assert "permissions: pull-requests: write" in run.summary
    assert run.outputs["result"] == "pass" and run.outputs["comment-url"] == ""
    assert run.record()["overall_result"] == "pass", "the record is written whatever GitHub said"
    assert run.outputs["artifact-id"] == github.artifacts[0].artifact_id
    assert not [c for c in github.comments(PR_NUMBER) if MARKER in c.body]


# --- scheduled runs -------------------------------------------------------------------------------------------------


def test_schedule_opens_a_tracking_issue_on_failure_and_closes_it_on_recovery(runner: Runner, github: FakeGitHub) -> None:
    failing = runner.run("schedule", "broken-model")
    assert failing.code == 1, failing.log
    opened = [i for i in github.issues.values() if not i.is_pull_request]
    assert len(opened) == 1
    broken = opened[0]
    assert broken.labels == [TRACKING_LABEL] and broken.state == "open"
    assert broken.title == "Model approval failing: broken-model (chat)" and broken.body.startswith(MARKER)
    assert TRACKING_LABEL in github.labels and github.requests_matching("POST", r"/labels$")
    assert failing.outputs["issue-url"] == f"{SERVER_URL}/{REPOSITORY}/issues/{broken.number}"
    assert failing.outputs["comment-url"] == "" and not github.comments(PR_NUMBER)
    listing = github.requests_matching("GET", rf"^/repos/{REPOSITORY}/issues$")[0]
    assert (listing.param("state"), listing.param("labels")) == ("open", TRACKING_LABEL)

    still = runner.run("schedule", "broken-model")
    assert still.code == 1 and still.outputs["issue-url"] == failing.outputs["issue-url"]
    assert [i.number for i in github.issues.values() if not i.is_pull_request] == [broken.number], "no second issue"
    assert [c.body.split("\n")[0] for c in github.comments(broken.number)] == ["❌ **Still failing** — latest run:"]

    # good-model: first failing (a 1 ms latency bound), then recovering
    slow = runner.run("schedule", "good-model", inputs={"max-latency-ms": "1"})
    assert slow.code == 1, slow.log
    good = next(i for i in github.issues.values() if i.title == "Model approval failing: good-model (chat)")
    assert good.state == "open" and good.labels == [TRACKING_LABEL]

    recovered = runner.run("schedule", "good-model")
    assert recovered.code == 0, recovered.log
    assert (good.state, good.state_reason) == ("closed", "completed")
    assert github.comments(good.number)[-1].body.startswith("✅ **Recovered**")
    assert recovered.outputs["issue-url"] == f"{SERVER_URL}/{REPOSITORY}/issues/{good.number}"
    assert f"closed tracking issue #{good.number} (recovered)" in recovered.summary
    assert broken.state == "open", "another subject's issue is left alone"

    before = len(github.requests)
    quiet = runner.run("schedule", "good-model")
    assert quiet.code == 0 and quiet.outputs["issue-url"] == ""
    assert not [r for r in github.requests[before:] if r.method in ("POST", "PATCH") and not r.path.startswith((TWIRP_PREFIX, "/blob/"))]


# --- secrets --------------------------------------------------------------------------------------------------------


def test_secrets_reach_no_output_file_request_or_artifact(runner: Runner, github: FakeGitHub) -> None:
    """`Runner.run` checks every run; here the runs are chosen to tempt a leak and the check is shown not vacuous."""
    approved = runner.run("pull_request", "good-model", inputs={"include-model-output": "true"})
    assert approved.code == 0, approved.log
    assert approved.stdout.splitlines()[:2] == [f"::add-mask::{MASTER_KEY}", f"::add-mask::{runner.token}"]
    canary = "sk-canary-e2e-wrong-key-5c1d7e9a3b"  # not the master key: the gateway answers 401 and may quote it
    refused = runner.run("pull_request", "good-model", key=canary)
    assert refused.code == 1 and refused.stdout.splitlines()[0] == f"::add-mask::{canary}"
    assert refused.record()["overall_result"] == "fail"
    bodies = [r for r in github.requests if r.body]
    assert len(bodies) >= 6 and github.blobs, "the canary saw comment bodies, Twirp calls and an upload"


# --- missing secrets ------------------------------------------------------------------------------------------------


def test_missing_api_key_is_a_configuration_error_or_a_skip(runner: Runner, github: FakeGitHub) -> None:
    missing = runner.run("pull_request", "good-model", key="")
    assert missing.code == 2, missing.log
    errors = [line for line in missing.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "the api-key input is empty" in errors[0], missing.stdout
    assert "Model approval: configuration error" in missing.summary and "api-key" in missing.summary
    assert missing.outputs == {"result": "error"}
    assert not github.requests, "nothing is published without a verdict"

    skipped = runner.run("pull_request", "good-model", key="", inputs={"fail-on-missing-secrets": "false"})
    assert skipped.code == 0, skipped.log
    assert skipped.outputs == {"result": "skipped"}
    assert "::notice title=Model approval skipped::approval skipped: no API key" in skipped.stdout
    assert "Model approval skipped" in skipped.summary
    assert not github.requests

    fork = json.loads(json.dumps(PR_EVENT))
    fork["pull_request"]["head"]["repo"].update(full_name="someone/agent-service", fork=True, id=987654321)
    from_fork = runner.run("pull_request", "good-model", key="", inputs={"fail-on-missing-secrets": "false"}, payload=fork)
    assert from_fork.code == 0 and from_fork.outputs == {"result": "skipped"}
    assert "pull requests from forks get no secrets" in from_fork.summary
