"""Real coding agents, installed from pinned lockfiles and run offline against a gateway on 127.0.0.1, with a verdict
on whether each completed its task: the ground truth the gate's verdict has to predict.

Agents (``AGENTS``): Codex CLI (npm ``@openai/codex``, Responses API), OpenCode (npm ``opencode-ai``, the Vercel AI
SDK's openai-compatible provider), Qwen Code (npm ``@qwen-code/qwen-code``, the openai Node SDK), an agent on the
openai Agents SDK (PyPI ``openai-agents``, streamed chat completions; harness/agent_drivers/) and Aider (PyPI
``aider-chat``, through its own litellm, edits as text with no function calling). The pins live in
files Dependabot updates: ``requirements/agents/package.json`` + ``package-lock.json`` (installed with ``npm ci
--ignore-scripts`` into ``.tools/agents/node``; each native binary is run from its platform package, so no install
script is needed) and ``requirements/agents/<name>.txt`` (each into its own venv, ``.tools/agents/<name>``).
``install()`` does both, idempotently (a stamp of the lockfile / requirements file); ``scripts/bootstrap`` calls it::

    python -m harness.agents install
    python -m harness.agents matrix --defect refuse-turn-2   # start a stub and LiteLLM, run every agent

``run_agent(agent, base_url=..., api_key=..., model=...)`` runs one agent once on one task: a fresh scratch ``HOME``
and git repository (``README.md`` and ``NOTES.md`` holding a random secret word, nowhere else), the agent configured
with a custom OpenAI-compatible provider at ``base_url`` (loopback only), no telemetry and no auto-update, every HTTP
proxy variable pointing at a loopback proxy that forwards nothing and records where each request wanted to go
(``ProxySink``; ``NO_PROXY`` covers loopback), so a request to anywhere else fails and shows in ``Outcome.egress``, Node
started with ``harness/loopback_only.cjs`` preloaded (it refuses any non-loopback connection), the Python
drivers with theirs (harness/agent_drivers/loopback_guard.py). Aider runs with ``--no-auto-commits --no-gitignore
--yes-always --no-check-update --analytics-disable`` and ``LITELLM_LOCAL_MODEL_COST_MAP=True``; it still fetches
litellm's model prices from GitHub on its own, which the sink refuses and ``Outcome.egress`` shows. The agent runs
in a session of its own; past ``timeout_s`` or once the stub upstream recorded more than ``max_requests`` model
requests of this run, the whole process group is killed.

The task (``TASK``): "Read README.md with your file tool and tell me the secret word in it" (``PARALLEL_TASK`` asks
for README.md and NOTES.md "in parallel": the stub then makes two calls at once). The run **completed** when the agent
exited 0, the secret word and the stub model's answer ("The tool returned: …", which echoes the result) are in its
output, and the stub recorded a request carrying a tool result with the secret (the tool really ran). Otherwise it **broke**, with one reason (``Reason``).
Aider calls no tool: README.md is given read-only (``--read README.md``), so it is in every prompt, and the stub model
answers a tool-less request by quoting the line that says the secret word ("The prompt says: …"); it completed when it
exited 0, a request carried the secret and that answer is in its output.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pytest

from harness.commands import require_e2e
from harness.peer_gateway import LOOPBACK_PRELOAD, REPO_ROOT, need_litellm, start_litellm, write_stub_litellm_config
from harness.stub_upstream import (
    QUOTE_PREFIX,
    RESULT_PREFIX,
    RecordedRequest,
    StubUpstream,
    anthropic_turn,
    chat_turn,
    responses_turn,
)

__all__ = [
    "AGENTS",
    "Agent",
    "AgentError",
    "Outcome",
    "Reason",
    "install",
    "installed",
    "need_agents",
    "run_agent",
    "tool_results",
]

REQUIREMENTS: Final = REPO_ROOT / "requirements" / "agents"
TOOLS_DIR: Final = REPO_ROOT / ".tools" / "agents"
NODE_DIR: Final = TOOLS_DIR / "node"
NODE_MODULES: Final = NODE_DIR / "node_modules"
DRIVERS: Final = Path(__file__).resolve().with_name("agent_drivers")
IMAGE_PYTHON: Final = "3.12"

TASK: Final = "Read README.md with your file tool and tell me the secret word in it."
# the stub model answers this one with two calls at once (parallel calls, where a streamed-index defect shows)
PARALLEL_TASK: Final = "Read README.md and NOTES.md in parallel with your file tool and tell me the secret word in them."
DEFAULT_TIMEOUT_S: Final = 60.0
DEFAULT_MAX_REQUESTS: Final = 12
DEAD_PROXY: Final = "http://127.0.0.1:9"  # the discard port, closed: a client that honours the proxy variables cannot leave
MAX_EGRESS_RECORDED: Final = 100
LOOPBACK_NAMES: Final = "127.0.0.1,localhost,::1"
MODEL_PATHS: Final = ("/chat/completions", "/responses", "/messages")
API_ERROR: Final = re.compile(r"\b(?:400|BadRequest\w*|bad request|invalid_request_error|invalid parameter|APIError|API Error|"
                              r"status code 4\d\d)\b", re.IGNORECASE)
INSTALL_TIMEOUT_S: Final = 900


class AgentError(RuntimeError):
    """An agent is not installed, or could not be installed."""


class Reason(enum.StrEnum):
    """Why a run did not complete."""

    API_ERROR = "api-error"  # it exited non-zero naming a refused request
    EXIT = "non-zero-exit"  # it exited non-zero otherwise
    LOOP = "loop"  # killed: more model requests than the bound
    TIMEOUT = "timeout"  # killed: not done within the time bound
    TOOL_NEVER_RAN = "tool-never-ran"  # exit 0, but no request carried the file's content in a tool result (Aider: at all)
    ANSWER_MISSING = "answer-missing"  # exit 0 and the tool ran, but the secret is not in its output


@dataclass(frozen=True)
class Outcome:
    """One run of one agent: completed, or broke with a reason; its wall time and the model requests it made."""

    agent: str
    model: str
    completed: bool
    reason: Reason | None
    exit_code: int | None  # None when it was killed
    seconds: float
    requests: int
    tool_ran: bool  # the file's content reached the model: in a tool result (Aider: in its prompt)
    answered: bool
    output_tail: str
    egress: tuple[str, ...] = ()  # hosts it tried to reach through the proxy variables (refused), sorted

    @property
    def verdict(self) -> str:
        return "completed" if self.completed else f"broke ({self.reason})"

    def describe(self) -> str:
        tried = f"; refused egress to {', '.join(self.egress)}" if self.egress else ""
        return (f"{self.agent} on {self.model}: {self.verdict}, exit {self.exit_code}, {self.requests} model requests, "
                f"{self.seconds:.1f} s{tried}; output tail:\n{self.output_tail}")


@dataclass(frozen=True)
class Scratch:
    """What an agent's command is built from: its scratch home and repository, the gateway, the model."""

    home: Path
    repo: Path
    base_url: str
    api_key: str
    model: str
    task: str
    max_turns: int


