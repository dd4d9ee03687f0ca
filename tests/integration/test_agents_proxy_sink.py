"""The proxy the real agents get (harness/agents.py ``ProxySink``) forwards nothing and names every host a request
wanted to reach, through plain HTTP or a CONNECT tunnel, so an agent's attempt to leave loopback is refused and seen."""

from __future__ import annotations

import pytest
import requests

from harness.agents import ProxySink


@pytest.mark.parametrize(("url", "host"), [
    ("http://registry.npmjs.org/@opencode-ai/plugin", "registry.npmjs.org"),
    ("https://chatgpt.com/backend-api/codex/models", "chatgpt.com"),
    ("https://api.github.com:443/repos/openai/codex/releases/latest", "api.github.com"),
    ("http://example.invalid:8080/", "example.invalid"),
])
def test_a_request_through_the_agents_proxy_is_refused_and_its_host_recorded(url: str, host: str) -> None:
    with ProxySink() as sink:
        proxies = {"http": sink.url, "https": sink.url}
        if url.startswith("https"):  # the tunnel is refused
            with pytest.raises(requests.exceptions.ProxyError):
                requests.get(url, proxies=proxies, timeout=5)
        else:
            assert requests.get(url, proxies=proxies, timeout=5).status_code == 403
    assert sink.hosts == [host]
