"""The CLI as a Python package: sdist and wheel built from the committed tree, checked, installed into a clean venv.

The build runs on a copy of the files git knows (committed or not ignored), so a file the package needs but the
repository would not ship fails here. The venv gets the runtime pins exactly as the container does (hash-checked),
then the wheel alone (`--no-deps --no-index`) and `pip check`: the wheel's declared dependencies must be satisfied by
the pins. Then `approval` runs from that venv, in an empty folder, with no project source on the path.
"""

from __future__ import annotations

import email
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from approval import __version__
from harness.commands import MASTER_KEY, require_e2e
from harness.peer_gateway import RunningLiteLLM

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DIST_NAME = "model-approval-gate"
STEP_TIMEOUT_S = 600


@dataclass(frozen=True)
class BuiltPackage:
    sdist: Path
    wheel: Path
    venv: Path
    source: Path  # the copy of the repository the package was built from

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name


def _step(what: str, command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, cwd=cwd, env=env, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: no result within {STEP_TIMEOUT_S} s", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}", pytrace=False)
    return proc.stdout + proc.stderr


def _shipped_tree(target: Path) -> None:
    """Copy the files git would ship (tracked, or new and not ignored) into `target`."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True,
                                timeout=60, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"cannot list the repository's files with git: {exc}", pytrace=False)
    for name in filter(None, listed.decode("utf-8").split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _clean_env(**extra: str) -> dict[str, str]:
    """A user's shell: no PYTHONPATH, no virtualenv, nothing of the test run's gateway or GitHub settings."""
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "PIP_CERT", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
                                                         "PIP_FIND_LINKS", "PIP_DEFAULT_TIMEOUT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")}
    return {**keep, "PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", **extra}


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltPackage]:
    missing = [m for m in ("build", "twine") if importlib.util.find_spec(m) is None]
    if missing:
        message = f"{', '.join(missing)} not installed: run scripts/bootstrap (requirements/package.txt)"
        if require_e2e():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    base = tmp_path_factory.mktemp("package")
    source, dist, venv = base / "source", base / "dist", base / "venv"
    _shipped_tree(source)
    # sdist first, then the wheel built from the unpacked sdist: the sdist alone must be enough to build it
    _step("python -m build", [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)])
    sdists, wheels = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(p.name for p in dist.iterdir())
    _step("twine check", [sys.executable, "-m", "twine", "check", "--strict", str(sdists[0]), str(wheels[0])])
    _step("python -m venv", [sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _step("install the runtime pins", [*pip, "--require-hashes", "--no-deps", "-r", str(ROOT / "requirements" / "runtime.txt")], env=_clean_env())
    _step("install the wheel", [*pip, "--no-deps", "--no-index", str(wheels[0])], env=_clean_env())
    _step("pip check", [python, "-m", "pip", "check", "--disable-pip-version-check"], env=_clean_env())
    yield BuiltPackage(sdists[0], wheels[0], venv, source)


def _package_files(source: Path) -> set[str]:
    return {str(PurePosixPath(p.relative_to(source).as_posix())) for p in (source / "approval").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def test_the_wheel_and_the_sdist_carry_the_whole_package(package: BuiltPackage):
    expected = _package_files(package.source)
    assert "approval/schemas/record.schema.json" in expected and "approval/schemas/config.schema.json" in expected
    with zipfile.ZipFile(package.wheel) as wheel:
        names = set(wheel.namelist())
        dist_info = f"model_approval_gate-{__version__}.dist-info"
        metadata = email.message_from_bytes(wheel.read(f"{dist_info}/METADATA"))
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert {n for n in names if n.startswith("approval/")} == expected, "the wheel's files differ from the package tree"
    assert not {n for n in names if not n.startswith(("approval/", dist_info + "/"))}, "the wheel carries files outside the package"
    assert metadata["Name"] == DIST_NAME and metadata["Version"] == __version__
    assert "approval = approval.frontends.cli:console" in entry_points
    with tarfile.open(package.sdist) as sdist:
        top = f"model_approval_gate-{__version__}/"
        members = {m.name.removeprefix(top) for m in sdist.getmembers() if m.isfile()}
    assert expected <= members and {"pyproject.toml", "README.md"} <= members


def test_the_installed_command_runs_with_no_project_source_on_the_path(package: BuiltPackage, tmp_path: Path):
    for command in ([str(package.bin("approval")), "--version"], [str(package.bin("python")), "-m", "approval", "--version"]):
        proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=_clean_env(), timeout=60, check=False)
        assert proc.returncode == 0 and proc.stdout.strip() == f"approval {__version__}", proc.stdout + proc.stderr
    probe = "import approval, sys; print(approval.__file__); print(sys.path)"
    proc = subprocess.run([str(package.bin("python")), "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=_clean_env(), timeout=60,
                          check=False)
    where, path = proc.stdout.splitlines()
    assert Path(where).is_relative_to(package.venv), f"approval was imported from {where}, not from the installed wheel"
    assert str(ROOT) not in path


def test_the_installed_command_approves_on_the_demo_gateway(package: BuiltPackage, litellm: RunningLiteLLM, tmp_path: Path):
    """What an operator runs on a laptop after `pipx install`: the demo's config against the bundled LiteLLM gateway."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    approval = str(package.bin("approval"))
    env = _clean_env(GATEWAY_API_KEY=MASTER_KEY, NO_PROXY="127.0.0.1,localhost")
    proc = subprocess.run([approval, "run", "--config", "examples/gateway.yaml", "--base-url", litellm.base_url, "--record-out",
                           "approval-record.json", "--report-out", "approval-report.md", "--timeout", "60"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "RESULT: APPROVED" in proc.stdout and "Traceback" not in output
    record = json.loads((tmp_path / "approval-record.json").read_text(encoding="utf-8"))
    assert record["overall_result"] == "pass" and record["tool_version"] == __version__
    for text in (output, (tmp_path / "approval-record.json").read_text(), (tmp_path / "approval-report.md").read_text()):
        assert MASTER_KEY not in text, "the API key leaked into an output"
    check = subprocess.run([approval, "validate-record", "approval-record.json"], capture_output=True, text=True, cwd=tmp_path, env=_clean_env(),
                           timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
