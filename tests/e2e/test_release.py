"""A release, off GitHub: scripts/release-image against a registry on 127.0.0.1, then the action from what it wrote.

Debian's `docker-registry` (the open-source distribution registry, harness/registry.py) stands in for GHCR,
with its storage in a private folder; the release script builds the image (on the Dockerfile's base or its stand-in),
pushes it, resolves the digest and writes action.yml pinned to it. The action then runs from that metadata as the
runner runs a `docker://` action: `docker pull` of the reference, never a build, then `docker run` through the same
end-to-end scenario as the Dockerfile action (LiteLLM and the GitHub fake on loopback).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from approval import __version__
from harness.action_container import EngineError, docker, engine_problem, inspect_image, python_base
from harness.action_runs import MARKER, PR_NUMBER, Runner, github_fake
from harness.commands import approval_command, require_e2e
from harness.fake_github import FakeGitHub
from harness.peer_gateway import RunningLiteLLM
from harness.registry import RegistryError, RunningRegistry, find_registry, start_registry

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NAME = "example/model-approval-gate"
SOURCE = "https://github.com/example/model-approval-gate"
RELEASE_TIMEOUT_S = 1200
MANIFEST_TYPES = ("application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, "
                  "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")


def _missing(problem: str) -> None:
    if require_e2e():
        pytest.fail(f"APPROVAL_REQUIRE_E2E=1 but {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    problem = engine_problem()
    if problem is not None:
        _missing(problem)
    if find_registry() is None:
        _missing("docker-registry is not installed (apt-get install docker-registry; scripts/container-engine installs it)")
    try:
        running = start_registry(tmp_path_factory.mktemp("registry") / "storage")
    except RegistryError as exc:
        pytest.fail(str(exc), pytrace=False)
    with running:
        yield running


@dataclass(frozen=True)
class Release:
    values: dict[str, str]  # what the script printed: version, image, digest, reference, compressed-bytes
    action_yml: Path
    seconds: float

    @property
    def spec(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(self.action_yml.read_text(encoding="utf-8"))
        return data


@pytest.fixture(scope="module")
def release(registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> Release:
    try:
        base = python_base()
    except EngineError as exc:
        pytest.fail(str(exc), pytrace=False)
    out = tmp_path_factory.mktemp("release") / "action.yml"
    command = [sys.executable, str(ROOT / "scripts" / "release_image.py"), "image", "--registry", registry.host, "--name", NAME,
               "--tag", f"v{__version__}", "--source", SOURCE, "--base", base, "--network", "host", "--action-out", str(out)]
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=RELEASE_TIMEOUT_S, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    return Release(values, out, time.monotonic() - started)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    yield from github_fake()


def test_the_metadata_pins_the_pushed_digest_and_changes_nothing_else(release: Release, registry: RunningRegistry) -> None:
    # what the registry itself serves for the release tag, asked here and not through the script
    headers, _ = registry.get(f"/v2/{NAME}/manifests/v{__version__}", accept=MANIFEST_TYPES, method="HEAD")
    pushed = headers["docker-content-digest"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", pushed)
    assert release.values["digest"] == pushed and release.values["reference"] == f"{registry.host}/{NAME}@{pushed}"
    assert registry.tags(NAME) == [f"v{__version__}"]

    source = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    written = release.spec
    assert written["runs"] == {**source["runs"], "image": f"docker://{registry.host}/{NAME}@{pushed}"}
    assert {k: v for k, v in written.items() if k != "runs"} == {k: v for k, v in source.items() if k != "runs"}
    assert source["runs"]["image"] == "Dockerfile", "the repository itself keeps building from source (uses: ./)"

    _, body = registry.get(f"/v2/{NAME}/manifests/{pushed}", accept=MANIFEST_TYPES)
    manifest = json.loads(body)
    compressed = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
    assert release.values["compressed-bytes"] == str(compressed)


def test_version_label_record_cli_and_tag_agree(release: Release, registry: RunningRegistry) -> None:
    reference = release.values["reference"]
    docker(["pull", "-q", reference])
    labels = inspect_image(reference)["Config"]["Labels"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30, check=True, cwd=ROOT).stdout.strip()
    assert labels["org.opencontainers.image.version"] == __version__ == release.values["version"]
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.source"] == SOURCE
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", labels["org.opencontainers.image.created"])
    in_image = docker(["run", "--rm", "--network", "none", "--entrypoint", "python", reference, "-m", "approval", "--version"]).stdout.strip()
    on_host = subprocess.run([*approval_command(), "--version"], capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert in_image == on_host == f"approval {__version__}"


def test_the_action_runs_from_the_release_metadata_pulling_by_digest(release: Release, github: FakeGitHub, litellm: RunningLiteLLM,
                                                                      tmp_path: Path) -> None:
    image = str(release.spec["runs"]["image"])
    assert image.startswith("docker://")
    reference = image.removeprefix("docker://")
    # nothing of it left on this engine: the job must pull it (the build's tag and any earlier pull go)
    for name in (f"{release.values['image']}:v{__version__}", reference):
        docker(["image", "rm", "--force", name], check=False)
    assert docker(["image", "inspect", reference], check=False).returncode != 0
    docker(["pull", reference])  # what the runner does for a docker:// action before the job's steps
    assert reference in inspect_image(reference)["RepoDigests"]

    run = Runner(reference, github, litellm, tmp_path, github.token).run("pull_request", "good-model", inputs={"config": "examples/gateway.yaml"})
    assert run.code == 0, run.log
    assert run.outputs["result"] == "pass"
    record = run.record()
    assert record["tool_version"] == __version__ and record["overall_result"] == "pass"
    (comment,) = [c for c in github.comments(PR_NUMBER) if MARKER in c.body]
    assert "Model approval: `good-model` approved" in comment.body
    assert run.outputs["artifact-id"] == github.artifacts[0].artifact_id != ""
