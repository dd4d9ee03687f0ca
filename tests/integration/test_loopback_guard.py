"""The Python agents' guard (harness/agent_drivers/loopback_guard.py, loaded first by the openai Agents SDK driver and
Aider's): once installed, a connection to a non-loopback address is refused before any packet leaves, and loopback
still works. Run in a child interpreter (the guard patches the process's sockets); nothing leaves 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DRIVERS = Path(__file__).resolve().parents[2] / "harness" / "agent_drivers"
PROBE = """
import socket, sys
sys.path.insert(0, sys.argv[1])
import loopback_guard
loopback_guard.install()
server = socket.create_server(("127.0.0.1", 0))
with socket.create_connection(server.getsockname(), timeout=2):
    print("loopback ok")
for host in ("192.0.2.1", "::ffff:192.0.2.1"):  # addresses, no name: nothing is resolved
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.socket(family).connect((host, 443))
    except ConnectionRefusedError as exc:
        print("refused", exc)
"""


def test_only_loopback_connections_get_through_once_the_guard_is_installed() -> None:
    done = subprocess.run([sys.executable, "-I", "-c", PROBE, str(DRIVERS)], capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "loopback ok"
    assert lines[1:] == [f"refused connection to {host} refused: this agent may only reach loopback addresses"
                         for host in ("192.0.2.1", "::ffff:192.0.2.1")]
