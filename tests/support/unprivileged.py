"""Running the real command as a user who is not root (the tests run as root in CI): `setpriv` or `runuser`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.commands import require_e2e

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534


def interpreter() -> str:
    """The Python the unprivileged user runs: this one, or APPROVAL_UNPRIVILEGED_PYTHON (one with the runtime
    dependencies that user can read, where this interpreter lives in a folder only root may enter)."""
    return os.environ.get("APPROVAL_UNPRIVILEGED_PYTHON") or sys.executable


def _candidates() -> list[list[str]]:
    found = []
    search = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin:/usr/bin:/bin"
    if setpriv := shutil.which("setpriv", path=search):
        found.append([setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"])
    if runuser := shutil.which("runuser", path=search):
        found.append([runuser, "-u", "nobody", "--"])
    return found


def unprivileged_prefix() -> list[str]:
    """The command prefix that runs a program as an unprivileged user (none when this process is not root).

    Skips with the reason when no mechanism works here; fails instead under APPROVAL_REQUIRE_E2E=1 (CI)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    problems = []
    for prefix in _candidates():
        probe = subprocess.run([*prefix, interpreter(), "-c", "import approval.frontends.cli, yaml, jsonschema"], capture_output=True, text=True,
                               env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, cwd="/", timeout=60, check=False)
        if probe.returncode == 0:
            return prefix
        problems.append(f"{prefix[0]}: {(probe.stderr.strip().splitlines() or ['exit ' + str(probe.returncode)])[-1]}")
    how = "; ".join(problems) if problems else "neither setpriv nor runuser is installed"
    reason = (f"no way to run the command as an unprivileged user: {how} (the interpreter {interpreter()} and the checkout must be "
              f"readable by uid {NOBODY}; APPROVAL_UNPRIVILEGED_PYTHON may name another with the runtime dependencies)")
    if require_e2e():
        pytest.fail(f"APPROVAL_REQUIRE_E2E=1 but {reason}", pytrace=False)
    pytest.skip(reason)
    return []  # not reached


def run_unprivileged(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m approval ARGS` as an unprivileged user, from `cwd` (which that user must be able to enter)."""
    prefix = unprivileged_prefix()
    full_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([*prefix, interpreter(), "-m", "approval", *args], capture_output=True, text=True, env=full_env, cwd=cwd,
                          timeout=120, check=False)
