"""A gateway reached through an HTTP proxy (HTTP_PROXY, NO_PROXY), through the real `approval` command.

The fault gateway serves as the proxy: a request for `http://gateway.test/v1/...` can reach it only through the
proxy setting, in absolute form with `Host: gateway.test` (the name is never looked up: the proxy is asked for it).
NO_PROXY is tested in tests/unit/test_network.py, where nothing is sent: a direct request to a name that is not
loopback would ask the machine's DNS resolver.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.fault_gateway import FaultGateway
from harness.measured_runs import CANARY, child_env, is_sdk_request, run_cli

ARGS = ["run", "--model", "good-model", "--samples", "1", "--timeout", "20", "--checks", "reachability,happy-path,model-echo,agent-client"]


def _clean_env(**extra: str) -> dict[str, str]:
    env = child_env(**extra)
    for name in list(env):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            del env[name]
    env.update(extra)
    return env


def test_the_gateway_is_reached_through_the_proxy(tmp_path: Path) -> None:
    with FaultGateway(api_key=CANARY) as proxy:
        run = run_cli([*ARGS, "--base-url", "http://gateway.test/v1"], env=_clean_env(HTTP_PROXY=proxy.root_url), cwd=tmp_path, hard_timeout=60)
        seen = proxy.requests
    assert run.code == 0, run.output
    assert seen, "nothing reached the proxy"
    assert {r.header("host") for r in seen} == {"gateway.test"}
    assert all(r.authorization == f"Bearer {CANARY}" for r in seen)
    assert sum(is_sdk_request(r.header("user-agent")) for r in seen) == 4  # the agent's SDK went through the proxy too
    record = json.loads((tmp_path / "approval-record.json").read_text(encoding="utf-8"))
    assert record["overall_result"] == "pass"
    assert CANARY not in run.output


def test_a_loopback_gateway_is_never_proxied(tmp_path: Path) -> None:
    with FaultGateway() as gateway:
        # a proxy that does not exist: were it used, every call would fail
        env = _clean_env(HTTP_PROXY="http://127.0.0.1:9", ALL_PROXY="http://127.0.0.1:9")
        run = run_cli([*ARGS, "--base-url", gateway.base_url], env=env, cwd=tmp_path, hard_timeout=60)
    assert run.code == 0, run.output
