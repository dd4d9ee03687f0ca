"""One redaction point: the canary key never appears in any text the tool emits."""

from __future__ import annotations

import json

import pytest

from approval.common.redact import MASK, redact, redact_data, register_secret
from approval.engine.suite import run_suite
from approval.record.build import build_record, validate_record
from approval.report.render import render_markdown, render_text
from harness.mocked_gateway import CANARY_KEY, is_sample, make_settings


def test_registered_secret_is_masked_everywhere_in_a_text():
    register_secret("s3cr3t-value-123")
    assert redact("a s3cr3t-value-123 b s3cr3t-value-123") == f"a {MASK} b {MASK}"


def test_credential_shapes_are_masked_without_registration():
    text = (
        "Authorization: Bearer abcdefghijkl12345 api-key: zzzyyyxxx111 "
        "https://user:pw@host.test/v1 https://blob.test/up?sig=SIGNATURE&se=1 ghp_abcdefghijklmnopqrstuvwxyz sk-proj-abcdefghijklmnop"
    )
    out = redact(text)
    for leaked in ("abcdefghijkl12345", "zzzyyyxxx111", "user:pw", "SIGNATURE", "ghp_abcdefghijklmnopqrstuvwxyz", "sk-proj-abcdefghijklmnop"):
        assert leaked not in out
    assert "https://***@host.test/v1" in out, out  # the credentials go, the host and path stay readable


def test_redact_data_walks_structures():
    register_secret("nested-secret-999")
    assert redact_data({"a": ["x nested-secret-999"], "nested-secret-999": 1}) == {"a": [f"x {MASK}"], MASK: 1}


def test_gateway_echoing_the_key_never_reaches_record_or_report(gateway):
    echo = {"error": {"message": f"Invalid key Bearer {CANARY_KEY} (got {CANARY_KEY})"}}
    gateway.on(is_sample, lambda _b, _r: (401, {}, json.dumps(echo)))
    gateway.on(lambda b: "model" not in b, lambda _b, _r: (400, {}, json.dumps({"error": {"message": f"bad {CANARY_KEY}"}})))
    settings = make_settings()
    outcome = run_suite(settings)
    record = build_record(outcome, outcome.candidates[0])
    validate_record(record)
    texts = [json.dumps(record), render_markdown(outcome), render_text(outcome)]
    assert any("401" in t for t in texts)
    for text in texts:
        assert CANARY_KEY not in text
        assert CANARY_KEY[6:20] not in text


ODD_KEY = "k3y/with+odd=chars-0123456789"


def _echoes(key: str) -> list[str]:
    import base64
    from urllib.parse import quote, quote_plus

    return [
        quote(key, safe=""),
        quote_plus(key),
        json.dumps(key)[1:-1].replace("/", "\\/"),
        base64.b64encode(f"Bearer {key}".encode()).decode(),
        base64.b64encode(f"user:{key}".encode()).decode(),
        base64.b64encode(f"x{key}".encode()).decode(),
        base64.urlsafe_b64encode(key.encode()).decode(),
    ]


def test_a_secret_echoed_encoded_is_masked_in_every_form():
    register_secret(ODD_KEY)
    for echoed in _echoes(ODD_KEY):
        out = redact(f"gateway said: {echoed} (end)")
        assert MASK in out, echoed
        assert echoed not in out


def test_cutting_a_text_never_leaves_part_of_a_secret():
    from approval.common.redact import redact_head

    register_secret(ODD_KEY)
    for pad in range(len(ODD_KEY) + 2):
        text = " " * pad + ODD_KEY + " tail"
        for limit in range(1, len(text) + 1):
            out = redact_head(text, limit)
            assert ODD_KEY[:6] not in out and ODD_KEY[-6:] not in out, (pad, limit, out)


def test_a_long_value_shown_in_a_finding_is_redacted_before_it_is_shortened():
    from approval.engine.contract import show_repr

    register_secret(ODD_KEY)
    out = show_repr("x" * 150 + ODD_KEY + "y" * 150)
    assert ODD_KEY[:6] not in out and ODD_KEY[-6:] not in out


