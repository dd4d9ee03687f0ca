"""Which checks run: the selection from flags or gateway.yaml, checked against the checks the engine declares.

Each check declares itself once, in its own module under engine/checks (its name, when it runs by default, the
findings `required:` can make blocking, whether its evidence is the candidate's own answers). The front ends hand that
catalogue to the settings builder, so this layer knows every check without importing the engine above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from approval.common.errors import ConfigError

# always: in the standard set; with-expect / with-registry: added to it when the config gives expectations / an
# approved list; with-tools / with-streamed-tools: added when the agent profile sends tools / streams them (the default
# profile does: most coding agents are tool-using; `plain-chat` opts out); with-streamed-text: added when the profile
# streams its turns and sends no tools (Aider), whose streamed answers no tool check exercises; opt-in: only when named
Default = Literal["always", "with-expect", "with-registry", "with-tools", "with-streamed-tools", "with-streamed-text", "opt-in"]


@dataclass(frozen=True)
class Given:
    """What the run was given that adds checks to the standard set (Default)."""

    expect: bool = False  # output expectations (gateway.yaml's or the prompt file's `expect`)
    registry: bool = False  # an approved list
    tools: bool = False  # the agent profile sends tools
    streams: bool = False  # the agent profile streams its turns (with its tools, when it sends any)

    @property
    def defaults(self) -> frozenset[str]:
        """The Default values whose checks are in the standard set."""
        met = {"always": True, "with-expect": self.expect, "with-registry": self.registry, "with-tools": self.tools,
               "with-streamed-tools": self.tools and self.streams, "with-streamed-text": self.streams and not self.tools}
        return frozenset(name for name, on in met.items() if on)


@dataclass(frozen=True)
class CheckFacts:
    """What the settings layer needs to know of one check."""

    name: str
    default: Default = "opt-in"
    findings: tuple[str, ...] = ()  # its warnings that `required:` can make blocking, named without the check's name
    # An approval can rest on this check passing: it judges the candidate's own answers to what the agent asks (the
    # others judge the gateway, time, the list, or answers seen only through the SDK, which hides what the raw calls see)
    grounds_approval: bool = False

    @property
    def requirable(self) -> tuple[str, ...]:
        return tuple(f"{self.name}.{finding}" for finding in self.findings)


@dataclass(frozen=True)
class Deprecated:
    """A check name still accepted in `checks:` and `required:`, and the check it now runs as (with a notice)."""

    name: str
    runs_as: str
    why: str

    def notice(self) -> str:
        return f"check {self.name!r} is deprecated and runs as {self.runs_as!r}: {self.why}. Write {self.runs_as!r} instead"


@dataclass(frozen=True)
class Selection:
    checks: tuple[str, ...]
    required: frozenset[str]
    notices: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    """Every check, in the order a run reports them, and the names that still stand for one."""

    checks: tuple[CheckFacts, ...]
    deprecated: tuple[Deprecated, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.checks)

    @property
    def requirable_findings(self) -> tuple[str, ...]:
        return tuple(f for c in self.checks for f in c.requirable)

    @property
    def grounding(self) -> tuple[str, ...]:
        """The checks an approval can rest on: a selection needs one, and a record's pass needs one passing."""
        return tuple(c.name for c in self.checks if c.grounds_approval)

    @property
    def known(self) -> frozenset[str]:
        """Every name a selection or a record may use: the checks and the deprecated names."""
        return frozenset(self.names) | {d.name for d in self.deprecated}

    def facts(self, name: str) -> CheckFacts | None:
        return next((c for c in self.checks if c.name == name), None)

    def current(self, name: str) -> str:
        """The check a (possibly deprecated) name runs as."""
        return next((d.runs_as for d in self.deprecated if d.name == name), name)

    def standard(self, given: Given) -> tuple[str, ...]:
        wanted = given.defaults
        return tuple(c.name for c in self.checks if c.default in wanted)

    def select(self, raw_checks: Any, raw_required: Sequence[Any], given: Given) -> Selection:
        """The checks to run and the findings that block, from `checks` (a comma-separated text or a list; empty: the
        standard set) and `required:`. Every name that cannot work is a ConfigError, before anything is sent."""
        named = names_of(raw_checks) if raw_checks else []
        unknown = [n for n in named if n not in self.known]
        if unknown:
            raise ConfigError(f"unknown check {unknown[0]!r}", f"choose among: {', '.join(self.names)}")
        checks = tuple(dict.fromkeys(self.current(n) for n in named)) if named else self.standard(given)
        if not set(checks) & set(self.grounding):
            either = " or ".join(self.grounding)
            raise ConfigError(f"the selected checks ({', '.join(checks)}) judge no answer of the model's own ({either}), so they cannot "
                              "approve it", f"add {either} to checks (or --checks), or leave checks empty for the standard set")
        required_given = [str(r) for r in raw_required]
        required = frozenset(self.current(r) for r in required_given)
        notices = tuple(d.notice() for d in self.deprecated if d.name in required_given or d.name in named)
        unknown_required = sorted(r for r in required if r not in self.names and r not in self.requirable_findings)
        if unknown_required:
            raise ConfigError(f"required: unknown name {unknown_required[0]!r}",
                              f"choose among checks or: {', '.join(self.requirable_findings)}")
        unselected = sorted(r for r in required if r.split(".", 1)[0] not in checks)
        if unselected:
            check = unselected[0].split(".", 1)[0]
            raise ConfigError(f"required: {unselected[0]!r} names the check {check!r}, which is not selected in this run, so it could "
                              f"never block", f"add {check} to checks (or --checks), or remove the entry from required")
        return Selection(checks, required, notices)


def names_of(raw: Any) -> list[str]:
    """Check names from a comma-separated text or a list."""
    return [str(c).strip() for c in (raw.split(",") if isinstance(raw, str) else raw) if str(c).strip()]
