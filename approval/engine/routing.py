"""What a gateway says about who served one call: its own route, fallback and retry evidence, read from one exchange.

`read()` is a pure function of the response headers (lower-cased names), the parsed body (for a stream, the first
chunk that names a model), the model that was asked for and, when the configuration names it, the route that was
reviewed. It returns every finding the evidence supports; `served_elsewhere()` picks the one that means the answer
came from another model or route than the reviewed one (a check built on that answer is evidence about something
else). A retry is a finding of its own kind: it costs the agent time, but the answer still came from the reviewed
route, so it is reported, never failed.

Each rule names its source. Only LiteLLM and Portkey were observed here (on loopback); the others rest on the
gateway's documentation or code, and are tested with fixtures of the documented shapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from approval.engine.contract import model_matches
from approval.settings.route import OPTION_INDEX_RE, Route


class Kind(StrEnum):
    FALLBACK = "fallback"  # the gateway reports that a fallback (another target, group, step, deployment) served it
    OTHER_ROUTE = "other-route"  # served by another route (provider, option, deployment) than the reviewed one
    OTHER_MODEL = "other-model"  # the gateway or the body names another model than the candidate
    RETRIED = "retried"  # served after the gateway retried: reported, not failed
    NONE = "none"


SERVED_ELSEWHERE = frozenset({Kind.FALLBACK, Kind.OTHER_ROUTE, Kind.OTHER_MODEL})
# What an answer's body says about who served it (a stream: each chunk or event may say it again).
IDENTITY_FIELDS = ("model", "provider", "system_fingerprint", "openrouter_metadata")


def identity_key(identity: Mapping[str, Any]) -> str:
    """Two identities with the same key name the same route: a fingerprint that changes from chunk to chunk does not."""
    return json.dumps([identity.get(k) for k in IDENTITY_FIELDS if k != "system_fingerprint"], default=str)


@dataclass(frozen=True)
class Finding:
    kind: Kind
    gateway: str  # whose evidence: LiteLLM, Portkey, OpenRouter, Kong, Cloudflare AI Gateway, Helicone, Azure OpenAI, ...
    evidence: str  # the header or body field that shows it
    value: str  # what it said
    text: str  # one sentence for a person

    @property
    def served_elsewhere(self) -> bool:
        return self.kind in SERVED_ELSEWHERE

    @property
    def shown(self) -> str:
        """`text (evidence: value)`, the form reports use (the text alone when it already quotes the value)."""
        return self.text if repr(self.value) in self.text and self.evidence == "body model" else f"{self.text} ({self.evidence}: {self.value})"


NO_FINDING = Finding(Kind.NONE, "", "", "", "no gateway evidence of another model, route or retry")


@dataclass(frozen=True)
class Reading:
    findings: tuple[Finding, ...] = ()
    route_evidence: frozenset[str] = field(default_factory=frozenset)  # the Route fields some evidence was compared with

    def served_elsewhere(self) -> Finding | None:
        return served_elsewhere(self.findings)

    def retries(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind is Kind.RETRIED)

    def merged(self, other: Reading) -> Reading:
        """This reading and another of the same call (a stream's later identity), findings in order."""
        extra = tuple(f for f in other.findings if f not in self.findings)
        return Reading(self.findings + extra, self.route_evidence | other.route_evidence)


def served_elsewhere(findings: Iterable[Finding]) -> Finding | None:
    """The finding that shows another model or route served the call (a gateway's own report first), or None."""
    found = [f for f in findings if f.served_elsewhere]
    order = {Kind.FALLBACK: 0, Kind.OTHER_ROUTE: 1, Kind.OTHER_MODEL: 2}
    return min(found, key=lambda f: order[f.kind]) if found else None


def read(headers: Mapping[str, str], body: Any, requested: str, *, aliases: tuple[str, ...] = (), route: Route | None = None,
         portkey_config: Any = None) -> Reading:
    """Every routing finding one exchange supports. `headers` have lower-cased names; `body` is the parsed JSON (or
    None); `portkey_config` is the parsed `x-portkey-config` the request sent, when it sent one."""
    route = route or Route()
    reader = _Reader(headers, body if isinstance(body, Mapping) else {}, requested, aliases, route)
    reader.litellm()
    reader.portkey(portkey_config)
    reader.openrouter()
    reader.kong()
    reader.cloudflare()
    reader.helicone()
    reader.azure()
    reader.body_model()
    return Reading(tuple(reader.findings), frozenset(reader.compared))


# -- helpers ---------------------------------------------------------------------------------------------------------


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _norm_base(url: str) -> str:
    return url.strip().rstrip("/").lower()


_OPTION_STEP = re.compile(r"\.targets\[(\d+)\]")


def portkey_primary(index: str) -> bool:
    """Whether a Portkey option path names the primary target: `config`, or the first target at every level."""
    return OPTION_INDEX_RE.match(index) is not None and all(step == "0" for step in _OPTION_STEP.findall(index))


def portkey_strategy(config: Any, index: str) -> str | None:
    """The strategy mode (fallback, loadbalance, conditional) of the config node that chose the last target of `index`."""
    steps = [int(s) for s in _OPTION_STEP.findall(index)]
    node = config
    mode: str | None = None
    for step in steps:
        if not isinstance(node, Mapping):
            return None
        strategy = node.get("strategy")
        mode = str(strategy.get("mode")) if isinstance(strategy, Mapping) and strategy.get("mode") else None
        targets = node.get("targets")
        if not isinstance(targets, list) or step >= len(targets):
            return None
        node = targets[step]
    return mode


def portkey_config_of(headers: Iterable[tuple[str, str]]) -> Any:
    """The parsed `x-portkey-config` among the headers a request sends (a JSON object), or None (absent, or a saved
    config's id)."""
    for name, value in headers:
        if name.lower() == "x-portkey-config":
            try:
                parsed = json.loads(value)
            except ValueError:
                return None
            return parsed if isinstance(parsed, Mapping) else None
    return None


class _Reader:
    def __init__(self, headers: Mapping[str, str], body: Mapping[str, Any], requested: str, aliases: tuple[str, ...],
                 route: Route) -> None:
        self.headers = headers
        self.body = body
        self.requested = requested
        self.aliases = aliases
        self.route = route
        self.findings: list[Finding] = []
        self.compared: set[str] = set()

    def h(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def add(self, kind: Kind, gateway: str, evidence: str, value: object, text: str) -> None:
        self.findings.append(Finding(kind, gateway, evidence, str(value), text))

    def same_model(self, named: str) -> bool:
        return model_matches(self.requested, named, self.aliases)

    def against_route(self, name: str, value: str, gateway: str, evidence: str, what: str, *, norm: Any = str.lower) -> None:
        """Compare a route signal with the reviewed route's field `name`, when the configuration names one."""
        reviewed: tuple[str, ...] = getattr(self.route, name)
        if not reviewed:
            return
        self.compared.add(name)
        if norm(value) not in {norm(v) for v in reviewed}:
            self.add(Kind.OTHER_ROUTE, gateway, evidence, value,
                     f"{gateway} served the call through {what} {value!r}, not the reviewed {', '.join(map(repr, reviewed))}")

    # LiteLLM proxy. Source: BerriAI/litellm (1.108.7, as installed here) litellm/router_utils/add_retry_fallback_headers.py
    # (x-litellm-attempted-fallbacks, x-litellm-attempted-retries, x-litellm-fallback-errors), litellm/router.py
    # (x-litellm-model-group), litellm/proxy/common_request_processing.py (x-litellm-model-id, x-litellm-model-api-base);
    # docs/my-website/docs/proxy/response_headers.md. Observed on loopback with examples/litellm.yaml.
    def litellm(self) -> None:
        fallbacks = _int(self.h("x-litellm-attempted-fallbacks"))
        errors = self.h("x-litellm-fallback-errors")
        failed = _json_list_len(errors)
        if fallbacks and fallbacks > 0:
            extra = f" after {failed} failed attempt(s) (x-litellm-fallback-errors)" if failed else ""
            self.add(Kind.FALLBACK, "LiteLLM", "x-litellm-attempted-fallbacks", fallbacks,
                     f"LiteLLM reports {fallbacks} attempted fallback(s){extra}")
        elif failed:
            self.add(Kind.FALLBACK, "LiteLLM", "x-litellm-fallback-errors", f"{failed} error(s)",
                     f"LiteLLM lists {failed} failed attempt(s) before the one that answered")
        group = self.h("x-litellm-model-group")
        if group is not None:
            if self.route.litellm_model_group:
                self.against_route("litellm_model_group", group, "LiteLLM", "x-litellm-model-group", "model group", norm=str)
            elif not self.same_model(group):
                self.add(Kind.OTHER_MODEL, "LiteLLM", "x-litellm-model-group", group, f"LiteLLM served model group {group!r}")
        model_id = self.h("x-litellm-model-id")
        if model_id is not None:
            self.against_route("litellm_model_id", model_id, "LiteLLM", "x-litellm-model-id", "deployment", norm=str)
        api_base = self.h("x-litellm-model-api-base")
        if api_base is not None:
            self.against_route("api_base", api_base, "LiteLLM", "x-litellm-model-api-base", "API base", norm=_norm_base)
        retries = _int(self.h("x-litellm-attempted-retries"))
        if retries and retries > 0:
            self.add(Kind.RETRIED, "LiteLLM", "x-litellm-attempted-retries", retries, f"LiteLLM retried the call {retries} time(s)")

    # Portkey's gateway. Source: Portkey-AI/gateway src/globals.ts (RESPONSE_HEADER_KEYS), src/handlers/handlerUtils.ts
    # (retry count: -1 when every configured attempt was used and the last status still asked for a retry),
    # src/handlers/services/responseService.ts; read in @portkey-ai/gateway 1.15.2 and observed on loopback: a
    # fallback config whose first target fails answers from `config.targets[1]`, nothing in the body says so.
    def portkey(self, config: Any) -> None:
        index = self.h("x-portkey-last-used-option-index")
        if index is not None:
            if self.route.portkey_option_index:
                self.against_route("portkey_option_index", index, "Portkey", "x-portkey-last-used-option-index", "option", norm=str)
            elif not portkey_primary(index):
                mode = portkey_strategy(config, index)
                if mode == "fallback":
                    self.add(Kind.FALLBACK, "Portkey", "x-portkey-last-used-option-index", index,
                             f"Portkey's fallback strategy served the call from {index}, not the primary target")
                else:
                    how = f"its {mode} strategy chose" if mode else "it served the call from"
                    self.add(Kind.OTHER_ROUTE, "Portkey", "x-portkey-last-used-option-index", index,
                             f"Portkey: {how} {index}, not the primary target (name the reviewed one in route.portkey_option_index)")
        provider = self.h("x-portkey-provider")
        if provider is not None:
            self.against_route("provider", provider, "Portkey", "x-portkey-provider", "provider")
        retries = _int(self.h("x-portkey-retry-attempt-count"))
        if retries is not None and retries > 0:
            self.add(Kind.RETRIED, "Portkey", "x-portkey-retry-attempt-count", retries, f"Portkey retried the call {retries} time(s)")
        elif retries == -1:
            self.add(Kind.RETRIED, "Portkey", "x-portkey-retry-attempt-count", retries,
                     "Portkey retried the call as often as its config allows")

    # OpenRouter. Source: openrouter.ai docs, routing/model-fallbacks ("the model that was ultimately used ... is returned
    # in the model attribute"), provider routing (body `provider`), router metadata (`openrouter_metadata`, opt-in and
    # marked experimental: read only `attempts`). Portkey adds the same body `provider` to responses it transforms.
    def openrouter(self) -> None:
        provider = self.body.get("provider")
        if isinstance(provider, str) and provider.strip():
            self.against_route("provider", provider.strip(), "the gateway", "body provider", "provider")
        metadata = self.body.get("openrouter_metadata")
        attempts = metadata.get("attempts") if isinstance(metadata, Mapping) else None
        if isinstance(attempts, list) and len(attempts) > 1:
            models = {str(a.get("model")) for a in attempts if isinstance(a, Mapping) and a.get("model")}
            served = self.body.get("model")
            if isinstance(served, str) and any(not model_matches(served, m) for m in models):
                self.add(Kind.FALLBACK, "OpenRouter", "openrouter_metadata.attempts", f"{len(attempts)} attempts",
                         f"OpenRouter tried {len(attempts)} model endpoints, of other models too, before this answer")
            else:
                self.add(Kind.RETRIED, "OpenRouter", "openrouter_metadata.attempts", f"{len(attempts)} attempts",
                         f"OpenRouter tried {len(attempts)} provider endpoints before this answer")

    # Kong AI Gateway (ai-proxy, ai-proxy-advanced). Source: Kong/kong CHANGELOG 3.8 (#13472, "X-Kong-LLM-Model ... the
    # name of the language model used"), kong/llm/plugin/shared-filters/normalize-request.lua (`provider/model`, on by
    # default through `model_name_header`). Whether it names the balancer's final target after a retry is undocumented.
    def kong(self) -> None:
        named = self.h("x-kong-llm-model")
        if named is None:
            return
        provider, slash, model = named.partition("/")
        if slash:
            self.against_route("provider", provider, "Kong", "X-Kong-LLM-Model", "provider")
        if not self.same_model(named):
            self.add(Kind.OTHER_MODEL, "Kong", "X-Kong-LLM-Model", named, f"Kong served model {model if slash else named!r}")

    # Cloudflare AI Gateway. Source: cloudflare/cloudflare-docs ai-gateway/configuration/fallbacks.mdx (universal
    # endpoint: `cf-aig-step` 0 = primary, 1 = first fallback, ...), features/dynamic-routing/usage.mdx (cf-aig-model,
    # cf-aig-provider).
    def cloudflare(self) -> None:
        step = _int(self.h("cf-aig-step"))
        if step and step > 0:
            self.add(Kind.FALLBACK, "Cloudflare AI Gateway", "cf-aig-step", step,
                     f"Cloudflare AI Gateway served the call from fallback step {step}, not the primary (step 0)")
        model = self.h("cf-aig-model")
        if model is not None and not self.same_model(model):
            self.add(Kind.OTHER_MODEL, "Cloudflare AI Gateway", "cf-aig-model", model, f"Cloudflare AI Gateway served model {model!r}")
        provider = self.h("cf-aig-provider")
        if provider is not None:
            self.against_route("provider", provider, "Cloudflare AI Gateway", "cf-aig-provider", "provider")

    # Helicone (its earlier gateway). Source: Helicone/helicone worker/src/routers/gatewayRouter.ts (sets
    # `helicone-fallback-index` to the 0-based index of the fallback that answered).
    def helicone(self) -> None:
        index = _int(self.h("helicone-fallback-index"))
        if index and index > 0:
            self.add(Kind.FALLBACK, "Helicone", "helicone-fallback-index", index,
                     f"Helicone served the call from fallback {index}, not the primary (index 0)")

    # Azure OpenAI. Source: Microsoft Learn, "Manage traffic with spillover for provisioned deployments"
    # (x-ms-spillover-from-deployment, x-ms-spillover-error, x-ms-deployment-name: the deployment that processed it);
    # x-ms-served-model (the model snapshot that answered) from openai/openai-python issues 3271 and 3293, not
    # Microsoft's documentation.
    def azure(self) -> None:
        spilled = self.h("x-ms-spillover-from-deployment")
        deployment = self.h("x-ms-deployment-name")
        if spilled is not None:
            why = self.h("x-ms-spillover-error")
            self.add(Kind.FALLBACK, "Azure OpenAI", "x-ms-spillover-from-deployment", spilled,
                     f"Azure OpenAI spilled the call over from deployment {spilled!r}{' (HTTP ' + why + ')' if why else ''}"
                     f"{' to ' + repr(deployment) if deployment else ''}")
        if deployment is not None:
            self.against_route("deployment", deployment, "Azure OpenAI", "x-ms-deployment-name", "deployment", norm=str)
        served = self.h("x-ms-served-model")
        if served is not None and not self.same_model(served):
            self.add(Kind.OTHER_MODEL, "Azure OpenAI", "x-ms-served-model", served, f"Azure OpenAI served model {served!r}")

    # Every gateway: the body's `model` (vLLM, Ollama, CometAPI and Envoy say nothing else). A dated snapshot of the
    # candidate is the candidate (approval.engine.contract.model_matches). Ollama's `system_fingerprint: fp_ollama` names it.
    def body_model(self) -> None:
        named = self.body.get("model")
        if not isinstance(named, str) or not named.strip() or self.same_model(named):
            return
        who = "Ollama" if self.body.get("system_fingerprint") == "fp_ollama" else "the response"
        version = _other_version(self.requested, named)
        text = (f"a different version than the one requested: asked for {self.requested!r}, {who} names {named!r}" if version
                else f"asked for {self.requested!r}, {who} names {named!r}")
        self.add(Kind.OTHER_MODEL, who, "body model", named, text)


def _json_list_len(text: str | None) -> int:
    if not text:
        return 0
    try:
        parsed = json.loads(text)
    except ValueError:
        return 0
    return len(parsed) if isinstance(parsed, list) else 0


_VERSION_SUFFIX = re.compile(r"^[-_@.:](v?\d[\w.-]*|latest|preview|exp[\w.-]*)$", re.IGNORECASE)


def _other_version(requested: str, named: str) -> bool:
    """`gemini-1.5-pro-002` for `gemini-1.5-pro`: the same model under a version suffix that is not a snapshot date."""
    want = requested.strip().lower().rpartition("/")[2]
    got = named.strip().lower().rpartition("/")[2]
    return got.startswith(want) and _VERSION_SUFFIX.match(got[len(want):]) is not None