@dataclass(frozen=True)
class Agent:
    """A pinned agent: how to find it once installed, and how to run it on a task."""

    name: str
    version: str
    source: str  # "npm" (requirements/agents/package-lock.json) or "pip" (requirements/agents/<name>.txt)
    protocol: str  # what it sends: "chat" or "responses"
    entry: Path  # the file that must exist once installed
    command: Callable[[Scratch], list[str]] = field(repr=False)
    prepare: Callable[[Scratch], dict[str, str]] = field(repr=False)  # writes its config; returns its own environment
    # True: it reads the file with a tool of its own (the file's secret must come back in a tool result); False (Aider):
    # the file is in its prompt (``--read``), and the model's answer quotes it
    tools: bool = True

    @property
    def answer_prefix(self) -> str:
        """How the stub model's answer starts: it echoes a tool result, or quotes the prompt when no tool was offered."""
        return RESULT_PREFIX if self.tools else QUOTE_PREFIX

    @property
    def venv(self) -> Path:
        return TOOLS_DIR / self.name


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise AgentError("node not found on PATH: the npm agents run under Node (20 or newer)")
    return node


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------------- Codex CLI
CODEX_JS: Final = NODE_MODULES / "@openai" / "codex" / "bin" / "codex.js"


def _codex_prepare(s: Scratch) -> dict[str, str]:
    home = s.home / ".codex"
    _write(home / "config.toml", "\n".join([
        f"model = {json.dumps(s.model)}",
        'model_provider = "gateway"',
        'approval_policy = "never"',
        'sandbox_mode = "read-only"',
        "check_for_update_on_startup = false",
        "[analytics]",
        "enabled = false",
        "[history]",
        'persistence = "none"',
        "[model_providers.gateway]",
        'name = "gateway"',
        f"base_url = {json.dumps(s.base_url)}",
        'env_key = "GATEWAY_API_KEY"',
        'wire_api = "responses"',
        "",
    ]))
    return {"CODEX_HOME": str(home), "NODE_OPTIONS": f"--require {LOOPBACK_PRELOAD}"}


