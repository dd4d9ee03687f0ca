"""Scripted chat streams of tool calls, the way a server sends them, with each class of defect a gateway or server
is known to make (docs/checks.md, streamed-tool-calls): for the unit tests of the check and for holding its rebuilds to
the client libraries themselves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Call = tuple[str, str, str]  # id, name, arguments
CALLS: list[Call] = [("call_a1", "read_file", '{"path": "README.md"}'), ("call_b2", "read_file", '{"path": "CHANGELOG.md"}')]
Chunks = list[dict[str, Any]]


def chunk(tool_calls: list[dict[str, Any]] | None = None, finish: str | None = None, content: str | None = None) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    if content is not None:
        delta["content"] = content
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "cand-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def pieces(text: str) -> list[str]:
    third = max(1, len(text) // 3)
    return [text[i:i + third] for i in range(0, len(text), third)]


def streamed(calls: list[tuple[str, str, str]], *, index: Callable[[int], int | None] = lambda k: k, finish: str | None = "tool_calls",
             id_on_every: Callable[[int, int], str | None] | None = None, name_on_every: bool = False, drop_args: bool = False,
             summary: bool = False, buffered: bool = False) -> Chunks:
    """A chat stream of `calls`, the way a server sends it, with the deviations asked for."""
    out = [{"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "cand-model",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]

    def entry(k: int, fields: dict[str, Any]) -> dict[str, Any]:
        at = index(k)
        return {**({"index": at} if at is not None else {}), **fields}

    for k, (cid, name, args) in enumerate(calls):
        out.append(chunk([entry(k, {"id": cid, "type": "function", "function": {"name": name, "arguments": args if buffered else ""}})]))
        for n, piece in enumerate([] if drop_args or buffered else pieces(args)):
            fields: dict[str, Any] = {"function": {"arguments": piece, **({"name": name} if name_on_every else {})}}
            if id_on_every is not None:
                fields["id"] = id_on_every(k, n)
            out.append(chunk([entry(k, fields)]))
    if summary:
        out += [chunk([entry(k, {"id": cid, "type": "function", "function": {"name": name, "arguments": args}})])
                for k, (cid, name, args) in enumerate(calls)]
    out.append(chunk(finish=finish))
    return out


def final_frame_only(calls: list[tuple[str, str, str]]) -> Chunks:
    return [chunk([{"index": k, "id": cid, "type": "function", "function": {"name": name, "arguments": args}}
                   for k, (cid, name, args) in enumerate(calls)], finish="tool_calls")]


Scripted = Callable[[list[Call]], Chunks]
# Every class, by name: the unit tests judge each, and the rebuild tests compare each with the real client.
SCRIPTED: dict[str, Scripted] = {
    "healthy": streamed,
    "duplicate summary chunk": lambda c: streamed(c, summary=True),
    "all calls at index 0": lambda c: streamed(c, index=lambda k: 0),
    "index missing": lambda c: streamed(c, index=lambda k: None),
    "the same id on every chunk": lambda c: streamed(c, id_on_every=lambda k, n: CALLS[k][0]),
    "an id that changes from chunk to chunk": lambda c: streamed(c, id_on_every=lambda k, n: f"call_x{k}{n}"),
    "the name on every chunk": lambda c: streamed(c, name_on_every=True),
    "arguments dropped": lambda c: streamed(c, drop_args=True),
    "the calls only in the final frame": final_frame_only,
    "finish_reason stop beside the calls": lambda c: streamed(c, finish="stop"),
    "all arguments in one chunk (buffered)": lambda c: streamed(c, buffered=True),
    "no finish_reason": lambda c: streamed(c, finish=None),
    "index missing and a duplicate summary": lambda c: streamed(c, index=lambda k: None, summary=True),
    "index 0 and a duplicate summary": lambda c: streamed(c, index=lambda k: 0, summary=True),
    "index 0 and the name on every chunk": lambda c: streamed(c, index=lambda k: 0, name_on_every=True),
    "a delta without a function object": lambda c: [*streamed(c)[:1], chunk([{"index": 0}]), *streamed(c)[1:]],
}