def test_a_body_excerpt_never_shows_part_of_a_key_after_multibyte_text():
    from approval.engine.gateway import Exchange

    key = "Zq7XwP2mLk9RtY4vBn3Hs8Dc"
    register_secret(key)
    for pad in (1360, 1361, 1362, 2040, 2047):
        body = ("\u3000" * pad + key + " tail").encode("utf-8")
        shown = Exchange("x", "POST", "/p", status=500, body=body).body_excerpt(4000)
        assert key[:8] not in shown and key[-8:] not in shown, pad


HEADER_CASES = [
    # (name, value, marked, the secrets it yields)
    ("x-portkey-provider", "openai", None, []),
    ("x-portkey-custom-host", "http://127.0.0.1:4000/v1", None, []),
    ("x-title", "model-approval-gate", None, []),
    ("x-model-override", "anthropic.claude-3-5-sonnet-20240620-v1:0", None, []),
    ("x-request-id", "e5e4cdbf-11a2-46f2-8da5-324ecf9d952f", None, []),
    ("content-type", "application/json", None, []),
    ("x-api-key", "abcd1234", None, ["abcd1234"]),
    ("X-Auth-Token", "plainword", None, ["plainword"]),
    ("cf-aig-authorization", "Bearer tok", None, ["Bearer tok"]),
    ("cookie", "session=1", None, ["session=1"]),
    ("x-portkey-virtual-key", "vk-openai-01", None, ["vk-openai-01"]),
    ("x-opaque", "Zq8vN2kLp4Rt7Wx9Yb3Cd6Fg", None, ["Zq8vN2kLp4Rt7Wx9Yb3Cd6Fg"]),  # shaped like a key
    ("x-note", "plain", True, ["plain"]),
    ("x-api-key", "not-a-secret", False, []),
    ("x-portkey-config", '{"provider": "openai", "api_key": "pk-1", "targets": [{"virtualKey": "vk-2", "override_params": '
                         '{"max_tokens": 64}}], "custom_host": "http://127.0.0.1:9/v1"}', None, ["pk-1", "vk-2"]),
    ("x-portkey-config", '{"api_key": "pk-3"}', False, ["pk-3"]),  # secret: false covers the value, not its credential fields
]


def test_header_values_are_secrets_by_mark_name_shape_or_json_field_never_as_plain_words():
    from approval.common.redact import header_secrets

    for name, value, marked, expected in HEADER_CASES:
        assert header_secrets(name, value, marked) == expected, (name, value, marked)


def test_a_routing_word_in_the_evidence_is_shown_while_the_canary_key_is_masked(gateway, tmp_path):
    portkey_400 = {"error": {"message": f"openai error: model=glm-4.6 rejected for Bearer {CANARY_KEY}", "type": "invalid_request_error"},
                   "provider": "openai"}
    gateway.on(lambda b: "model" not in b, lambda _b, _r: (400, {}, json.dumps(portkey_400)))
    cfg = tmp_path / "g.yaml"
    cfg.write_text("headers: {x-portkey-provider: openai, x-portkey-custom-host: 'http://127.0.0.1:4000/v1'}\n")
    outcome = run_suite(make_settings(config=str(cfg)))
    record = build_record(outcome, outcome.candidates[0])
    texts = [json.dumps(record), render_markdown(outcome), render_text(outcome)]
    for text in texts:
        assert CANARY_KEY not in text
    assert "about model 'glm-4.6'" in texts[1] and "openai" in texts[0]


def _char_escapes(key: str) -> dict[str, str]:
    """The key as a gateway might echo it back, each character (or some) written as an escape."""
    half = len(key) // 2
    return {
        "hex": key.encode().hex(),
        "HEX": key.encode().hex().upper(),
        "html hex entities": "".join(f"&#x{ord(c):x};" for c in key),
        "html decimal entities": "".join(f"&#{ord(c)};" for c in key),
        "html entities, first characters only": "".join(f"&#{ord(c)};" for c in key[:2]) + key[2:],
        "html named entities": key.replace("/", "&sol;").replace("+", "&plus;").replace("=", "&equals;").replace("-", "&#45;"),
        "json \\u of every character": "".join(f"\\u{ord(c):04x}" for c in key),
        "json \\u upper case": "".join(f"\\u{ord(c):04X}" for c in key),
        "\\x escapes": "".join(f"\\x{ord(c):02x}" for c in key),
        "percent of every character": "".join(f"%{ord(c):02X}" for c in key),
        "mixed": "".join(f"&#x{ord(c):x};" for c in key[:4]) + "".join(f"\\u{ord(c):04x}" for c in key[4:half]) + key[half:-3]
                 + "".join(f"%{ord(c):02x}" for c in key[-3:]),
    }