def _codex_command(s: Scratch) -> list[str]:
    return [_node(), str(CODEX_JS), "exec", "--skip-git-repo-check", "--color", "never", s.task]


# ---------------------------------------------------------------------------------------------------- OpenCode
OPENCODE_ENV: Final[Mapping[str, str]] = {
    # read in 1.18.33's binary: each turns off a download or a call to a service
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",  # models.dev's catalogue
    "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",  # installed from npm at start otherwise
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",  # no reading of ~/.claude
    "OPENCODE_DISABLE_EXTERNAL_SKILLS": "1",
}


def _opencode_binary() -> Path:
    """The platform package's native binary (``opencode-ai``'s own launcher needs its install script to run)."""
    machine = {"x86_64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(os.uname().machine, os.uname().machine)
    return NODE_MODULES / f"opencode-linux-{machine}" / "bin" / "opencode"


def _opencode_prepare(s: Scratch) -> dict[str, str]:
    config = {"autoupdate": False, "share": "disabled",
              "provider": {"gateway": {"npm": "@ai-sdk/openai-compatible", "name": "gateway",
                                       "options": {"baseURL": s.base_url, "apiKey": s.api_key},
                                       "models": {s.model: {"name": s.model, "tool_call": True}}}},
              "model": f"gateway/{s.model}"}
    path = s.home / ".config" / "opencode" / "opencode.json"
    _write(path, json.dumps(config, indent=2))
    return {**OPENCODE_ENV, "OPENCODE_CONFIG": str(path)}


def _opencode_command(s: Scratch) -> list[str]:
    return [str(_opencode_binary()), "run", "--model", f"gateway/{s.model}", s.task]


# ---------------------------------------------------------------------------------------------------- Qwen Code
QWEN_JS: Final = NODE_MODULES / "@qwen-code" / "qwen-code" / "cli.js"


def _qwen_prepare(s: Scratch) -> dict[str, str]:
    settings = {"security": {"auth": {"selectedType": "openai"}}, "telemetry": {"enabled": False},
                "privacy": {"usageStatisticsEnabled": False}, "general": {"disableAutoUpdate": True, "disableUpdateNag": True}}
    _write(s.home / ".qwen" / "settings.json", json.dumps(settings, indent=2))
    return {"OPENAI_API_KEY": s.api_key, "OPENAI_BASE_URL": s.base_url, "OPENAI_MODEL": s.model,
            "QWEN_CODE_SUPPRESS_YOLO_WARNING": "1", "NODE_OPTIONS": f"--require {LOOPBACK_PRELOAD}"}


def _qwen_command(s: Scratch) -> list[str]:
    return [_node(), str(QWEN_JS), "--approval-mode", "yolo", "--max-session-turns", str(s.max_turns), "--model", s.model,
            "--openai-base-url", s.base_url, s.task]


# ---------------------------------------------------------------------------------------------------- openai Agents SDK
OPENAI_AGENTS_DRIVER: Final = DRIVERS / "openai_agents_driver.py"


def _openai_agents_prepare(s: Scratch) -> dict[str, str]:
    return {"OPENAI_AGENTS_DISABLE_TRACING": "1"}


def _openai_agents_command(s: Scratch) -> list[str]:
    python = TOOLS_DIR / "openai-agents" / "bin" / "python"
    return [str(python), "-I", str(OPENAI_AGENTS_DRIVER), "--base-url", s.base_url, "--model", s.model, "--max-turns",
            str(s.max_turns), s.task]


# ---------------------------------------------------------------------------------------------------- Aider
AIDER_DRIVER: Final = DRIVERS / "aider_driver.py"
AIDER_FLAGS: Final = (
    "--no-auto-commits", "--no-dirty-commits", "--no-gitignore", "--yes-always", "--no-check-update", "--analytics-disable",
    "--no-show-model-warnings", "--no-show-release-notes", "--no-pretty", "--no-fancy-input", "--no-detect-urls",
    "--no-suggest-shell-commands", "--no-auto-lint", "--map-tokens", "0", "--encoding", "utf-8",
)


def _aider_prepare(s: Scratch) -> dict[str, str]:
    return {"OPENAI_API_BASE": s.base_url, "OPENAI_API_KEY": s.api_key,
            # litellm's model prices from its package, not fetched from GitHub at import; no telemetry of its own
            "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
            "AIDER_ANALYTICS_DISABLE": "true", "AIDER_CHECK_UPDATE": "false", "PYTHONIOENCODING": "utf-8"}


def _aider_command(s: Scratch) -> list[str]:
    # The file is given read-only in its prompt (Aider sends it with every message); its edit formats are text, so
    # the model answers from the prompt, with no tool call.
    python = TOOLS_DIR / "aider" / "bin" / "python"
    return [str(python), "-I", str(AIDER_DRIVER), "--model", f"openai/{s.model}", *AIDER_FLAGS, "--read", "README.md",
            "--message", s.task]


def _npm_version(package: str) -> str:
    lock = json.loads((REQUIREMENTS / "package-lock.json").read_text(encoding="utf-8"))
    return str(lock["packages"][f"node_modules/{package}"]["version"])


def _pip_version(name: str, file: str | None = None) -> str:
    text = (REQUIREMENTS / f"{file or name}.txt").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(name)}==(\S+)", text, re.MULTILINE)
    if match is None:
        raise AgentError(f"requirements/agents/{file or name}.txt must pin {name}==VERSION")
    return match.group(1)


