"""A gateway on https with a private CA, through the real `approval` command: verified against the CA bundle the
environment names (REQUESTS_CA_BUNDLE, SSL_CERT_FILE), and refused, as infrastructure, without it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from approval.settings.network import CA_BUNDLE_VARIABLES
from harness.fault_gateway import FaultGateway
from harness.measured_runs import child_env, leaks_canary, run_cli
from harness.tls import make_tls_files

ARGS = ["run", "--model", "good-model", "--samples", "1", "--timeout", "20", "--checks", "reachability,happy-path,model-echo,agent-client"]
CA_VARIABLES = CA_BUNDLE_VARIABLES


@pytest.fixture(scope="module")
def tls_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FaultGateway, Path]]:
    ca, cert, key = make_tls_files(tmp_path_factory.mktemp("tls"))
    with FaultGateway(tls=(cert, key)) as gateway:
        yield gateway, ca


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in child_env().items() if k not in CA_VARIABLES}
    env.update(extra)
    return env


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_private_ca_named_by_the_environment_is_trusted(tls_gateway: tuple[FaultGateway, Path], tmp_path: Path, variable: str) -> None:
    gateway, ca = tls_gateway
    assert gateway.base_url.startswith("https://")
    run = run_cli([*ARGS, "--base-url", gateway.base_url], env=_env(**{variable: str(ca)}), cwd=tmp_path)
    assert run.code == 0, run.output
    record = json.loads((tmp_path / "approval-record.json").read_text(encoding="utf-8"))
    assert record["overall_result"] == "pass"
    assert next(c for c in record["checks"] if c["name"] == "agent-client")["status"] == "pass"  # the SDK trusts the same CA


def test_without_the_ca_the_certificate_is_refused_as_infrastructure(tls_gateway: tuple[FaultGateway, Path], tmp_path: Path) -> None:
    gateway, _ = tls_gateway
    run = run_cli([*ARGS, "--base-url", gateway.base_url], env=_env(), cwd=tmp_path)
    assert run.code == 1, run.output
    record = json.loads((tmp_path / "approval-record.json").read_text(encoding="utf-8"))
    assert record["failure_categories"] == ["infrastructure"]
    assert "TLS handshake or certificate verification failed" in run.stdout
    agent = next(c for c in record["checks"] if c["name"] == "agent-client")
    assert (agent["status"], agent["category"]) == ("error", "infrastructure") and "APIConnectionError" in agent["detail"], agent
    assert not leaks_canary(run.output)
