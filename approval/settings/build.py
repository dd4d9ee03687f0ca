"""Settings: one validated, immutable object built from flags, environment and gateway.yaml.

All configuration errors are raised here as `ConfigError` (exit 2), before anything is sent.
Precedence: flags (or action inputs) > gateway.yaml > environment (`GATEWAY_BASE_URL`, `CANDIDATE_MODEL_ID`) > defaults.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from approval.common.errors import ConfigError
from approval.common.redact import header_secrets, register_secret
from approval.settings.configfile import config_schema, load_config_file, load_registry_entries, validate_against_schema
from approval.settings.flags import Flags
from approval.settings.network import ca_bundle_for, proxy_credentials, proxy_for
from approval.settings.profile import DEFAULT_PROFILE, GENERIC_TOOLS, AgentProfile, builtin_names, check_endpoint, load_profile
from approval.settings.prompt import Prompt, default_prompt, load_prompt
from approval.settings.registry import Entry, config_entries
from approval.settings.route import OPTION_INDEX_RE, ROUTE_FIELDS, Route
from approval.settings.selection import Catalogue, Given

ENDPOINTS = ("chat", "responses")
MODEL_ID_RE = re.compile(r"^[^\s\x00-\x1f]{1,256}$")


@dataclass(frozen=True)
class Auth:
    scheme: str = "bearer"  # bearer | header | none
    header: str = "Authorization"
    prefix: str = ""
    api_key_env: str = "GATEWAY_API_KEY"


@dataclass(frozen=True)
class AgentSettings:
    """The agent's own client (the official openai SDK) as the agent configures it, for the agent-client check."""

    max_retries: int | None = None  # None: the SDK's own default
    timeout_s: float | None = None  # per attempt; None: the SDK's own default
    max_wait_s: float = 60.0  # the longest one call may take, the SDK's retries and waits included


@dataclass(frozen=True)
class Settings:
    base_url: str
    api_key: str = field(repr=False)
    candidates: tuple[str, ...]
    endpoint: str = "chat"
    baseline_model: str | None = None
    chat_path: str = "/chat/completions"
    responses_path: str = "/responses"
    models_path: str = "/models"
    auth: Auth = Auth()
    extra_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    prompt: Prompt = field(default_factory=default_prompt)
    max_latency_ms: float = 30_000.0
    latency_samples: int = 3
    max_ttft_ms: float | None = None
    request_timeout_s: float = 60.0
    total_timeout_s: float = 300.0
    max_attempts: int = 3
    max_retry_after_s: float = 10.0
    backoff_s: float = 0.5
    concurrency: int = 8
    max_response_bytes: int = 8 * 1024 * 1024
    checks: tuple[str, ...] = ("reachability", "happy-path", "model-echo", "error-path", "latency", "agent-client")
    required: frozenset[str] = frozenset()
    warnings_block: bool = False
    approved_models: tuple[str, ...] = ()
    approved_models_file: str | None = None
    model_in_use: str | None = None
    model_aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    route: Route = field(default_factory=Route)  # the reviewed route (gateway.yaml `route:`); empty: only the gateway's own fallback signals
    max_completion_tokens: int | None = None
    expect: Mapping[str, Any] = field(default_factory=dict)
    approved_by: str = "the operator of this run"
    config_path: str | None = None
    config_sha256: str | None = None
    include_model_output: bool = False
    pass_policy: str = "all"  # all candidates must pass, or any one
    proxy: str | None = field(default=None, repr=False)  # from HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, NO_PROXY applied
    ca_bundle: str | None = None  # from REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE / SSL_CERT_FILE; None: the default bundle
    agent: AgentSettings = AgentSettings()
    profile: AgentProfile = GENERIC_TOOLS  # the agent the verdict holds for (settings/profile.py)
    notices: tuple[str, ...] = ()  # said once on the terminal and kept in the run's notes (deprecated names)

    @property
    def candidate(self) -> str:
        return self.candidates[0]

    def path_for(self, endpoint: str) -> str:
        return self.responses_path if endpoint == "responses" else self.chat_path


def _nonempty(value: Any) -> bool:
    return value is not None and value not in ("", [], ())


