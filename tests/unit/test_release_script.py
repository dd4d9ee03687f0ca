"""scripts/release_image.py without an engine: the version check, the action metadata it writes, the release notes,
the major tag, and how it asks a registry (with a bearer token, as GHCR wants) for the digest of a tag."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from approval import __version__

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "release_image.py"
DIGEST = "sha256:" + "ab" * 32


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("release_image", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["release_image"] = module
    spec.loader.exec_module(module)
    return module


release = _load()


# --- one version everywhere -----------------------------------------------------------------------------------------


def test_a_tag_must_be_v_plus_the_version() -> None:
    release.check_tag("v1.2.3", "1.2.3")
    release.check_tag("v2.0.0-rc.1", "2.0.0-rc.1")
    with pytest.raises(release.UsageError, match=r"does not match the version in approval/__init__.py \(1\.2\.3\)"):
        release.check_tag("v1.2.4", "1.2.3")
    for bad in ("1.2.3", "v1.2", "v01.2.3", "release-1.2.3"):
        with pytest.raises(release.UsageError, match="is not v<major>"):
            release.check_tag(bad, bad.lstrip("v"))


# --- the action metadata --------------------------------------------------------------------------------------------


def test_metadata_pins_the_image_by_digest_and_changes_nothing_else() -> None:
    source = (ROOT / "action.yml").read_text(encoding="utf-8")
    reference = f"ghcr.io/example/model-approval-gate@{DIGEST}"
    pinned = release.pin_action_image(source, reference)
    changed = [(a, b) for a, b in zip(source.split("\n"), pinned.split("\n"), strict=True) if a != b]
    assert changed == [("  image: Dockerfile", f"  image: docker://{reference}")]
    before, after = yaml.safe_load(source), yaml.safe_load(pinned)
    assert after["runs"] == {**before["runs"], "image": f"docker://{reference}"}
    assert {k: v for k, v in after.items() if k != "runs"} == {k: v for k, v in before.items() if k != "runs"}
    assert release.pin_action_image(pinned, reference.replace("ab", "cd")).count("docker://") == 1, "a pin can be replaced"


@pytest.mark.parametrize("reference", [
    "ghcr.io/example/model-approval-gate:v1.2.3",  # a tag moves: only a digest is immutable
    f"ghcr.io/Example/Gate@{DIGEST}",
    f"example/gate@{DIGEST[:-1]}",
    f"docker://ghcr.io/example/gate@{DIGEST}",
])
def test_metadata_refuses_anything_but_registry_name_at_digest(reference: str) -> None:
    with pytest.raises(release.UsageError, match="REGISTRY/NAME@sha256"):
        release.pin_action_image((ROOT / "action.yml").read_text(encoding="utf-8"), reference)


def test_metadata_refuses_an_action_that_is_not_a_dockerfile_action() -> None:
    with pytest.raises(release.UsageError, match="expected Dockerfile"):
        release.pin_action_image("name: x\nruns:\n  using: node20\n  image: main.js\n", f"ghcr.io/a/b@{DIGEST}")
    with pytest.raises(release.UsageError, match=r"exactly one runs\.image line, found 0"):
        release.pin_action_image("name: x\nimage: Dockerfile\nruns:\n  using: docker\n", f"ghcr.io/a/b@{DIGEST}")


# --- release notes and the major tag --------------------------------------------------------------------------------

CHANGELOG = """# Changelog

## [Unreleased]

### Added
- next thing

## [1.2.0] - 2026-10-01

### Fixed
- a fix

## [1.1.0] - 2026-09-01

### Added
- older

