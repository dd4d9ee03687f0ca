"""The named checks. Each module has NAME and a pure `evaluate(Evidence) -> CheckResult`."""

from __future__ import annotations

from collections.abc import Callable

from approval.engine.checks import (
    agent_client,
    approved_list,
    error_path,
    happy_path,
    latency,
    model_echo,
    output_quality,
    reachability,
    streaming,
    structured_output,
    tool_calling,
)
from approval.engine.checks.base import Evidence
from approval.engine.results import CheckResult

EVALUATORS: dict[str, Callable[[Evidence], CheckResult]] = {
    module.NAME: module.evaluate
    for module in (
        reachability,
        happy_path,
        model_echo,
        error_path,
        latency,
        output_quality,
        streaming,
        tool_calling,
        structured_output,
        approved_list,
        agent_client,
    )
}
