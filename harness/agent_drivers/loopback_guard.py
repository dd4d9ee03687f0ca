"""The Python agents' guard: once ``install()`` ran, every outgoing connection that is not to a loopback address is
refused (``ConnectionRefusedError``) before it is made. A driver imports it and calls ``install()`` before it imports
its agent, so nothing connects before the guard is in place. A client that honours the proxy variables reaches the
loopback proxy that harness/agents.py sets (``ProxySink``), which records the host it wanted and forwards nothing."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConnectionRefusedError(f"connection to {host} refused: this agent may only reach loopback addresses")
    return _connect(self, address)


def install() -> None:
    """Refuse every non-loopback connection of this process from now on."""
    socket.socket.connect = _loopback_only  # type: ignore[method-assign,assignment]
