"""Proxy and CA-bundle selection from the environment (approval.settings.network): pure functions, no traffic."""

from __future__ import annotations

from pathlib import Path

import pytest

from approval.common.errors import ConfigError
from approval.settings.network import bypasses_proxy, ca_bundle_for, proxy_credentials, proxy_for
from harness.mocked_gateway import as_flags


@pytest.mark.parametrize(
    ("url", "environ", "expected"),
    [
        ("https://gw.test/v1", {}, None),
        ("https://gw.test/v1", {"HTTPS_PROXY": "http://proxy.test:3128"}, "http://proxy.test:3128"),
        ("https://gw.test/v1", {"https_proxy": "http://lower.test:1", "HTTPS_PROXY": "http://upper.test:2"}, "http://lower.test:1"),
        ("https://gw.test/v1", {"HTTP_PROXY": "http://proxy.test:3128"}, None),  # the scheme's own variable only
        ("http://gw.test/v1", {"HTTP_PROXY": "http://proxy.test:3128"}, "http://proxy.test:3128"),
        ("https://gw.test/v1", {"ALL_PROXY": "http://all.test:8080"}, "http://all.test:8080"),
        ("https://gw.test/v1", {"HTTPS_PROXY": "proxy.test:3128"}, "http://proxy.test:3128"),  # no scheme: http
        ("https://gw.test/v1", {"HTTPS_PROXY": "  "}, None),
        # loopback is never proxied: a proxy cannot reach this machine's loopback
        ("http://127.0.0.1:4000/v1", {"HTTP_PROXY": "http://proxy.test:3128"}, None),
        ("http://localhost:4000/v1", {"HTTP_PROXY": "http://proxy.test:3128"}, None),
        ("http://[::1]:4000/v1", {"HTTP_PROXY": "http://proxy.test:3128"}, None),
        # NO_PROXY
        ("https://gw.corp.test/v1", {"HTTPS_PROXY": "http://p.test:1", "NO_PROXY": "corp.test"}, None),
        ("https://gw.corp.test/v1", {"HTTPS_PROXY": "http://p.test:1", "no_proxy": ".corp.test"}, None),
        ("https://gw.corp.test/v1", {"HTTPS_PROXY": "http://p.test:1", "NO_PROXY": "*.corp.test"}, None),
        ("https://gw.corp.test/v1", {"HTTPS_PROXY": "http://p.test:1", "NO_PROXY": "*"}, None),
        ("https://notcorp.test/v1", {"HTTPS_PROXY": "http://p.test:1", "NO_PROXY": "corp.test"}, "http://p.test:1"),
        ("https://10.1.2.3/v1", {"HTTPS_PROXY": "http://p.test:1", "NO_PROXY": "10.0.0.0/8"}, None),
        ("https://11.1.2.3/v1", {"HTTPS_PROXY": "http://p.test:1", "NO_PROXY": "10.0.0.0/8"}, "http://p.test:1"),
        ("https://gw.test:8443/v1", {"HTTPS_PROXY": "http://p.test:1", "NO_PROXY": "gw.test:8443"}, None),
        ("https://gw.test/v1", {"HTTPS_PROXY": "http://p.test:1", "NO_PROXY": "gw.test:8443"}, "http://p.test:1"),
    ],
)
def test_proxy_for(url: str, environ: dict[str, str], expected: str | None) -> None:
    assert proxy_for(url, environ) == expected


@pytest.mark.parametrize("value", ["ftp://proxy.test:21", "http://", "http://proxy.test:port"])
def test_an_unusable_proxy_is_a_config_error_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="HTTPS_PROXY is not a usable proxy URL"):
        proxy_for("https://gw.test/v1", {"HTTPS_PROXY": value})


def test_an_unusable_proxy_is_named_without_its_credentials() -> None:
    with pytest.raises(ConfigError) as caught:
        proxy_for("https://gw.test/v1", {"HTTPS_PROXY": "ftp://user:s3cret-pass@proxy.test:21"})
    assert "s3cret-pass" not in caught.value.line()
    assert "proxy.test" in caught.value.line()


