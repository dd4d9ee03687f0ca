"""The built-in profiles of the pinned agents, from what the agents actually send: each agent of harness/agents.py is
run on its task (``TASK``) through ``approval capture`` (its proxy, in this process) to LiteLLM in front of the stub
model, and its profile is the capture with an overlay laid over it (harness/data/profile_overlays.yaml: the fields a
capture cannot know — the file's prose, the client library, whether it relies on finish_reason, what is documented
but not observed). One LiteLLM serves every agent::

    python -m harness.profile_captures regenerate [--agent codex-cli ...]   # write approval/profiles/<name>.yaml
    python -m harness.profile_captures regenerate --check                   # write nothing; exit 1 with a diff

The file is written deterministically: the fields in the schema's order, parameters' keys sorted, the date the only
time in it; no tool call id, key, port or path of the run can be in it (checked). Content lengths move a little from
run to run (the scratch folder's path and today's date are in an agent's prompt): a length within ``CHARS_SLACK`` (or
``CHARS_SHARE`` of it) of the shipped file's keeps the shipped one, and a file whose only change would be its date is
left as it is, so a regeneration of an unchanged agent changes nothing. ``--check`` compares every field but
``source`` and ``date`` and prints a unified diff of the fields that differ; Dependabot's bump of an agent
(requirements/agents) that sends something else fails tests/e2e/test_profile_captures.py with that diff.

Exit codes: 0 written or unchanged (``--check``: every shape matches), 1 (``--check``) a shape differs, 2 an agent is
not installed, did not complete its task through the capture, or LiteLLM is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import yaml

from approval.settings.profile import profile_schema
from harness.peer_gateway import REPO_ROOT

PROFILES: Final = REPO_ROOT / "approval" / "profiles"
OVERLAYS: Final = Path(__file__).resolve().with_name("data") / "profile_overlays.yaml"
# The fields of a profile in the order the schema lists them: the order they are written in.
FIELD_ORDER: Final = tuple(profile_schema()["properties"])
PROSE: Final = ("source", "date")  # the overlay's prose and the date: the only fields --check does not compare
OVERLAY_SET: Final = frozenset(FIELD_ORDER) - {"name", "source", "date"}
CHARS_SLACK: Final = 160  # characters a recorded length may move by and keep the shipped one (the scratch path, a date)
CHARS_SHARE: Final = 0.10  # or this share of it
RUN_IDS: Final = re.compile(r"\b(?:call|fc|resp|chatcmpl|msg|rs)_[0-9A-Za-z]{12,}")
AGENT_TIMEOUT_S: Final = 45.0
HEADER: Final = ("# Written by scripts/capture-profiles (python -m harness.profile_captures regenerate) from a capture of the pinned\n"
                 "# agent, with harness/data/profile_overlays.yaml laid over it: edit the overlay, not this file (docs/profiles.md).\n")


class CaptureError(RuntimeError):
    """An agent could not be captured: not installed, or it did not complete its task through the proxy."""


@dataclass(frozen=True)
class Overlay:
    """One built-in profile's overlay (harness/data/profile_overlays.yaml)."""

    name: str
    agent: str
    model: str
    label: str
    package: str
    comment: str
    source: str
    set: Mapping[str, Any] = field(default_factory=dict)


def load_overlays(text: str) -> dict[str, Overlay]:
    """The overlays of an overlay file's text; ValueError for a field a profile does not have or a missing key."""
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ValueError("the overlay file must map profile names to overlays")
    out: dict[str, Overlay] = {}
    for name, entry in doc.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{name}: an overlay is a mapping")
        given = dict(entry.get("set") or {})
        unknown = sorted(set(given) - OVERLAY_SET)
        if unknown:
            raise ValueError(f"{name}: an overlay cannot set {', '.join(unknown)}")
        missing = [key for key in ("agent", "model", "label", "package", "comment", "source") if not entry.get(key)]
        if missing:
            raise ValueError(f"{name}: the overlay has no {', '.join(missing)}")
        out[str(name)] = Overlay(str(name), str(entry["agent"]), str(entry["model"]), str(entry["label"]), str(entry["package"]),
                                 " ".join(str(entry["comment"]).split()), " ".join(str(entry["source"]).split()), given)
    return out


