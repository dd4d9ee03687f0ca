"""Running the real command as a user who is not root (the tests run as root in CI): `setpriv` or `runuser`."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.commands import require_e2e

ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534


def interpreter() -> str:
    """The Python the unprivileged user runs: APPROVAL_UNPRIVILEGED_PYTHON; else this one when that user can run it
    and read the checkout; else a private copy (`_private_python`)."""
    given = os.environ.get("APPROVAL_UNPRIVILEGED_PYTHON")
    if given:
        return given
    return sys.executable if _runs_as_nobody(sys.executable, str(ROOT)) else _private_python()[0]


def package_path() -> str:
    """Where that Python finds the package: the checkout, or the private copy's own copy of it."""
    if os.environ.get("APPROVAL_UNPRIVILEGED_PYTHON") or _runs_as_nobody(sys.executable, str(ROOT)):
        return str(ROOT)
    return _private_python()[1]


@functools.cache
def _runs_as_nobody(python: str, path: str) -> bool:
    prefix = _candidates()[:1]
    if not prefix or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return True
    probe = subprocess.run([*prefix[0], python, "-c", "import approval.frontends.cli, yaml, jsonschema"], capture_output=True,
                           env={"PATH": "/usr/bin:/bin", "PYTHONPATH": path}, cwd="/", timeout=60, check=False)
    return probe.returncode == 0


@functools.cache
def _private_python() -> tuple[str, str]:
    """Where this interpreter lives in a folder only root may enter (pyenv under /root, as here), a copy the
    unprivileged user can run: a venv of the system's python3 (3.11 or newer) in a world-readable temporary folder, with
    the runtime pins installed hash-checked (as in the image) and a copy of the package beside it. Built once per session;
    (python, package folder)."""
    base = shutil.which("python3", path="/usr/bin:/bin")
    if base is None:
        return sys.executable, str(ROOT)
    folder = Path(tempfile.mkdtemp(prefix="approval-unprivileged-"))
    atexit.register(shutil.rmtree, folder, True)
    folder.chmod(0o755)
    venv = folder / "venv"
    subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--require-hashes",
                    "-r", str(ROOT / "requirements" / "runtime.txt")], check=True, capture_output=True, timeout=600)
    package = folder / "src"
    shutil.copytree(ROOT / "approval", package / "approval", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o044 | (0o011 if path.is_dir() else 0))
    return str(venv / "bin" / "python"), str(package)


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
        probe = subprocess.run([*prefix, interpreter(), "-c", "import approval.frontends.cli, yaml, jsonschema"], capture_output=True,
                               text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": package_path()}, cwd="/", timeout=60, check=False)
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
    full_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": package_path(), **env}
    return subprocess.run([*prefix, interpreter(), "-m", "approval", *args], capture_output=True, text=True, env=full_env, cwd=cwd,
                          timeout=120, check=False)
