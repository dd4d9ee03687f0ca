"""The action's container without a container engine: follow the Dockerfile into a venv, run its ENTRYPOINT.

CI has no Docker, so the image is rebuilt by reading the Dockerfile: its ENV applies to the install and the run, its
COPY lines copy from the build context (after `.dockerignore`) into a directory standing for the image's file system,
its RUN (`pip install …`) runs with a fresh venv's pip, and its ENTRYPOINT (`["python", "/app/entrypoint.py"]`) runs
with that venv's python. Nothing of the test environment leaks in: the venv has no site packages of its own, and the
process gets exactly the environment a runner gives a Docker action (built by `runner_environment()`).

The image's interpreter is `python:3.X`: a `python3.X` on PATH is used when it runs, else this interpreter.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

__all__ = [
    "ActionRun",
    "ContainerImage",
    "Dockerfile",
    "ImageBuildError",
    "action_input_env",
    "build_image",
    "parse_dockerfile",
    "parse_output_file",
]

PIP_TIMEOUT_S = 600
_INDEX_TROUBLE = (
    "Could not find a version", "No matching distribution", "NewConnectionError", "Failed to establish a new connection",
    "Temporary failure in name resolution", "Max retries exceeded", "ConnectTimeoutError", "ReadTimeoutError",
)


class ImageBuildError(Exception):
    """The Dockerfile could not be followed; the message says which step and why."""


@dataclass(frozen=True)
class Dockerfile:
    base_image: str
    env: dict[str, str]
    steps: list[tuple[str, str, str]]  # (instruction, argument text, WORKDIR in force), in order: COPY and RUN
    entrypoint: list[str]

    @property
    def python_version(self) -> str | None:
        """"3.12" for `python:3.12-slim@sha256:…`."""
        match = re.match(r"(?:docker\.io/)?(?:library/)?python:(\d+\.\d+)", self.base_image)
        return match.group(1) if match else None


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):  # a comment inside a continued instruction is dropped
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def parse_dockerfile(text: str) -> Dockerfile:
    base = ""
    env: dict[str, str] = {}
    steps: list[tuple[str, str, str]] = []
    entrypoint: list[str] = []
    workdir = "/"
    for line in _logical_lines(text):
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            base = rest.split()[0]
        elif instruction == "ENV":
            words = shlex.split(rest)
            if words and "=" not in words[0]:  # legacy `ENV NAME value`
                env[words[0]] = " ".join(words[1:])
            else:
                for word in words:
                    name, _, value = word.partition("=")
                    env[name] = value
        elif instruction == "WORKDIR":
            workdir = str(PurePosixPath(workdir, rest))
        elif instruction in ("COPY", "RUN"):
            steps.append((instruction, rest, workdir))
        elif instruction == "ENTRYPOINT":
            if not rest.startswith("["):
                raise ImageBuildError(f"ENTRYPOINT must be in exec form (a JSON array), got {rest!r}")
            entrypoint = json.loads(rest)
        elif instruction in ("ARG", "LABEL", "USER", "CMD", "ADD", "SHELL", "VOLUME", "EXPOSE", "HEALTHCHECK", "STOPSIGNAL", "ONBUILD"):
            raise ImageBuildError(f"{instruction} is not supported by this emulation: extend tests/support/action_container.py")
        else:
            raise ImageBuildError(f"unknown Dockerfile instruction {instruction!r}")
    if not base or not entrypoint:
        raise ImageBuildError("the Dockerfile needs a FROM and an ENTRYPOINT")
    return Dockerfile(base, env, steps, entrypoint)


def _dockerignore(context: Path) -> list[tuple[bool, str]]:
    path = context / ".dockerignore"
    if not path.exists():
        return []
    rules = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, line.lstrip("!").strip("/")))
    return rules


def _ignored(rel: str, rules: list[tuple[bool, str]]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a parent directory matches its files."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, pattern in rules:
        if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            ignored = not negated
    return ignored


@dataclass
class ContainerImage:
    """The built "image": `root` stands for the image's `/`, `python` for its interpreter (a venv)."""

    dockerfile: Dockerfile
    root: Path
    venv: Path
    build_log: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def path(self, container_path: str) -> Path:
        return self.root / str(PurePosixPath("/", container_path)).lstrip("/")

    def command(self) -> list[str]:
        """The ENTRYPOINT with `python` and container paths mapped onto this machine."""
        program, *args = self.dockerfile.entrypoint
        if program not in ("python", "python3"):
            raise ImageBuildError(f"the ENTRYPOINT runs {program!r}, not the image's python")
        return [str(self.python), *(str(self.path(a)) if a.startswith("/") else a for a in args)]

    def run(self, env: Mapping[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The entry point with exactly `env` (plus the image's ENV, which a `docker run` environment overrides)."""
        full = {**self.dockerfile.env, **env}
        return subprocess.run(self.command(), env=full, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def _interpreter(version: str | None) -> tuple[str, str | None]:
    """A python of the image's version when one runs here, else this one (with a note saying so)."""
    if version:
        found = shutil.which(f"python{version}")
        if found:
            try:
                probe = subprocess.run([found, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"], capture_output=True,
                                       text=True, timeout=30, check=False)
            except (OSError, subprocess.TimeoutExpired):
                probe = None
            if probe is not None and probe.returncode == 0 and probe.stdout.strip() == version:
                return found, None
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    note = None if here == version else f"the image has python {version}; no python{version} runs here, so python {here} stands in"
    return sys.executable, note


def _copy(context: Path, image: ContainerImage, argument: str, workdir: str, rules: list[tuple[bool, str]]) -> None:
    words = shlex.split(argument)
    if any(w.startswith("--") for w in words) or len(words) < 2:
        raise ImageBuildError(f"COPY {argument!r}: only `COPY src… dest` is supported")
    *sources, dest = words
    target = image.path(str(PurePosixPath(workdir, dest)))
    for source in sources:
        src = (context / source).resolve()
        if not src.is_relative_to(context.resolve()) or not src.exists():
            raise ImageBuildError(f"COPY {source}: not in the build context")
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        copied = 0
        for file in files:
            rel = file.relative_to(context).as_posix()
            if _ignored(rel, rules):
                continue
            if src.is_file():
                out = target / file.name if dest.endswith("/") or len(sources) > 1 else target
            else:  # a directory's contents go into dest
                out = target / file.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, out)
            copied += 1
        if not copied:
            raise ImageBuildError(f"COPY {source}: nothing to copy (excluded by .dockerignore?)")


def _run(image: ContainerImage, argument: str, workdir: str) -> str:
    words = shlex.split(argument)
    if not words or words[0] not in ("pip", "pip3"):
        raise ImageBuildError(f"RUN {argument!r}: only `pip …` is supported by this emulation")
    cwd = image.path(workdir)
    cwd.mkdir(parents=True, exist_ok=True)
    # The host's own pip settings (index, certificates) stay: they stand for the network the image build would have.
    env = {**os.environ, **image.dockerfile.env}
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV", "PIP_USER"):
        env.pop(name, None)
    try:
        proc = subprocess.run([str(image.python), "-m", "pip", *words[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ImageBuildError(f"RUN {argument}: still running after {PIP_TIMEOUT_S}s (is the package index reachable?)") from exc
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        tail = "\n".join(log.strip().splitlines()[-15:])
        if any(marker in log for marker in _INDEX_TROUBLE):
            raise ImageBuildError(f"RUN {argument}: pip could not get the pinned packages from the package index "
                                  f"(no network, or PyPI unreachable: CI needs PyPI).\n{tail}")
        raise ImageBuildError(f"RUN {argument}: pip failed with exit code {proc.returncode}.\n{tail}")
    return log


def build_image(context: Path, dest: Path) -> ContainerImage:
    """Follow `context`/Dockerfile into `dest` (an empty directory): a venv plus the image's file system."""
    dockerfile = parse_dockerfile((context / "Dockerfile").read_text(encoding="utf-8"))
    python, note = _interpreter(dockerfile.python_version)
    image = ContainerImage(dockerfile, dest / "rootfs", dest / "python", notes=[note] if note else [])
    image.root.mkdir(parents=True)
    started = time.monotonic()
    proc = subprocess.run([python, "-m", "venv", str(image.venv)], capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise ImageBuildError(f"python -m venv failed: {proc.stderr.strip()[-2000:]}")
    rules = _dockerignore(context)
    logs = []
    for instruction, argument, workdir in dockerfile.steps:
        if instruction == "COPY":
            _copy(context, image, argument, workdir, rules)
        else:
            logs.append(_run(image, argument, workdir))
    image.build_log = "\n".join(logs)
    image.notes.append(f"built in {time.monotonic() - started:.0f}s")
    return image


def action_input_env(action_yml: Path, given: Mapping[str, str], contexts: Mapping[str, str]) -> dict[str, str]:
    """`INPUT_<NAME>` for every input of action.yml, as the runner sets them for a Docker action.

    The name is upper-cased with spaces turned into underscores and hyphens kept. An input not in `given` gets its
    default, with `${{ github.token }}`-style expressions evaluated from `contexts` ({"github.token": …}).
    """
    spec = yaml.safe_load(action_yml.read_text(encoding="utf-8"))
    inputs: dict[str, Any] = spec.get("inputs") or {}
    unknown = sorted(set(given) - set(inputs))
    if unknown:
        raise KeyError(f"not inputs of action.yml: {unknown}")

    def evaluate(value: str) -> str:
        def replace(match: re.Match[str]) -> str:
            expression = match.group(1).strip()
            if expression not in contexts:
                raise KeyError(f"no value for the expression {expression!r} of action.yml")
            return contexts[expression]

        return re.sub(r"\$\{\{(.*?)\}\}", replace, value)

    env = {}
    for name, meta in inputs.items():
        value = given[name] if name in given else evaluate(str((meta or {}).get("default", "")))
        env["INPUT_" + name.replace(" ", "_").upper()] = value
    return env


def parse_output_file(text: str) -> dict[str, str]:
    """The runner's reading of a GITHUB_OUTPUT file: `name=value` lines and `name<<DELIM` … `DELIM` blocks."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            outputs[line[:equals]] = line[equals + 1:]
            continue
        if heredoc < 0:
            raise ValueError(f"invalid output line {line!r}")
        name, delimiter = line[:heredoc], line[heredoc + 2:]
        value: list[str] = []
        while True:
            if index >= len(lines):
                raise ValueError(f"output {name!r}: no closing delimiter {delimiter!r}")
            current = lines[index]
            index += 1
            if current == delimiter:
                break
            value.append(current)
        outputs[name] = "\n".join(value)
    return outputs


@dataclass
class ActionRun:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    output_text: str
    summary: str
    workspace: Path
    seconds: float

    @property
    def log(self) -> str:
        return self.stdout + self.stderr

    def record(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.workspace / self.outputs["record-path"]).read_text(encoding="utf-8"))
        return data