[1.2.0]: https://example.com/compare/v1.1.0...v1.2.0
"""


def test_notes_are_the_versions_changelog_section() -> None:
    assert release.changelog_section(CHANGELOG, "1.2.0") == "### Fixed\n- a fix\n"
    assert release.changelog_section(CHANGELOG, "1.1.0") == "### Added\n- older\n"
    with pytest.raises(release.UsageError, match=r'no section "## \[1\.3\.0\] - YYYY-MM-DD"'):
        release.changelog_section(CHANGELOG, "1.3.0")


def test_the_changelog_keeps_the_format_and_the_version_is_released_or_next() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.*)$", text, re.MULTILINE)
    assert headings[0] == "[Unreleased]"
    released = [re.fullmatch(r"\[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}", h) for h in headings[1:]]
    assert all(released), f"version headings must read ## [X.Y.Z] - YYYY-MM-DD: {headings[1:]}"
    versions = [tuple(int(p) for p in m.group(1).split(".")) for m in released if m]
    assert versions == sorted(versions, reverse=True), "newest first"
    assert set(re.findall(r"^### (.*)$", text, re.MULTILINE)) <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
    current = tuple(int(p) for p in __version__.split("-")[0].split("."))
    assert not versions or current >= versions[0], "approval.__version__ is the newest release, or the next one"


def test_the_major_tag_follows_the_newest_release_of_its_major() -> None:
    assert release.major_to_move("v1.2.3", ["v1.2.2", "v1.2.3", "v0.9.0"]) == "v1"
    assert release.major_to_move("v1.10.0", ["v1.9.9", "v1.10.0", "v2.0.0"]) == "v1", "numbers, not strings; another major does not count"
    assert release.major_to_move("v1.2.4", ["v1.3.0", "v1.2.4"]) is None, "a patch of an older minor leaves v1 alone"
    assert release.major_to_move("v1.4.0-rc.1", ["v1.3.0"]) is None, "a pre-release never moves it"
    assert release.major_to_move("v1.3.0", ["v1.3.0", "v1.4.0-rc.1", "v1", "latest"]) == "v1"


def test_compressed_size_is_the_config_and_layers_of_one_manifest() -> None:
    manifest = {"config": {"size": 1500}, "layers": [{"size": 30_000_000}, {"size": 12_000_000}]}
    assert release.compressed_bytes(manifest) == 42_001_500
    assert release.compressed_bytes({"manifests": []}) is None
    assert release.compressed_bytes({"config": {"size": 1}, "layers": [{"digest": "x"}]}) is None


# --- asking the registry for the digest -----------------------------------------------------------------------------


# --- the release workflow -------------------------------------------------------------------------------------------


def _workflow(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def test_release_workflow_gives_each_job_only_what_it_needs_and_uses_this_script() -> None:
    workflow = _workflow("release.yml")
    assert workflow["on"] == {"push": {"tags": ["v*.*.*"]}} and workflow["permissions"] == {}
    assert "workflow_call" in _workflow("ci.yml")["on"], "the release runs the whole test suite through ci.yml"
    jobs = workflow["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml" and jobs["test"]["permissions"] == {"contents": "read"}
    assert jobs["image"]["needs"] == "test" and jobs["release"]["needs"] == "image"
    assert jobs["image"]["permissions"] == {"contents": "read", "packages": "write", "id-token": "write", "attestations": "write"}
    assert jobs["release"]["permissions"] == {"contents": "write"}

    def steps(job: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = jobs[job]["steps"]
        return found

    for step in steps("image") + steps("release"):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), f"not pinned by commit SHA: {step['uses']}"
        assert "${{" not in step.get("run", ""), "expressions go through env:, never into a script"
    image_runs = [s.get("run", "") for s in steps("image")]
    pushed = next(i for i, run in enumerate(image_runs) if "scripts/release-image image" in run)
    assert "--platforms linux/amd64,linux/arm64" in image_runs[pushed]
    assert any("scripts/release-image notes" in run for run in image_runs[:pushed]), "tag and CHANGELOG checked before the push"
    attests = [s["with"] for s in steps("image") if s.get("uses", "").startswith("actions/attest@")]
    assert len(attests) == 2 and all(a["push-to-registry"] is True for a in attests)
    assert ["sbom-path" in a for a in attests] == [False, True], "build provenance, then the SBOM"
    release_runs = " ".join(s.get("run", "") for s in steps("release"))
    for command in ("scripts/release-image metadata", "scripts/release-image notes", "scripts/release-image major", "gh release create"):
        assert command in release_runs