def normalise_base_url(raw: str) -> str:
    fix = "give the gateway base URL as http(s)://host[:port]/v1 without credentials or query"
    text = raw.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"base URL {text!r} is not a valid URL", fix) from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"base URL {_safe_url(text)!r} must start with http:// or https://", fix)
    if not parts.hostname:
        raise ConfigError(f"base URL {_safe_url(text)!r} has no host", fix)
    if parts.username is not None or parts.password is not None:
        raise ConfigError("base URL contains credentials (user:password@)", "remove them and put the key in GATEWAY_API_KEY")
    if parts.query or parts.fragment or text.endswith("?"):
        raise ConfigError("base URL contains a query string or fragment", "remove it; put keys in GATEWAY_API_KEY and headers in gateway.yaml")
    if port == 0:
        raise ConfigError(f"base URL {text!r} has port 0", fix)
    if any(ch.isspace() for ch in text):
        raise ConfigError("base URL contains whitespace", fix)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ConfigError("base URL contains control characters", fix)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _header_safe(value: str) -> bool:
    """HTTP header values go out as Latin-1 (http.client); anything else fails only when the request is sent."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _safe_url(text: str) -> str:
    parts = urlsplit(text)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else "(not a URL)"


def _number(value: Any, name: str, *, minimum: float, maximum: float, integer: bool = False) -> float:
    fix = f"set {name} to a number between {minimum:g} and {maximum:g}"
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, not {value!r}", fix)
    if isinstance(value, str):
        try:
            value = float(value.strip()) if not integer else int(value.strip())
        except ValueError:
            raise ConfigError(f"{name} must be a{'n integer' if integer else ' number'}, not {value!r}", fix) from None
    if not isinstance(value, int | float) or (isinstance(value, float) and not math.isfinite(value)):
        raise ConfigError(f"{name} must be a number, not {value!r}", fix)
    if integer and isinstance(value, float) and not value.is_integer():
        raise ConfigError(f"{name} must be a whole number, not {value!r}", fix)
    if not (minimum <= value <= maximum):
        raise ConfigError(f"{name} is {value:g}, outside {minimum:g}..{maximum:g}", fix)
    return float(value)


def split_models(value: Any) -> list[str]:
    """Model IDs from a flag repeated, comma- or newline-separated."""
    items = value if isinstance(value, list | tuple) else [value]
    out: list[str] = []
    for item in items:
        if item is None:
            continue
        for part in re.split(r"[,\n]", str(item)):
            if part.strip():
                out.append(part.strip())
    return out


def build_settings(flags: Flags, environ: Mapping[str, str], catalogue: Catalogue) -> Settings:
    """Merge the front end's flags, the config file and the environment into validated Settings; `catalogue` is every
    check the engine declares (engine/checks), against which the selection is checked."""
    config_path = flags.config or None
    cfg, config_sha = load_config_file(config_path) if config_path else ({}, None)
    base_url, proxy, ca_bundle = _gateway(_pick(flags.base_url, cfg, "base_url"), environ)
    auth, api_key = _auth(cfg.get("auth", {}), environ)
    extra_headers = _headers(cfg.get("headers", {}))
    entries, registry_file = _approved_entries(cfg, str(config_path or "gateway.yaml"))
    approved = [e.model for e in entries]
    in_use = cfg.get("model_in_use")
    profile_spec = _pick(flags.profile, cfg, "agent", "profile")
    reapproving = flags.reapprove and not split_models(list(flags.models))
    profile, due, profile_notices = (reapproval_plan(entries, in_use, str(profile_spec) if _nonempty(profile_spec) else None)
                                     if reapproving else (load_profile(str(profile_spec or DEFAULT_PROFILE)), approved, ()))
    candidates = _candidates(flags, cfg, environ, due, in_use if in_use in due or not reapproving else None)
    baseline = _pick(flags.baseline_model, cfg, "baseline_model")
    if baseline is not None and not MODEL_ID_RE.match(str(baseline)):
        raise ConfigError(f"baseline model ID {baseline!r} is not valid", "give the ID exactly as the gateway names it")
    given_endpoint = _pick(flags.endpoint, cfg, "endpoint")
    endpoint = str(given_endpoint).strip().lower() if _nonempty(given_endpoint) else None
    if endpoint is not None and endpoint not in ENDPOINTS:
        raise ConfigError(f"unknown endpoint family {endpoint!r}", "use chat or responses")
    endpoint = check_endpoint(profile, endpoint)
    prompt_file = _pick(flags.prompt_file, cfg, "prompt_file")
    prompt = load_prompt(str(prompt_file)) if prompt_file else default_prompt()
    limits = _limits(flags, cfg)
    selection = catalogue.select(_pick(flags.checks, cfg, "checks"), cfg.get("required", []),
                                 Given(expect=bool(cfg.get("expect") or prompt.expect),
                                       registry=bool(cfg.get("approved_models") or cfg.get("approved_models_file")),
                                       tools=profile.uses_tools, streams=profile.streams))
    expect = _expectations(cfg, prompt, selection.checks)
    paths = cfg.get("paths", {})
    retries = cfg.get("retries", {})
    ttft = cfg.get("thresholds", {}).get("max_time_to_first_token_ms")
    return Settings(
        base_url=base_url,
        api_key=api_key,
        candidates=candidates,
        endpoint=endpoint,
        baseline_model=str(baseline) if baseline else None,
        chat_path=paths.get("chat", "/chat/completions"),
        responses_path=paths.get("responses", "/responses"),
        models_path=paths.get("models", "/models"),
        auth=auth,
        extra_headers=extra_headers,
        prompt=prompt,
        max_latency_ms=limits.max_latency_ms,
        latency_samples=limits.samples,
        max_ttft_ms=float(ttft) if ttft is not None else None,
        request_timeout_s=limits.request_timeout_s,
        total_timeout_s=limits.total_timeout_s,
        max_attempts=int(retries.get("max_attempts", 3)),
        max_retry_after_s=float(retries.get("max_retry_after_seconds", 10.0)),
        backoff_s=float(retries.get("backoff_seconds", 0.5)),
        concurrency=limits.concurrency,
        max_response_bytes=int(cfg.get("max_response_bytes", 8 * 1024 * 1024)),
        checks=selection.checks,
        required=selection.required,
        warnings_block=bool(cfg.get("warnings_block", False)),
        approved_models=tuple(approved),
        approved_models_file=str(registry_file) if registry_file else None,
        model_in_use=in_use,
        model_aliases={str(k): tuple(v) for k, v in cfg.get("model_aliases", {}).items()},
        route=_route(cfg.get("route")),
        max_completion_tokens=cfg.get("max_completion_tokens"),
        expect=expect,
        approved_by=approver(_pick(flags.approved_by, cfg, "approved_by"), environ),
        config_path=str(config_path) if config_path else None,
        config_sha256=config_sha,
        include_model_output=flags.include_model_output,
        pass_policy=str(cfg.get("pass_policy", "all")),
        proxy=proxy,
        ca_bundle=ca_bundle,
        agent=_agent_settings(cfg.get("agent", {})),
        profile=profile,
        notices=selection.notices + profile_notices,
    )


def _pick(flag: Any, cfg: Mapping[str, Any], *cfg_path: str) -> Any:
    """The flag when given, else the config's value at `cfg_path` (None when absent)."""
    if _nonempty(flag):
        return flag
    node: Any = cfg
    for part in cfg_path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _gateway(given: Any, environ: Mapping[str, str]) -> tuple[str, str | None, str | None]:
    """The base URL (flag, config, else GATEWAY_BASE_URL), and the proxy and CA bundle the environment asks for."""
    base_raw = given or environ.get("GATEWAY_BASE_URL", "").strip()
    if not base_raw:
        raise ConfigError("no gateway base URL given", "pass --base-url, set base_url in gateway.yaml, or export GATEWAY_BASE_URL")
    base_url = normalise_base_url(str(base_raw))
    proxy = proxy_for(base_url, environ)
    for credential in proxy_credentials(proxy):
        register_secret(credential)
    return base_url, proxy, ca_bundle_for(environ) if base_url.startswith("https:") else None