def _agents() -> dict[str, Agent]:
    return {a.name: a for a in (
        Agent("codex", _npm_version("@openai/codex"), "npm", "responses", CODEX_JS, _codex_command, _codex_prepare),
        Agent("opencode", _npm_version("opencode-ai"), "npm", "chat", _opencode_binary(), _opencode_command, _opencode_prepare),
        Agent("qwen-code", _npm_version("@qwen-code/qwen-code"), "npm", "chat", QWEN_JS, _qwen_command, _qwen_prepare),
        Agent("openai-agents", _pip_version("openai-agents"), "pip", "chat", TOOLS_DIR / "openai-agents" / "bin" / "python",
              _openai_agents_command, _openai_agents_prepare),
        Agent("aider", _pip_version("aider-chat", "aider"), "pip", "chat", TOOLS_DIR / "aider" / "bin" / "python", _aider_command,
              _aider_prepare, tools=False),
    )}


AGENTS: Final[Mapping[str, Agent]] = _agents()


# ---------------------------------------------------------------------------------------------------- installing
def _npm_stamp() -> str:
    return hashlib.sha256((REQUIREMENTS / "package-lock.json").read_bytes()).hexdigest()[:16]


def _pip_stamp(agent: Agent) -> str:
    return hashlib.sha256((REQUIREMENTS / f"{agent.name}.txt").read_bytes()).hexdigest()[:16]


