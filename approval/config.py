"""Settings: one validated, immutable object built from flags, environment and gateway.yaml.

All configuration errors are raised here as `ConfigError` (exit 2), before anything is sent.
Precedence: flags (or action inputs) > gateway.yaml > environment (`GATEWAY_BASE_URL`, `CANDIDATE_MODEL_ID`) > defaults.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from approval.errors import ConfigError
from approval.network import ca_bundle_for, proxy_credentials, proxy_for
from approval.prompt import Prompt, default_prompt, load_prompt
from approval.redact import header_secrets, register_secret
from approval.routing import OPTION_INDEX_RE, ROUTE_FIELDS, Route
from approval.userfile import YamlTooLarge, load_yaml, read_user_file

ENDPOINTS = ("chat", "responses")
ALL_CHECKS = (
    "reachability",
    "happy-path",
    "model-echo",
    "error-path",
    "latency",
    "output-quality",
    "agent-client",
    "streaming",
    "tool-calling",
    "structured-output",
    "approved-list",
)
DEFAULT_CHECKS = ("reachability", "happy-path", "model-echo", "error-path", "latency", "agent-client")
# Check names still accepted in `checks:` and `required:`, and the check each now runs as (with a notice).
DEPRECATED_CHECKS = {
    "bounded-retry": (
        "agent-client",
        "it audited this tool's own HTTP client, which is no evidence about the gateway or the agent; 'agent-client' measures the "
        "retries and time the agent's own client (the openai SDK) needs, and the run's notes say when this tool had to retry or "
        "reached the deadline",
    ),
}
# The checks that judge the candidate's own answers to the representative prompt (a later conversation check joins
# them). An approval rests on at least one of them passing: a selection without one is a usage error before anything
# is sent, and a record whose pass rests on none is refused (approval.record_consistency). The others judge the
# gateway (error-path, reachability, model-echo), time (latency), the list (approved-list, no call at all) or answers
# seen only through the SDK (agent-client, which hides the deviations the raw probes exist to see).
ANSWER_CHECKS = ("happy-path",)
# Findings that are warnings by default and that `required:` can make blocking.
REQUIRABLE_FINDINGS = (
    "error-path.missing-model",
    "error-path.unknown-model",
    "error-path.empty-messages",
    "reachability.models-listing",
    "tool-calling.finish-reason",
    "approved-list.model-in-use",
)
MAX_CONFIG_BYTES = 1024 * 1024
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
    checks: tuple[str, ...] = DEFAULT_CHECKS
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
    notices: tuple[str, ...] = ()  # said once on the terminal and kept in the run's notes (deprecated names)

    @property
    def candidate(self) -> str:
        return self.candidates[0]

    def path_for(self, endpoint: str) -> str:
        return self.responses_path if endpoint == "responses" else self.chat_path


def config_schema() -> dict[str, Any]:
    from importlib import resources  # here, not at the top: only a config file is checked against the schema

    text = resources.files("approval.schemas").joinpath("config.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def load_config_file(path_text: str) -> tuple[dict[str, Any], str]:
    """Read and validate gateway.yaml; return the mapping and its sha256."""
    text, data = read_user_file(path_text, "config file", MAX_CONFIG_BYTES, "pass --config / config: the path of a readable gateway.yaml",
                                "a gateway.yaml is a few lines")
    import yaml  # here, not at the top: a run without a config file never pays for it

    try:
        doc = load_yaml(text)
    except YamlTooLarge as exc:
        raise ConfigError(f"config file {path_text!r} has {exc}", "a gateway.yaml is a few flat sections: use fewer aliases") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path_text!r} is not valid YAML{where}", "fix its syntax") from None
    except RecursionError:
        raise ConfigError(f"config file {path_text!r} is nested too deeply", "a gateway.yaml is a few flat sections") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"config file {path_text!r} must be a mapping of keys", "see examples/gateway.yaml")
    validate_against_schema(doc, config_schema(), f"config file {path_text!r}")
    return doc, hashlib.sha256(data).hexdigest()


def validate_against_schema(doc: Any, schema: dict[str, Any], what: str) -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return
    err = errors[0]
    key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = err.schema.get("properties", {})
        extra = sorted(str(k) for k in err.instance if k not in allowed)
        dotted = ".".join([*map(str, err.absolute_path), extra[0]]) if extra else key
        raise ConfigError(f"{what}: unknown key {dotted!r}", f"allowed here: {', '.join(sorted(allowed))}")
    from approval.schema_errors import describe

    name, problem = describe(err)
    raise ConfigError(f"{what}: `{name}` {problem}", "fix that value (the keys are described in the README and examples/gateway.yaml)")



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


def build_settings(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Merge flags, the config file and the environment into validated Settings.

    `flags` keys (all optional): base_url, models (list), endpoint, prompt_file, config, max_latency_ms, samples,
    timeout, request_timeout, approved_by, checks (list or comma text), baseline_model, concurrency,
    include_model_output, reapprove (without models: every approved model and the model in use are the candidates).
    """
    cfg: dict[str, Any] = {}
    config_sha = None
    config_path = flags.get("config") or None
    if config_path:
        cfg, config_sha = load_config_file(str(config_path))

    def pick(flag: str, *cfg_path: str) -> Any:
        if _nonempty(flags.get(flag)):
            return flags[flag]
        node: Any = cfg
        for part in cfg_path:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    # Gateway and auth
    base_raw = pick("base_url", "base_url") or environ.get("GATEWAY_BASE_URL", "").strip()
    if not base_raw:
        raise ConfigError("no gateway base URL given", "pass --base-url, set base_url in gateway.yaml, or export GATEWAY_BASE_URL")
    base_url = normalise_base_url(str(base_raw))
    proxy = proxy_for(base_url, environ)
    for credential in proxy_credentials(proxy):
        register_secret(credential)
    ca_bundle = ca_bundle_for(environ) if base_url.startswith("https:") else None

    auth_cfg = cfg.get("auth", {})
    scheme = auth_cfg.get("scheme", "bearer")
    header = auth_cfg.get("header", "Authorization" if scheme == "bearer" else "")
    if scheme == "header" and not header:
        raise ConfigError("auth.scheme is 'header' but auth.header is not set", "set auth.header, e.g. api-key")
    auth = Auth(scheme, header or "Authorization", auth_cfg.get("prefix", ""), auth_cfg.get("api_key_env", "GATEWAY_API_KEY"))
    if auth.prefix and scheme != "header":
        raise ConfigError(f"auth.prefix is set but auth.scheme is {scheme!r}", "auth.prefix applies to scheme: header only; remove it or set scheme: header")
    if any(ch in auth.prefix for ch in "\r\n\x00") or not _header_safe(auth.prefix):
        raise ConfigError("auth.prefix contains a line break or characters that cannot be sent in an HTTP header", "remove them")
    api_key = flags.get("api_key") or environ.get(auth.api_key_env, "")
    api_key = api_key.strip()
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
    extra_headers = _headers(cfg.get("headers", {}))

    # Models: the registry first, since a re-approval (`reapprove`) approves everything in it
    from approval.registry import entry_model

    approved: list[str] = []
    for item in cfg.get("approved_models", []):
        model = str(entry_model(item))  # the schema allows strings and mappings with a model only
        if model in approved:
            raise ConfigError(f"approved_models lists {model!r} twice", "keep one entry per model")
        approved.append(model)
    registry_file = cfg.get("approved_models_file")
    if registry_file:
        from approval.registry import load_registry

        approved += [m for m in load_registry(str(registry_file)) if m not in approved]
    in_use = cfg.get("model_in_use")
    candidates = split_models(flags.get("models"))
    if not candidates and flags.get("reapprove"):
        candidates = list(dict.fromkeys([*approved, *([in_use] if in_use else [])]))
    candidates = candidates or split_models(cfg.get("candidates")) or split_models(cfg.get("candidate_model"))
    if not candidates:
        candidates = split_models(environ.get("CANDIDATE_MODEL_ID", ""))
    if not candidates:
        raise ConfigError("no candidate model given", "pass --model, set candidate_model in gateway.yaml, or export CANDIDATE_MODEL_ID")
    seen: list[str] = []
    for model in candidates:
        if not MODEL_ID_RE.match(model):
            raise ConfigError(
                f"candidate model ID {model!r} is not valid (empty, too long or contains whitespace)", "give the ID exactly as the gateway names it"
            )
        if model not in seen:
            seen.append(model)
    baseline = pick("baseline_model", "baseline_model")
    if baseline is not None and not MODEL_ID_RE.match(str(baseline)):
        raise ConfigError(f"baseline model ID {baseline!r} is not valid", "give the ID exactly as the gateway names it")

    endpoint = str(pick("endpoint", "endpoint") or "chat").strip().lower()
    if endpoint not in ENDPOINTS:
        raise ConfigError(f"unknown endpoint family {endpoint!r}", "use chat or responses")

    paths = cfg.get("paths", {})
    prompt_file = pick("prompt_file", "prompt_file")
    prompt = load_prompt(str(prompt_file)) if prompt_file else default_prompt()

    thresholds = cfg.get("thresholds", {})
    retries = cfg.get("retries", {})
    max_latency = _number(pick("max_latency_ms", "thresholds", "max_latency_ms") or 30_000, "max latency (ms)", minimum=1, maximum=3_600_000)
    samples = int(_number(pick("samples", "thresholds", "latency_samples") or 3, "latency samples", minimum=1, maximum=50, integer=True))
    ttft = thresholds.get("max_time_to_first_token_ms")
    total = _number(pick("timeout", "timeouts", "total_seconds") or 300, "timeout (seconds)", minimum=1, maximum=21_600)
    request_timeout = _number(
        pick("request_timeout", "timeouts", "request_seconds") or min(60.0, total), "request timeout (seconds)", minimum=0.1, maximum=3600
    )
    concurrency = int(_number(pick("concurrency", "concurrency") or 8, "concurrency", minimum=1, maximum=64, integer=True))

    # Checks
    checks_raw = pick("checks", "checks")
    if checks_raw:
        names = _names(checks_raw)
        unknown = [n for n in names if n not in ALL_CHECKS and n not in DEPRECATED_CHECKS]
        if unknown:
            raise ConfigError(f"unknown check {unknown[0]!r}", f"choose among: {', '.join(ALL_CHECKS)}")
        checks = tuple(dict.fromkeys(DEPRECATED_CHECKS[n][0] if n in DEPRECATED_CHECKS else n for n in names))
    else:
        default = list(DEFAULT_CHECKS)
        if cfg.get("expect") or prompt.expect:
            default.append("output-quality")
        if cfg.get("approved_models") or cfg.get("approved_models_file"):
            default.append("approved-list")
        checks = tuple(default)
    if not set(checks) & set(ANSWER_CHECKS):
        raise ConfigError(f"the selected checks ({', '.join(checks)}) judge no answer of the model's own ({' or '.join(ANSWER_CHECKS)}), "
                          "so they cannot approve it", f"add {' or '.join(ANSWER_CHECKS)} to checks (or --checks), or leave checks empty for "
                          "the standard set")
    required_raw = [str(r) for r in cfg.get("required", [])]
    required = frozenset(DEPRECATED_CHECKS[r][0] if r in DEPRECATED_CHECKS else r for r in required_raw)
    notices = tuple(
        f"check {name!r} is deprecated and runs as {DEPRECATED_CHECKS[name][0]!r}: {DEPRECATED_CHECKS[name][1]}. "
        f"Write {DEPRECATED_CHECKS[name][0]!r} instead"
        for name in DEPRECATED_CHECKS
        if name in required_raw or (checks_raw and name in _names(checks_raw))
    )
    unknown_required = sorted(r for r in required if r not in ALL_CHECKS and r not in REQUIRABLE_FINDINGS)
    if unknown_required:
        raise ConfigError(f"required: unknown name {unknown_required[0]!r}", f"choose among checks or: {', '.join(REQUIRABLE_FINDINGS)}")
    unselected = sorted(r for r in required if r.split(".", 1)[0] not in checks)
    if unselected:
        check = unselected[0].split(".", 1)[0]
        raise ConfigError(f"required: {unselected[0]!r} names the check {check!r}, which is not selected in this run, so it could never block",
                          f"add {check} to checks (or --checks), or remove the entry from required")

    expect: dict[str, Any] = dict(cfg.get("expect", {}))
    if prompt.expect is not None:
        defs = config_schema()["$defs"]
        validate_against_schema(prompt.expect, {**defs["expect"], "$defs": defs}, f"prompt file {prompt.source!r} expect")
        expect.update(prompt.expect)
    _check_expect(expect)
    if "output-quality" in checks and not expect:
        raise ConfigError("check 'output-quality' is selected but no expectations are given", "add an expect: block to gateway.yaml or the prompt file")

    aliases = {str(k): tuple(v) for k, v in cfg.get("model_aliases", {}).items()}
    route = _route(cfg.get("route"))
    return Settings(
        base_url=base_url,
        api_key=api_key,
        candidates=tuple(seen),
        endpoint=endpoint,
        baseline_model=str(baseline) if baseline else None,
        chat_path=paths.get("chat", "/chat/completions"),
        responses_path=paths.get("responses", "/responses"),
        models_path=paths.get("models", "/models"),
        auth=auth,
        extra_headers=extra_headers,
        prompt=prompt,
        max_latency_ms=max_latency,
        latency_samples=samples,
        max_ttft_ms=float(ttft) if ttft is not None else None,
        request_timeout_s=min(request_timeout, total),
        total_timeout_s=total,
        max_attempts=int(retries.get("max_attempts", 3)),
        max_retry_after_s=float(retries.get("max_retry_after_seconds", 10.0)),
        backoff_s=float(retries.get("backoff_seconds", 0.5)),
        concurrency=concurrency,
        max_response_bytes=int(cfg.get("max_response_bytes", 8 * 1024 * 1024)),
        checks=checks,
        required=required,
        warnings_block=bool(cfg.get("warnings_block", False)),
        approved_models=tuple(approved),
        approved_models_file=str(registry_file) if registry_file else None,
        model_in_use=in_use,
        model_aliases=aliases,
        route=route,
        max_completion_tokens=cfg.get("max_completion_tokens"),
        expect=expect,
        approved_by=approver(pick("approved_by", "approved_by"), environ),
        config_path=str(config_path) if config_path else None,
        config_sha256=config_sha,
        include_model_output=bool(flags.get("include_model_output", False)),
        pass_policy=str(cfg.get("pass_policy", "all")),
        proxy=proxy,
        ca_bundle=ca_bundle,
        agent=_agent_settings(cfg.get("agent", {})),
        notices=notices,
    )


def _names(raw: Any) -> list[str]:
    """Check names from a comma-separated text or a list."""
    return [str(c).strip() for c in (raw.split(",") if isinstance(raw, str) else raw) if str(c).strip()]


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
    """`headers:` as (name, value) pairs; registers what in them is a secret (approval.redact.header_secrets): the value
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
        import os

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
