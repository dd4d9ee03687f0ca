"""The Node preload that keeps Portkey's gateway on this machine: it listens on 127.0.0.1 and reaches loopback only.

The outgoing side is tested without a network: the script replaces Node's own socket `connect` with a recorder
*before* the preload wraps it, so a connection the preload let through is recorded, never sent.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from harness.commands import require_e2e
from harness.peer_gateway import LOOPBACK_PRELOAD, portkey_env

SCRIPT = r"""
const net = require('net');
const http = require('http');
const passed = [];
net.Socket.prototype.connect = function (...args) {  // the recorder: nothing leaves the process
  const options = Array.isArray(args[0]) ? args[0][0] : args[0];
  passed.push(typeof options === 'object' ? (options.host || options.path || '(default host)') : String(args[1]));
  return this;
};
require(process.argv[1]);
const refused = [];
for (const target of [{host: '192.0.2.1', port: 443}, {host: 'api.openai.com', port: 443}, {host: '0.0.0.0', port: 80}]) {
  net.connect(target).on('error', (e) => refused.push([target.host, e.code, e.message]));
}
net.connect(80, 'example.com').on('error', (e) => refused.push(['example.com', e.code, e.message]));
net.connect({host: '127.0.0.1', port: 9});
net.connect({host: 'localhost', port: 9});
net.connect({port: 9});
net.connect({path: '/nonexistent.sock'});
const bound = [];
const servers = [http.createServer(), net.createServer(), net.createServer()];
servers[0].listen(0, () => bound.push(servers[0].address().address));
servers[1].listen({port: 0, host: '0.0.0.0'}, () => bound.push(servers[1].address().address));
servers[2].listen(0, '::', () => bound.push(servers[2].address().address));
setTimeout(() => {
  servers.forEach((s) => s.close());
  console.log(JSON.stringify({passed, refused, bound}));
}, 300);
"""


def test_the_preload_binds_loopback_and_refuses_every_other_address_before_connecting():
    node = shutil.which("node")
    if node is None:
        if require_e2e():
            pytest.fail("APPROVAL_REQUIRE_E2E=1 but node is not installed (Portkey's gateway needs it)")
        pytest.skip("node is not installed")
    proc = subprocess.run([node, "-e", SCRIPT, str(LOOPBACK_PRELOAD)], capture_output=True, text=True, timeout=30,
                          env=portkey_env(), check=True)
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["passed"] == ["127.0.0.1", "localhost", "(default host)", "/nonexistent.sock"]
    assert sorted(host for host, _code, _message in seen["refused"]) == ["0.0.0.0", "192.0.2.1", "api.openai.com", "example.com"]
    assert {code for _host, code, _message in seen["refused"]} == {"ECONNREFUSED"}
    assert all("loopback" in message for _host, _code, message in seen["refused"])
    assert seen["bound"] == ["127.0.0.1"] * 3
