"""Settings: precedence, schema validation naming the key, and one clear line for each bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from approval.common.errors import ConfigError
from approval.engine.checks import CATALOGUE
from approval.settings.build import build_settings
from harness.mocked_gateway import BASE, CANARY_KEY, as_flags, make_settings

ENV = {"GATEWAY_API_KEY": CANARY_KEY}


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def test_flags_override_file_and_env_fills_the_rest(tmp_path):
    cfg = write(tmp_path, "gateway.yaml", "base_url: http://file.test/v1\nendpoint: responses\nthresholds: {max_latency_ms: 900}\n")
    s = build_settings(as_flags({"config": cfg, "max_latency_ms": "1200"}),
                       {**ENV, "CANDIDATE_MODEL_ID": "env-model", "GATEWAY_BASE_URL": "http://env.test/v1"}, CATALOGUE)
    assert s.base_url == "http://file.test/v1"  # file beats env
    assert s.candidates == ("env-model",)  # env fills what both leave open
    assert s.endpoint == "responses"
    assert s.max_latency_ms == 1200  # flag beats file
    assert s.config_sha256 and len(s.config_sha256) == 64


def test_everything_a_flag_can_set_comes_from_the_file(tmp_path):
    prompt = write(tmp_path, "p.md", "Write a haiku about CI.")
    cfg = write(
        tmp_path,
        "gateway.yaml",
        f"""
