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
# approved list; opt-in: only when named
Default = Literal["always", "with-expect", "with-registry", "opt-in"]


@dataclass(frozen=True)
class CheckFacts:
    """What the settings layer needs to know of one check."""

    name: str
    default: Default = "opt-in"
    findings: tuple[str, ...] = ()  # its warnings that `required:` can make blocking, named without the check's name
    own_answers: bool = True  # its evidence is the candidate's own answers to this tool's raw calls

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
    def without_own_answers(self) -> frozenset[str]:
        """Checks that gather no answer of the candidate's own (and the deprecated names that run as one)."""
        own = {c.name for c in self.checks if not c.own_answers}
        return frozenset(own | {d.name for d in self.deprecated if d.runs_as in own})

    def facts(self, name: str) -> CheckFacts | None:
        return next((c for c in self.checks if c.name == name), None)

    def current(self, name: str) -> str:
        """The check a (possibly deprecated) name runs as."""
        return next((d.runs_as for d in self.deprecated if d.name == name), name)

    def standard(self, *, with_expect: bool, with_registry: bool) -> tuple[str, ...]:
        wanted = {"always"} | ({"with-expect"} if with_expect else set()) | ({"with-registry"} if with_registry else set())
        return tuple(c.name for c in self.checks if c.default in wanted)

    def select(self, raw_checks: Any, raw_required: Sequence[Any], *, with_expect: bool, with_registry: bool) -> Selection:
        """The checks to run and the findings that block, from `checks` (a comma-separated text or a list; empty: the
        standard set) and `required:`. Every name that cannot work is a ConfigError, before anything is sent."""
        given = names_of(raw_checks) if raw_checks else []
        known = set(self.names) | {d.name for d in self.deprecated}
        unknown = [n for n in given if n not in known]
        if unknown:
            raise ConfigError(f"unknown check {unknown[0]!r}", f"choose among: {', '.join(self.names)}")
        checks = tuple(dict.fromkeys(self.current(n) for n in given)) if given else self.standard(with_expect=with_expect,
                                                                                                   with_registry=with_registry)
        if not set(checks) - self.without_own_answers:
            raise ConfigError(f"the selected checks ({', '.join(checks)}) gather no answer of the model's own, so they cannot approve it",
                              "add a check that calls it (reachability, happy-path, …), or leave checks empty for the standard set")
        required_given = [str(r) for r in raw_required]
        required = frozenset(self.current(r) for r in required_given)
        notices = tuple(d.notice() for d in self.deprecated if d.name in required_given or d.name in given)
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
