"""The action as GitHub runs it: the image `docker build` makes of the Dockerfile, run the way the runner runs it.

A real container engine builds the image (harness/action_container.py; scripts/test starts one) and each run is
a `docker run` with the runner's flags, mounts, HOME, file-command paths and hyphenated `INPUT_` names, in a workspace
that belongs to a non-root user as a runner's checkout does (harness/action_runs.py). GitHub is an in-memory fake on
127.0.0.1 (harness/fake_github.py) and the gateway a real LiteLLM proxy; the container reaches both with
`--network host`. Every run is checked for leaked secrets and for files left to root in the workspace, whatever else
its test looks at.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import io
import json
import os
import re
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from approval.common.markdown import md_cell
from harness.action_container import BuiltImage, docker, image_layers
from harness.action_runs import (
    MARKER,
    PR_EVENT,
    PR_NUMBER,
    REPOSITORY,
    SERVER_URL,
    TRACKING_LABEL,
    Runner,
    github_fake,
)
from harness.commands import MASTER_KEY, approval_command
from harness.fake_github import TWIRP_PREFIX, FakeGitHub
from harness.peer_gateway import RunningLiteLLM

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
UNRELATED_COMMENTS = 130  # more than one page of 100: the sticky comment is found on page 2


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    yield from github_fake()


@pytest.fixture
def runner(image: BuiltImage, github: FakeGitHub, litellm: RunningLiteLLM, tmp_path: Path) -> Runner:
    return Runner(image.tag, github, litellm, tmp_path, github.token)


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
    "py": sorted(os.path.join(d, f) for d, _, fs in os.walk("approval") for f in fs if f.endswith(".py")),
    "pyc": sorted(os.path.join(d, f) for d, _, fs in os.walk(".") for f in fs if f.endswith(".pyc")),
    "installed": {d.metadata["Name"]: d.version for d in m.distributions()},
    "test_only": [n for n in ("pytest", "responses", "litellm", "hypothesis") if u.find_spec(n)],
}))
"""


_UNCOMPILED_PROBE = """
import approval.frontends.action, approval.frontends.cli, sys
from approval.engine.agent_sdk import warm_up
warm_up()  # what the agent-client check loads of the SDK, for both endpoint families (canned answers, nothing sent)
specs = [getattr(m, "__spec__", None) for m in list(sys.modules.values())]
files = [s.origin for s in specs if s is not None and s.has_location and (s.origin or "").endswith(".py")]  # not frozen
import importlib.util, os
print("\\n".join(f for f in files if not os.path.exists(importlib.util.cache_from_source(f))))
"""


def _omitted_requirements() -> set[str]:
    lines = (ROOT / "requirements" / "runtime-omit.txt").read_text(encoding="utf-8").splitlines()
    return {_normalize(line.strip()) for line in lines if line.strip() and not line.startswith("#")}


def test_the_image_is_what_the_dockerfile_builds(image: BuiltImage) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.findall(r"^ARG (.*)$", dockerfile, re.MULTILINE) == ["PYTHON_IMAGE=pinned-base"]
    pinned, final = re.findall(r"^FROM (.*)$", dockerfile, re.MULTILINE)
    assert re.fullmatch(r"python:3\.12-slim@sha256:[0-9a-f]{64} AS pinned-base", pinned), "the base is pinned by digest"
    assert final == "${PYTHON_IMAGE}", "only the build argument replaces it (the tests' stand-in)"

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
    compiled = {f"{os.path.dirname(py)}/__pycache__/{os.path.basename(py)[:-3]}.cpython-312.pyc" for py in facts["py"]}
    assert set(facts["pyc"]) == {f"./{pyc}" for pyc in compiled}, "byte code made in the image for its python, none from the host"
    installed = {_normalize(name): version for name, version in facts["installed"].items()}
    for tool in ("pip", "setuptools", "wheel"):
        installed.pop(tool, None)
    omitted = _omitted_requirements()
    assert omitted <= set(_pinned_requirements()), "requirements/runtime-omit.txt names only pinned packages"
    expected = {name: version for name, version in _pinned_requirements().items() if name not in omitted}
    assert installed == expected, "the image must hold exactly the pinned runtime requirements, less the ones left out"
    assert facts["test_only"] == [], "the image's python sees test-only packages"
    # everything the action's start imports already has its byte code: a container compiles nothing at start
    uncompiled = docker(["run", "--rm", "--network", "none", "--entrypoint", "python", image.id, "-c", _UNCOMPILED_PROBE]).stdout
    assert uncompiled.split() == []


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
    # the publishing notes are inert in the summary (no live issue reference, no markup), and still say what happened
    assert md_cell(f"commented on PR #{PR_NUMBER}") in first.summary and md_cell("uploaded artifact model-approval-record") in first.summary

    # the artifact: CreateArtifact → PUT → FinalizeArtifact, with the size and hash of the uploaded bytes
    assert _twirp_and_blob(github) == [("POST", "CreateArtifact"), ("PUT", "blob"), ("POST", "FinalizeArtifact")]
    create, finalize = artifact.create_request, artifact.finalize_request
    assert finalize is not None
    claims = json.loads(base64.urlsafe_b64decode(next(iter(github.requests_matching("POST", "CreateArtifact")))
                                                 .headers["authorization"].split(".")[1] + "=="))
    _, run_backend, job_backend = claims["scp"].split(" ")[1].split(":")
    assert create["workflow_run_backend_id"] == finalize["workflow_run_backend_id"] == run_backend
    assert create["workflow_job_run_backend_id"] == finalize["workflow_job_run_backend_id"] == job_backend
    assert create["name"] == finalize["name"] == "model-approval-record"
    assert (create["version"], create["mime_type"]) == (7, "application/zip")
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
    assert md_cell(f"updated the comment on PR #{PR_NUMBER}") in second.summary
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
    assert md_cell(f"closed tracking issue #{good.number} (recovered)") in recovered.summary
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


