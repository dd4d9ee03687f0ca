"""Bad inputs through the real `approval` command in a subprocess: exit 2, exactly one stderr line starting with
`error: ` that names the problem, no traceback, the canary key nowhere, and nothing sent to the gateway.

Extends tests/unit/test_config.py (the same validation, in process) and tests/unit/test_cli.py (a few CLI errors):
this is the table over every schema rule, wrong types, unknown keys, empty strings, URLs with credentials or
query strings, files that do not exist, are directories, are huge, are not UTF-8 or are nested too deeply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.fault_gateway import FaultGateway
from harness.measured_runs import CANARY, ChildRun, child_env, markdown_table, publish_table, run_cli

PASSWORD = "hunter2-url-password"
WORKERS = 4

# Files the cases name, created in the working directory of every child.
FILES: dict[str, str | bytes] = {
    "deep.yaml": "a: " + "[" * 2000 + "]" * 2000 + "\n",
    "deep-prompt.yaml": "prompt: hi\nexpect: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n",
    "deep-prompt.json": '{"prompt": "hi", "expect": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}",
    "huge.yaml": "# " + "x" * (1024 * 1024 + 10) + "\n",
    "huge-prompt.md": "Say hello. " * 30_000,
    "latin1.yaml": "approved_by: caf\xe9\n".encode("latin-1"),
    "latin1-prompt.md": "Caf\xe9?".encode("latin-1"),
    "utf16.yaml": "approved_by: me\n".encode("utf-16"),
    "list.yaml": "- a\n- b\n",
    "scalar.yaml": "just some text\n",
    "tagged.yaml": "approved_by: !!python/object/apply:os.system ['true']\n",
    "broken.yaml": "thresholds: {max_latency_ms: 5\n",
    "empty-prompt.md": "\n\n  \n",
    "list-prompt.json": "[1, 2]",
    "broken-prompt.json": '{"prompt": "hi"',
    "norole-prompt.yaml": "messages: [{role: robot, content: hi}]\n",
    "emptymsgs-prompt.yaml": "messages: []\n",
    "afile": "not a directory\n",
    "deep-record.json": "[" * 100_000 + "]" * 100_000,
    # "billion laughs": under 1 KB, 2**25 values once its aliases are expanded
    "aliases.yaml": "a0: &a0 [x, x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 25)),
    "aliases-prompt.yaml": "prompt: hi\nexpect:\n  json_schema:\n    $defs:\n      a0: &a0 [x, x]\n"
    + "".join(f"      a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 25)),
    "list-record.json": "[]",
}
DIRS = ("adir", "prompts.d")


def cfg(text: str) -> str:
    """A config file written for this case (content-addressed name), passed with --config."""
    name = f"cfg-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    FILES.setdefault(name, text)
    return name


@dataclass(frozen=True)
class Bad:
    id: str
    args: list[str]  # after `run` (unless `command` is set); `{url}` is the gateway's base URL
    needle: str  # must appear in the one error line
    env: dict[str, str] = field(default_factory=dict)
    standard: bool = True  # prepend --base-url {url} --model good-model
    command: str = "run"
    secrets: tuple[str, ...] = ()  # further values that must not be echoed
    timeout_flag: bool = True  # add --timeout 5 (bounds the run should a case be accepted by mistake)


def config_case(id_: str, text: str, needle: str) -> Bad:
    return Bad(id_, ["--config", cfg(text)], needle)


CONFIG_CASES = [
    # unknown keys, at every level
    config_case("unknown top-level key", "bsae_url: http://x/v1\n", "unknown key 'bsae_url'"),
    config_case("unknown key in retries", "retries: {attempts: 3}\n", "unknown key 'retries.attempts'"),
    config_case("unknown key in timeouts", "timeouts: {total: 3}\n", "unknown key 'timeouts.total'"),
    config_case("unknown key in paths", "paths: {completions: /c}\n", "unknown key 'paths.completions'"),
    config_case("unknown key in auth", "auth: {key: abc}\n", "unknown key 'auth.key'"),
    config_case("unknown key in expect", "expect: {contain: [x]}\n", "unknown key 'expect.contain'"),
    # wrong types
    config_case("concurrency a word", "concurrency: eight\n", "concurrency"),
    config_case("max_attempts a fraction", "retries: {max_attempts: 2.5}\n", "retries.max_attempts"),
    config_case("latency_samples a boolean", "thresholds: {latency_samples: true}\n", "thresholds.latency_samples"),
    config_case("checks a string", "checks: reachability\n", "checks"),
    config_case("headers a list", "headers: [a, b]\n", "headers"),
    config_case("paths a string", "paths: /chat\n", "paths"),
    config_case("warnings_block a string", "warnings_block: 'yes'\n", "warnings_block"),
    config_case("approved_models a string", "approved_models: gpt-4o\n", "approved_models"),
    config_case("model_aliases value a string", "model_aliases: {good-model: other}\n", "model_aliases.good-model"),
    config_case("header value a number", "headers: {X-Team: 7}\n", "headers.X-Team"),
    config_case("expect.contains a string", "expect: {contains: hello}\n", "expect.contains"),
    # out of range
    config_case("max_attempts zero", "retries: {max_attempts: 0}\n", "retries.max_attempts"),
    config_case("max_attempts eleven", "retries: {max_attempts: 11}\n", "retries.max_attempts"),
    config_case("negative retry-after cap", "retries: {max_retry_after_seconds: -1}\n", "retries.max_retry_after_seconds"),
    config_case("backoff too long", "retries: {backoff_seconds: 61}\n", "retries.backoff_seconds"),
    config_case("tiny body cap", "max_response_bytes: 10\n", "max_response_bytes"),
    config_case("concurrency 65 in the file", "concurrency: 65\n", "concurrency"),
    config_case("total timeout zero", "timeouts: {total_seconds: 0}\n", "timeouts.total_seconds"),
    Bad("total timeout half a second", ["--config", cfg("timeouts: {total_seconds: 0.5}\n")], "outside 1..21600", timeout_flag=False),
    config_case("max_completion_tokens 1", "max_completion_tokens: 1\n", "max_completion_tokens"),
    config_case("latency samples 51", "thresholds: {latency_samples: 51}\n", "thresholds.latency_samples"),
    # enums and patterns
    config_case("endpoint not a family", "endpoint: completions\n", "endpoint"),
    config_case("auth scheme basic", "auth: {scheme: basic}\n", "auth.scheme"),
    config_case("pass_policy some", "pass_policy: some\n", "pass_policy"),
    config_case("path without slash", "paths: {chat: chat/completions}\n", "paths.chat"),
    config_case("path with a query", "paths: {models: '/models?all=1'}\n", "paths.models"),
    config_case("auth header with a space", "auth: {scheme: header, header: 'api key'}\n", "auth.header"),
    config_case("api_key_env not a name", "auth: {api_key_env: 1KEY}\n", "auth.api_key_env"),
    config_case("header name with a space", "headers: {'X Team': a}\n", "headers"),
    # empty strings and empty lists
    config_case("empty base_url", "base_url: ''\n", "base_url"),
    config_case("empty candidate_model", "candidate_model: ''\n", "candidate_model"),
    config_case("empty baseline_model", "baseline_model: ''\n", "baseline_model"),
    config_case("empty prompt_file", "prompt_file: ''\n", "prompt_file"),
    config_case("empty approved_by", "approved_by: ''\n", "approved_by"),
    config_case("empty approved model", "approved_models: ['']\n", "approved_models.0"),
    config_case("empty alias", "model_aliases: {good-model: ['']}\n", "model_aliases.good-model.0"),
    config_case("empty expect.contains item", "expect: {contains: ['']}\n", "expect.contains.0"),
    config_case("no checks", "checks: []\n", "checks"),
    config_case("duplicate checks", "checks: [latency, latency]\n", "checks"),
    config_case("no candidates", "candidates: []\n", "candidates"),
    # base URLs in the file
    Bad("credentials in base_url", ["--config", cfg(f"base_url: https://user:{PASSWORD}@gw.test/v1\n")], "credentials", standard=False,
        env={"CANDIDATE_MODEL_ID": "good-model"}, secrets=(PASSWORD,)),
    Bad("query in base_url", ["--config", cfg(f"base_url: https://gw.test/v1?key={PASSWORD}\n")], "query string", standard=False,
        env={"CANDIDATE_MODEL_ID": "good-model"}, secrets=(PASSWORD,)),
    Bad("fragment in base_url", ["--config", cfg("base_url: https://gw.test/v1#top\n")], "fragment", standard=False,
        env={"CANDIDATE_MODEL_ID": "good-model"}),
    # semantics beyond the schema
    config_case("header scheme without header", "auth: {scheme: header}\n", "auth.header"),
    config_case("unknown required name", "required: [everything]\n", "required: unknown name"),
    config_case("bad regex", "expect: {regex: ['(']}\n", "expect.regex[0]"),
    config_case("regex repetition too large", "expect: {regex: ['a{99999999999}']}\n", "expect.regex[0]"),
    config_case("json_schema not a schema", "expect: {json_schema: {type: 12}}\n", "expect.json_schema"),
    config_case("json_schema nested too deeply", "expect: {json_schema: " + "{properties: {a: " * 200 + "{}" + "}}" * 200 + "}\n",
                "expect.json_schema is nested too deeply"),
    config_case("min_length over max_length", "expect: {min_length: 10, max_length: 2}\n", "min_length"),
    config_case("header value with a line break", 'headers: {X-Team: "a\\nb"}\n', "headers.X-Team contains a line break"),
    config_case("header value outside Latin-1", 'headers: {X-Team: "\\u20ac"}\n', "headers.X-Team contains characters"),
    config_case("output-quality in the file without expectations", "checks: [output-quality]\n", "no expectations"),
    config_case("prompt_file that does not exist", "prompt_file: nowhere.md\n", "does not exist"),
]

FILE_CASES = [
    Bad("config is a directory", ["--config", "adir"], "is a directory"),
    Bad("config expands through aliases", ["--config", "aliases.yaml"], "once its aliases are expanded"),
    Bad("prompt expands through aliases", ["--prompt-file", "aliases-prompt.yaml"], "once its aliases are expanded"),
    Bad("prompt is an endless device", ["--prompt-file", "/dev/zero"], "not a regular file"),
    Bad("config over 1 MiB", ["--config", "huge.yaml"], "byte limit"),
    Bad("config not UTF-8 (Latin-1)", ["--config", "latin1.yaml"], "not valid UTF-8"),
    Bad("config not UTF-8 (UTF-16)", ["--config", "utf16.yaml"], "not valid UTF-8"),
    Bad("config a YAML list", ["--config", "list.yaml"], "must be a mapping"),
    Bad("config a YAML scalar", ["--config", "scalar.yaml"], "must be a mapping"),
    Bad("config with a python tag", ["--config", "tagged.yaml"], "not valid YAML"),
    Bad("config with broken syntax", ["--config", "broken.yaml"], "not valid YAML"),
    Bad("config nested too deeply", ["--config", "deep.yaml"], "nested too deeply"),
    Bad("prompt does not exist", ["--prompt-file", "nowhere.md"], "does not exist"),
    Bad("prompt is a directory", ["--prompt-file", "prompts.d"], "is a directory"),
    Bad("prompt over 256 KiB", ["--prompt-file", "huge-prompt.md"], "byte limit"),
    Bad("prompt not UTF-8", ["--prompt-file", "latin1-prompt.md"], "not valid UTF-8"),
    Bad("prompt empty", ["--prompt-file", "empty-prompt.md"], "is empty"),
    Bad("prompt a JSON list", ["--prompt-file", "list-prompt.json"], "must be a mapping"),
    Bad("prompt broken JSON", ["--prompt-file", "broken-prompt.json"], "not valid JSON"),
    Bad("prompt YAML nested too deeply", ["--prompt-file", "deep-prompt.yaml"], "nested too deeply"),
    Bad("prompt JSON nested too deeply", ["--prompt-file", "deep-prompt.json"], "nested too deeply"),
    Bad("prompt with an unknown role", ["--prompt-file", "norole-prompt.yaml"], "role"),
    Bad("prompt with no messages", ["--prompt-file", "emptymsgs-prompt.yaml"], "non-empty list"),
    Bad("record-out is a directory", ["--record-out", "adir"], "--record-out 'adir' is a directory"),
    Bad("record-out under a file", ["--record-out", "afile/record.json"], "is not a directory"),
    Bad("report-out is a directory", ["--report-out", "adir"], "--report-out 'adir' is a directory"),
    Bad("validate-record: a directory", ["adir"], "is a directory", standard=False, command="validate-record"),
    Bad("validate-record: not UTF-8", ["latin1.yaml"], "is not valid UTF-8", standard=False, command="validate-record"),
    Bad("validate-record: nested too deeply", ["deep-record.json"], "not valid JSON", standard=False, command="validate-record"),
    Bad("validate-record: a JSON list", ["list-record.json"], "not a JSON object", standard=False, command="validate-record"),
    Bad("diff: a missing record", ["nowhere.json", "list-record.json"], "does not exist", standard=False, command="diff"),
]

FLAG_CASES = [
    Bad("base URL with credentials", ["--base-url", f"https://user:{PASSWORD}@gw.test/v1", "--model", "m"], "credentials", standard=False,
        secrets=(PASSWORD,)),
    Bad("base URL with credentials and a bad port", ["--base-url", f"https://user:{PASSWORD}@gw.test:99999/v1", "--model", "m"],
        "not a valid URL", standard=False, secrets=(PASSWORD,)),
    Bad("base URL with a query", ["--base-url", f"https://gw.test/v1?api_key={PASSWORD}", "--model", "m"], "query string", standard=False,
        secrets=(PASSWORD,)),
    Bad("base URL with a fragment", ["--base-url", "https://gw.test/v1#x", "--model", "m"], "fragment", standard=False),
    Bad("base URL ftp", ["--base-url", "ftp://gw.test/v1", "--model", "m"], "http:// or https://", standard=False),
    Bad("base URL without a host", ["--base-url", "http:///v1", "--model", "m"], "no host", standard=False),
    Bad("base URL port 0", ["--base-url", "http://gw.test:0/v1", "--model", "m"], "port 0", standard=False),
    Bad("base URL with a space", ["--base-url", "http://gw .test/v1", "--model", "m"], "whitespace", standard=False),
    Bad("base URL with a control character", ["--base-url", "http://gw.test/v1\x01", "--model", "m"], "control characters", standard=False),
    Bad("model with a space", ["--base-url", "{url}", "--model", "a b"], "not valid", standard=False),
    Bad("model of 300 characters", ["--base-url", "{url}", "--model", "m" * 300], "not valid", standard=False),
    Bad("empty model and no other", ["--base-url", "{url}", "--model", ""], "no candidate model", standard=False),
    Bad("timeout zero", ["--timeout", "0"], "timeout"),
    Bad("timeout negative", ["--timeout", "-1"], "timeout"),
    Bad("timeout nan", ["--timeout", "nan"], "timeout"),
    Bad("timeout infinite", ["--timeout", "inf"], "timeout"),
    Bad("timeout a year", ["--timeout", "31536000"], "outside"),
    Bad("samples zero", ["--samples", "0"], "latency samples"),
    Bad("samples 51", ["--samples", "51"], "latency samples"),
    Bad("samples fractional", ["--samples", "2.5"], "latency samples"),
    Bad("samples a word", ["--samples", "three"], "latency samples"),
    Bad("max latency zero", ["--max-latency-ms", "0"], "max latency"),
    Bad("max latency a word", ["--max-latency-ms", "fast"], "max latency"),
    Bad("concurrency zero", ["--concurrency", "0"], "concurrency"),
    Bad("concurrency 65", ["--concurrency", "65"], "concurrency"),
    Bad("unknown check", ["--checks", "reachability,vibes"], "unknown check 'vibes'"),
    Bad("output-quality without expectations", ["--checks", "happy-path,output-quality"], "no expectations"),
    Bad("no check on the candidate's own answers", ["--checks", "error-path"], "judge no answer of the model's own (happy-path)"),
    Bad("baseline with a space", ["--baseline-model", "a b"], "baseline model ID"),
    Bad("the key given as a flag", ["--api-key", CANARY], "unrecognized arguments: --api-key"),
    Bad("the key given as --api-key=", [f"--api-key={CANARY}"], "unrecognized arguments: --api-key"),
    Bad("a stray positional value", [CANARY], "unrecognized arguments"),
    Bad("flag without its value", ["--timeout"], "expected one argument"),
]

ENV_CASES = [
    Bad("key empty", [], "GATEWAY_API_KEY is not set", env={"GATEWAY_API_KEY": ""}),
    Bad("key only spaces", [], "GATEWAY_API_KEY is not set", env={"GATEWAY_API_KEY": "   "}),
    Bad("key with a line break", [], "line break", env={"GATEWAY_API_KEY": f"{CANARY}\nsecond-line"}),
    Bad("key outside Latin-1", [], "cannot be sent in an HTTP header", env={"GATEWAY_API_KEY": f"{CANARY}-ключ"}),
    Bad("custom key variable unset", ["--config", cfg("auth: {api_key_env: TEAM_GATEWAY_KEY}\n")], "TEAM_GATEWAY_KEY is not set"),
    Bad("GATEWAY_BASE_URL with credentials", ["--model", "m"], "credentials", standard=False,
        env={"GATEWAY_BASE_URL": f"https://user:{PASSWORD}@gw.test/v1"}, secrets=(PASSWORD,)),
    Bad("CANDIDATE_MODEL_ID with a space", ["--base-url", "{url}"], "not valid", standard=False, env={"CANDIDATE_MODEL_ID": "a b"}),
    Bad("REQUESTS_CA_BUNDLE missing", ["--base-url", "https://gw.test/v1", "--model", "m"], "REQUESTS_CA_BUNDLE names", standard=False,
        env={"REQUESTS_CA_BUNDLE": "no-such-bundle.pem"}),
    Bad("HTTPS_PROXY not a proxy URL", ["--base-url", "https://gw.test/v1", "--model", "m"], "HTTPS_PROXY is not a usable proxy URL",
        standard=False, env={"HTTPS_PROXY": f"ftp://user:{PASSWORD}@proxy.test:21"}, secrets=(PASSWORD,)),
]

CASES = CONFIG_CASES + FILE_CASES + FLAG_CASES + ENV_CASES


@dataclass
class Result:
    case: Bad
    run: ChildRun
    argv: list[str]


def _prepare(directory: Path) -> None:
    for name, content in FILES.items():
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    for name in DIRS:
        (directory / name).mkdir()


def _run(case: Bad, url: str, directory: Path, env_for: Callable[[Bad], dict[str, str]]) -> Result:
    args = [a.replace("{url}", url) for a in case.args]
    argv = [case.command] + (["--base-url", url, "--model", "good-model"] if case.standard else []) + args
    if case.command == "run" and case.timeout_flag and "--timeout" not in args:
        argv += ["--timeout", "5"]
    return Result(case, run_cli(argv, env=env_for(case), cwd=directory, hard_timeout=60), argv)


SENT: list[str] = []  # what reached the gateway (it must stay empty)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    directory = tmp_path_factory.mktemp("bad-inputs")
    _prepare(directory)

    def env_for(case: Bad) -> dict[str, str]:
        return child_env(**case.env)

    with FaultGateway() as gw, ThreadPoolExecutor(max_workers=WORKERS) as pool:
        found = list(pool.map(lambda c: _run(c, gw.base_url, directory, env_for), CASES))
        SENT.extend(f"{r.method} {r.path} model={r.model!r}" for r in gw.requests)
    rows = [[r.case.id, r.run.code, f"{r.run.seconds:.2f}", r.run.stderr.strip().replace("|", "\\|")[:150]] for r in found]
    publish_table("bad-inputs", directory, markdown_table(["case", "exit", "seconds", "stderr"], rows))
    return {r.case.id: r for r in found}


def test_nothing_was_sent_to_the_gateway(results: dict[str, Result]) -> None:
    assert SENT == []


def test_case_ids_are_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Bad, results: dict[str, Result]) -> None:
    r = results[case.id]
    run = r.run
    context = f"argv {r.argv}\nexit {run.code}\n--- stdout\n{run.stdout[-1500:]}\n--- stderr\n{run.stderr[-3000:]}"
    assert not run.killed, context
    assert run.code == 2, context
    assert "Traceback" not in run.output, context
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, context
    assert lines[0].startswith("error: "), context
    assert case.needle in lines[0], context
    assert run.stdout == "", context
    for secret in (CANARY, *case.secrets):
        assert secret not in run.output, context