def _find_python() -> str:
    found = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "find-python"), IMAGE_PYTHON], capture_output=True, text=True,
                           timeout=60, check=False)
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else sys.executable


def installed(agent: Agent) -> bool:
    """True when the pinned version is installed (its entry point exists and the stamp matches the pins)."""
    if not agent.entry.exists():
        return False
    if agent.source == "npm":
        with contextlib.suppress(OSError):
            return (NODE_DIR / ".bootstrap-stamp").read_text(encoding="utf-8").strip() == _npm_stamp()
        return False
    with contextlib.suppress(OSError):
        return (agent.venv / ".bootstrap-stamp").read_text(encoding="utf-8").strip() == _pip_stamp(agent)
    return False


def _run_install(argv: Sequence[str], what: str) -> None:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False,
                              env={**os.environ, "npm_config_update_notifier": "false"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AgentError(f"installing {what} failed: {exc}") from exc
    if done.returncode != 0:
        raise AgentError(f"installing {what} failed (exit {done.returncode}): {(done.stdout + done.stderr)[-2000:]}")


def _install_npm() -> None:
    if shutil.which("npm") is None:
        raise AgentError("npm not found: the npm agents (Codex, OpenCode, Qwen Code) need Node.js with npm")
    shutil.rmtree(NODE_DIR, ignore_errors=True)
    NODE_DIR.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(REQUIREMENTS / name, NODE_DIR / name)
    # The lock's versions and integrity hashes; no install script runs (the native binaries are in the platform packages
    # npm picks as optional dependencies). Not `npm ci`: Qwen Code's clipboard dependency names platform packages that
    # were never published (@teddyzhu/clipboard-darwin-arm64 0.0.5), which npm leaves out of the lock and `npm ci`
    # then refuses as out of sync; `npm install --no-save` installs the lock as it is and skips them.
    _run_install(["npm", "install", "--no-save", "--silent", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(NODE_DIR)],
                 "requirements/agents/package-lock.json")
    _write(NODE_DIR / ".bootstrap-stamp", _npm_stamp() + "\n")


def _install_pip(agent: Agent) -> None:
    python = _find_python()
    shutil.rmtree(agent.venv, ignore_errors=True)
    _run_install([python, "-m", "venv", str(agent.venv)], f"a venv for {agent.name}")
    _run_install([str(agent.venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r",
                  str(REQUIREMENTS / f"{agent.name}.txt")], f"requirements/agents/{agent.name}.txt")
    _write(agent.venv / ".bootstrap-stamp", _pip_stamp(agent) + "\n")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def install(names: Sequence[str] | None = None, say: Callable[[str], None] = print) -> dict[str, float]:
    """Install the named agents (default: all) that are missing or not at their pins; the seconds each install took."""
    chosen = [AGENTS[n] for n in (names or list(AGENTS))]
    took: dict[str, float] = {}
    if any(a.source == "npm" and not installed(a) for a in chosen):
        say("installing requirements/agents/package-lock.json (Codex CLI, OpenCode, Qwen Code) into .tools/agents/node")
        started = time.monotonic()
        _install_npm()
        took["npm"] = time.monotonic() - started
        say(f"  {took['npm']:.0f} s, {_size(NODE_DIR) / 1e6:.0f} MB")
    for agent in chosen:
        if agent.source == "pip" and not installed(agent):
            say(f"installing requirements/agents/{agent.name}.txt into .tools/agents/{agent.name}")
            started = time.monotonic()
            _install_pip(agent)
            took[agent.name] = time.monotonic() - started
            say(f"  {took[agent.name]:.0f} s, {_size(agent.venv) / 1e6:.0f} MB")
    for agent in chosen:
        if not installed(agent):
            raise AgentError(f"{agent.name} is not installed after its install ({agent.entry} missing)")
        if took:  # after an install: each one starts here (Codex and OpenCode are native binaries in their packages)
            say(f"  {agent.name} {agent.version}: {check_runs(agent)}")
    return took


def need_agents(names: Sequence[str] | None = None) -> None:
    """For a test: LiteLLM and the agents ``names`` (default: all) installed, a missing agent installed first (as
    scripts/bootstrap does); what cannot be is a skip, or under APPROVAL_REQUIRE_E2E=1 (CI) a failure naming why."""
    need_litellm()
    missing = [n for n in names or list(AGENTS) if not installed(AGENTS[n])]
    if not missing:
        return
    try:
        install(missing)
    except AgentError as exc:
        if require_e2e():
            pytest.fail(f"APPROVAL_REQUIRE_E2E=1 but {', '.join(missing)} could not be installed: {exc}", pytrace=False)
        pytest.skip(f"{', '.join(missing)} could not be installed: {exc}")


def check_runs(agent: Agent) -> str:
    """What the agent prints for its version (the SDK: its import), run as a run would run it; AgentError if it fails."""
    argv = {"codex": [_node(), str(CODEX_JS), "--version"], "opencode": [str(_opencode_binary()), "--version"],
            "qwen-code": [_node(), str(QWEN_JS), "--version"],
            "openai-agents": [str(agent.entry), "-I", "-c", "import agents, importlib.metadata as m; print(m.version('openai-agents'))"],
            "aider": [str(agent.entry), "-I", str(AIDER_DRIVER), "--version"]}
    with tempfile.TemporaryDirectory(prefix="agent-version-") as home:
        try:
            done = subprocess.run(argv[agent.name], capture_output=True, text=True, timeout=60, check=False, cwd=home,
                                  env=agent_env(Path(home), {"NODE_OPTIONS": f"--require {LOOPBACK_PRELOAD}"}))
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AgentError(f"{agent.name} does not start here: {exc}") from exc
    if done.returncode != 0 or agent.version not in done.stdout:
        raise AgentError(f"{agent.name} does not start here (exit {done.returncode}): {(done.stdout + done.stderr)[-1000:]}")
    return done.stdout.strip().splitlines()[-1]


# ---------------------------------------------------------------------------------------------------- a run
def tool_results(request: RecordedRequest) -> tuple[str, ...]:
    """The tool results a model request carries, whatever its protocol (chat, Responses, Anthropic Messages)."""
    body = request.body
    if not isinstance(body, dict):
        return ()
    if request.path.endswith("/chat/completions"):
        return chat_turn(body, frozenset()).results
    if request.path.endswith("/messages"):
        return anthropic_turn(body).results
    if request.path.endswith("/responses"):
        raw = body.get("input")
        items = [i for i in raw if isinstance(i, dict)] if isinstance(raw, list) else []
        return responses_turn(body, items, frozenset()).results
    return ()


def _model_requests(stub: StubUpstream, since: float) -> list[RecordedRequest]:
    return [r for r in stub.requests if r.time >= since and r.method == "POST" and r.path.endswith(MODEL_PATHS)]


def _scratch_repo(repo: Path, secret: str) -> None:
    repo.mkdir(parents=True)
    (repo / "README.md").write_text(f"# Scratch project\n\nThe secret word is {secret}.\n", encoding="utf-8")
    (repo / "NOTES.md").write_text(f"Notes: the secret word is {secret}.\n", encoding="utf-8")
    git = ["git", "-c", "user.name=agent-test", "-c", "user.email=agent-test@example.invalid", "-c", "commit.gpgsign=false"]
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "README.md", "NOTES.md"], [*git, "commit", "-q", "-m", "start"]):
        subprocess.run(argv, cwd=repo, check=True, timeout=30, capture_output=True,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(repo.parent), "GIT_CONFIG_NOSYSTEM": "1"})


