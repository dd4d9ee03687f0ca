"""An httpx2 transport for the openai SDK's requests that sends them through `requests`, so that a `responses` mock
(the unit tests' fake gateway) answers the SDK's calls exactly as it answers the raw probes, and nothing leaves the
process: a URL the mock does not know fails as a connection error."""

from __future__ import annotations

import httpx2
import requests

# Hop-by-hop and framing headers: `requests` has already decoded and joined the body.
DROPPED = frozenset({"content-encoding", "content-length", "transfer-encoding", "connection"})


class RequestsBridge(httpx2.BaseTransport):
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.read()
        timeout = request.extensions.get("timeout") or {}
        with requests.Session() as session:
            session.trust_env = False
            try:
                answer = session.request(request.method, str(request.url), data=body, headers=dict(request.headers), allow_redirects=False,
                                         timeout=timeout.get("read") or 30)
            except requests.Timeout as exc:
                raise httpx2.ReadTimeout(str(exc), request=request) from exc
            except requests.RequestException as exc:
                raise httpx2.ConnectError(str(exc), request=request) from exc
        headers = [(k, v) for k, v in answer.headers.items() if k.lower() not in DROPPED]
        return httpx2.Response(answer.status_code, headers=headers, content=answer.content, request=request)
