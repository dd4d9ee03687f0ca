"""How the gateway is reached: the proxy and the CA bundle that the environment asks for, read once into Settings.

The HTTP session ignores the environment (`trust_env = False`: no `.netrc` credentials are ever added to a request),
so the two settings that users behind a corporate proxy or a private CA need are taken from the usual variables here,
explicitly and validated:

- proxy: `HTTPS_PROXY` / `HTTP_PROXY` (by the gateway URL's scheme), else `ALL_PROXY`; lower-case names win, as in
  curl. `NO_PROXY` lists hosts (`gw.internal`, `.internal`, `*`), `host:port` and IP ranges (`10.0.0.0/8`) that go
  direct. Loopback gateways are never proxied: a proxy cannot reach this machine's loopback.
- CA bundle: `REQUESTS_CA_BUNDLE`, else `CURL_CA_BUNDLE`, else `SSL_CERT_FILE`, else `SSL_CERT_DIR` (a directory of
  hashed certificates, as `openssl rehash` leaves them). Unset: the bundle shipped with `requests` (certifi).
"""

from __future__ import annotations

import importlib.util
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from approval.common.errors import ConfigError

CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
PROXY_VARIABLES = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"})  # read in either case (`_env`)
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h", "socks4", "socks4a")


def _env(environ: Mapping[str, str], name: str) -> str:
    """`name` in lower case first (curl's rule), then upper case; blank counts as unset."""
    for key in (name.lower(), name.upper()):
        value = environ.get(key, "").strip()
        if value:
            return value
    return ""


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.", "ip6-localhost") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bypasses_proxy(host: str, port: int | None, no_proxy: str) -> bool:
    """True when `host` (and `port`) matches an entry of a NO_PROXY list."""
    host = host.lower().rstrip(".")
    for raw in no_proxy.replace(" ", ",").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry_host, entry_port = entry, None
        if entry.count(":") == 1 and not entry.startswith("["):  # host:port (an IPv6 entry has several colons)
            entry_host, _, port_text = entry.partition(":")
            entry_port = int(port_text) if port_text.isdigit() else None
        entry_host = entry_host.strip("[]").rstrip(".")
        if entry_port is not None and entry_port != port:
            continue
        if "/" in entry_host:
            try:
                if ipaddress.ip_address(host) in ipaddress.ip_network(entry_host, strict=False):
                    return True
            except ValueError:
                pass
            continue
        bare = entry_host.lstrip("*").lstrip(".")
        if bare and (host == bare or host.endswith("." + bare)):
            return True
    return False


def proxy_for(url: str, environ: Mapping[str, str]) -> str | None:
    """The proxy URL a request to `url` goes through, or None for a direct connection. Raises ConfigError when the
    variable that applies does not hold a usable proxy URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or _is_loopback(host) or bypasses_proxy(host, parts.port, _env(environ, "no_proxy")):
        return None
    name = f"{parts.scheme}_proxy"
    value = _env(environ, name)
    if not value:
        name, value = "all_proxy", _env(environ, "all_proxy")
    if not value:
        return None
    if "://" not in value:
        value = "http://" + value  # `proxy.corp:3128`, as curl and requests accept it
    try:
        proxy = urlsplit(value)
        proxy.port  # noqa: B018 -- raises on a port that is not a number
        proxy.hostname  # noqa: B018 -- raises on a broken IPv6 literal
    except ValueError:
        proxy = urlsplit(value.split("://", 1)[0] + "://")
    if proxy.scheme not in PROXY_SCHEMES or not proxy.hostname:
        shown = urlunsplit((proxy.scheme, proxy.hostname or "", proxy.path, "", ""))
        raise ConfigError(
            f"{name.upper()} is not a usable proxy URL ({shown or 'empty'})",
            "set it to http://HOST:PORT (or unset it, or add the gateway's host to NO_PROXY)",
        )
    if proxy.scheme.startswith("socks") and importlib.util.find_spec("socks") is None:  # PySocks: requests' optional SOCKS support
        raise ConfigError(
            f"{name.upper()} is a SOCKS proxy, which this installation cannot use (PySocks is not installed)",
            "use an HTTP proxy, or add the gateway's host to NO_PROXY",
        )
    return value


def proxy_credentials(proxy: str | None) -> list[str]:
    """The userinfo parts of a proxy URL: secrets to redact wherever the URL could appear."""
    if not proxy:
        return []
    parts = urlsplit(proxy)
    if parts.password:
        return [parts.password, unquote(parts.password), f"{parts.username}:{parts.password}"]
    return [parts.username, unquote(parts.username)] if parts.username else []  # `http://TOKEN@proxy`: a token


def ca_bundle_for(environ: Mapping[str, str]) -> str | None:
    """The CA bundle (file or directory) named by the environment, or None for the default bundle."""
    for name in CA_BUNDLE_VARIABLES:
        value = environ.get(name, "").strip()
        if not value:
            continue
        path = Path(value)
        if not path.exists():
            raise ConfigError(f"{name} names {value!r}, which does not exist", f"point {name} at a PEM bundle, or unset it")
        return value
    return None