base_url: https://gw.example.com/api/
endpoint: chat
candidate_model: m-1
paths: {{chat: /api/text/chat, models: /api/models}}
auth: {{scheme: header, header: api-key}}
headers: {{X-Team: platform}}
prompt_file: {prompt}
thresholds: {{max_latency_ms: 5000, latency_samples: 5}}
timeouts: {{request_seconds: 20, total_seconds: 120}}
retries: {{max_attempts: 2, max_retry_after_seconds: 3}}
concurrency: 4
checks: [reachability, happy-path, streaming]
approved_models: [m-0]
model_aliases: {{m-1: [vendor/m-1]}}
expect: {{contains: [haiku]}}
approved_by: platform-team
""",
    )
    s = build_settings(as_flags({"config": cfg}), ENV, CATALOGUE)
    assert s.base_url == "https://gw.example.com/api"
    assert s.chat_path == "/api/text/chat" and s.models_path == "/api/models"
    assert (s.auth.scheme, s.auth.header) == ("header", "api-key")
    assert s.extra_headers == (("X-Team", "platform"),)
    assert s.prompt.messages == (("user", "Write a haiku about CI."),)
    assert (s.max_latency_ms, s.latency_samples, s.request_timeout_s, s.total_timeout_s) == (5000, 5, 20, 120)
    assert (s.max_attempts, s.max_retry_after_s, s.concurrency) == (2, 3, 4)
    assert s.checks == ("reachability", "happy-path", "streaming")
    assert s.model_aliases == {"m-1": ("vendor/m-1",)}
    assert s.expect == {"contains": ["haiku"]}
    assert s.approved_by == "platform-team"


def test_default_checks_grow_with_expectations_and_approved_models(tmp_path):
    cfg = write(tmp_path, "g.yaml", "approved_models: [a]\nexpect: {is_json: true}\n")
    s = make_settings(config=cfg)
    assert "output-quality" in s.checks and "approved-list" in s.checks
    assert "streaming" not in make_settings().checks


def test_structured_prompt_file_gives_messages_and_expect(tmp_path):
    prompt = write(
        tmp_path, "p.yaml", "messages:\n  - {role: system, content: You are terse.}\n  - {role: user, content: Say OK.}\nexpect:\n  contains: [OK]\n"
    )
    s = make_settings(prompt_file=prompt)
    assert s.prompt.messages == (("system", "You are terse."), ("user", "Say OK."))
    assert s.expect == {"contains": ["OK"]}
    assert "output-quality" in s.checks


BAD_CONFIGS = [
    ("unknown top-level key", "bsae_url: http://x/v1\n", "unknown key 'bsae_url'"),
    ("unknown nested key", "thresholds: {max_latency: 5}\n", "unknown key 'thresholds.max_latency'"),
    ("wrong type", "thresholds: {max_latency_ms: fast}\n", "thresholds.max_latency_ms"),
    ("negative", "thresholds: {max_latency_ms: -5}\n", "thresholds.max_latency_ms"),
    ("zero samples", "thresholds: {latency_samples: 0}\n", "thresholds.latency_samples"),
    ("bad endpoint", "endpoint: completions\n", "endpoint"),
    ("bad auth scheme", "auth: {scheme: basic}\n", "auth.scheme"),
    ("bad path", "paths: {chat: chat/completions}\n", "paths.chat"),
    ("empty model", "candidate_model: ''\n", "candidate_model"),
    ("unknown check", "checks: [reachability, vibes]\n", "checks.1"),
    ("not a mapping", "- a\n- b\n", "must be a mapping"),
    ("invalid yaml", "base_url: [unclosed\n", "not valid YAML"),
    ("bad regex", "expect: {regex: ['(']}\n", "expect.regex[0]"),
    ("bad schema", "expect: {json_schema: {type: 12}}\n", "expect.json_schema"),
    ("min over max", "expect: {min_length: 10, max_length: 2}\n", "min_length"),
    ("unknown required", "required: [everything]\n", "required: unknown name"),
    ("header without name", "auth: {scheme: header}\n", "auth.header"),
    ("empty route", "route: {}\n", "route: names nothing"),
    ("unknown route field", "route: {region: eu}\n", "route.region"),
    ("bad portkey option", "route: {portkey_option_index: 'targets[1]'}\n", "not a Portkey option path"),
    ("blank route value", "route: {provider: ['openai', ' ']}\n", "route.provider has an empty value"),
    ("header object without value", "headers: {X-A: {secret: true}}\n", "headers.X-A"),
]


@pytest.mark.parametrize(("label", "text", "needle"), BAD_CONFIGS, ids=[b[0] for b in BAD_CONFIGS])
def test_bad_config_files_name_the_key(tmp_path, label, text, needle):
    cfg = write(tmp_path, "gateway.yaml", text)
    with pytest.raises(ConfigError) as info:
        make_settings(config=cfg)
    assert needle in info.value.line()
    assert "\n" not in info.value.line()


BAD_FLAGS = [
    ("no base url", {"base_url": ""}, {}, "no gateway base URL"),
    ("ftp url", {"base_url": "ftp://x/v1"}, {}, "http:// or https://"),
    ("no host", {"base_url": "http:///v1"}, {}, "no host"),
    ("credentials in url", {"base_url": "https://user:pw@gw.test/v1"}, {}, "credentials"),
    ("query in url", {"base_url": "https://gw.test/v1?key=abc"}, {}, "query"),
    ("bad port", {"base_url": "http://gw.test:99999/v1"}, {}, "not a valid URL"),
    ("not a url", {"base_url": "gateway"}, {}, "http:// or https://"),
    ("missing key", {}, {"GATEWAY_API_KEY": ""}, "GATEWAY_API_KEY is not set"),
    ("key with newline", {}, {"GATEWAY_API_KEY": "sk-abc\nxyz"}, "line break"),
    ("no model", {"models": []}, {}, "no candidate model"),
    ("model with space", {"models": ["a b"]}, {}, "not valid"),
    ("unknown endpoint", {"endpoint": "completions"}, {}, "unknown endpoint family"),
    ("nonsense latency", {"max_latency_ms": "fast"}, {}, "max latency"),
    ("negative latency", {"max_latency_ms": "-1"}, {}, "outside"),
    ("nan latency", {"max_latency_ms": "nan"}, {}, "max latency"),
    ("zero samples", {"samples": "0"}, {}, "latency samples"),
    ("fractional samples", {"samples": "2.5"}, {}, "latency samples"),
    ("zero timeout", {"timeout": "0"}, {}, "timeout"),
    ("unknown check flag", {"checks": "reachability,vibes"}, {}, "unknown check 'vibes'"),
    ("quality without expect", {"checks": "happy-path,output-quality"}, {}, "no expectations"),
    ("missing config", {"config": "does/not/exist.yaml"}, {}, "does not exist"),
    ("missing prompt", {"prompt_file": "nope.md"}, {}, "does not exist"),
]


@pytest.mark.parametrize(("label", "flags", "env", "needle"), BAD_FLAGS, ids=[b[0] for b in BAD_FLAGS])
def test_bad_flags_and_environment(label, flags, env, needle):
    with pytest.raises(ConfigError) as info:
        make_settings(environ=env, **flags)
    assert needle in info.value.line()


def test_bad_prompt_files(tmp_path):
    cases = {
        "dir": (tmp_path / "adir", "is a directory"),
        "empty.md": (write(tmp_path, "empty.md", "  \n"), "is empty"),
        "latin1.md": (write(tmp_path, "latin1.md", "caf\xe9".encode("latin-1")), "not valid UTF-8"),
        "huge.md": (write(tmp_path, "huge.md", "x" * 300_000), "limit"),
        "bad.yaml": (write(tmp_path, "bad.yaml", "messages: [\n"), "not valid YAML"),
        "norole.yaml": (write(tmp_path, "norole.yaml", "messages: [{role: wizard, content: hi}]\n"), "role"),
        "nouser.yaml": (write(tmp_path, "nouser.yaml", "messages: [{role: system, content: hi}]\n"), "no `user` message"),
        "extra.json": (write(tmp_path, "extra.json", '{"prompt": "hi", "temperature": 1}'), "unknown key"),
        "badexpect.yaml": (write(tmp_path, "badexpect.yaml", "prompt: hi\nexpect: {contain: [x]}\n"), "unknown key 'contain'"),
    }
    (tmp_path / "adir").mkdir()
    for name, (path, needle) in cases.items():
        with pytest.raises(ConfigError) as info:
            make_settings(prompt_file=str(path))
        assert needle in info.value.line(), name


def test_trailing_slash_and_comma_separated_models():
    s = make_settings(base_url="http://gw.test/v1/", models=["a, b", "b", "c"])
    assert s.base_url == "http://gw.test/v1"
    assert s.candidates == ("a", "b", "c")


def test_auth_none_needs_no_key(tmp_path):
    cfg = write(tmp_path, "g.yaml", "auth: {scheme: none}\n")
    s = build_settings(as_flags({"base_url": "http://gw.test/v1", "models": ["m"], "config": cfg}), {}, CATALOGUE)
    assert s.auth.scheme == "none" and s.api_key == ""
    with pytest.raises(ConfigError, match="GATEWAY_API_KEY is not set"):
        build_settings(as_flags({"base_url": "http://gw.test/v1", "models": ["m"]}), {}, CATALOGUE)


def test_custom_key_variable(tmp_path):
    cfg = write(tmp_path, "g.yaml", "auth: {api_key_env: MY_GATEWAY_KEY}\n")
    s = build_settings(as_flags({"base_url": "http://gw.test/v1", "models": ["m"], "config": cfg}), {"MY_GATEWAY_KEY": "sk-xyz-12345"}, CATALOGUE)
    assert s.api_key == "sk-xyz-12345"


def test_bearer_scheme_honours_a_custom_header(tmp_path):
    import responses as rsps_mod

    from approval.engine.deadline import Deadline
    from approval.engine.gateway import GatewayClient

    cfg = tmp_path / "g.yaml"
    cfg.write_text("auth: {scheme: bearer, header: X-Gateway-Auth}\n")
    settings = make_settings(config=str(cfg))
    with rsps_mod.RequestsMock() as mock:
        mock.get(BASE + "/models", json={"data": []})
        GatewayClient(settings, Deadline(5)).get("models", "/models")
        sent = mock.calls[0].request.headers
    assert sent["X-Gateway-Auth"] == f"Bearer {CANARY_KEY}"
    assert "Authorization" not in sent


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("auth: {scheme: bearer, prefix: 'Token '}\n", "auth.prefix is set but auth.scheme is 'bearer'"),
        ("auth: {scheme: header, header: api-key, prefix: \"a\\nb\"}\n", "auth.prefix contains a line break"),
        ("auth: {scheme: header, header: api-key, prefix: 'ключ '}\n", "auth.prefix contains a line break or characters"),
    ],
)
def test_auth_prefix_is_validated(tmp_path, text, needle):
    cfg = tmp_path / "g.yaml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle):
        make_settings(config=str(cfg))


def test_route_names_the_reviewed_route(tmp_path):
    from approval.settings.route import Route

    cfg = tmp_path / "g.yaml"
    cfg.write_text("route: {provider: openai, portkey_option_index: ['config.targets[0]', 'config.targets[2]'], api_base: 'https://api.example.test'}\n")
    s = make_settings(config=str(cfg))
    assert s.route == Route(provider=("openai",), portkey_option_index=("config.targets[0]", "config.targets[2]"),
                            api_base=("https://api.example.test",))
    assert s.route.named() == ("provider", "portkey_option_index", "api_base")
    assert make_settings().route == Route()


def test_header_values_are_masked_when_they_are_secrets_and_shown_when_they_are_words(tmp_path):
    from approval.common.redact import redact

    config_json = '{"strategy": {"mode": "fallback"}, "targets": [{"provider": "openai", "api_key": "pk-target-key-5551", ' \
                  '"custom_host": "http://127.0.0.1:9/v1", "override_params": {"max_tokens": 4242}}]}'
    cfg = tmp_path / "g.yaml"
    cfg.write_text(
        "headers:\n"
        "  X-Tenant-Token: tenant-secret-31337\n"
        "  x-portkey-provider: plainprovider\n"
        "  x-portkey-custom-host: http://127.0.0.1:14000/v1\n"
        "  x-team: platform-team-blue\n"
        "  x-opaque: Zq8vN2kLp4Rt7Wx9Yb3Cd6Fg\n"
        "  x-marked: {value: marked-word, secret: true}\n"
        "  x-api-key: {value: not-really-a-key-77, secret: false}\n"
        f"  x-portkey-config: '{config_json}'\n"
    )
    s = make_settings(config=str(cfg))
    assert dict(s.extra_headers)["x-marked"] == "marked-word" and dict(s.extra_headers)["x-portkey-config"] == config_json
    masked = redact("tenant-secret-31337 Zq8vN2kLp4Rt7Wx9Yb3Cd6Fg marked-word pk-target-key-5551")
    for secret in ("tenant-secret-31337", "Zq8vN2kLp4Rt7Wx9Yb3Cd6Fg", "marked-word", "pk-target-key-5551"):
        assert secret not in masked
    shown = "plainprovider http://127.0.0.1:14000/v1 platform-team-blue not-really-a-key-77 fallback 4242"
    assert redact(shown) == shown
    assert redact("Content-Type: application/json") == "Content-Type: application/json"
