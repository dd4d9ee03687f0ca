"""streamed-tool-calls end to end: the installed `approval` command against the real LiteLLM in front of the stub
upstream (harness/stub_upstream.py; LiteLLM's ``openai/`` provider, so its own stream handling is what the check
judges), and against the stub directly where LiteLLM repairs a defect on the way.

The agent's client is the profile's `client`; the default profile's is the openai Python SDK. Another client is judged
through the same suite run in-process on the same real gateway (the run's settings with another profile), until
profiles are chosen on the command line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from approval.engine.checks import streamed_tool_calls as stc
from approval.engine.suite import run_suite
from approval.settings.build import build_settings
from approval.settings.profile import GENERIC_TOOLS, Client
from harness.commands import approve_at, require_e2e
from harness.mocked_gateway import as_flags
from harness.peer_gateway import LOOPBACK_PRELOAD, STUB_MASTER_KEY, RunningLiteLLM, find_litellm, litellm_in_front_of
from harness.stub_upstream import StubUpstream
from harness.tool_call_streams import CALLS, SCRIPTED

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e

NAME = "streamed-tool-calls"
MODELS = ["stub-model", "stub-model+stream-duplicate-summary", "stub-model+stream-index-zero", "stub-model+finish-stop",
          "stub-model+empty-call-id"]


@pytest.fixture(scope="module")
def litellm_stub(stub: StubUpstream) -> Iterator[RunningLiteLLM]:
    """One LiteLLM for the module (a start costs ~10 s), every stub model routed as ``openai-<model>``."""
    with litellm_in_front_of(stub, MODELS) as running:
        yield running


def check_run(base_url: str, tmp_path: Path, model: str, key: str, *extra: str) -> dict[str, Any]:
    """The real CLI with this check alone; its result in the record."""
    result, record = approve_at(base_url, tmp_path, model, "--checks", f"happy-path,{NAME}", *extra, key=key)
    assert record is not None, result.all_text
    check: dict[str, Any] = next(c for c in record["checks"] if c["name"] == NAME)
    assert result.code == (0 if check["status"] in ("pass", "warn") else 1), result.all_text
    return check


def in_process(base_url: str, model: str, key: str, client: Client) -> Any:
    """The same run, its settings with the agent's client set to `client`."""
    settings = build_settings(as_flags({"base_url": base_url, "models": [model], "checks": f"happy-path,{NAME}", "timeout": 60}),
                              {"GATEWAY_API_KEY": key}, _catalogue())
    settings = replace(settings, profile=replace(GENERIC_TOOLS, client=client))
    outcome = run_suite(settings)
    found = outcome.candidates[0].check(NAME)
    assert found is not None
    return found


def _catalogue() -> Any:
    from approval.engine.checks import CATALOGUE

    return CATALOGUE


@pytest.mark.parametrize(("defect", "status", "said"), [
    ("", "pass", "match their non-streamed twins (single: 1 call, parallel: 2 calls)"),
    # LiteLLM passes an OpenAI upstream's chunks through as they are: the SDK's helper merges the summary into the call
    ("+stream-duplicate-summary", "fail", "read_file call would arrive as 'read_fileread_file' with arguments that are not JSON"),
    ("+stream-index-zero", "fail", "parallel calls share one `index`"),
    ("+empty-call-id", "fail", "a call has no id"),
    # measured: LiteLLM rewrites "stop" beside calls in the unstreamed answer (the twin says tool_calls) but not in the
    # stream: only the streamed form shows it
    ("+finish-stop", "warn", "the streamed calls end with finish_reason 'stop', not 'tool_calls'"),
])
def test_through_litellm_as_the_openai_python_sdk_rebuilds(litellm_stub: RunningLiteLLM, tmp_path: Path, defect: str, status: str,
                                                           said: str) -> None:
    check = check_run(litellm_stub.base_url, tmp_path, f"openai-stub-model{defect}", STUB_MASTER_KEY)
    assert check["status"] == status and said in check["detail"], check["detail"]
    assert check["category"] == ("none" if status == "pass" else "gateway")
    assert check["metrics"]["single_twin_calls"] == 1 and check["metrics"]["parallel_twin_calls"] == 2


@pytest.mark.parametrize(("defect", "status", "said"), [
    ("", "pass", "match their non-streamed twins"),
    # the AI SDK takes the trailing summary (a named delta opening a new JSON value) for a second call: the same read twice
    ("+stream-duplicate-summary", "warn", "would run its read_file call twice"),
    # it tells calls sharing an index apart by their ids: the calls arrive right, only the finish_reason is wrong
    ("+stream-index-zero", "warn", "finish_reason 'stop'"),
])
def test_through_litellm_as_the_ai_sdk_rebuilds(litellm_stub: RunningLiteLLM, defect: str, status: str, said: str) -> None:
    check = in_process(litellm_stub.base_url, f"openai-stub-model{defect}", STUB_MASTER_KEY, "ai-sdk")
    assert check.status.value == status and said in check.detail, check.detail


