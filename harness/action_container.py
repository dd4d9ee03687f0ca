"""The action's image, built by a real container engine and run the way the GitHub runner runs a Docker action.

The engine is the one `DOCKER_HOST` names (scripts/test starts a private one: scripts/container-engine). The image is
`docker build` of the repository's Dockerfile with BuildKit (scripts/docker-build); its base is the pinned
`python:3.12-slim@sha256:…` where it can be pulled, else a stand-in with the same layout (scripts/python-base), passed
as `--build-arg PYTHON_IMAGE` — the only difference from the runner's `docker build -t … -f Dockerfile .`, with
`--network host` so that pip reaches the package index the way the host does.

A run follows actions/runner's ContainerActionHandler and DockerCommandManager.DockerRun: the job's folders on the
host (`<temp>/_github_home`, `_github_workflow`, `_runner_file_commands`, the workspace) are mounted at `/github/…`,
every environment value that names a path under them is translated to its container path, the variables are passed
by name (`-e NAME`, their values in the docker client's environment, never on its command line), plus
`-e GITHUB_ACTIONS=true` and `-e CI=true`, with `--name <image>_<6 hex> --label <6 hex> --workdir /github/workspace
--rm` and the engine's socket at /var/run/docker.sock. One deliberate difference: `--network host` instead of the
job's bridge network, so that the container reaches the gateway and the GitHub fake on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ActionRun",
    "BuiltImage",
    "EngineError",
    "RunnerJob",
    "action_input_env",
    "build_image",
    "docker",
    "engine_problem",
    "image_layers",
    "own_layers_bytes",
    "parse_output_file",
    "python_base",
]

ROOT = Path(__file__).resolve().parents[1]
DOCKER_TIMEOUT_S = 120
BUILD_TIMEOUT_S = 900  # a build without cache downloads the pinned wheels from the package index
BASE_TIMEOUT_S = 900  # a first stand-in base: mmdebstrap downloads Debian's packages
CONTAINER_ROOT = "/github"


class EngineError(Exception):
    """A docker command failed; the message has the command and the tail of its stderr."""


def docker(args: Sequence[str], *, timeout: float = DOCKER_TIMEOUT_S, env: Mapping[str, str] | None = None,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    """`docker ARGS` against the engine in DOCKER_HOST; EngineError when it fails (unless `check` is false)."""
    try:
        proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False,
                              env=dict(env) if env is not None else None)
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"docker {' '.join(args[:2])}: no answer within {timeout:.0f}s") from exc
    except FileNotFoundError as exc:
        raise EngineError("the docker command is not installed") from exc
    if check and proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise EngineError(f"docker {' '.join(args[:2])} failed with exit code {proc.returncode}:\n{tail}")
    return proc


def engine_problem() -> str | None:
    """None when a container engine answers, else why not and how to get one."""
    try:
        docker(["version", "--format", "{{.Server.Version}}"], timeout=30)
    except EngineError as exc:
        return (f"no container engine answers (DOCKER_HOST={os.environ.get('DOCKER_HOST', 'unset')}): {exc}. "
                'Run the tests with `bash scripts/test`, or start one with `eval "$(bash scripts/container-engine start)"`')
    return None


def python_base() -> str:
    """The base for `ARG PYTHON_IMAGE`: $APPROVAL_PYTHON_IMAGE, the pinned image, or the stand-in (built when missing)."""
    if os.environ.get("APPROVAL_PYTHON_IMAGE"):
        return os.environ["APPROVAL_PYTHON_IMAGE"]
    try:
        proc = subprocess.run(["bash", str(ROOT / "scripts" / "python-base")], capture_output=True, text=True,
                              timeout=BASE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"scripts/python-base did not finish within {BASE_TIMEOUT_S}s") from exc
    if proc.returncode != 0 or not proc.stdout.strip():
        raise EngineError(f"scripts/python-base found no base image:\n{proc.stderr.strip()[-2000:]}")
    return proc.stdout.strip()


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    id: str
    base: str
    seconds: float
    log: str

    def inspect(self) -> dict[str, Any]:
        return inspect_image(self.id)


def inspect_image(reference: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(docker(["image", "inspect", reference]).stdout)
    return data[0]


def build_image(context: Path, tag: str, *, base: str, no_cache: bool = False, timeout: float = BUILD_TIMEOUT_S) -> BuiltImage:
    """`docker build` of `context`/Dockerfile on `base`, as the runner builds a Dockerfile action (plus the base), with
    BuildKit (scripts/docker-build) so that the pinned base stage is not pulled when another base replaces it."""
    args = ["--network", "host", "--build-arg", f"PYTHON_IMAGE={base}", "-t", tag, "-f", str(context / "Dockerfile")]
    if no_cache:
        args.append("--no-cache")
    started = time.monotonic()
    try:
        proc = subprocess.run(["bash", str(ROOT / "scripts" / "docker-build"), *args, str(context)], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"docker build: not done within {timeout:.0f}s") from exc
    if proc.returncode != 0:
        raise EngineError(f"docker build failed with exit code {proc.returncode}:\n" + "\n".join(proc.stderr.strip().splitlines()[-15:]))
    seconds = time.monotonic() - started
    return BuiltImage(tag, inspect_image(tag)["Id"], base, seconds, proc.stdout + proc.stderr)


def image_layers(reference: str) -> list[str]:
    layers: list[str] = inspect_image(reference)["RootFS"]["Layers"]
    return layers


def own_layers_bytes(image: str, base: str) -> int:
    """Bytes the image adds on top of `base`: the sizes of its history entries above the base's."""
    def sizes(reference: str) -> list[int]:
        out = docker(["history", "--no-trunc", "--human=false", "--format", "{{.Size}}", reference]).stdout
        return [int(line) for line in out.split()]

    mine, theirs = sizes(image), sizes(base)
    return sum(mine[: len(mine) - len(theirs)])


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

    def record(self, path: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.workspace / (path or self.outputs["record-path"])).read_text(encoding="utf-8"))
        return data