def _auth(auth_cfg: Mapping[str, Any], environ: Mapping[str, str]) -> tuple[Auth, str]:
    """How the key is sent, and the key itself (from the variable `auth.api_key_env` names; registered as a secret)."""
    scheme = auth_cfg.get("scheme", "bearer")
    header = auth_cfg.get("header", "Authorization" if scheme == "bearer" else "")
    if scheme == "header" and not header:
        raise ConfigError("auth.scheme is 'header' but auth.header is not set", "set auth.header, e.g. api-key")
    auth = Auth(scheme, header or "Authorization", auth_cfg.get("prefix", ""), auth_cfg.get("api_key_env", "GATEWAY_API_KEY"))
    if auth.prefix and scheme != "header":
        raise ConfigError(f"auth.prefix is set but auth.scheme is {scheme!r}", "auth.prefix applies to scheme: header only; remove it or set scheme: header")
    if any(ch in auth.prefix for ch in "\r\n\x00") or not _header_safe(auth.prefix):
        raise ConfigError("auth.prefix contains a line break or characters that cannot be sent in an HTTP header", "remove them")
    api_key = environ.get(auth.api_key_env, "").strip()
    if scheme != "none" and not api_key:
        raise ConfigError(
            f"the API key is missing: {auth.api_key_env} is not set",
            f"export {auth.api_key_env}=... (in Actions pass the api-key input from a secret), or set auth.scheme: none",
        )
    if any(ch in api_key for ch in "\r\n\x00"):
        raise ConfigError(f"{auth.api_key_env} contains a line break or NUL", "store the key without trailing newlines")
    if not _header_safe(api_key):
        raise ConfigError(f"{auth.api_key_env} contains characters that cannot be sent in an HTTP header (outside Latin-1)",
                          "check that the variable holds the key itself")
    register_secret(api_key)
    return auth, api_key


