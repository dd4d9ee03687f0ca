"""agent-client: the official openai SDK, configured as the agent configures it, against the `responses` fake gateway
(its requests reach the mock through harness/sdk_bridge.py), and the verdict it reaches from what the SDK went
through. The SDK's own transport (proxy, TLS, timeouts, the concurrency cap) is tested against loopback servers in
tests/integration/test_agent_client.py."""

from __future__ import annotations

import subprocess
import sys


def test_a_run_without_agent_client_never_imports_the_sdk():
    code = (
        "import sys, responses, json\n"
        "from harness.mocked_gateway import make_settings, FakeGateway\n"
        "from approval.engine.suite import run_suite\n"
        "with responses.RequestsMock(assert_all_requests_are_fired=False) as r:\n"
        "    FakeGateway(r)\n"
        "    out = run_suite(make_settings(checks='reachability,happy-path,model-echo,error-path,latency'))\n"
        "assert out.result == 'pass', [c.detail for c in out.candidates[0].checks]\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'httpx2', 'pydantic')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