@dataclass
class RunnerJob:
    """One job's folders on the runner host, and `docker run` of an action's image over them.

    `temp` is RUNNER_TEMP, holding `_github_home`, `_github_workflow` and `_runner_file_commands`; `workspace` is the
    checkout. On a GitHub-hosted runner all of them belong to the runner's user (uid 1001), not to root: `owner`
    gives them to that user when the tests run as root.
    """

    temp: Path
    workspace: Path
    owner: tuple[int, int] | None = None
    label: str = field(default_factory=lambda: secrets.token_hex(3))

    MOUNTS = (("_github_home", "home"), ("_github_workflow", "workflow"), ("_runner_file_commands", "file_commands"))

    @classmethod
    def create(cls, root: Path, owner: tuple[int, int] | None = None) -> RunnerJob:
        job = cls(root / "_temp", root / "workspace", owner)
        for directory in (job.temp, job.workspace, *(job.temp / host for host, _ in cls.MOUNTS)):
            directory.mkdir(parents=True, exist_ok=True)
        return job

    @property
    def home(self) -> Path:
        return self.temp / "_github_home"

    @property
    def workflow(self) -> Path:
        return self.temp / "_github_workflow"

    @property
    def file_commands(self) -> Path:
        return self.temp / "_runner_file_commands"

    def mounts(self) -> list[tuple[Path, str]]:
        pairs = [(self.temp / host, f"{CONTAINER_ROOT}/{inside}") for host, inside in self.MOUNTS]
        return [*pairs, (self.workspace, f"{CONTAINER_ROOT}/workspace")]

    def to_container(self, value: str) -> str:
        """The runner's TranslateToContainerPath: a value that is a mounted folder, or a path under one."""
        for host, inside in self.mounts():
            if value == str(host):
                return inside
            if value.startswith(str(host) + "/"):
                return inside + value[len(str(host)):]
        return value

    def hand_over(self) -> None:
        """Give the job's folders and everything in them to `owner`, as a checkout by the runner's user is."""
        if self.owner is None:
            return
        for top in (self.temp, self.workspace):
            for path in [top, *top.rglob("*")]:
                os.chown(path, *self.owner, follow_symlinks=False)

    def docker_run_args(self, image: str, names: Sequence[str], *, network: str = "host",
                        extra_mounts: Sequence[tuple[Path, str]] = ()) -> list[str]:
        display = re.sub(r"[^A-Za-z0-9_.-]", "", image.replace("/", "").replace(":", ""))[:60]
        args = ["run", "--name", f"{display}_{secrets.token_hex(3)}", "--label", self.label, "--workdir",
                f"{CONTAINER_ROOT}/workspace", "--rm"]
        for name in names:
            args += ["-e", name]
        args += ["-e", "GITHUB_ACTIONS=true"]
        if "CI" not in names:
            args += ["-e", "CI=true"]
        args += ["--network", network]
        socket = _engine_socket()
        if socket is not None:
            args += ["-v", f"{socket}:/var/run/docker.sock"]
        for host, inside in self.mounts():
            args += ["-v", f"{host}:{inside}"]
        for host, inside in extra_mounts:
            args += ["-v", f"{host}:{inside}:ro"]
        return [*args, image]

    def run(self, image: str, env: Mapping[str, str], *, timeout: float = 150,
            extra_mounts: Sequence[tuple[Path, str]] = ()) -> subprocess.CompletedProcess[str]:
        """Run the image's ENTRYPOINT with exactly `env` (host paths translated), as the runner does."""
        translated = {name: self.to_container(value) for name, value in env.items()}
        args = self.docker_run_args(image, list(translated), extra_mounts=extra_mounts)
        name = args[args.index("--name") + 1]
        # the docker client's own environment: what it needs to reach the engine, then the variables it passes on
        client_env = {k: v for k, v in os.environ.items() if k in ("PATH", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT")}
        try:
            return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False,
                                  env={**client_env, **translated})
        except subprocess.TimeoutExpired:
            docker(["rm", "--force", name], check=False)
            raise


def _engine_socket() -> str | None:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and Path(host[len("unix://"):]).is_socket():
        return host[len("unix://"):]
    return None
