"""The installed `approval` command through Portkey's open-source gateway (a second real gateway, on 127.0.0.1), in
front of the LiteLLM proxy (examples/litellm.yaml) and of the fault gateway.

Portkey routes each request by the headers the config sends (gateway.yaml `headers:`): `x-portkey-provider` with
`x-portkey-custom-host`, or one `x-portkey-config` with a strategy (fallback, loadbalance) or retries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.commands import MASTER_KEY, CliRun, approve_at, statuses
from harness.fault_gateway import FaultGateway
from harness.peer_gateway import RunningPortkey

pytestmark = pytest.mark.e2e

DEFAULT_CHECKS = ["reachability", "happy-path", "model-echo", "error-path", "latency", "agent-client"]


@pytest.fixture
def fault() -> Iterator[FaultGateway]:
    with FaultGateway(max_stall_s=10.0) as gateway:
        yield gateway


def target(upstream: str, **extra: Any) -> dict[str, Any]:
    """One Portkey target: the openai provider at a loopback upstream, with the key that upstream accepts."""
    return {"provider": "openai", "api_key": MASTER_KEY, "custom_host": upstream, **extra}


def config_file(tmp_path: Path, headers: dict[str, Any], **more: Any) -> str:
    path = tmp_path / "gateway.yaml"
    doc = {"headers": {name: json.dumps(value) if isinstance(value, dict) else value for name, value in headers.items()}, **more}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return str(path)


def routed_to(upstream: str) -> dict[str, Any]:
    return {"x-portkey-provider": "openai", "x-portkey-custom-host": upstream}


def through(portkey: RunningPortkey, tmp_path: Path, config: str, *extra: str, model: str = "good-model") -> tuple[CliRun, Any]:
    return approve_at(portkey.base_url, tmp_path, model, "--config", config, *extra)


@pytest.fixture
def unstreamed_tools(tmp_path: Path) -> str:
    """A profile file: the default agent's tools, turns not streamed. Portkey 1.15.2 answers every streamed call routed
    to an openai custom host with 500 (test_a_streaming_agent_is_not_approved_through_portkey), so the other tests hold
    for an agent that does not stream."""
    from importlib import resources

    profile = yaml.safe_load(resources.files("approval.profiles").joinpath("generic-tools.yaml").read_text("utf-8"))
    path = tmp_path / "unstreamed-tools.yaml"
    path.write_text(yaml.safe_dump({**profile, "name": "unstreamed-tools", "streams": False}, sort_keys=False), encoding="utf-8")
    return str(path)


def check(record: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in record["checks"] if c["name"] == name)


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_approved_through_portkey_in_front_of_litellm(portkey, litellm, tmp_path, endpoint, unstreamed_tools):
    result, record = through(portkey, tmp_path, config_file(tmp_path, routed_to(litellm.base_url)), "--endpoint", endpoint,
                             "--profile", unstreamed_tools)
    assert result.code == 0, result.all_text
    assert statuses(record)["tool-round-trip"] == ("pass", "none")  # the tool loop through both gateways' translation
    assert record["overall_result"] == "pass" and record["endpoint_family"] == endpoint
    checks = statuses(record)
    assert checks["model-echo"] == ("pass", "none") and checks["happy-path"] == ("pass", "none")
    # Portkey answers GET /models with 500 "Something went wrong" whatever the routing headers: a warning, not a block
    assert checks["reachability"] == ("warn", "infrastructure") and "/models unavailable" in check(record, "reachability")["detail"]
    # the routing headers are plain words: the evidence shows them, nothing reads `***` in their place
    assert "***" not in check(record, "error-path")["detail"] and "openai error" in check(record, "error-path")["detail"]


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_approved_through_portkey_in_front_of_the_fault_gateway(portkey, fault, tmp_path, endpoint):
    # the fault gateway answers one text to everything: an agent without tools
    result, record = through(portkey, tmp_path, config_file(tmp_path, routed_to(fault.base_url)), "--endpoint", endpoint,
                             "--profile", "plain-chat")
    assert result.code == 0, result.all_text
    assert statuses(record)["model-echo"] == ("pass", "none")
    sent = [r for r in fault.requests if r.method == "POST"]
    assert sent and all(r.authorization == f"Bearer {MASTER_KEY}" for r in sent)  # Portkey forwarded the client's key


def test_the_error_path_says_portkey_filled_in_a_model_for_the_request_without_one(portkey, litellm, fault, tmp_path):
    substitutes = []
    for upstream in (litellm.base_url, fault.base_url):
        result, record = through(portkey, tmp_path, config_file(tmp_path, routed_to(upstream)), "--checks", "happy-path,error-path")
        error_path = check(record, "error-path")
        assert error_path["status"] == "warn" and error_path["category"] == "gateway", error_path
        assert error_path["metrics"]["missing-model-rewritten"] is True
        substitute = re.search(r"no model \(a warning only\): HTTP 4\d\d about model '([^']+)': the gateway filled in that model",
                               error_path["detail"])
        assert substitute is not None, error_path["detail"]
        substitutes.append(substitute.group(1))
        assert "unknown model: HTTP 4" in error_path["detail"] and result.code == 0
    # what reached the fault gateway: the request without a model arrived with Portkey's own default in it
    assert substitutes[1] == substitutes[0] and substitutes[1] in {r.model for r in fault.requests}
    required = config_file(tmp_path, routed_to(litellm.base_url), required=["error-path.missing-model"])
    result, record = through(portkey, tmp_path, required, "--checks", "happy-path,error-path")
    assert result.code == 1 and statuses(record)["error-path"] == ("fail", "gateway")


def test_a_streaming_agent_is_not_approved_through_portkey(portkey, litellm, tmp_path):
    # Portkey 1.15.2 answers a streamed call routed to an openai custom host with 500: the default agent, which streams
    # its tool calls, could not work through it, and the verdict says so as what it is (infrastructure), not the model
    result, record = through(portkey, tmp_path, config_file(tmp_path, routed_to(litellm.base_url)))
    assert result.code == 1, result.all_text
    assert statuses(record)["streamed-tool-calls"] == ("error", "infrastructure")
    assert "HTTP 500" in check(record, "streamed-tool-calls")["detail"] and record["failure_categories"] == ["infrastructure"]


def test_a_fallback_to_a_later_target_under_the_same_model_name_fails_model_echo(portkey, litellm, tmp_path, unstreamed_tools):
    with FaultGateway(models=("other-model",)) as rejecting:  # answers 404 model_not_found for good-model
        fallback = {"strategy": {"mode": "fallback"}, "targets": [target(rejecting.base_url), target(litellm.base_url)]}
        result, record = through(portkey, tmp_path, config_file(tmp_path, {"x-portkey-config": fallback}), "--profile", unstreamed_tools)
        assert any(r.model == "good-model" for r in rejecting.requests)  # the first target was asked, and refused
    assert result.code == 1, result.all_text
    checks = statuses(record)
    assert checks["model-echo"] == ("fail", "gateway")
    # every answer looked right and named good-model: only the route differs, and no check passes on those answers
    assert checks["happy-path"] == ("error", "gateway") and "answered elsewhere" in check(record, "happy-path")["detail"]
    detail = check(record, "model-echo")["detail"]
    assert detail.startswith("silent fallback on ")
    assert "(x-portkey-last-used-option-index: config.targets[1])" in detail
    assert record["failure_categories"] == ["gateway"]
    assert "x-portkey-last-used-option-index: config.targets[1]" in result.stdout


def test_a_load_balanced_target_fails_unless_the_route_names_it(portkey, litellm, tmp_path):
    balance = {"strategy": {"mode": "loadbalance"}, "targets": [target(litellm.base_url, weight=0), target(litellm.base_url, weight=1)]}
    checks = "reachability,happy-path,model-echo"
    result, record = through(portkey, tmp_path, config_file(tmp_path, {"x-portkey-config": balance}), "--checks", checks)
    assert result.code == 1 and statuses(record)["model-echo"] == ("fail", "gateway")
    assert "its loadbalance strategy chose config.targets[1]" in check(record, "model-echo")["detail"]
    reviewed = config_file(tmp_path, {"x-portkey-config": balance}, route={"portkey_option_index": "config.targets[1]", "provider": "openai"})
    result, record = through(portkey, tmp_path, reviewed, "--checks", checks)
    assert result.code == 0, result.all_text
    assert "through the reviewed route (route.portkey_option_index, route.provider)" in check(record, "model-echo")["detail"]


def test_portkeys_retries_are_reported_and_do_not_fail(portkey, fault, tmp_path):
    fault.set_fault("429", model="good-model", times=1)  # one call is refused once, then served
    retrying = {**target(fault.base_url), "retry": {"attempts": 2, "on_status_codes": [429]}}
    result, record = through(portkey, tmp_path, config_file(tmp_path, {"x-portkey-config": retrying}),
                             "--checks", "reachability,happy-path,model-echo")
    assert result.code == 0, result.all_text
    echo = check(record, "model-echo")
    assert echo["status"] == "pass" and echo["metrics"]["gateway_retried_calls"] == 1
    assert "(x-portkey-retry-attempt-count: 1)" in echo["detail"]
    assert sum(1 for r in fault.requests if r.model == "good-model") == 3  # reach + one sample, one of them twice


def test_the_reviewed_provider_is_checked_against_portkeys_header(portkey, litellm, tmp_path):
    other = config_file(tmp_path, routed_to(litellm.base_url), route={"provider": "anthropic"})
    result, record = through(portkey, tmp_path, other, "--checks", "reachability,happy-path,model-echo")
    assert result.code == 1 and statuses(record)["model-echo"] == ("fail", "gateway")
    assert "(x-portkey-provider: openai)" in check(record, "model-echo")["detail"]


def test_streaming_through_portkey_on_node_is_never_passed(portkey, litellm, tmp_path):
    # Portkey 1.15.2 under Node answers every streaming call with 500 (its response headers are immutable there:
    # Portkey-AI/gateway issues 1389 and 1550). A 5xx leaves the stream unobserved: an evidence gap, never a pass.
    result, record = through(portkey, tmp_path, config_file(tmp_path, routed_to(litellm.base_url)), "--checks", "happy-path,streaming")
    assert result.code == 1
    streaming = check(record, "streaming")
    assert (streaming["status"], streaming["category"]) == ("error", "infrastructure")
    assert "HTTP 500" in streaming["detail"] and "Something went wrong" in streaming["detail"]
