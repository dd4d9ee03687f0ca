"""`approval capture` for real: the installed command as a proxy in front of the stub upstream model (and LiteLLM in
front of it), driven by the openai Python SDK, the openai Node SDK and real coding agents (harness/agents.py).

What a user relies on: the agent gets what the gateway sends — answers, tool calls, streams as they arrive (not
buffered), errors as they are — so it completes its task through the proxy; the profile written names the agent's
tools and its streaming, loads, holds no key and no content, and `approval run --profile` replays it against the same
gateway; every bad input ends with one line and its documented exit code, before anything listens.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from approval.common.redact import holds_secret
from approval.engine.opening import FILLER
from approval.settings.profile import load_profile
from harness.agents import AGENTS, NODE_MODULES, need_agents, run_agent, stub_gateway
from harness.commands import approval_command, require_e2e, run_approval, run_env
from harness.peer_gateway import LOOPBACK_PRELOAD, need_litellm
from harness.stub_upstream import StubUpstream
from harness.unprivileged import run_unprivileged

pytestmark = [pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]

KEY = "sk-capture-canary-0123456789abcdefGHIJ"
CONTENT = "CANARY-CONTENT-7f3a"  # in every message the clients send: must never reach the profile
URL_LINE = re.compile(r"^capture: point the agent at (http://127\.0\.0\.1:\d+(/\S*)?)$")
TOOLS: list[dict[str, Any]] = [{"type": "function", "function": {"name": "read_file", "description": "Read a file of the repository.",
                                            "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                                                           "required": ["path"]}}}]
CONVERSATION_CHECKS = "reachability,happy-path,model-echo,error-path,tool-calling,tool-round-trip,agent-envelope,streaming,streamed-tool-calls"


@dataclass
class Capture:
    """A running `approval capture`: its URL for the agent, and its output lines as they come."""

    process: subprocess.Popen[str]
    url: str = ""
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def finish(self, interrupt: bool = False, timeout: float = 30) -> int:
        if interrupt and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            pytest.fail(f"approval capture did not end within {timeout} s")

    @property
    def text(self) -> str:
        return "\n".join(self.out + self.err)


def clean_env() -> dict[str, str]:
    return run_env("OPENAI_")


@contextlib.contextmanager
def capturing(upstream: str, out: Path, *extra: str) -> Iterator[Capture]:
    """`approval capture --upstream … --out …` running; its first line (the URL) read within 30 s."""
    process = subprocess.Popen([*approval_command(), "capture", "--upstream", upstream, "--out", str(out), *extra], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=clean_env())
    cap = Capture(process)
    first: queue.Queue[str] = queue.Queue()

    def read(stream: Any, into: list[str], announce: bool) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))
            if announce and len(into) == 1:
                first.put(into[0])
        if announce and not into:
            first.put("")

    readers = [threading.Thread(target=read, args=(process.stdout, cap.out, True), daemon=True),
               threading.Thread(target=read, args=(process.stderr, cap.err, False), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        try:
            line = first.get(timeout=30)
        except queue.Empty:
            pytest.fail("approval capture printed no URL within 30 s")
        match = URL_LINE.match(line)
        assert match, f"the first line is not the URL to point the agent at: {line!r}; stderr: {cap.err}"
        cap.url = match.group(1)
        yield cap
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for reader in readers:
            reader.join(timeout=5)


def profile_of(path: Path, *canaries: str) -> Any:
    """The written profile, loaded as `approval run` loads it; none of `canaries` (the key, content) in any form."""
    text = path.read_text(encoding="utf-8")
    for canary in (KEY, CONTENT, *canaries):
        assert not holds_secret(text, canary), f"{canary[:12]}… is in the profile"
    return load_profile(str(path))


# ----------------------------------------------------------------------------------------------- pass-through, Python SDK
def sdk_calls(client: Any) -> list[Any]:
    """A tool round trip (non-streamed, then streamed with the tool result) on chat completions, and a Responses call
    streamed and not: what each returned, ids left out (they are the upstream's per response)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": f"{CONTENT} system"}, {"role": "user", "content": f"{CONTENT} read README.md"}]
    first = client.chat.completions.create(model="stub-model", messages=messages, tools=TOOLS, parallel_tool_calls=True, temperature=0.2,
                                           user="alice@example.com")
    call = first.choices[0].message.tool_calls[0]
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": f"{CONTENT} the file says hello"}]
    events = list(client.chat.completions.create(model="stub-model", messages=messages, tools=TOOLS, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in events if c.choices)
    flat = [{"type": "function", **TOOLS[0]["function"]}]
    resp = client.responses.create(model="stub-model", input=f"{CONTENT} read README.md", tools=flat)
    streamed = [e.type for e in client.responses.create(model="stub-model", input=f"{CONTENT} hi", tools=flat, stream=True)]
    return [(first.choices[0].finish_reason, call.function.name, json.loads(call.function.arguments)), (len(events), text),
            (resp.status, [o.type for o in resp.output]), streamed]


def test_the_python_sdk_gets_through_the_proxy_what_the_upstream_sends(stub: StubUpstream, tmp_path: Path) -> None:
    import openai

    direct = sdk_calls(openai.OpenAI(base_url=stub.base_url, api_key=KEY, max_retries=0))
    out = tmp_path / "captured.yaml"
    with capturing(stub.base_url, out, "--requests", "4", "--seconds", "60") as cap:
        proxied = sdk_calls(openai.OpenAI(base_url=cap.url, api_key=KEY, max_retries=0))
        assert cap.finish() == 0, cap.text
    assert proxied == direct
    assert direct[0][0] == "tool_calls" and "the file says hello" in direct[1][1], "the stub made a call and echoed its result"
    profile = profile_of(out, "alice@example.com")
    assert profile.endpoint == "chat" and profile.streams and [t["name"] for t in profile.tools] == ["read_file"]
    assert profile.parallel_tool_calls is True and profile.client == "openai-python"
    assert profile.parameters["user"] == "<redacted>" and profile.parameters["stream_options"] == {"include_usage": True}
    assert [e["role"] for e in profile.role_sequence] == ["system", "user", "assistant", "tool"]
    assert "authorization" in profile.header_names and "captured from OpenAI/Python" in profile.source
    assert KEY not in cap.text and CONTENT not in cap.text and "stopped after the requests asked for" in cap.text


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/chat/completions", {"messages": [{"role": "user", "content": "x"}]}),  # no model: 400
    ("POST", "/chat/completions", {"model": "stub-model+no-such-defect", "messages": []}),  # 400 from the stub
    ("POST", "/embeddings", {"model": "stub-model", "input": "x"}),  # 404
    ("GET", "/models", None),
])
def test_errors_and_other_routes_pass_through_as_they_are(stub: StubUpstream, tmp_path: Path, method: str, path: str, body: Any) -> None:
    import requests

    def call(base: str) -> tuple[int, bytes, str | None]:
        r = requests.request(method, base + path, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        return r.status_code, r.content, r.headers.get("content-type")

    with capturing(stub.base_url, tmp_path / "p.yaml", "--seconds", "30") as cap:
        assert call(cap.url) == call(stub.base_url)
        cap.finish(interrupt=True)


class SlowStream(BaseHTTPRequestHandler):
    """An upstream that streams three SSE events 0.6 s apart, without a length (HTTP/1.0: ends by closing)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for i in range(3):
            self.wfile.write(f"data: {{\"n\": {i}}}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.6)
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_a_stream_is_passed_on_as_it_arrives_not_buffered(tmp_path: Path) -> None:
    import requests

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowStream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        upstream = f"http://127.0.0.1:{server.server_address[1]}/v1"
        with capturing(upstream, tmp_path / "p.yaml", "--requests", "1", "--seconds", "60") as cap:
            started = time.monotonic()
            arrivals: list[tuple[float, bytes]] = []
            with requests.post(cap.url + "/chat/completions", json={"model": "m", "messages": [], "stream": True}, stream=True,
                               timeout=30) as r:
                for line in r.iter_lines():
                    if line:
                        arrivals.append((time.monotonic() - started, line))
            assert cap.finish() == 0, cap.text
    finally:
        server.shutdown()
        server.server_close()
    assert [line for _, line in arrivals] == [b'data: {"n": 0}', b'data: {"n": 1}', b'data: {"n": 2}', b"data: [DONE]"]
    assert arrivals[0][0] < 0.5 and arrivals[-1][0] >= 1.5, f"the first event came at {arrivals[0][0]:.2f} s: buffered"


# ----------------------------------------------------------------------------------------------- the openai Node SDK
NODE_SCRIPT = r"""
const sdk = require(process.argv[1]);  // node -e SCRIPT ARGS: the arguments start at argv[1]
const OpenAI = sdk.OpenAI || sdk.default || sdk;
(async () => {
  const client = new OpenAI({ baseURL: process.argv[2], apiKey: process.env.CAPTURE_KEY, maxRetries: 0 });
  const tools = JSON.parse(process.argv[3]);
  const messages = [{ role: "developer", content: process.env.CAPTURE_CONTENT }, { role: "user", content: process.env.CAPTURE_CONTENT }];
  const first = await client.chat.completions.create({ model: "stub-model", messages, tools });
  const call = first.choices[0].message.tool_calls[0];
  messages.push(first.choices[0].message, { role: "tool", tool_call_id: call.id, content: process.env.CAPTURE_CONTENT });
  const stream = await client.chat.completions.create({ model: "stub-model", messages, tools, stream: true,
                                                        stream_options: { include_usage: true }, tool_choice: "auto" });
  let text = "";
  for await (const chunk of stream) text += (chunk.choices[0] && chunk.choices[0].delta.content) || "";
  console.log(JSON.stringify({ finish: first.choices[0].finish_reason, name: call.function.name, text }));
})().catch((e) => { console.error(String(e)); process.exit(1); });
"""


def openai_node() -> Path:
    """The openai Node SDK: in OPENAI_NODE_DIR (a node_modules) when set, else beside the agents or the AI SDK
    (requirements/ai-sdk pins it; scripts/bootstrap installs it into .tools/ai-sdk)."""
    given = os.environ.get("OPENAI_NODE_DIR")
    places = [Path(given)] if given else [NODE_MODULES, Path(os.environ.get("AI_SDK_DIR") or ROOT / ".tools" / "ai-sdk") / "node_modules"]
    found = next((p / "openai" for p in places if (p / "openai" / "package.json").is_file()), None)
    if shutil.which("node") is None or found is None:
        if require_e2e():
            pytest.fail("APPROVAL_REQUIRE_E2E=1 but node or the openai Node SDK is missing (run scripts/bootstrap)")
        pytest.skip("node or the openai Node SDK is missing: run scripts/bootstrap (it needs npm), or set OPENAI_NODE_DIR to a node_modules")
    return found


def test_the_node_sdk_gets_through_the_proxy_and_is_named(stub: StubUpstream, tmp_path: Path) -> None:
    sdk = openai_node()
    out = tmp_path / "captured.yaml"

    def run(base: str) -> dict[str, Any]:
        env = {**clean_env(), "CAPTURE_KEY": KEY, "CAPTURE_CONTENT": CONTENT}
        proc = subprocess.run(["node", "--require", str(LOOPBACK_PRELOAD), "-e", NODE_SCRIPT, str(sdk), base, json.dumps(TOOLS)],
                              capture_output=True, text=True, env=env, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        result: dict[str, Any] = json.loads(proc.stdout)
        return result

    direct = run(stub.base_url)
    with capturing(stub.base_url, out, "--requests", "2", "--seconds", "60") as cap:
        assert run(cap.url) == direct
        assert cap.finish() == 0, cap.text
    assert direct["finish"] == "tool_calls" and CONTENT in direct["text"]
    profile = profile_of(out)
    assert profile.client == "openai-node" and profile.instruction_role == "developer" and profile.streams
    assert profile.tool_choice == ("auto",) and [t["name"] for t in profile.tools] == ["read_file"]


# ----------------------------------------------------------------------------------------------- real agents, LiteLLM
@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[StubUpstream, str, str]]:
    """The stub upstream and LiteLLM in front of it (harness/agents.py's stub_gateway), for the module."""
    need_litellm()
    with stub_gateway(["stub-model"]) as running:
        yield running


def agent_named(name: str) -> Any:
    need_agents([name])
    return AGENTS[name]


# the agent, and tools its profile must name
AGENT_TOOLS = {"qwen-code": {"run_shell_command", "read_file"}, "opencode": {"bash", "read"}, "codex": {"exec_command"}}


@pytest.mark.agents
@pytest.mark.parametrize("name", list(AGENT_TOOLS))
def test_a_real_agent_completes_through_the_proxy_and_its_profile_replays(gateway: tuple[StubUpstream, str, str], tmp_path: Path,
                                                                          name: str) -> None:
    stub, base_url, key = gateway
    agent = agent_named(name)
    out = tmp_path / "captured.yaml"
    with capturing(base_url, out, "--seconds", "120", "--name", f"captured-{name}") as cap:
        outcome = run_agent(agent, stub=stub, base_url=cap.url, api_key=key, model="openai-stub-model")
        assert outcome.completed, outcome.describe()
        assert cap.finish(interrupt=True) == 0, cap.text
    assert "stopped on Ctrl-C" in cap.text and not holds_secret(cap.text, key)
    profile = profile_of(out, key)
    assert profile.name == f"captured-{name}" and profile.endpoint == agent.protocol and profile.streams
    assert AGENT_TOOLS[name] <= {t["name"] for t in profile.tools}, [t["name"] for t in profile.tools]
    assert profile.role_sequence and profile.header_names
    # LiteLLM's Responses bridge names the upstream's model in its streamed events (model-echo's finding, not the
    # profile's): a Responses profile is replayed through the checks that send its tools and parameters as they are
    checks = CONVERSATION_CHECKS if agent.protocol == "chat" else "reachability,happy-path,tool-calling,agent-envelope"
    record = tmp_path / "record.json"
    since = time.time()
    run = run_approval(["run", "--base-url", base_url, "--model", "openai-stub-model", "--profile", str(out), "--checks",
                        checks, "--record-out", str(record), "--timeout", "90"], key=key, cwd=tmp_path)
    assert run.code == 0, run.all_text[-3000:]
    assert f"for agent profile captured-{name}" in run.stdout
    # the agent's own first messages (its recorded role sequence, as filler of their lengths) reached the model
    assert any(FILLER[:60] in json.dumps(r.body) for r in stub.requests if r.time >= since), "the opening was not replayed"
    assert json.loads(record.read_text())["agent_profile"]["name"] == f"captured-{name}"


# ----------------------------------------------------------------------------------------------- bad input
def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize(("args", "said"), [
    (["--upstream", "ftp://127.0.0.1/v1"], "is not an http(s) URL"),
    (["--upstream", "127.0.0.1:4000"], "is not an http(s) URL"),
    (["--upstream", "http://127.0.0.1:99999/v1"], "is not a valid URL"),
    (["--upstream", "http://user:pw@127.0.0.1/v1"], "holds credentials"),
    (["--listen", "0.0.0.0:0"], "not a loopback address"),
    (["--listen", "127.0.0.1"], "is not HOST:PORT"),
    (["--out", "{tmp}/missing/p.yaml"], "does not exist"),
    (["--out", "{tmp}"], "is a directory"),
    (["--requests", "0"], "--requests"),
    (["--seconds", "soon"], "--seconds"),
    (["--name", "Our Agent"], "is not a profile name"),
    (["--listen", "127.0.0.1:{busy}"], "the port is in use"),
])
def test_bad_input_ends_with_one_line_and_exit_2_before_listening(tmp_path: Path, busy_port: int, args: list[str], said: str) -> None:
    given = {"--upstream": "http://127.0.0.1:9/v1", "--out": str(tmp_path / "p.yaml"), "--seconds": "5"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        given[flag] = value.format(tmp=tmp_path, busy=busy_port)
    run = run_approval(["capture", *[part for pair in given.items() for part in pair]], key=KEY, timeout=30)
    line = one_error_line(run.stderr)
    assert run.code == 2 and said in line and " — " in line, line
    assert run.stdout == "" and not (tmp_path / "p.yaml").exists()
    if "loopback" in said:
        assert "--listen-any" in line


def test_an_agent_that_sends_nothing_gets_exit_3_and_no_profile(tmp_path: Path) -> None:
    run = run_approval(["capture", "--upstream", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "p.yaml"), "--seconds", "1"], timeout=30)
    line = one_error_line(run.stderr)
    assert run.code == 3 and "no model request" in line and "no profile written" in line, line
    assert URL_LINE.match(run.stdout.splitlines()[0]) and not (tmp_path / "p.yaml").exists()


def test_out_in_a_folder_the_user_cannot_write_is_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o555)
    for parent in [tmp_path, *tmp_path.parents]:
        if parent == Path(parent.anchor):
            break
        parent.chmod(parent.stat().st_mode | stat.S_IXOTH)
    proc = run_unprivileged(["capture", "--upstream", "http://127.0.0.1:9/v1", "--out", str(folder / "p.yaml"), "--seconds", "1"],
                            cwd=tmp_path, env={})
    line = one_error_line(proc.stderr)
    assert proc.returncode == 2 and "is not writable" in line, line
