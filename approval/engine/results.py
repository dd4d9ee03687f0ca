"""Value types shared by the suite, the record and the reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"  # a finding that does not block unless the user asks it to
    FAIL = "fail"
    ERROR = "error"  # could not be checked: an evidence gap, never a pass
    SKIP = "skip"


class Category(StrEnum):
    MODEL = "model"  # the model's own behaviour (empty output, refusal, expectations, latency)
    GATEWAY = "gateway"  # the gateway bends the contract (shape, error envelope, silent fallback)
    INFRASTRUCTURE = "infrastructure"  # access or provider failure (401/403, DNS, TLS, 5xx, 429, timeouts)
    CONFIG = "config"  # the user's configuration
    NONE = "none"  # a pass or a skip


BLOCKING = frozenset({Status.FAIL, Status.ERROR})


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    category: Category
    duration_ms: float
    detail: str  # short, redacted evidence
    metrics: dict[str, Any] = field(default_factory=dict)  # numbers only (latency, counts), never text from a body

    @property
    def blocking(self) -> bool:
        return self.status in BLOCKING

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "category": self.category.value,
            "duration_ms": round(self.duration_ms, 1),
            "detail": self.detail,
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class RunCheck:
    """A check of the run as a whole rather than of one model (registry-guard): shown above the models; a failure
    fails the run, while each model's own verdict and record stay what its checks say."""

    result: CheckResult
    lines: tuple[str, ...] = ()  # markdown details, already escaped


def verdict(checks: list[CheckResult], warnings_block: bool = False) -> str:
    """`pass` only when no check failed or errored (and, if asked, none warned)."""
    blocking = set(BLOCKING) | ({Status.WARN} if warnings_block else set())
    if not checks:
        return "fail"
    return "fail" if any(c.status in blocking for c in checks) else "pass"