def test_proxy_credentials_are_secrets() -> None:
    assert "pw-12345" in proxy_credentials("http://me:pw-12345@proxy.test:3128")
    assert proxy_credentials("http://proxy.test:3128") == []
    assert proxy_credentials(None) == []


def test_no_proxy_entries_do_not_match_by_accident() -> None:
    assert not bypasses_proxy("evilcorp.test", None, "corp.test")
    assert not bypasses_proxy("gw.test", 443, "")
    assert bypasses_proxy("GW.Test.", 443, "gw.test")


def test_ca_bundle_from_the_environment(tmp_path: Path) -> None:
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n", encoding="ascii")
    assert ca_bundle_for({}) is None
    assert ca_bundle_for({"SSL_CERT_FILE": str(bundle)}) == str(bundle)
    assert ca_bundle_for({"SSL_CERT_DIR": str(tmp_path)}) == str(tmp_path)
    assert ca_bundle_for({"SSL_CERT_FILE": str(bundle), "SSL_CERT_DIR": str(tmp_path)}) == str(bundle)
    assert ca_bundle_for({"REQUESTS_CA_BUNDLE": str(bundle), "CURL_CA_BUNDLE": "/nonexistent"}) == str(bundle)
    with pytest.raises(ConfigError, match="CURL_CA_BUNDLE names"):
        ca_bundle_for({"CURL_CA_BUNDLE": str(tmp_path / "missing.pem")})


def test_a_socks_proxy_without_pysocks_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ConfigError, match="SOCKS proxy"):
        proxy_for("https://gw.test/v1", {"ALL_PROXY": "socks5h://proxy.test:1080"})


def test_settings_and_the_session_carry_the_proxy_and_no_proxy_applies() -> None:
    from approval.engine.checks import CATALOGUE
    from approval.engine.deadline import Deadline
    from approval.engine.gateway import GatewayClient
    from approval.settings.build import build_settings

    flags = {"base_url": "https://gw.corp.test/v1", "models": ["m"]}
    env = {"GATEWAY_API_KEY": "k-0123456789", "HTTPS_PROXY": "http://user:proxy-pass-42@proxy.test:3128"}
    settings = build_settings(as_flags(flags), env, CATALOGUE)
    assert settings.proxy == "http://user:proxy-pass-42@proxy.test:3128"
    assert "proxy-pass-42" not in repr(settings)
    session = GatewayClient(settings, Deadline(5))._session()
    assert session.proxies == {"http": settings.proxy, "https": settings.proxy}
    assert session.trust_env is False

    direct = build_settings(as_flags(flags), {**env, "NO_PROXY": ".corp.test"}, CATALOGUE)
    assert direct.proxy is None
    assert GatewayClient(direct, Deadline(5))._session().proxies == {}


def test_proxy_credentials_never_reach_any_output() -> None:
    from approval.common.redact import redact
    from approval.engine.checks import CATALOGUE
    from approval.settings.build import build_settings

    build_settings(as_flags({"base_url": "https://gw.test/v1", "models": ["m"]}),
                   {"GATEWAY_API_KEY": "k-0123456789", "HTTPS_PROXY": "http://user:Pr%40xy-pass-77@proxy.test:3128"}, CATALOGUE)
    assert "Pr%40xy-pass-77" not in redact("ProxyError('http://user:Pr%40xy-pass-77@proxy.test:3128')")
    assert "Pr@xy-pass-77" not in redact("auth Pr@xy-pass-77 failed")


@pytest.mark.parametrize("value", ["http://[proxy", "http://[::1:3128", "http://proxy.test:99999999"])
def test_a_malformed_proxy_url_is_a_config_error_not_a_crash(value: str) -> None:
    with pytest.raises(ConfigError, match="HTTPS_PROXY is not a usable proxy URL"):
        proxy_for("https://gw.test/v1", {"HTTPS_PROXY": value})


def test_a_token_given_as_the_proxy_user_is_a_secret() -> None:
    assert proxy_credentials("http://tok-123456789@proxy.test:3128") == ["tok-123456789", "tok-123456789"]
