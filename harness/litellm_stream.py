"""What litellm's `stream_chunk_builder` makes of scripted chat streams: the ground truth the streamed-tool-calls
check's `litellm` rebuild is held to. Run with the gateway's Python (where litellm is installed), offline:

    LITELLM_LOCAL_MODEL_COST_MAP=True .venv-gateway/bin/python harness/litellm_stream.py < streams.json

stdin: {"<name>": [chunk, …]}; stdout (the last line): {"<name>": {"calls": [[id, name, arguments], …], "finish": …}
or {"error": "<type>: <message>"}}.
"""

import json
import sys

import litellm  # type: ignore[import-not-found]
from litellm.types.utils import ModelResponseStream  # type: ignore[import-not-found]


def rebuild(chunks: list[dict]) -> dict:  # type: ignore[type-arg]
    try:
        choice = litellm.stream_chunk_builder([ModelResponseStream(**c) for c in chunks]).choices[0]
    except Exception as exc:  # noqa: BLE001 - whatever it raises is what a client of it gets
        return {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return {"calls": [[t.id, t.function.name, t.function.arguments] for t in choice.message.tool_calls or []],
            "finish": choice.finish_reason}


if __name__ == "__main__":
    streams = json.load(sys.stdin)
    print(json.dumps({name: rebuild(chunks) for name, chunks in streams.items()}))