def _approved_entries(cfg: Mapping[str, Any], source: str) -> tuple[list[Entry], Any]:
    """The registry: `approved_models`, then the entries of `approved_models_file` (first mention wins), and that file."""
    entries = config_entries(cfg.get("approved_models"), source)
    registry_file = cfg.get("approved_models_file")
    if registry_file:
        listed = {e.model for e in entries}
        entries += [e for e in load_registry_entries(str(registry_file)) if e.model not in listed]
    return entries, registry_file


def reapproval_plan(entries: Sequence[Entry], in_use: Any, chosen: str | None) -> tuple[AgentProfile, list[str], tuple[str, ...]]:
    """A re-approval runs each approved model under the agent profile its entry names; one run holds for one profile.
    With a profile chosen (--profile, agent-profile, agent.profile): the models whose entries name it (or none), the
    others said in a notice, for a run of their own. Without: the one profile the entries name (a built-in), else the
    default; entries naming several profiles are refused, naming them. Returns the profile, the models due in this run
    (and the model in use when its entry is due or it has none) and the notices."""
    named = {e.model: e.approval.profile for e in entries if e.approval is not None and e.approval.profile}
    names = sorted(set(named.values()))
    if chosen is None and len(names) > 1:
        listing = "; ".join(f"{name}: {', '.join(m for m, p in named.items() if p == name)}" for name in names)
        raise ConfigError(f"the approved models name {len(names)} agent profiles ({listing}) and one run holds for one profile",
                          f"re-approve each profile's models in its own run: --reapprove --profile NAME (in the action, a matrix over "
                          f"agent-profile: {', '.join(names)})")
    profile = load_profile(chosen) if chosen is not None else builtin_named(names[0]) if names else load_profile(DEFAULT_PROFILE)
    due = [e.model for e in entries if named.get(e.model, profile.name) == profile.name]
    if isinstance(in_use, str) and in_use not in named and in_use not in due:
        due.append(in_use)
    if not due and named:  # an empty registry is said by the front end ("the registry lists no model")
        raise ConfigError(f"no approved model names the agent profile {profile.name!r}: nothing to re-approve under it",
                          f"re-approve under the profiles the entries name ({', '.join(names)}), or give --model")
    notices = []
    if left := [m for m in named if named[m] != profile.name]:
        notices.append(f"not re-approved in this run, their entries name another agent profile: "
                       f"{', '.join(f'{m} ({named[m]})' for m in left)} — re-approve them with --reapprove --profile NAME")
    changed = [e.model for e in entries if e.model in due and e.approval is not None and e.approval.profile == profile.name
               and e.approval.profile_sha256 and e.approval.profile_sha256 != profile.sha256]
    if changed:
        notices.append(f"the agent profile {profile.name} changed since {', '.join(changed)} {'was' if len(changed) == 1 else 'were'} approved "
                       f"(sha256 now {profile.short_sha}): this re-approval holds for the profile as it is now")
    return profile, due, tuple(notices)