class ProxySink(socketserver.ThreadingTCPServer):
    """An HTTP proxy on 127.0.0.1 that forwards nothing: it records where each request wanted to go (``CONNECT
    host:port``, or an absolute URL's host), answers 403 and closes. ``with ProxySink() as sink: sink.url``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.hosts: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="proxy-sink", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, host: str) -> None:
        with self._lock:
            if len(self.hosts) < MAX_EGRESS_RECORDED:
                self.hosts.append(host)

    def __enter__(self) -> ProxySink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


class _SinkHandler(socketserver.StreamRequestHandler):
    timeout = 5

    def handle(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            line = self.rfile.readline(8192).decode("latin-1").split()
            if len(line) >= 2:
                target = line[1]
                host = target.split("://", 1)[1].split("/", 1)[0] if "://" in target else target
                if isinstance(self.server, ProxySink):
                    self.server.record(host.rsplit(":", 1)[0] if host.count(":") == 1 else host)
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def agent_env(home: Path, own: Mapping[str, str], proxy: str = DEAD_PROXY) -> dict[str, str]:
    """The whole environment of an agent: a scratch home, a locale, proxies at a loopback port that forwards nothing,
    its own settings. Nothing of this machine's environment (keys, tokens, proxies, config directories) reaches it."""
    proxies = {name: proxy for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")}
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "USER": "agent", "LANG": "C.UTF-8", "TERM": "dumb",
            "NO_COLOR": "1", "CI": "1", "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"), "XDG_STATE_HOME": str(home / ".local" / "state"), "TMPDIR": str(home / "tmp"),
            **proxies, "NO_PROXY": LOOPBACK_NAMES, "no_proxy": LOOPBACK_NAMES, "DO_NOT_TRACK": "1",
            "npm_config_update_notifier": "false", "npm_config_offline": "true", **own}


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def _classify(exit_code: int | None, killed: Reason | None, tool_ran: bool, answered: bool, output: str) -> Reason | None:
    if killed is not None:
        return killed
    if exit_code != 0:
        return Reason.API_ERROR if API_ERROR.search(output) else Reason.EXIT
    if not tool_ran:
        return Reason.TOOL_NEVER_RAN
    if not answered:
        return Reason.ANSWER_MISSING
    return None


