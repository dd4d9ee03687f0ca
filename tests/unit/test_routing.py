"""Each gateway's own routing evidence, read from one exchange (approval.engine.routing).

LiteLLM and Portkey shapes are as observed on loopback (examples/litellm.yaml; @portkey-ai/gateway 1.15.2); the
others are fixtures of the shapes the gateways document (the module names each source).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from approval.engine.routing import NO_FINDING, Kind, Reading, portkey_primary, portkey_strategy, read, served_elsewhere
from approval.settings.route import Route

BODY = {"id": "chatcmpl-1", "object": "chat.completion", "model": "good-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello."}, "finish_reason": "stop"}]}


def body(**changes: Any) -> dict[str, Any]:
    return {**BODY, **changes}


def kinds(reading: Reading) -> list[tuple[Kind, str, str]]:
    return [(f.kind, f.evidence, f.value) for f in reading.findings]


# -- LiteLLM ------------------------------------------------------------------------------------------------------------

LITELLM_OK = {"x-litellm-attempted-fallbacks": "0", "x-litellm-attempted-retries": "0", "x-litellm-model-group": "good-model",
              "x-litellm-model-id": "fb861f4af413a5c0", "x-litellm-model-api-base": "https://api.openai.com"}


def test_litellm_served_as_asked_has_no_finding():
    reading = read(LITELLM_OK, body(), "good-model")
    assert reading.findings == () and reading.served_elsewhere() is None


def test_litellm_fallback_as_observed_is_a_fallback_whatever_the_body_says():
    headers = {**LITELLM_OK, "x-litellm-attempted-fallbacks": "1", "x-litellm-model-group": "good-model"}
    reading = read(headers, body(model="gpt-4o-mini"), "fallback-model")
    found = reading.served_elsewhere()
    assert found is not None and found.kind is Kind.FALLBACK and found.evidence == "x-litellm-attempted-fallbacks"
    assert found.shown == "LiteLLM reports 1 attempted fallback(s) (x-litellm-attempted-fallbacks: 1)"
    # the model group and the body each name another model too: three findings, the gateway's own report first
    assert {f.kind for f in reading.findings} == {Kind.FALLBACK, Kind.OTHER_MODEL}


def test_litellm_fallback_errors_alone_show_a_fallback():
    errors = json.dumps([{"message": "Connection error.", "type": "internal_server_error", "param": None, "code": "500"}])
    found = read({"x-litellm-fallback-errors": errors}, body(), "good-model").served_elsewhere()
    assert found is not None and found.kind is Kind.FALLBACK and "1 failed attempt" in found.text


def test_litellm_retries_are_reported_not_failed():
    reading = read({**LITELLM_OK, "x-litellm-attempted-retries": "2"}, body(), "good-model")
    assert reading.served_elsewhere() is None
    assert kinds(reading) == [(Kind.RETRIED, "x-litellm-attempted-retries", "2")]


def test_litellm_route_fields_compare_group_deployment_and_api_base():
    route = Route(litellm_model_group=("good-model",), litellm_model_id=("fb861f4af413a5c0",), api_base=("https://API.openai.com/",))
    reading = read(LITELLM_OK, body(), "good-model", route=route)
    assert reading.findings == ()
    assert reading.route_evidence == {"litellm_model_group", "litellm_model_id", "api_base"}
    other = read({**LITELLM_OK, "x-litellm-model-api-base": "https://eu.example.test/v1"}, body(), "good-model", route=route)
    found = other.served_elsewhere()
    assert found is not None and found.kind is Kind.OTHER_ROUTE and found.evidence == "x-litellm-model-api-base"


def test_a_configured_model_group_replaces_the_name_comparison():
    # the gateway maps the requested alias to its own group name: the reviewed group is what counts
    headers = {**LITELLM_OK, "x-litellm-model-group": "gpt-4o-eu"}
    assert read(headers, body(model="gpt-4o"), "gpt-4o", route=Route(litellm_model_group=("gpt-4o-eu",))).findings == ()
    found = read(headers, body(model="gpt-4o"), "gpt-4o").served_elsewhere()
    assert found is not None and found.kind is Kind.OTHER_MODEL and found.value == "gpt-4o-eu"


def test_a_model_group_named_by_an_alias_is_the_candidate():
    headers = {**LITELLM_OK, "x-litellm-model-group": "team-gpt"}
    assert read(headers, body(model="gpt-4o"), "gpt-4o", aliases=("team-gpt",)).served_elsewhere() is None


# -- Portkey ------------------------------------------------------------------------------------------------------------

PORTKEY_OK = {"x-portkey-last-used-option-index": "config", "x-portkey-provider": "openai", "x-portkey-retry-attempt-count": "0",
              "x-portkey-cache-status": "DISABLED"}
FALLBACK_CONFIG = {"strategy": {"mode": "fallback"}, "targets": [{"provider": "openai"}, {"provider": "openai"}]}


def test_portkey_single_route_has_no_finding():
    assert read(PORTKEY_OK, body(), "good-model").findings == ()


def test_portkey_fallback_to_a_later_target_fails_even_with_the_same_model_name():
    headers = {**PORTKEY_OK, "x-portkey-last-used-option-index": "config.targets[1]"}
    found = read(headers, body(), "good-model", portkey_config=FALLBACK_CONFIG).served_elsewhere()
    assert found is not None and found.kind is Kind.FALLBACK
    assert found.shown.endswith("(x-portkey-last-used-option-index: config.targets[1])")


def test_portkey_load_balanced_target_is_another_route_unless_reviewed():
    config = {"strategy": {"mode": "loadbalance"}, "targets": [{"provider": "openai"}, {"provider": "openai"}]}
    headers = {**PORTKEY_OK, "x-portkey-last-used-option-index": "config.targets[1]"}
    found = read(headers, body(), "good-model", portkey_config=config).served_elsewhere()
    assert found is not None and found.kind is Kind.OTHER_ROUTE and "loadbalance" in found.text
    reviewed = Route(portkey_option_index=("config.targets[0]", "config.targets[1]"))
    assert read(headers, body(), "good-model", route=reviewed, portkey_config=config).findings == ()


def test_portkey_primary_target_passes_and_a_reviewed_index_replaces_the_primary():
    headers = {**PORTKEY_OK, "x-portkey-last-used-option-index": "config.targets[0]"}
    assert read(headers, body(), "good-model", portkey_config=FALLBACK_CONFIG).findings == ()
    found = read(headers, body(), "good-model", route=Route(portkey_option_index=("config.targets[1]",))).served_elsewhere()
    assert found is not None and found.kind is Kind.OTHER_ROUTE


def test_portkey_nested_targets_and_strategies():
    config = {"strategy": {"mode": "loadbalance"},
              "targets": [{"strategy": {"mode": "fallback"}, "targets": [{"provider": "openai"}, {"provider": "azure-openai"}]},
                          {"provider": "openai"}]}
    assert portkey_strategy(config, "config.targets[0].targets[1]") == "fallback"
    assert portkey_strategy(config, "config.targets[1]") == "loadbalance"
    assert portkey_strategy(config, "config.targets[5]") is None
    assert portkey_primary("config") and portkey_primary("config.targets[0].targets[0]")
    assert not portkey_primary("config.targets[0].targets[1]") and not portkey_primary("something else")


def test_portkey_without_the_sent_config_still_fails_a_non_primary_target():
    headers = {**PORTKEY_OK, "x-portkey-last-used-option-index": "config.targets[2]"}
    found = read(headers, body(), "good-model").served_elsewhere()
    assert found is not None and found.kind is Kind.OTHER_ROUTE


@pytest.mark.parametrize(("count", "text"), [("2", "retried the call 2 time(s)"), ("-1", "as often as its config allows")])
def test_portkey_retries_are_reported(count, text):
    reading = read({**PORTKEY_OK, "x-portkey-retry-attempt-count": count}, body(), "good-model")
    assert reading.served_elsewhere() is None
    assert [f.kind for f in reading.findings] == [Kind.RETRIED] and text in reading.findings[0].text


def test_portkey_provider_against_the_reviewed_provider():
    reading = read(PORTKEY_OK, body(), "good-model", route=Route(provider=("anthropic",)))
    found = reading.served_elsewhere()
    assert found is not None and found.kind is Kind.OTHER_ROUTE and found.evidence == "x-portkey-provider"
    assert read(PORTKEY_OK, body(), "good-model", route=Route(provider=("OpenAI",))).route_evidence == {"provider"}


# -- OpenRouter ---------------------------------------------------------------------------------------------------------


def test_openrouter_body_provider_and_model():
    served = body(model="anthropic/claude-3.5-sonnet", provider="Amazon Bedrock")
    assert read({}, served, "anthropic/claude-3.5-sonnet").findings == ()
    found = read({}, served, "anthropic/claude-3.5-sonnet", route=Route(provider=("Anthropic",))).served_elsewhere()
    assert found is not None and found.kind is Kind.OTHER_ROUTE and found.value == "Amazon Bedrock"
    # a `models` fallback shows as another model in the body
    other = read({}, body(model="gryphe/mythomax-l2-13b", provider="DeepInfra"), "anthropic/claude-3.5-sonnet").served_elsewhere()
    assert other is not None and other.kind is Kind.OTHER_MODEL and other.value == "gryphe/mythomax-l2-13b"


def test_openrouter_metadata_attempts():
    attempts = [{"provider": "OpenAI", "model": "openai/gpt-4o", "status": 429}, {"provider": "Azure", "model": "openai/gpt-4o", "status": 200}]
    reading = read({}, body(model="openai/gpt-4o", openrouter_metadata={"requested": "openai/gpt-4o", "attempts": attempts}), "openai/gpt-4o")
    assert [f.kind for f in reading.findings] == [Kind.RETRIED]
    mixed = [{"provider": "A", "model": "openai/gpt-4o", "status": 503}, {"provider": "B", "model": "meta/llama-3", "status": 200}]
    fell = read({}, body(model="meta/llama-3", openrouter_metadata={"attempts": mixed}), "openai/gpt-4o").served_elsewhere()
    assert fell is not None and fell.kind is Kind.FALLBACK


# -- Kong, Cloudflare, Helicone, Azure ----------------------------------------------------------------------------------


def test_kong_model_header():
    assert read({"x-kong-llm-model": "openai/gpt-4o"}, body(model="gpt-4o"), "gpt-4o").findings == ()
    found = read({"x-kong-llm-model": "openai/gpt-4o-mini"}, body(model="gpt-4o"), "gpt-4o").served_elsewhere()
    assert found is not None and found.kind is Kind.OTHER_MODEL and found.evidence == "X-Kong-LLM-Model"
    route = read({"x-kong-llm-model": "azure/gpt-4o"}, body(model="gpt-4o"), "gpt-4o", route=Route(provider=("openai",)))
    assert route.served_elsewhere() is not None and route.route_evidence == {"provider"}


def test_cloudflare_step_model_and_provider():
    assert read({"cf-aig-step": "0"}, body(), "good-model").findings == ()
    found = read({"cf-aig-step": "1"}, body(), "good-model").served_elsewhere()
    assert found is not None and found.kind is Kind.FALLBACK and "step 1" in found.text
    dynamic = {"cf-aig-model": "@cf/meta/llama-3.1-8b-instruct", "cf-aig-provider": "workers-ai"}
    other = read(dynamic, body(), "good-model", route=Route(provider=("openai",)))
    assert [f.kind for f in other.findings] == [Kind.OTHER_MODEL, Kind.OTHER_ROUTE]


def test_helicone_fallback_index():
    assert read({"helicone-fallback-index": "0"}, body(), "good-model").findings == ()
    found = read({"helicone-fallback-index": "2"}, body(), "good-model").served_elsewhere()
    assert found is not None and found.kind is Kind.FALLBACK


def test_azure_spillover_deployment_and_served_model():
    ok = {"x-ms-deployment-name": "gpt4o-ptu", "x-ms-served-model": "gpt-4o-2024-08-06", "x-ms-region": "East US"}
    assert read(ok, body(model="gpt-4o-2024-08-06"), "gpt-4o", route=Route(deployment=("gpt4o-ptu",))).findings == ()
    spilled = {**ok, "x-ms-deployment-name": "gpt4o-paygo", "x-ms-spillover-from-deployment": "gpt4o-ptu", "x-ms-spillover-error": "429"}
    found = read(spilled, body(model="gpt-4o-2024-08-06"), "gpt-4o").served_elsewhere()
    assert found is not None and found.kind is Kind.FALLBACK
    assert found.text == "Azure OpenAI spilled the call over from deployment 'gpt4o-ptu' (HTTP 429) to 'gpt4o-paygo'"
    served = read({"x-ms-served-model": "gpt-4.1-nano-2025-04-14"}, body(model="gpt-4o"), "gpt-4o").served_elsewhere()
    assert served is not None and served.kind is Kind.OTHER_MODEL


# -- body only (vLLM, Ollama, CometAPI) ---------------------------------------------------------------------------------


def test_body_model_only_gateways():
    assert read({}, body(model="gpt-4o-2024-08-06"), "gpt-4o").findings == ()  # a dated snapshot (CometAPI's examples)
    ollama = read({}, body(model="llama3.1:70b", system_fingerprint="fp_ollama"), "llama3.1:8b").served_elsewhere()
    assert ollama is not None and ollama.gateway == "Ollama" and ollama.text == "asked for 'llama3.1:8b', Ollama names 'llama3.1:70b'"
    assert read({}, body(model="/models/Qwen2.5-7B"), "Qwen2.5-7B").findings == ()  # vLLM's served name with a path prefix


def test_a_version_suffix_is_said_as_such():
    found = read({}, body(model="gemini-1.5-pro-002"), "gemini-1.5-pro").served_elsewhere()
    assert found is not None and found.kind is Kind.OTHER_MODEL
    assert found.text.startswith("a different version than the one requested")
    assert not read({}, body(model="gpt-4o-mini"), "gpt-4o").findings[0].text.startswith("a different version")


def test_no_evidence_at_all():
    reading = read({}, None, "good-model")
    assert reading.findings == () and served_elsewhere(reading.findings) is None
    assert NO_FINDING.kind is Kind.NONE and not NO_FINDING.served_elsewhere