def builtin_named(name: str) -> AgentProfile:
    """The built-in profile an entry names; an entry naming a profile file cannot be re-run by its name alone."""
    if name not in builtin_names():
        raise ConfigError(f"the approved models name the agent profile {name!r}, which is no built-in profile",
                          "set agent.profile in gateway.yaml (or --profile / agent-profile) to that profile's file")
    return load_profile(name)


def _candidates(flags: Flags, cfg: Mapping[str, Any], environ: Mapping[str, str], approved: list[str], in_use: Any) -> tuple[str, ...]:
    """The models to approve: the flags', else (a re-approval) everything approved and the model in use, else the
    config's `candidates` / `candidate_model`, else CANDIDATE_MODEL_ID; each checked, duplicates dropped."""
    candidates = split_models(list(flags.models))
    if not candidates and flags.reapprove:
        candidates = list(dict.fromkeys([*approved, *([in_use] if in_use else [])]))
    candidates = candidates or split_models(cfg.get("candidates")) or split_models(cfg.get("candidate_model"))
    if not candidates:
        candidates = split_models(environ.get("CANDIDATE_MODEL_ID", ""))
    if not candidates:
        raise ConfigError("no candidate model given", "pass --model, set candidate_model in gateway.yaml, or export CANDIDATE_MODEL_ID")
    for model in candidates:
        if not MODEL_ID_RE.match(model):
            raise ConfigError(
                f"candidate model ID {model!r} is not valid (empty, too long or contains whitespace)", "give the ID exactly as the gateway names it"
            )
    return tuple(dict.fromkeys(candidates))


@dataclass(frozen=True)
class _Limits:
    max_latency_ms: float
    samples: int
    total_timeout_s: float
    request_timeout_s: float
    concurrency: int


def _limits(flags: Flags, cfg: Mapping[str, Any]) -> _Limits:
    """The bounds of the run: the latency bound and samples, the deadline, each request's timeout, concurrency."""
    max_latency = _number(_pick(flags.max_latency_ms, cfg, "thresholds", "max_latency_ms") or 30_000, "max latency (ms)",
                          minimum=1, maximum=3_600_000)
    samples = int(_number(_pick(flags.samples, cfg, "thresholds", "latency_samples") or 3, "latency samples", minimum=1, maximum=50,
                          integer=True))
    total = _number(_pick(flags.timeout, cfg, "timeouts", "total_seconds") or 300, "timeout (seconds)", minimum=1, maximum=21_600)
    request_timeout = _number(_pick(None, cfg, "timeouts", "request_seconds") or min(60.0, total), "request timeout (seconds)",
                              minimum=0.1, maximum=3600)
    concurrency = int(_number(_pick(flags.concurrency, cfg, "concurrency") or 8, "concurrency", minimum=1, maximum=64, integer=True))
    return _Limits(max_latency, samples, total, min(request_timeout, total), concurrency)


def _expectations(cfg: Mapping[str, Any], prompt: Prompt, checks: tuple[str, ...]) -> dict[str, Any]:
    """`expect:` of the config, then of the prompt file (which wins), checked."""
    expect: dict[str, Any] = dict(cfg.get("expect", {}))
    if prompt.expect is not None:
        defs = config_schema()["$defs"]
        validate_against_schema(prompt.expect, {**defs["expect"], "$defs": defs}, f"prompt file {prompt.source!r} expect")
        expect.update(prompt.expect)
    _check_expect(expect)
    if "output-quality" in checks and not expect:
        raise ConfigError("check 'output-quality' is selected but no expectations are given", "add an expect: block to gateway.yaml or the prompt file")
    return expect


