"""The route that was reviewed (gateway.yaml `route:`): the gateway's own names for the provider, target or
deployment that should serve every call. The engine compares each answer's routing evidence with it (engine/routing.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROUTE_FIELDS = ("provider", "portkey_option_index", "litellm_model_group", "litellm_model_id", "api_base", "deployment")


@dataclass(frozen=True)
class Route:
    """The route that was reviewed (gateway.yaml `route:`). An empty field is not checked; several values mean any."""

    provider: tuple[str, ...] = ()  # x-portkey-provider, body `provider`, X-Kong-LLM-Model's provider, cf-aig-provider
    portkey_option_index: tuple[str, ...] = ()  # x-portkey-last-used-option-index, e.g. config.targets[0]
    litellm_model_group: tuple[str, ...] = ()  # x-litellm-model-group
    litellm_model_id: tuple[str, ...] = ()  # x-litellm-model-id (a deployment's id)
    api_base: tuple[str, ...] = ()  # x-litellm-model-api-base
    deployment: tuple[str, ...] = ()  # x-ms-deployment-name (Azure OpenAI)

    def named(self) -> tuple[str, ...]:
        return tuple(name for name in ROUTE_FIELDS if getattr(self, name))


# Portkey's x-portkey-last-used-option-index: the JSON path of the target used (config, config.targets[1], …)
OPTION_INDEX_RE = re.compile(r"^config(\.targets\[\d+\])*$")