# --- a matrix over gateways (.github/workflows/model-approval-matrix.yml) -------------------------------------------


def _download_artifacts(github: FakeGitHub, pattern: str, into: Path) -> list[str]:
    """What actions/download-artifact does with `pattern:` and no `merge-multiple`: one folder per artifact."""
    names = []
    for artifact in github.artifacts:
        if artifact.finalize_request is None or not fnmatch.fnmatchcase(artifact.name, pattern):
            continue
        names.append(artifact.name)
        with zipfile.ZipFile(io.BytesIO(github.blobs[artifact.upload_path].data)) as archive:
            archive.extractall(into / artifact.name)
    return names


def test_a_matrix_over_gateways_leaves_one_comment_per_gateway_and_one_table(runner: Runner, github: FakeGitHub, tmp_path: Path) -> None:
    """The legs of model-approval-matrix.yml: each approves one gateway's candidates; the summary job reads their records.

    Two gateways here are the same LiteLLM at two base URLs (it serves the API with and without /v1): to the action
    they are two gateways, each with its own comment and artifacts.
    """
    legs = {
        "litellm": {"gateway-base-url": runner.gateway.base_url, "candidate-model-id": "good-model,fallback-model"},
        "litellm-root": {"gateway-base-url": runner.gateway.root_url, "candidate-model-id": "good-model"},
    }
    codes = {}
    for leg, inputs in legs.items():
        run = runner.run("pull_request", inputs["candidate-model-id"], inputs={**inputs, "artifact-name": f"model-approval-record-{leg}"})
        codes[leg] = run.code
    assert codes == {"litellm": 1, "litellm-root": 0}  # fallback-model is silently served by another model

    comments = [c for c in github.comments(PR_NUMBER) if MARKER in c.body]
    assert len(comments) == 2, "one sticky comment per gateway"
    assert sum(runner.gateway.root_url + "/v1`" in c.body for c in comments) == 1
    names = _download_artifacts(github, "model-approval-record-*", tmp_path / "records")
    assert sorted(names) == ["model-approval-record-litellm-fallback-model", "model-approval-record-litellm-good-model",
                             "model-approval-record-litellm-root"]

    summary = subprocess.run([*approval_command(), "summarize", "--format", "markdown", str(tmp_path / "records")], capture_output=True,
                             text=True, timeout=60, check=False)
    assert summary.returncode == 1, summary.stdout + summary.stderr  # the summary job fails: one candidate failed
    table = summary.stdout
    assert table.startswith("## ❌ Model approval matrix: 2 of 3 candidate(s) approved")
    rows = [line for line in table.splitlines() if line.startswith("| `http")]
    assert len(rows) == 3
    assert f"| `{runner.gateway.base_url}` | `fallback-model` | chat | ❌ not approved |" in table
    assert sum("`good-model` | chat | ✅ approved" in row for row in rows) == 2
    assert MASTER_KEY not in table and runner.token not in table
