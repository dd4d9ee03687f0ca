"""The built-in profiles of the pinned agents are what those agents send: `python -m harness.profile_captures
regenerate --check` runs every installed pinned agent (requirements/agents) through `approval capture` to LiteLLM in
front of the stub model and compares its shape with the shipped profile. A Dependabot bump of an agent that sends
another shape fails here, with the diff to review; `bash scripts/capture-profiles` regenerates the files.

Marked ``agents`` (the agents installed; about 40 s: one LiteLLM start and one short task per agent).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.agents import need_agents
from harness.profile_captures import OVERLAYS, load_overlays

pytestmark = [pytest.mark.e2e, pytest.mark.agents]
ROOT = Path(__file__).resolve().parents[2]
BOUND_S = 150  # one LiteLLM start (~10 s) and five agents' short tasks (~45 s in all, measured)


def captured_built_ins() -> list[str]:
    """The built-in profiles made from a capture, their agents installed (a missing one first, as scripts/bootstrap does)."""
    overlays = load_overlays(OVERLAYS.read_text(encoding="utf-8"))
    need_agents(sorted({o.agent for o in overlays.values()}))
    return list(overlays)


def test_every_pinned_agent_still_sends_the_shape_of_its_shipped_profile() -> None:
    names = captured_built_ins()
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness.profile_captures", "regenerate", "--check",
                           *[part for name in names for part in ("--agent", name)]],
                          cwd=ROOT, capture_output=True, text=True, timeout=BOUND_S, check=False)
    seconds = time.monotonic() - started
    said = done.stdout + done.stderr
    assert done.returncode == 0, (f"a pinned agent no longer sends its shipped profile's shape: regenerate with "
                                  f"`bash scripts/capture-profiles`, review the diff and commit it (docs/profiles.md)\n{said[-12000:]}")
    assert all(f"{name}: matches approval/profiles/{name}.yaml" in said for name in names), said
    assert "Traceback" not in said and seconds < BOUND_S