def _agent_settings(block: Mapping[str, Any]) -> AgentSettings:
    """The `agent:` block (already checked against the schema): how the agent configures its openai client."""
    retries = block.get("max_retries")
    timeout = block.get("timeout_seconds")
    return AgentSettings(
        max_retries=int(retries) if retries is not None else None,
        timeout_s=float(timeout) if timeout is not None else None,
        max_wait_s=float(block.get("max_wait_seconds", 60.0)),
    )


def _headers(raw: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """`headers:` as (name, value) pairs; registers what in them is a secret (approval.common.redact.header_secrets): the value
    when marked `secret: true`, named like a credential or shaped like a key, and the credential fields of a JSON value."""
    out: list[tuple[str, str]] = []
    for name, item in raw.items():
        value, marked = (str(item["value"]), item.get("secret")) if isinstance(item, dict) else (str(item), None)
        if any(ch in value for ch in "\r\n\x00"):
            raise ConfigError(f"headers.{name} contains a line break", "remove it")
        if not _header_safe(value):
            raise ConfigError(f"headers.{name} contains characters that cannot be sent in an HTTP header (outside Latin-1)", "remove them")
        for secret in header_secrets(str(name), value, marked):
            register_secret(secret)
        out.append((str(name), value))
    return tuple(out)


def _route(raw: Mapping[str, Any] | None) -> Route:
    """`route:` (schema-checked: known fields, each a non-empty string or list of them) as a Route."""
    if raw is None:
        return Route()
    if not raw:
        raise ConfigError("route: names nothing", f"give at least one of {', '.join(ROUTE_FIELDS)}, or remove route:")
    values = {name: tuple(str(v).strip() for v in (item if isinstance(item, list) else [item])) for name, item in raw.items()}
    for name, items in values.items():
        if any(not v for v in items):
            raise ConfigError(f"route.{name} has an empty value", "give the value the gateway reports, or remove the field")
    for index in values.get("portkey_option_index", ()):
        if not OPTION_INDEX_RE.match(index):
            raise ConfigError(f"route.portkey_option_index {index!r} is not a Portkey option path",
                              "use the form Portkey reports in x-portkey-last-used-option-index: config, config.targets[0], "
                              "config.targets[1].targets[0]")
    return Route(**values)


def approver(given: Any, environ: Mapping[str, str]) -> str:
    """Who the record names as approving: the one given; else, in CI, the actor with the run and job that gathered the
    evidence; else the operator's login. Never "unknown": a record must say whose run it was."""
    if _nonempty(given) and str(given).strip():
        return str(given).strip()
    actor = environ.get("GITHUB_ACTOR", "").strip()
    if actor:
        run = environ.get("GITHUB_RUN_ID", "").strip()
        job = environ.get("GITHUB_JOB", "").strip()
        where = f" via run {run}/{job}" if run and job else f" via run {run}" if run else ""
        return f"{actor}{where}"
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if environ.get(name, "").strip():
            return environ[name].strip()
    import getpass  # the password database, only when the environment names nobody (a container, a service account)

    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "the operator of this run"


def _check_expect(expect: Mapping[str, Any]) -> None:
    for i, pattern in enumerate(expect.get("regex", [])):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"expect.regex[{i}] is not a valid regular expression ({exc})", "fix the pattern") from None
        except (OverflowError, RecursionError):
            raise ConfigError(f"expect.regex[{i}] is too large or nested too deeply to compile", "simplify the pattern") from None
    if "json_schema" in expect:
        # jsonschema (~120 ms to import) only where a schema is checked
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(expect["json_schema"])
        except SchemaError as exc:
            raise ConfigError(f"expect.json_schema is not a valid JSON Schema ({exc.message})", "fix the schema") from None
        except RecursionError:
            raise ConfigError("expect.json_schema is nested too deeply", "simplify the schema") from None
    lo, hi = expect.get("min_length"), expect.get("max_length")
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"expect.min_length ({lo}) is greater than expect.max_length ({hi})", "swap or fix them")