def _read_every_escape(text: str) -> str:
    """The text with every escape read, the way a reader (or a script) of the output could decode it."""
    import html
    import re
    from urllib.parse import unquote

    text = html.unescape(text)
    text = re.sub(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1) or m.group(2), 16)), text)
    return unquote(text)


def test_a_secret_echoed_with_its_characters_escaped_is_masked_in_any_mix():
    register_secret(ODD_KEY)
    for key in (ODD_KEY, CANARY_KEY):
        for form, echoed in _char_escapes(key).items():
            out = redact(f"gateway said: {echoed} (end)")
            assert out == f"gateway said: {MASK} (end)", (form, out)
            assert key not in _read_every_escape(out) and key.encode().hex() not in out.lower(), form


def test_reading_escapes_masks_only_the_secret():
    register_secret(ODD_KEY)
    text = "50% of calls &amp; 3 retries: \\u0041BC &#x3c;b&#x3e; %41 \\x41"
    assert redact(text) == text


@pytest.mark.parametrize("form", list(_char_escapes(CANARY_KEY)))
def test_a_gateway_echoing_the_key_escaped_never_reaches_record_report_or_comment(gateway, form):
    from approval.github.comment import comment_marker, upsert_sticky_comment
    from tests.unit.test_github_comment import API, COMMENTS, TOKEN, _comment, _sent

    echoed = _char_escapes(CANARY_KEY)[form]
    message = json.dumps({"error": {"message": f"Invalid API key {echoed} (key: {echoed})"}})
    gateway.on(is_sample, lambda _b, _r: (401, {}, message))
    outcome = run_suite(make_settings())
    record = build_record(outcome, outcome.candidates[0])
    markdown = render_markdown(outcome)
    gateway.rsps.get(COMMENTS, json=[])
    gateway.rsps.post(COMMENTS, json=_comment(5, "new"), status=201)
    upsert_sticky_comment(TOKEN, API, "acme/models", 3, comment_marker("wf", "m"), markdown)
    comment = _sent(gateway.rsps.calls[-1])["body"]
    texts = [json.dumps(record), markdown, render_text(outcome), comment]
    assert "401" in texts[1] and "Invalid API key" in texts[1]  # the evidence is shown, the key is not
    for text in texts:
        decoded = _read_every_escape(text.replace("\\\\", "\\"))
        pieces = [CANARY_KEY[i : i + 10] for i in range(len(CANARY_KEY) - 9)]  # not even a part of it, cut short
        assert not [p for p in pieces if p in decoded or p.encode().hex() in text.lower()], (form, text)


def test_cutting_a_text_never_leaves_part_of_an_escaped_secret():
    from approval.common.redact import redact_head

    register_secret(ODD_KEY)
    for form, echoed in _char_escapes(ODD_KEY).items():
        text = f"error: {echoed} end"
        for limit in range(1, len(text), 3):
            out = redact_head(text, limit)
            shown = _read_every_escape(out)
            assert not [ODD_KEY[i : i + 6] for i in range(len(ODD_KEY) - 5) if ODD_KEY[i : i + 6] in shown], (form, limit, out)


def test_the_record_check_finds_the_key_in_every_form_redact_masks() -> None:
    """validate-record and redact() agree: a key pasted with any mix of its characters escaped is found, as it is masked."""
    from approval.common.redact import holds_secret

    key = "sk-canary-0123456789abcdef"
    forms = [key, key.encode().hex(), "".join(f"&#{ord(c)};" if i % 2 else c for i, c in enumerate(key)),
             "".join(f"\\u{ord(c):04x}" for c in key), "".join(f"%{ord(c):02X}" if c.isdigit() else c for c in key)]
    for form in forms:
        assert holds_secret(f"notes: {form} end", key), form
    assert not holds_secret("notes: sk-canary-0123456789abcdeX", key)
