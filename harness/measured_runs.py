"""Helpers of the tests that run the real CLI against the fault gateway: the canary key, the real `approval` command in a subprocess (exit code,
output, wall time, peak RSS of exactly that child) and the measured tables printed at the end of the session."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.commands import approval_command, run_env

# Deliberately not shaped like any credential the generic redaction patterns know (no `sk-`, no `Bearer`): if it
# stays out of every output, it is the registered-secret redaction and the engine's own care that kept it out.
# `/`, `+` and `=` change under percent-encoding and JSON escaping, so an echo in those forms is told apart too.
CANARY = "canary-7f3a/9c1e+5b2d=DO-NOT-LEAK"



def canary_forms() -> list[str]:
    """The canary as sent (`Bearer …`) and as a gateway may echo it: verbatim, percent-encoded, JSON-escaped with
    `\\/`, and the middle of the base64 of the header value (independent of what precedes it there)."""
    import base64
    import json
    from urllib.parse import quote

    header = f"Bearer {CANARY}"
    return [CANARY, quote(CANARY, safe=""), json.dumps(CANARY)[1:-1].replace("/", "\\/"), base64.b64encode(header.encode()).decode()[12:40]]


def leaks_canary(text: str) -> bool:
    return any(form in text for form in canary_forms())


def tool_retries(notes: str) -> int:
    """How often this tool's own client retried a call, from the run's notes ("the gateway needed N retries of this
    tool's calls …"; no such note: none)."""
    return tool_retry_note(notes)[0]


def tool_retry_note(notes: str) -> tuple[int, float]:
    """(retries, longest wait in seconds) of this tool's own client, from the run's notes; (0, 0.0) without the note."""
    import re

    found = re.search(r"the gateway needed (\d+) retr(?:y|ies) of this tool's calls .*?longest wait ([0-9.]+) s", notes)
    return (int(found.group(1)), float(found.group(2))) if found else (0, 0.0)


def is_sdk_request(user_agent: str | None) -> bool:
    """A request the agent-client check's openai SDK sent (its own User-Agent), not one of this tool's raw probes."""
    return (user_agent or "").startswith("OpenAI/")


# Measured tables, printed by `pytest_terminal_summary` (and written to files whose paths are printed too).
TABLES: dict[str, tuple[Path, str]] = {}

POLL_S = 0.02


def child_env(key: str | None = CANARY, **extra: str) -> dict[str, str]:
    """The parent's environment without any gateway, model, GitHub or action variable; the canary as the key."""
    env = run_env("RUNNER_")
    env.pop("USER", None)
    if key is not None:
        env["GATEWAY_API_KEY"] = key
    env.update(extra)
    return env


@dataclass
class ChildRun:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float
    killed: bool

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _peak_rss_kb(pid: int) -> int | None:
    """VmHWM (peak resident set size) of a running process, from /proc; None when unavailable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def run_cli(args: list[str], *, env: dict[str, str], cwd: Path, hard_timeout: float = 60.0) -> ChildRun:
    """Run `approval ARGS`, reaping exactly that child with wait4 (safe with several children at once), and measure
    its peak RSS by polling /proc/<pid>/status VmHWM (a high-water mark of the process after exec). wait4's
    ru_maxrss is only the fallback: on Linux it also counts the forking parent's memory (vfork / fork before exec).
    The child is killed after `hard_timeout` seconds (a hang is then visible as `killed`)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen([*approval_command(), *args], stdout=out, stderr=err, env=env, cwd=cwd)
        killed = False
        status, usage = 0, None
        hwm_kb: int | None = None
        for _ in range(int(hard_timeout / POLL_S) + 10):
            reading = _peak_rss_kb(proc.pid)
            if reading is not None:
                hwm_kb = max(hwm_kb or 0, reading)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > hard_timeout:
                proc.kill()  # not yet reaped: the pid is still ours
                killed = True
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(POLL_S)
        else:  # pragma: no cover - the loop bound is above the time bound
            proc.kill()
            killed = True
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    assert usage is not None
    peak_kb = hwm_kb if hwm_kb is not None else usage.ru_maxrss
    return ChildRun(proc.returncode, stdout, stderr, seconds, peak_kb / 1024.0, killed)


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def publish_table(name: str, directory: Path, text: str) -> Path:
    path = directory / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    TABLES[name] = (path, text)
    return path