def run_agent(agent: Agent, *, stub: StubUpstream, base_url: str, api_key: str, model: str, task: str = TASK,
              timeout_s: float = DEFAULT_TIMEOUT_S, max_requests: int = DEFAULT_MAX_REQUESTS, max_turns: int = 6,
              keep: Path | None = None) -> Outcome:
    """Run ``agent`` once on ``task`` against ``base_url`` (loopback only) with ``model``; ``stub`` is the upstream the
    gateway routes ``model`` to (its record of requests is how tool results and the request count are seen).

    Bounded: killed (the whole process group) after ``timeout_s`` or past ``max_requests`` model requests. ``keep``: a
    directory that receives the scratch home and repository instead of a temporary one that is deleted.
    """
    if not base_url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
        raise AgentError(f"an agent may only reach a loopback gateway, not {base_url}")
    if not installed(agent):
        raise AgentError(f"{agent.name} {agent.version} is not installed: run scripts/bootstrap "
                         "(or python -m harness.agents install)")
    secret = "word-" + secrets.token_hex(6)
    with contextlib.ExitStack() as stack:
        root = keep if keep is not None else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"agent-{agent.name}-")))
        home, repo = root / "home", root / "repo"
        (home / "tmp").mkdir(parents=True)
        _scratch_repo(repo, secret)
        scratch = Scratch(home=home, repo=repo, base_url=base_url, api_key=api_key, model=model, task=task, max_turns=max_turns)
        sink = stack.enter_context(ProxySink())
        env = agent_env(home, {"GATEWAY_API_KEY": api_key, **agent.prepare(scratch)}, proxy=sink.url)
        # The stub model's calls name this run's files by absolute path, as a model that read the working directory
        # from the agent's prompt would (Qwen Code's read_file refuses a relative one); one call reads README.md, two
        # (asked "in parallel") README.md and NOTES.md, and both hold the secret. Runs on one stub are sequential.
        stack.callback(setattr, stub, "paths", stub.paths)
        stub.paths = (str(repo / "README.md"), str(repo / "NOTES.md"))
        log = root / "output.log"
        since = time.time()
        started = time.monotonic()
        killed: Reason | None = None
        with log.open("wb") as out:
            process = subprocess.Popen(agent.command(scratch), cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            try:
                while process.poll() is None:
                    if time.monotonic() - started > timeout_s:
                        killed = Reason.TIMEOUT
                    elif len(_model_requests(stub, since)) > max_requests:
                        killed = Reason.LOOP
                    if killed is not None:
                        break
                    time.sleep(0.1)
            finally:
                _kill(process)  # its whole group: also what it left running after it exited
        seconds = time.monotonic() - started
        output = log.read_bytes().decode("utf-8", "replace")
        made = _model_requests(stub, since)
        tool_ran = any(secret in result for r in made for result in tool_results(r)) if agent.tools else \
            any(secret in json.dumps(r.body) for r in made)  # Aider: the file reached the model in its prompt
        # the model's answer (the stub's "The tool returned: …", or "The prompt says: …" for Aider) reached the user, not
        # only the tool's output, which some agents print as it runs
        answered = secret in output and agent.answer_prefix in output
        exit_code = None if killed is not None else process.returncode
        reason = _classify(exit_code, killed, tool_ran, answered, output)
        return Outcome(agent=agent.name, model=model, completed=reason is None, reason=reason, exit_code=exit_code, seconds=seconds,
                       requests=len(made), tool_ran=tool_ran, answered=answered, output_tail=output[-1500:],
                       egress=tuple(sorted(set(sink.hosts))))


# ---------------------------------------------------------------------------------------------------- from a shell
def stub_upstream() -> StubUpstream:
    """The stub upstream for agent runs (``run_agent`` points its paths at each run's files)."""
    return StubUpstream(paths=("README.md", "NOTES.md"))


@contextlib.contextmanager
def stub_gateway(models: Sequence[str]) -> Iterator[tuple[StubUpstream, str, str]]:
    """A stub upstream serving ``models`` and LiteLLM in front of it: (stub, LiteLLM's base URL, its key)."""
    with stub_upstream() as stub, tempfile.TemporaryDirectory(prefix="agents-litellm-") as tmp:
        config = write_stub_litellm_config(Path(tmp) / "litellm.json", stub.root_url, models)
        with start_litellm(config) as gateway:
            yield stub, gateway.base_url, gateway.master_key or ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.agents", description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    installing = sub.add_parser("install", help="install the pinned agents that are missing (idempotent)")
    installing.add_argument("agent", nargs="*", help=f"of {', '.join(AGENTS)} (default: all)")
    matrix = sub.add_parser("matrix", help="run every agent against a stub (through LiteLLM) healthy and with each defect")
    matrix.add_argument("--agent", action="append", choices=list(AGENTS), help="default: all")
    matrix.add_argument("--defect", action="append", default=[], help="a stub defect (repeatable); the healthy model always runs")
    matrix.add_argument("--route", choices=["openai", "anthropic"], default="openai", help="LiteLLM's provider to the stub")
    matrix.add_argument("--parallel", action="store_true", help="ask for two files at once (the stub makes two calls)")
    matrix.add_argument("--verbose", action="store_true", help="print each run's output tail")
    args = parser.parse_args(argv)
    unknown = [n for n in getattr(args, "agent", None) or [] if n not in AGENTS]
    if unknown:
        parser.error(f"unknown agent {unknown[0]!r}; known: {', '.join(AGENTS)}")
    try:
        if args.command == "install":
            install(args.agent or None)
            return 0
        models = ["stub-model", *(f"stub-model+{d}" for d in args.defect)]
        with stub_gateway(models) as (stub, base_url, key):
            for name in args.agent or list(AGENTS):
                for model in models:
                    outcome = run_agent(AGENTS[name], stub=stub, base_url=base_url, api_key=key, model=f"{args.route}-{model}",
                                        task=PARALLEL_TASK if args.parallel else TASK)
                    print(outcome.describe() if args.verbose else
                          f"{name:14} {model:36} {outcome.verdict:24} {outcome.seconds:5.1f} s {outcome.requests:3} requests"
                          + (f"  (refused egress: {', '.join(outcome.egress)})" if outcome.egress else ""), flush=True)
    except AgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
