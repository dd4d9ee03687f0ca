"""A coding agent built on the openai Agents SDK, as such agents are written: one ``read_file`` function tool, a
streamed run over chat completions, the final output printed. Run by harness/agents.py with the interpreter of
its own venv (``.tools/agents/openai-agents``), isolated (``-I``)::

    python -I openai_agents_driver.py --base-url http://127.0.0.1:PORT/v1 --model MODEL --max-turns 6 "TASK"

The key comes from ``GATEWAY_API_KEY``. Before anything else it refuses every outgoing connection that is not to a
loopback address (the SDK's tracing exporter is also turned off). Exit 0 when the run ended with a final output, 1
when the SDK raised (its error's class and message on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loopback_guard

loopback_guard.install()
del sys.path[0]

from agents import (  # noqa: E402  (after the guard: nothing may connect before it is in place)
    Agent,
    AsyncOpenAI,
    OpenAIChatCompletionsModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)


@function_tool  # type: ignore[untyped-decorator]
def read_file(path: str) -> str:
    """Read a text file of the current directory and return its content."""
    target = (Path.cwd() / path).resolve()
    if Path.cwd().resolve() not in target.parents:
        return f"error: {path} is outside the working directory"
    try:
        return target.read_text(encoding="utf-8")
    except OSError as exc:
        return f"error: {exc}"


async def run(base_url: str, model: str, task: str, max_turns: int) -> str:
    client = AsyncOpenAI(base_url=base_url, api_key=os.environ.get("GATEWAY_API_KEY", "unused"), max_retries=0, timeout=30)
    agent = Agent(name="coder", instructions="You are a coding agent. Use your tools to answer.", tools=[read_file],
                  model=OpenAIChatCompletionsModel(model=model, openai_client=client))
    result = Runner.run_streamed(agent, task, max_turns=max_turns)
    async for _event in result.stream_events():
        pass
    return str(result.final_output)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("task")
    args = parser.parse_args()
    set_tracing_disabled(True)
    try:
        print(asyncio.run(run(args.base_url, args.model, args.task, args.max_turns)), flush=True)
    except Exception as exc:  # noqa: BLE001 (whatever the SDK raised is the run's outcome)
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
