"""The repository's matrix and publishing workflows keep the promises docs/action.md makes about them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from approval.engine.checks import CATALOGUE
from approval.settings.build import build_settings
from harness.mocked_gateway import as_flags

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    return loaded


def triggers(flow: dict[Any, Any]) -> dict[str, Any]:
    on: dict[str, Any] = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads the key `on` as true
    return on


def test_the_matrix_approves_every_gateway_config_and_each_config_is_valid():
    flow = workflow("model-approval-matrix.yml")
    approve = flow["jobs"]["approve"]
    gateways = approve["strategy"]["matrix"]["gateway"]
    configs = sorted(p.stem for p in (ROOT / "config" / "gateways").glob("*.yaml"))
    assert sorted(gateways) == configs, "every config/gateways/*.yaml is a leg of the matrix, and only those"
    for gateway in gateways:
        settings = build_settings(as_flags({"config": str(ROOT / "config" / "gateways" / f"{gateway}.yaml")}),
                                  {"GATEWAY_API_KEY": "sk-test-key-123"}, CATALOGUE)
        assert len(settings.candidates) >= 1
    (step,) = [s for s in approve["steps"] if s.get("uses") == "./"]
    assert step["with"]["config"] == "config/gateways/${{ matrix.gateway }}.yaml"
    assert "${{ matrix.gateway }}" in step["with"]["artifact-name"], "artifact names must be unique per leg"


def test_the_matrix_keeps_going_and_the_summary_judges_every_leg():
    flow = workflow("model-approval-matrix.yml")
    assert flow["permissions"] == {}
    assert flow["concurrency"]["cancel-in-progress"] is True and "pull_request.number" in flow["concurrency"]["group"]
    approve, summary = flow["jobs"]["approve"], flow["jobs"]["summary"]
    assert approve["strategy"]["fail-fast"] is False
    assert summary["needs"] == "approve" and summary["if"].startswith("${{ !cancelled()")
    assert summary["permissions"] == {"contents": "read"}
    (download,) = [s for s in summary["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact@")]
    prefix = approve["steps"][-1]["with"]["artifact-name"].split("${{")[0]
    assert download["with"]["pattern"] == prefix + "*"
    script = summary["steps"][-1]["run"]
    assert "approval summarize --format markdown records" in script and "needs.approve.result" in str(summary["steps"][-1]["env"])


def test_publishing_to_pypi_uses_trusted_publishing_from_one_build():
    flow = workflow("publish-pypi.yml")
    assert flow["permissions"] == {}
    assert set(triggers(flow)) == {"push"} and triggers(flow)["push"] == {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}
    build, publish = flow["jobs"]["build"], flow["jobs"]["publish"]
    assert build["permissions"] == {"contents": "read"}
    assert publish["permissions"] == {"id-token": "write"}, "the OIDC token only where it is exchanged for an upload"
    assert publish["needs"] == "build" and publish["environment"]["name"] == "pypi"
    uses = [s.get("uses", "") for s in publish["steps"]]
    assert any(re.fullmatch(r"pypa/gh-action-pypi-publish@[0-9a-f]{40}", u) for u in uses), uses
    assert not any("checkout" in u for u in uses), "the publish job publishes the build job's files, nothing it builds"
    text = (WORKFLOWS / "publish-pypi.yml").read_text(encoding="utf-8")
    assert "secrets." not in text and "password" not in text, "no stored token"
    run = "\n".join(s.get("run", "") for s in build["steps"])
    assert "requirements/package.txt" in run and "twine check --strict" in run and "python -m build" in run