# ---------------------------------------------------------------------------------------------------- the file, pure
def canonical(value: Any) -> Any:
    """A parameter's value with every mapping's keys sorted (an agent may send them in any order)."""
    if isinstance(value, Mapping):
        return {str(k): canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def source_line(overlay: Overlay, version: str, date: str, task: str) -> str:
    """The profile's `source`: what was seen, of which release and when, then the overlay's prose."""
    return (f"seen: {overlay.label} {version} ({overlay.package}) captured on {date} by scripts/capture-profiles: `approval "
            f"capture` between the agent and LiteLLM in front of a loopback stub model, the task {task!r}; the endpoint, "
            f"streaming, tools (descriptions and schemas), tool_choice, parallel_tool_calls, parameters, instruction role, role "
            f"sequence (roles and lengths) and header names are as sent, identifying values redacted. {overlay.source}")


def with_overlay(captured: Mapping[str, Any], overlay: Overlay, version: str, date: str, task: str) -> dict[str, Any]:
    """The profile: the captured fields, the overlay's over them (its parameters merged in), the name, source and date,
    in FIELD_ORDER."""
    doc = {k: v for k, v in captured.items() if k not in ("name", "source", "date")}
    for key, value in overlay.set.items():
        doc[key] = {**dict(doc.get("parameters") or {}), **dict(value)} if key == "parameters" else value
    doc["parameters"] = canonical(doc.get("parameters") or {})
    doc.update(name=overlay.name, source=source_line(overlay, version, date, task), date=date)
    return ordered(doc)


def ordered(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The fields in FIELD_ORDER (any other key after them, sorted)."""
    return {**{k: doc[k] for k in FIELD_ORDER if k in doc}, **{k: doc[k] for k in sorted(doc) if k not in FIELD_ORDER}}


def near(ours: Any, theirs: Any) -> bool:
    """Two recorded lengths that differ by no more than a run's scratch path or date moves them."""
    if not isinstance(ours, int) or not isinstance(theirs, int):
        return bool(ours == theirs)
    return abs(ours - theirs) <= max(CHARS_SLACK, int(theirs * CHARS_SHARE))


def settle(doc: Mapping[str, Any], shipped: Mapping[str, Any] | None) -> dict[str, Any]:
    """`doc` with the shipped file's length for each role_sequence entry that is the same entry but for a length that
    moved no more than a run moves it (`near`); the whole sequence is kept as captured when its entries differ."""
    out = dict(doc)
    ours, theirs = doc.get("role_sequence"), (shipped or {}).get("role_sequence")
    if not isinstance(ours, list) or not isinstance(theirs, list) or len(ours) != len(theirs):
        return out
    settled = []
    for mine, shipped_entry in zip(ours, theirs, strict=True):
        same = isinstance(shipped_entry, Mapping) and {k: v for k, v in mine.items() if k != "chars"} == \
            {k: v for k, v in shipped_entry.items() if k != "chars"} and near(mine.get("chars"), shipped_entry.get("chars"))
        settled.append(dict(shipped_entry) if same else dict(mine))
    out["role_sequence"] = settled
    return out


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (a tool's description) as literal blocks, so a diff reads line by line."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None)


def render(doc: Mapping[str, Any], comment: str) -> str:
    """The profile file's text: the header, the comment line, the fields as given (already ordered)."""
    return HEADER + f"# {comment}\n" + dump(dict(doc))


def shape_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What --check compares: every field but the prose and the date, and the agent's product without its version (a
    bump alone changes no request shape; the next regeneration writes it)."""
    shape = {k: v for k, v in ordered(doc).items() if k not in PROSE}
    if isinstance(shape.get("user_agent"), str):
        shape["user_agent"] = shape["user_agent"].split("/", 1)[0]
    return shape


def shape_diff(shipped: Mapping[str, Any] | None, captured: Mapping[str, Any], name: str) -> str:
    """A unified diff of the shape fields (YAML) from the shipped file to the capture; "" when they are the same."""
    if shipped is not None and shape_of(shipped) == shape_of(captured):
        return ""
    before = dump(shape_of(shipped)).splitlines(keepends=True) if shipped is not None else []
    after = dump(shape_of(captured)).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, f"approval/profiles/{name}.yaml (shipped)", f"{name} (captured)"))


def leaks(text: str, forbidden: Mapping[str, str]) -> list[str]:
    """What of a run is in the text, named (never shown): any value of `forbidden` (the key, the ports, the scratch
    folder, by what they are) or a tool call or response id."""
    found = [what for what, value in forbidden.items() if value and value in text]
    return found + ["a tool call or response id" for _ in RUN_IDS.findall(text)][:1]


def regenerated(captured: Mapping[str, Any], overlay: Overlay, version: str, today: str, task: str,
                shipped: Mapping[str, Any] | None) -> dict[str, Any]:
    """The profile to write: the capture with the overlay, its lengths settled against the shipped file, and the
    shipped file's date (in `date` and `source`) when nothing else would change."""
    kept = shipped.get("date") if shipped is not None else None
    if isinstance(kept, str):
        same_day = settle(with_overlay(captured, overlay, version, kept, task), shipped)
        if same_day == ordered(shipped):  # type: ignore[arg-type]
            return same_day
    return settle(with_overlay(captured, overlay, version, today, task), shipped)


# ---------------------------------------------------------------------------------------------------- capturing
@dataclass(frozen=True)
class Captured:
    name: str
    doc: dict[str, Any]  # the profile (overlay applied, settled)
    text: str  # the file's text
    seconds: float


def capture_one(overlay: Overlay, *, stub: Any, base_url: str, key: str, today: str, forbidden: Mapping[str, str],
                shipped: Mapping[str, Any] | None, timeout_s: float = AGENT_TIMEOUT_S) -> Captured:
    """Run the overlay's agent on TASK through the capture proxy to `base_url`; its profile and file text."""
    from approval.capture.proxy import Recorder, listen, parse_upstream, serve
    from approval.capture.shape import profile_shape
    from approval.settings.profile import profile_from_text
    from harness.agents import AGENTS, TASK, installed, run_agent

    agent = AGENTS.get(overlay.agent)
    if agent is None:
        raise CaptureError(f"{overlay.name}: the overlay names {overlay.agent!r}, which is not an agent of harness/agents.py")
    if not installed(agent):
        raise CaptureError(f"{overlay.name}: {agent.name} {agent.version} is not installed: run scripts/bootstrap "
                           "(or python -m harness.agents install)")
    upstream = parse_upstream(base_url)
    recorder = Recorder(None)
    server = listen("127.0.0.1", 0, upstream, recorder, lambda line: None)
    port = str(server.server_address[1])
    serving = threading.Thread(target=serve, args=(server, recorder, timeout_s + 60), name="profile-capture", daemon=True)
    started = time.monotonic()
    serving.start()
    with tempfile.TemporaryDirectory(prefix=f"capture-{agent.name}-") as scratch:
        try:
            outcome = run_agent(agent, stub=stub, base_url=f"http://127.0.0.1:{port}{upstream.base_path}", api_key=key,
                                model=overlay.model, timeout_s=timeout_s, keep=Path(scratch))
        finally:
            recorder.stop.set()
            serving.join(timeout=30)
        if not outcome.completed:
            raise CaptureError(f"{overlay.name}: {agent.name} did not complete its task through the capture: {outcome.describe()}")
        seen = recorder.seen
        if not seen:
            raise CaptureError(f"{overlay.name}: {agent.name} sent no model request through the capture")
        shape = profile_shape(seen, today=today, name=overlay.name)
        doc = regenerated(shape.doc, overlay, agent.version, today, TASK, shipped)
        text = render(doc, overlay.comment)
        found = leaks(text, {**forbidden, "the proxy's port": port, "the scratch folder": scratch,
                             **{f"an authenticating header's value ({i})": s for i, s in enumerate(shape.secrets, 1)}})
    if found:
        raise CaptureError(f"{overlay.name}: the profile would hold a value of the run ({', '.join(found)}): not written")
    profile_from_text(text, text.encode("utf-8"), f"the regenerated profile {overlay.name!r}")  # schema-valid, or a bug here
    return Captured(overlay.name, doc, text, time.monotonic() - started)


def shipped_doc(name: str) -> dict[str, Any] | None:
    path = PROFILES / f"{name}.yaml"
    if not path.is_file():
        return None
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else None


@contextlib.contextmanager
def _gateway() -> Any:
    from harness.agents import stub_gateway
    from harness.peer_gateway import find_litellm

    if find_litellm() is None:
        raise CaptureError("litellm is not installed: run scripts/bootstrap, or set LITELLM_BIN")
    with stub_gateway(["stub-model"]) as running:
        yield running


def regenerate(names: Sequence[str], *, check: bool, say: Callable[[str], None] = print) -> int:
    """Capture each named profile's agent and write its profile (or, `check`, compare it with the shipped file)."""
    overlays = load_overlays(OVERLAYS.read_text(encoding="utf-8"))
    unknown = [n for n in names if n not in overlays]
    if unknown:
        say(f"error: no overlay for {', '.join(unknown)}; captured profiles: {', '.join(overlays)}")
        return 2
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    differ = 0
    started = time.monotonic()
    try:
        with _gateway() as (stub, base_url, key):
            port = base_url.rsplit(":", 1)[1].split("/", 1)[0]
            for name in names or list(overlays):
                shipped = shipped_doc(name)
                got = capture_one(overlays[name], stub=stub, base_url=base_url, key=key, today=today, forbidden={"the key": key, "LiteLLM's port": port},
                                  shipped=shipped)
                path = PROFILES / f"{name}.yaml"
                if check:
                    diff = shape_diff(shipped, got.doc, name)
                    differ += bool(diff)
                    say(f"{name}: {'differs from' if diff else 'matches'} approval/profiles/{name}.yaml ({got.seconds:.1f} s)")
                    if diff:
                        say(diff.rstrip("\n"))
                elif path.is_file() and path.read_text(encoding="utf-8") == got.text:
                    say(f"{name}: unchanged ({got.seconds:.1f} s)")
                else:
                    path.write_text(got.text, encoding="utf-8")
                    say(f"{name}: wrote approval/profiles/{name}.yaml ({got.seconds:.1f} s)")
    except CaptureError as exc:
        say(f"error: {exc}")
        return 2
    say(f"{'checked' if check else 'regenerated'} in {time.monotonic() - started:.1f} s")
    if differ:
        say(f"{differ} captured shape(s) differ from the shipped profiles: regenerate them (bash scripts/capture-profiles), "
            "review the diff and commit it (docs/profiles.md)")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.profile_captures", description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    regen = sub.add_parser("regenerate", help="capture the pinned agents and write their built-in profiles")
    regen.add_argument("--agent", action="append", default=[], metavar="NAME", help="a built-in profile's name (default: every captured one)")
    regen.add_argument("--check", action="store_true", help="write nothing; exit 1 with a diff when a captured shape differs")
    args = parser.parse_args(argv)
    return regenerate(list(dict.fromkeys(args.agent)), check=args.check, say=lambda line: print(line, flush=True))


if __name__ == "__main__":
    sys.exit(main())