def test_litellm_from_anthropic_renumbers_calls_at_index_zero_which_the_stub_directly_shows(litellm_stub: RunningLiteLLM,
                                                                                            stub: StubUpstream, tmp_path: Path) -> None:
    """Measured: from an Anthropic upstream whose content blocks all say index 0, LiteLLM numbers the streamed calls by
    content block itself, so the calls arrive right (only ``end_turn``'s "stop" is left); the same defect from an
    OpenAI-protocol upstream, answering directly, reaches the client as it is and merges the calls."""
    through = check_run(litellm_stub.base_url, tmp_path, "anthropic-stub-model+stream-index-zero", STUB_MASTER_KEY)
    assert through["status"] == "warn" and "finish_reason 'stop'" in through["detail"], through["detail"]
    assert "share one `index`" not in through["detail"] and through["metrics"]["parallel_calls"] == 2
    direct = check_run(stub.base_url, tmp_path, "stub-model+stream-index-zero", "sk-stub-upstream")
    assert direct["status"] == "fail" and "read_fileread_file" in direct["detail"], direct["detail"]


@pytest.mark.parametrize(("defect", "status", "said"), [
    ("", "pass", "match"),
    # the deltas join wrong, the finished items (what the agents' clients keep) are right
    ("+stream-duplicate-summary", "warn", "argument deltas join into text that is not JSON"),
    ("+empty-call-id", "fail", "empty call_id"),
])
def test_responses_from_the_stub_directly(stub: StubUpstream, tmp_path: Path, defect: str, status: str, said: str) -> None:
    """The stub answering directly: through LiteLLM's /v1/responses the events name the upstream's model, not the
    route's, so the run takes them for another model's answers and judges nothing (model-echo's finding)."""
    check = check_run(stub.base_url, tmp_path, f"stub-model{defect}", "sk-stub-upstream", "--endpoint", "responses")
    assert check["status"] == status and said in check["detail"], check["detail"]


# ----------------------------------------------------------------------------------------------- the AI SDK itself
@pytest.fixture(scope="module")
def ai_sdk() -> Path:
    """The folder holding `@ai-sdk/openai-compatible` (scripts/bootstrap: .tools/ai-sdk; AI_SDK_DIR chooses another)."""
    folder = Path(os.environ.get("AI_SDK_DIR") or ROOT / ".tools" / "ai-sdk")
    if shutil.which("node") is None or not (folder / "node_modules" / "@ai-sdk" / "openai-compatible" / "package.json").is_file():
        if require_e2e():
            pytest.fail(f"APPROVAL_REQUIRE_E2E=1 but node or the AI SDK (in {folder}) is missing (run scripts/bootstrap)")
        pytest.skip("node or the AI SDK is missing: run scripts/bootstrap (it needs npm)")
    return folder


def test_the_ai_sdk_rebuild_is_the_ai_sdks_own(ai_sdk: Path) -> None:
    """Every scripted class, single and parallel, read by the AI SDK's OpenAI-compatible provider itself (a server on
    127.0.0.1 serving each stream): the calls it emits, in order, and whether it reports an error, are the rebuild's."""
    streams = {f"{name}/{len(calls)}": make(calls) for name, make in SCRIPTED.items() for calls in (CALLS[:1], CALLS)}
    run = subprocess.run(["node", "--require", str(LOOPBACK_PRELOAD), str(ROOT / "harness" / "ai_sdk_stream.mjs"), str(ai_sdk)],
                         input=json.dumps(streams), capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    measured = json.loads(run.stdout)
    for key, chunks in streams.items():
        mine = stc.rebuild_ai_sdk(chunks)
        theirs = measured[key]
        # an id the SDK made up stands for the wire's missing or repeated one: compared as "made up"
        made = [[cid if cid in {c[0] for c in CALLS} else "made-up", name, args] for cid, name, args in theirs["calls"]]
        assert [[c.id if c.id in {c[0] for c in CALLS} else "made-up", c.name, c.arguments] for c in mine.calls] == made, key
        assert (mine.error is not None) == (theirs["error"] is not None), (key, mine.error, theirs["error"])
        assert mine.finish_reason == theirs["finish"] or mine.error is not None, key


def test_the_litellm_rebuild_is_litellms_own() -> None:
    """Every scripted class, single and parallel, rebuilt by litellm's own `stream_chunk_builder` (the gateway's
    Python, offline): the calls and the finish_reason, or that it raises, are the rebuild's."""
    litellm_bin = find_litellm()
    if litellm_bin is None:
        if require_e2e():
            pytest.fail("APPROVAL_REQUIRE_E2E=1 but litellm is not installed (run scripts/bootstrap)")
        pytest.skip("litellm is not installed: run scripts/bootstrap, or set LITELLM_BIN")
    streams = {f"{name}/{len(calls)}": make(calls) for name, make in SCRIPTED.items() for calls in (CALLS[:1], CALLS)}
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    run = subprocess.run([str(litellm_bin.with_name("python")), str(ROOT / "harness" / "litellm_stream.py")],
                         input=json.dumps(streams), capture_output=True, text=True, timeout=120, check=False, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    measured = json.loads(run.stdout.strip().splitlines()[-1])
    for key, chunks in streams.items():
        mine = stc.rebuild_litellm(chunks)
        if "error" in measured[key]:
            assert mine.error is not None, (key, measured[key])
            continue
        assert mine.error is None, (key, mine.error)
        assert [[c.id, c.name, c.arguments] for c in mine.calls] == measured[key]["calls"], key
        assert mine.finish_reason == measured[key]["finish"], key
