"""Start the demo gateway, run `approval run` against it with examples/gateway.yaml, stop the gateway."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.peer_gateway import LiteLLMError, start_demo_gateway  # noqa: E402

DEMO_KEY = "sk-some-test-key"  # the demo gateway's master key (examples/litellm.yaml); not a secret


def main(argv: list[str]) -> int:
    print("demo: starting the LiteLLM gateway on 127.0.0.1, in front of a stub tool-using model (no real provider) ...",
          file=sys.stderr)
    with contextlib.ExitStack() as stack:
        try:
            gateway = stack.enter_context(start_demo_gateway())
        except LiteLLMError as exc:
            print(f"demo: error: {exc}", file=sys.stderr)
            return 3
        print(f"demo: gateway ready at {gateway.base_url} in {gateway.started_in_s:.1f} s", file=sys.stderr)
        command = [str(Path(sys.executable).parent / "approval"), "run", "--config", "examples/gateway.yaml", "--base-url", gateway.base_url,
                   "--record-out", "approval-record.json", "--report-out", "approval-report.md", *argv]
        env = {**os.environ, "GATEWAY_API_KEY": os.environ.get("DEMO_GATEWAY_API_KEY", DEMO_KEY)}
        return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
