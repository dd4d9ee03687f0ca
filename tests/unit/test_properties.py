"""Property-based: whatever a gateway answers and whatever a config says, no traceback and no invalid record.

- Random JSON bodies (fully random, and valid bodies with random fields swapped in) with random statuses and headers
  go through approval.engine.contract, approval.engine.classify and every check's evaluation, then build_record + validate_record
  and both reports.
- Random bytes, cut at random places, go through the SSE parser and both stream judges.
- Random YAML config mappings and random flags go through build_settings: a Settings or a ConfigError, nothing else.
- Nesting deeper than Python's recursion limit, where the stdlib parsers give up, is tried explicitly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

import approval
from approval.common.errors import ConfigError
from approval.engine.agent_calls import MALFORMED, AgentRun, Attempt, SDKCall
from approval.engine.checks import BY_NAME, CATALOGUE, needed_labels
from approval.engine.checks.base import Evidence
from approval.engine.checks.streaming import judge_chat_stream, judge_responses_stream
from approval.engine.classify import describe_failure, generation
from approval.engine.contract import error_in_success_body, looks_like_refusal, parse_error_body, parse_json_text
from approval.engine.gateway import Exchange, SSEEvent, SSEParser, sse_has_content, sse_is_terminal, sse_json
from approval.engine.probes import plan
from approval.engine.results import Category, CheckResult, Status, verdict
from approval.engine.suite import ModelOutcome, RunOutcome
from approval.record.build import build_record, validate_record
from approval.report.render import render_markdown, render_text
from approval.settings.build import Settings, build_settings
from harness.measured_runs import CANARY
from harness.mocked_gateway import as_flags, chat_body, make_settings, responses_body

# 120 examples per property in the full suite; `scripts/test --fast` asks for fewer (APPROVAL_PROPERTY_EXAMPLES), the
# edit loop's trade of depth for time: the full run, CI's, always explores the 120.
PROPERTY_EXAMPLES = int(os.environ.get("APPROVAL_PROPERTY_EXAMPLES") or 120)
PROPERTY_SETTINGS = settings(max_examples=PROPERTY_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DEEP = 5000  # well past Python's default recursion limit of 1000

scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=40)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                           max_leaves=25)
statuses = st.sampled_from([None, 200, 200, 200, 201, 204, 301, 307, 400, 401, 403, 404, 408, 422, 429, 500, 502, 503, 504, 599])
transport = st.sampled_from([None, None, None, "timeout", "deadline", "connect", "dns", "tls", "reset", "invalid-response"])
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


def _mutated(base: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """A valid body with random fields replaced (or removed), one level down as well."""
    body: dict[str, Any] = json.loads(json.dumps(base))
    for key in data.draw(st.lists(st.sampled_from(sorted(body)), max_size=3, unique=True)):
        if data.draw(st.booleans()):
            del body[key]
        else:
            body[key] = data.draw(json_values)
    inner = body.get("choices") if isinstance(body.get("choices"), list) else body.get("output")
    if isinstance(inner, list) and inner and isinstance(inner[0], dict) and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(inner[0]) or ["x"]))
        inner[0][key] = data.draw(json_values)
    return body


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["random", "chat", "responses", "error", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    data = draw(st.data())
    if kind == "random":
        value: Any = draw(json_values)
    elif kind == "chat":
        value = _mutated(chat_body(model=draw(st.sampled_from(["cand-model", "other", "openai/cand-model"]))), data)
    elif kind == "responses":
        value = _mutated(responses_body(), data)
    else:
        value = {"error": draw(json_values), **draw(st.dictionaries(st.sampled_from(["detail", "message", "object", "status", "type"]),
                                                                   json_values, max_size=3))}
    return json.dumps(value).encode()


@st.composite
def exchanges(draw: st.DrawFn, label: str, stream: bool = False) -> Exchange:
    status = draw(statuses)
    ex = Exchange(label=label, method="POST", path="/chat/completions", status=status)
    ex.transport_error = draw(transport) if status is not None else draw(transport.filter(lambda t: t is not None))
    ex.transport_detail = draw(st.sampled_from(["", "the gateway did not answer", f"echo {CANARY}"]))
    ex.body = draw(bodies())
    ex.truncated = draw(st.booleans()) and draw(st.booleans())
    ex.attempts = draw(st.integers(min_value=0, max_value=3))
    ex.retry_waits = draw(st.lists(st.floats(min_value=0, max_value=10), max_size=2))
    ex.elapsed_ms = draw(st.floats(min_value=0, max_value=1e6))
    ex.headers = draw(st.dictionaries(st.sampled_from(["x-litellm-attempted-fallbacks", "x-litellm-model-group", "retry-after", "x-other"]),
                                      header_text, max_size=2))
    if stream:
        parser = SSEParser()
        events = parser.feed(draw(sse_bytes())) + parser.flush()
        ex.events = draw(st.sampled_from([events, None]))
        ex.stream_complete = any(sse_is_terminal(e) for e in events)
        ex.ttft_ms = draw(st.none() | st.floats(min_value=0, max_value=1e6))
    return ex


sdk_errors = st.sampled_from([None, None, "BadRequestError", "NotFoundError", "AuthenticationError", "RateLimitError", "InternalServerError",
                              "APIStatusError", "APIConnectionError", "APITimeoutError", "APIError", "JSONDecodeError", "BodyTooLarge",
                              "WindowClosed"])


@st.composite
def sdk_calls(draw: st.DrawFn, name: str) -> SDKCall:
    """Whatever the SDK may have gone through for one call: any attempts, any exception, cut or not."""
    attempts = tuple(draw(st.lists(st.builds(Attempt, statuses, st.sampled_from([None, "timeout", "connect", "transport", "unfinished"]),
                                             st.floats(min_value=0, max_value=1e4)), max_size=4)))
    raised = draw(sdk_errors)
    return SDKCall(name, attempts, draw(st.floats(min_value=0, max_value=1e4)), draw(st.sampled_from([None, None, "deadline", "max-wait"])),
                   raised, draw(statuses) if raised else None, draw(st.sampled_from(["", "Error code: 400 - no model", f"echo {CANARY}"])),
                   draw(st.none() | st.text(max_size=20)), draw(st.sampled_from([None, "ChatCompletion", "Response", "3 ChatCompletionChunk(s)"])),
                   draw(st.integers(min_value=0, max_value=10_000)), draw(st.sampled_from(["", "the output text is empty", "no choices"])),
                   draw(st.sampled_from(list(Category))))


@st.composite
def agent_runs(draw: st.DrawFn) -> AgentRun | None:
    names = draw(st.lists(st.sampled_from(["answer", "stream", *MALFORMED]), unique=True))
    calls = tuple(draw(sdk_calls(name)) for name in names)
    return draw(st.none() | st.just(AgentRun(calls, "openai 3.57.0", draw(st.floats(min_value=0, max_value=5e3)), draw(st.integers(0, 10)),
                                             draw(st.none() | st.floats(min_value=0.1, max_value=600)),
                                             draw(st.sampled_from(["", f"ProxyError: {CANARY}"])))))


@st.composite
def sse_bytes(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.one_of(
        st.builds(lambda v: b"data: " + json.dumps(v).encode(), json_values),
        st.builds(lambda v: b"data: " + json.dumps(v).encode(), st.builds(lambda d: {"choices": [{"delta": d}]}, json_values)),
        st.builds(lambda v: b"data: " + json.dumps({"type": "response.output_text.delta", "delta": v}).encode(), json_values),
        st.builds(lambda v: b"event: response.completed\ndata: " + json.dumps({"type": "response.completed", "response": v}).encode(),
                  json_values),
        st.sampled_from([b"data: [DONE]", b": PROCESSING", b"event: error", b"data: {", b"", b"retry: 10", b"data:"]),
        st.binary(max_size=40),
    ), max_size=12))
    sep = draw(st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\n"]))
    return sep.join(lines) + draw(st.sampled_from([b"", sep, sep + sep]))


def _settings_all_checks(endpoint: str) -> Settings:
    base = make_settings(environ={"GATEWAY_API_KEY": CANARY}, endpoint=endpoint, samples="2")
    expect = {"contains": ["add"], "not_contains": ["sorry"], "regex": ["a+b?"], "is_json": True, "min_length": 1, "max_length": 10_000,
              "no_refusal": True, "json_schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}
    return dataclasses.replace(base, checks=CATALOGUE.names, expect=expect, approved_models=("cand-model",), model_in_use="old-model",
                               model_aliases={"cand-model": ("vendor/cand-model",)})


SETTINGS = {endpoint: _settings_all_checks(endpoint) for endpoint in ("chat", "responses")}


def _check_result_is_sane(check: CheckResult) -> None:
    assert isinstance(check.status, Status) and isinstance(check.category, Category)
    assert "\n" not in check.detail and len(check.detail) <= 1000
    assert CANARY not in check.detail
    for value in check.metrics.values():
        assert value is None or isinstance(value, bool | int | float | str)


@PROPERTY_SETTINGS
@given(body=bodies(), status=statuses, endpoint=st.sampled_from(["chat", "responses"]), tools=st.booleans())
def test_random_bodies_never_crash_the_contract_or_the_classifier(body: bytes, status: int | None, endpoint: str, tools: bool) -> None:
    ex = Exchange(label="sample-1", method="POST", path="/x", status=status, body=body)
    if status is None:
        ex.transport_error = "connect"
    failure = describe_failure(ex)
    if failure is not None:
        assert isinstance(failure[0], Category) and isinstance(failure[1], str)
    gen = generation(ex, endpoint, tools_expected=tools)
    assert isinstance(gen.ok, bool) and isinstance(gen.category, Category) and "\n" not in gen.reason
    assert gen.ok or gen.reason
    parsed = ex.json()
    for found in (parse_error_body(parsed), error_in_success_body(parsed)):
        assert found is None or isinstance(found.message, str)
    ok, _value = parse_json_text(body.decode("utf-8", "replace"))
    assert isinstance(ok, bool)
    assert isinstance(looks_like_refusal(body.decode("utf-8", "replace")), bool)


@PROPERTY_SETTINGS
@given(data=st.data(), endpoint=st.sampled_from(["chat", "responses"]), deadline_hit=st.booleans())
def test_random_exchanges_through_every_check_give_a_valid_record(data: st.DataObject, endpoint: str, deadline_hit: bool) -> None:
    s = SETTINGS[endpoint]
    labels = [p.label for p in plan(s, "cand-model", needed_labels(s.checks))]
    present = data.draw(st.lists(st.sampled_from(labels), unique=True))
    found = {label: data.draw(exchanges(label, stream=label == "stream")) for label in present}
    evidence = Evidence(s, "cand-model", found, deadline_hit, 1.0, data.draw(agent_runs()))
    checks = [BY_NAME[name].evaluate(evidence) for name in s.checks]
    for check in checks:
        _check_result_is_sane(check)
    outcome = ModelOutcome("cand-model", "candidate", checks, verdict(checks, s.warnings_block), deadline_hit)
    run = RunOutcome(s, "run-1", datetime.now(UTC), 1.0, [outcome], None, ["a note"])
    record = build_record(run, outcome)
    validate_record(record)
    text = json.dumps(record) + render_markdown(run) + render_text(run)
    assert CANARY not in text
    if any(c.status in (Status.FAIL, Status.ERROR) for c in checks):
        assert record["overall_result"] == "fail"


@PROPERTY_SETTINGS
@given(raw=sse_bytes(), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_random_sse_bytes_never_crash_the_parser_or_the_judges(raw: bytes, cuts: list[int]) -> None:
    parser = SSEParser()
    events: list[SSEEvent] = []
    start = 0
    for cut in sorted(c for c in cuts if c <= len(raw)):
        events += parser.feed(raw[start:cut])
        start = cut
    events += parser.feed(raw[start:])
    events += parser.flush()
    complete = False
    for event in events:
        assert isinstance(event.data, str)
        complete = complete or sse_is_terminal(event)
        sse_has_content(event)
        sse_json(event)
    for judge in (judge_chat_stream, judge_responses_stream):
        ok, category, reason, _ = judge(events, complete)
        assert isinstance(category, Category) and (ok or reason)


# Every key the config schema has, and for an object the fields it declares: read from the schema, so that a key the
# schema gains is generated too (test_the_config_strategy_generates_every_key_the_schema_has holds this to it).
CONFIG_SCHEMA: dict[str, Any] = json.loads((Path(approval.__file__).parent / "schemas" / "config.schema.json").read_text(encoding="utf-8"))
CONFIG_KEYS = sorted(CONFIG_SCHEMA["properties"])


def fields(key: str) -> st.SearchStrategy[str]:
    """A field the schema declares for the object `key`, or one it does not."""
    return st.sampled_from([*sorted(CONFIG_SCHEMA["properties"][key]["properties"]), "other"])


NEAR_VALID: dict[str, st.SearchStrategy[Any]] = {
    "base_url": st.sampled_from(["http://gw.test/v1", "https://u:p@gw.test/v1", "http://gw.test/v1?k=1", "gw.test", "http://gw.test:0"]),
    "endpoint": st.sampled_from(["chat", "responses", "completions"]),
    "candidate_model": st.text(max_size=20),
    "candidates": st.lists(st.text(max_size=10), max_size=3),
    "paths": st.dictionaries(fields("paths"), st.text(max_size=10), max_size=3),
    "auth": st.fixed_dictionaries({}, optional={"scheme": st.sampled_from(["bearer", "header", "none", "basic"]),
                                                "header": st.text(max_size=10), "prefix": st.text(max_size=5),
                                                "api_key_env": st.sampled_from(["GATEWAY_API_KEY", "OTHER_KEY", "1X"])}),
    "headers": st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2),
    "thresholds": st.dictionaries(fields("thresholds"), json_values, max_size=3),
    "timeouts": st.dictionaries(fields("timeouts"), json_values, max_size=2),
    "retries": st.dictionaries(fields("retries"), json_values, max_size=3),
    "checks": st.lists(st.sampled_from([*CATALOGUE.names, "vibes"]), max_size=4),
    "required": st.lists(st.sampled_from(["latency", "error-path.empty-messages", "everything"]), max_size=2),
    "expect": st.dictionaries(st.sampled_from(["contains", "regex", "is_json", "json_schema", "min_length", "max_length", "other"]),
                              json_values, max_size=3),
    "model_aliases": st.dictionaries(st.text(max_size=8), json_values, max_size=2),
    "agent": st.dictionaries(fields("agent"), st.integers(min_value=-1, max_value=12) | st.floats(min_value=-1, max_value=700) | json_values,
                             max_size=3),
    "route": st.dictionaries(fields("route"), st.text(max_size=8) | st.integers(min_value=-1, max_value=3)
                             | st.lists(st.text(max_size=8), max_size=2) | json_values, max_size=3),
    # AGENTS.md is written beside the config by the test; the others are missing, empty or outside it
    "approved_models_file": st.sampled_from(["AGENTS.md", "", "missing.md", "sub/AGENTS.md", "../AGENTS.md"]),
    "approved_models": st.lists(st.text(max_size=10) | st.fixed_dictionaries({"model": st.text(max_size=10)}), max_size=3),
}
REGISTRY_FILE = "# Agents\n\n<!-- approved-models:start -->\n- m\n- other-model\n<!-- approved-models:end -->\n"


@st.composite
def config_mappings(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from([*CONFIG_KEYS, "bsae_url", "timeout"]), max_size=6, unique=True))
    doc: dict[str, Any] = {}
    for key in keys:
        near = NEAR_VALID.get(key)
        doc[key] = draw(near) if near is not None and draw(st.booleans()) else draw(json_values)
    return doc


FLAG_TEXT = st.none() | st.text(max_size=12) | st.sampled_from(["0", "-1", "nan", "inf", "1e400", "2.5", "3", "300", "  7 "])


@PROPERTY_SETTINGS
@given(doc=config_mappings(), flags=st.fixed_dictionaries({}, optional={
    "base_url": st.none() | st.text(max_size=20) | st.just("http://gw.test/v1"), "models": st.lists(st.text(max_size=12), max_size=2),
    "endpoint": FLAG_TEXT, "max_latency_ms": FLAG_TEXT, "samples": FLAG_TEXT, "timeout": FLAG_TEXT, "concurrency": FLAG_TEXT,
    "checks": FLAG_TEXT, "baseline_model": FLAG_TEXT, "approved_by": FLAG_TEXT}))
def test_random_configs_give_settings_or_one_config_error(doc: dict[str, Any], flags: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "gateway.yaml"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        (Path(directory) / "AGENTS.md").write_text(REGISTRY_FILE, encoding="utf-8")
        merged = {"base_url": "http://gw.test/v1", "models": ["m"], **flags, "config": str(path)}
        try:
            result = build_settings(as_flags(merged), {"GATEWAY_API_KEY": CANARY, "OTHER_KEY": CANARY}, CATALOGUE)
        except ConfigError as exc:
            line = exc.line()
            assert line and "\n" not in line and "Traceback" not in line
            return
    assert result.candidates and result.base_url.startswith(("http://", "https://"))
    assert CANARY not in repr(result)


def test_the_config_strategy_generates_every_key_the_schema_has() -> None:
    """The random configs above reach every key of the config schema, and every object key gets values built from the
    fields the schema declares for it (random JSON alone almost never makes a valid object): a key the schema gains
    fails here until the strategy generates it."""
    schema = json.loads((Path(approval.__file__).parent / "schemas" / "config.schema.json").read_text(encoding="utf-8"))
    keys = set(schema["properties"])
    for key in sorted(keys):
        def has(doc: dict[str, Any], key: str = key) -> bool:
            return key in doc

        assert key in find(config_mappings(), has, settings=settings(max_examples=2000, database=None))
    objects = {key for key, spec in schema["properties"].items() if spec.get("type") == "object"}
    assert objects <= set(NEAR_VALID), f"give the config strategy near-valid values for {sorted(objects - set(NEAR_VALID))}"
    assert set(NEAR_VALID) <= keys, f"the config schema has no {sorted(set(NEAR_VALID) - keys)}"


# -- nesting deeper than the stdlib parsers allow ---------------------------------------------------------------------


def _deep_list(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_bodies_are_not_json_not_a_crash() -> None:
    ex = Exchange(label="sample-1", method="POST", path="/x", status=200, body=_deep_list().encode())
    assert ex.json() is None
    assert generation(ex, "chat").category is Category.GATEWAY


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_deeply_nested_text_in_answers_streams_and_error_messages(endpoint: str) -> None:
    """Nesting the stdlib JSON parser can read (under 1000 levels) but recursive code might not, and text that only
    becomes JSON later (the answer, a stream line, tool-call arguments, a stringified error message)."""
    s = SETTINGS[endpoint]
    deep_text = _deep_list()
    nested: Any = "boom"
    for _ in range(900):
        nested = {"message": nested}
    error_body = json.dumps({"error": {"message": nested}}).encode()
    answer = chat_body(content=deep_text) if endpoint == "chat" else responses_body(text=deep_text)
    tool_answer = chat_body(content=None)
    tool_answer["choices"][0]["message"]["tool_calls"] = [{"type": "function", "function": {"name": "get_weather", "arguments": deep_text}}]
    stream = b"data: " + deep_text.encode() + b"\n\nevent: response.completed\ndata: " + deep_text.encode() + b"\n\ndata: [DONE]\n\n"
    parser = SSEParser()
    events = parser.feed(stream) + parser.flush()
    found = {
        "reach": Exchange("reach", "POST", "/x", status=400, body=error_body),
        "models": Exchange("models", "GET", "/models", status=200, body=error_body),
        "sample-1": Exchange("sample-1", "POST", "/x", status=200, body=json.dumps(answer).encode()),
        "sample-2": Exchange("sample-2", "POST", "/x", status=200, body=json.dumps({"error": {"message": "{" * 500 + "}" * 500}}).encode()),
        "err-missing-model": Exchange("err-missing-model", "POST", "/x", status=400, body=error_body),
        "err-unknown-model": Exchange("err-unknown-model", "POST", "/x", status=404, body=json.dumps({"detail": nested}).encode()),
        "err-empty-messages": Exchange("err-empty-messages", "POST", "/x", status=400, body=json.dumps({"message": nested}).encode()),
        "stream": Exchange("stream", "POST", "/x", status=200, events=events, stream_complete=True),
        "tools": Exchange("tools", "POST", "/x", status=200, body=json.dumps(tool_answer).encode()),
        "structured": Exchange("structured", "POST", "/x", status=200, body=json.dumps(chat_body(content=deep_text)).encode()),
    }
    evidence = Evidence(s, "cand-model", found)
    checks = [BY_NAME[name].evaluate(evidence) for name in s.checks]
    for check in checks:
        _check_result_is_sane(check)
    outcome = ModelOutcome("cand-model", "candidate", checks, verdict(checks), False)
    validate_record(build_record(RunOutcome(s, "run-1", datetime.now(UTC), 1.0, [outcome]), outcome))
    assert parse_json_text(deep_text) == (False, None)
    assert sse_json(SSEEvent(None, deep_text)) is None


def _deep_value(kind: str, depth: int = 985) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value] if kind == "list" else {"message": value} if kind == "message" else {"a": value}
    return value


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found += [(*prefix, key), *_paths(value, (*prefix, key))]
    elif isinstance(node, list) and node:
        found += [(*prefix, 0), *_paths(node[0], (*prefix, 0))]
    return found


def _with(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(body))
    node: Any = copy
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return copy


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_deep_values_anywhere_in_a_body_parsed_on_a_shallow_stack(endpoint: str) -> None:
    """A worker thread parses a body nested just under the parser's limit; the checks then read it from a deeper
    stack. Every field of a valid body (and the error-envelope fields) is replaced by such a value in turn."""
    s = SETTINGS[endpoint]
    base = chat_body() if endpoint == "chat" else responses_body()
    targets = [(base, p) for p in _paths(base)] + [({"error": None}, ("error",)), ({"detail": None}, ("detail",)),
                                                   ({"message": None}, ("message",)), ({"object": "error", "message": None}, ("message",))]
    for kind in ("list", "message", "dict"):
        deep = _deep_value(kind)
        for body, path in targets:
            parsed = _with(body, path, None)
            node = parsed
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = deep  # set after the copy: json.dumps could not copy it from this deep a stack
            for status in (200, 404, 500):
                found = {}
                for label in ("reach", "models", "sample-1", "sample-2", "err-missing-model", "err-unknown-model", "err-empty-messages",
                              "tools", "structured"):
                    ex = Exchange(label, "POST", "/x", status=status, body=b"{}")
                    ex._json, ex._json_parsed = parsed, True
                    found[label] = ex
                evidence = Evidence(s, "cand-model", found)
                for name in s.checks:
                    _check_result_is_sane(BY_NAME[name].evaluate(evidence))


def test_unresolvable_ref_in_the_users_schema_is_a_config_error_not_a_crash() -> None:
    s = dataclasses.replace(SETTINGS["chat"], expect={"json_schema": {"$ref": "https://schemas.invalid/answer.json"}})
    sample = Exchange("sample-1", "POST", "/x", status=200, body=json.dumps(chat_body(content='{"a": 1}')).encode())
    check = BY_NAME["output-quality"].evaluate(Evidence(s, "cand-model", {"sample-1": sample}))
    assert (check.status, check.category) == (Status.ERROR, Category.CONFIG), check
    assert "unresolvable $ref" in check.detail
