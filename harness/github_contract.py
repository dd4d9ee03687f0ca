"""GitHub's published contract, as the tests hold the local GitHub (and the action's requests to it) to it.

Two sources, pinned with their integrity in scripts/github-contract/package-lock.json and unpacked by
`scripts/bootstrap` into `.tools/github-contract` (never committed):

- the REST API: the OpenAPI 3.0 description of api.github.com that github/rest-api-description publishes, as npm
  `@octokit/openapi` ships it (`generated/api.github.com.json`, built by octokit/openapi's scripts/build.mjs from
  the upstream `descriptions/api.github.com/api.github.com.json`: it adds an `x-octokit` key per operation, replaces
  `info` and overrides ten operations, none of them used here; the package does not name the upstream commit). It
  is the description of API version 2022-11-28, the one GitHub serves a client that sends no
  `X-GitHub-Api-Version` (PyGithub sends none): it still has `rate` in `GET /rate_limit` and `has_downloads` in a
  repository, which version 2026-03-10 removes;
- the artifact service: the Twirp messages declared by the protobuf-ts code generated in actions/toolkit, as npm
  `@actions/artifact` ships it (`lib/generated/results/api/v1/artifact.js`), read by `artifact_messages.mjs`.

Checks (pure functions of one exchange; each finding is a `Violation` naming operation, field and schema path):

- `RestContract.check_request`: the method and path are a documented operation (matched against the description's
  path templates), every path and query parameter is documented and valid, the JSON body validates against the
  documented request schema, in which an undeclared property is a finding too (GitHub ignores unknown fields, so a
  misspelt or invented one would silently do nothing);
- `RestContract.check_response`: the status is documented for the operation (or is one GitHub gives for any
  operation: see `ANY_OPERATION_STATUSES`) and the body validates against the documented schema for that status;
- `TwirpContract.check_request` / `check_response`: the method exists; the body's fields are the message's, under
  their proto names (as the toolkit sends them: `toJson(..., {useProtoFieldName: true})`; the server answers with
  proto names too), with proto3 JSON types: int64 and the wrappers of 64-bit integers as decimal strings, int32 as
  numbers, Timestamp as an RFC 3339 string, StringValue as a plain string; an error body is Twirp's `{code, msg}`;
- `check_blob_upload`: the PUT to the signed URL carries what the toolkit's Azure client sends for the artifact.

Two readings of the description are deliberate and stated here: `oneOf` is checked as `anyOf` (several of GitHub's
`oneOf`s overlap, e.g. a private user is also a valid public user, so exclusive matching would reject GitHub's own
answers), and `nullable: true` adds `null` to the type, as OpenAPI 3.0.3 defines it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft4Validator, FormatChecker, ValidationError

__all__ = [
    "ANY_OPERATION_STATUSES",
    "ContractUnavailable",
    "Exchange",
    "Operation",
    "RestContract",
    "TwirpContract",
    "Violation",
    "check_blob_download",
    "check_blob_upload",
    "check_exchanges",
    "contract_dir",
    "provenance",
    "rest_contract",
    "twirp_contract",
]

ROOT = Path(__file__).resolve().parents[1]
OPENAPI_FILE = Path("openapi/generated/api.github.com.json")
OPENAPI_PACKAGE = Path("openapi/package.json")
ARTIFACT_MODULE = Path("node_modules/@actions/artifact/lib/generated/results/api/v1/artifact.js")
ARTIFACT_PACKAGE = Path("node_modules/@actions/artifact/package.json")
MESSAGES_SCRIPT = Path(__file__).with_name("artifact_messages.mjs")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Statuses GitHub can answer to any operation, whether or not the description lists them for it (docs.github.com,
# "Troubleshooting the REST API" and "Rate limits for the REST API"): bad credentials, a (secondary) rate limit,
# and server errors. Their bodies are checked against the description's `basic-error` schema.
ANY_OPERATION_STATUSES = frozenset({401, 403, 429, 500, 502, 503, 504})

# GitHub's pagination links name a repository by id (`/repositories/{id}/…`), an alias of `/repos/{owner}/{repo}/…`
# that the description does not list; a client following them sends it, so it is checked as the aliased operation.
_REPOSITORY_BY_ID = re.compile(r"^/repositories/(\d+)(/.*)?$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6}|\.\d{9})?Z$")  # protobuf's JSON form
_MAX_VALUE = 120


class ContractUnavailable(RuntimeError):
    """The pinned contract is not installed (run `bash scripts/bootstrap`, which needs npm)."""


@dataclass(frozen=True)
class Violation:
    operation: str  # e.g. `issues/create-comment (POST /repos/{owner}/{repo}/issues/{issue_number}/comments)`
    part: str  # `request`, `response 201`, ...
    field: str  # where in the exchange: `body/labels/0`, `query per_page`, `header x-ms-blob-type`
    schema_path: str  # where in the contract: `#/components/schemas/simple-user/required`
    message: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.part} {self.field}: {self.message} [{self.schema_path}]"


def contract_dir() -> Path:
    return Path(os.environ.get("APPROVAL_GITHUB_CONTRACT_DIR") or ROOT / ".tools" / "github-contract")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return False
    return True


def _uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme)


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date-time")(_date_time)
_FORMATS.checks("uri")(_uri)


# --- OpenAPI 3.0 schemas as JSON Schema ------------------------------------------------------------------------------


class _Converter:
    """OpenAPI 3.0 schema objects → JSON Schema (draft 4, which shares 3.0's `exclusiveMinimum` and friends), with
    `$ref`s inlined (shared, so recursive schemas stay finite) and each inlined component tagged `x-component` for
    the schema paths in messages. `strict` (request bodies) forbids properties an object schema does not declare."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self._memo: dict[tuple[str, bool], dict[str, Any]] = {}

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ValueError(f"external reference {ref!r}")
        node: Any = self.document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def schema(self, node: Any, strict: bool) -> Any:
        if isinstance(node, list):
            return [self.schema(item, strict) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node and isinstance(node["$ref"], str):
            key = (node["$ref"], strict)
            if key not in self._memo:
                out: dict[str, Any] = {}
                self._memo[key] = out  # before converting: a recursive reference finds this same object
                out.update(self.schema(self.resolve(node["$ref"]), strict))
                out["x-component"] = node["$ref"]
            return self._memo[key]
        out = {}
        for name, value in node.items():
            if name in ("properties", "patternProperties", "definitions"):
                out[name] = {k: self.schema(v, strict) for k, v in value.items()}
            elif name in ("items", "additionalProperties", "not", "allOf", "anyOf"):
                out[name] = self.schema(value, strict)
            elif name == "oneOf":
                out["anyOf"] = self.schema(value, strict)
            elif name in ("nullable", "discriminator", "example", "examples", "xml", "externalDocs", "deprecated"):
                continue
            else:
                out[name] = value
        if strict and out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        if node.get("nullable") is True:
            if "type" in out:
                out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
                if "enum" in out and None not in out["enum"]:
                    out["enum"] = [*out["enum"], None]
            else:
                out = {"anyOf": [out, {"type": "null"}]}
        return out


def _schema_path(root: Any, error: ValidationError, fallback: str) -> str:
    """The failing keyword's place in the contract, from the nearest named component (`#/components/schemas/x/...`)."""
    where, node = fallback, root
    for step in error.absolute_schema_path:
        if isinstance(node, dict) and isinstance(node.get("x-component"), str):
            where = node["x-component"]
        where += f"/{step}"
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            node = None
    return where


def _field(prefix: str, error: ValidationError) -> str:
    return "/".join([prefix, *(str(p) for p in error.absolute_path)])


def _schema_violations(operation: str, part: str, prefix: str, schema: Any, instance: Any, where: str) -> list[Violation]:
    validator = Draft4Validator(schema, format_checker=_FORMATS)
    found = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        detail = error
        if error.context:  # anyOf: report the alternative that came deepest, which is usually the intended one
            detail = max(error.context, key=lambda e: (len(e.absolute_path), -len(e.absolute_schema_path)))
            message = f"{detail.message[:300]} (no alternative of the anyOf/oneOf matched)"
        else:
            message = error.message[:300]
        found.append(Violation(operation, part, _field(prefix, detail), _schema_path(schema, detail, where), message))
    return found


# --- the REST API ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path, query, header
    required: bool
    schema: Any


@dataclass(frozen=True)
class Response:
    content_type: str | None
    schema: Any  # None: no body documented
    headers: tuple[str, ...]  # the headers the description lists for it
    others: Mapping[str, Any] = field(default_factory=dict)  # further documented media types and their schemas

    def for_type(self, content_type: str) -> tuple[str | None, Any]:
        """The documented media type (and its schema) an answer of `content_type` is checked against: that one when
        the description lists several (`GET …/contents/{path}` answers `application/json` to a plain request, and
        documents `application/vnd.github.object` first), else the first."""
        if content_type in self.others:
            return content_type, self.others[content_type]
        return self.content_type, self.schema


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    operation_id: str
    parameters: tuple[Parameter, ...]
    body_required: bool
    body_content_types: tuple[str, ...]
    body_schema: Any
    responses: Mapping[str, Response]

    @property
    def name(self) -> str:
        return f"{self.operation_id} ({self.method} {self.template})"


def _template_pattern(template: str, multi_segment: frozenset[str] = frozenset()) -> re.Pattern[str]:
    """A path template as a regex; a parameter the description marks `x-multi-segment` (a file path, a git ref such
    as `heads/main`, a branch) may span slashes."""
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join(("(.+)" if p[1:-1] in multi_segment else "([^/]+)") if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


def _template_names(template: str) -> list[str]:
    return re.findall(r"\{([^}]+)\}", template)


def _coerce(value: str, schema: Any) -> Any:
    """A path or query string as the JSON value its schema describes (a value that does not convert stays a string
    and fails the type check)."""
    kinds = schema.get("type") if isinstance(schema, dict) else None
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    if "integer" in kinds and re.fullmatch(r"-?\d+", value):
        return int(value)
    if "number" in kinds and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return float(value)
    if "boolean" in kinds and value in ("true", "false"):
        return value == "true"
    if "array" in kinds:
        return value.split(",")
    return value


class RestContract:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self._convert = _Converter(document)
        self._templates: list[tuple[str, re.Pattern[str]]] = sorted(
            ((t, _template_pattern(t, self._multi_segment(item))) for t, item in document["paths"].items()),
            key=lambda entry: (entry[0].count("{"), -len(entry[0])),  # literal segments win over parameters
        )
        self._operations: dict[tuple[str, str], Operation] = {}
        self._lock = threading.RLock()
        self.basic_error = self._convert.schema({"$ref": "#/components/schemas/basic-error"}, False)

    def _multi_segment(self, item: Mapping[str, Any]) -> frozenset[str]:
        names = set()
        for key, op in item.items():
            for raw in op if key == "parameters" else op.get("parameters", []) if isinstance(op, dict) else []:
                spec = self._convert.resolve(raw["$ref"]) if "$ref" in raw else raw
                if spec.get("in") == "path" and spec.get("x-multi-segment"):
                    names.add(spec["name"])
        return frozenset(names)

    @classmethod
    def load(cls, path: Path) -> RestContract:
        try:
            with path.open(encoding="utf-8") as handle:
                return cls(json.load(handle))
        except OSError as exc:
            raise ContractUnavailable(
                f"GitHub's REST API description is not installed ({path}: {exc.strerror}) — run `bash scripts/bootstrap` (it needs npm)") from exc

    def operation(self, method: str, template: str) -> Operation | None:
        key = (method.upper(), template)
        with self._lock:  # the fake serves from several threads; a schema is complete before anyone sees it
            if key not in self._operations:
                item = self.document["paths"].get(template, {})
                op = item.get(method.lower())
                if op is None:
                    return None
                self._operations[key] = self._build(method.upper(), template, item, op)
            return self._operations[key]

    def _build(self, method: str, template: str, item: Mapping[str, Any], op: Mapping[str, Any]) -> Operation:
        params: dict[tuple[str, str], Parameter] = {}
        for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
            spec = self._convert.resolve(raw["$ref"]) if "$ref" in raw else raw
            params[(spec["name"], spec["in"])] = Parameter(spec["name"], spec["in"], bool(spec.get("required")),
                                                           self._convert.schema(spec.get("schema", {}), False))
        body = op.get("requestBody")
        if body and "$ref" in body:
            body = self._convert.resolve(body["$ref"])
        content = (body or {}).get("content", {})
        json_body = content.get("application/json", {})
        responses: dict[str, Response] = {}
        for status, raw in op.get("responses", {}).items():
            spec = self._convert.resolve(raw["$ref"]) if "$ref" in raw else raw
            media = next(iter(spec.get("content", {}).items()), None)
            listed = tuple(spec.get("headers", {}))
            if media is None:
                responses[status] = Response(None, None, listed)
            else:
                others = {name: self._convert.schema(value.get("schema", {}), False) for name, value in list(spec["content"].items())[1:]}
                responses[status] = Response(media[0], self._convert.schema(media[1].get("schema", {}), False), listed, others)
        return Operation(
            method=method,
            template=template,
            operation_id=str(op.get("operationId", "")),
            parameters=tuple(params.values()),
            body_required=bool((body or {}).get("required")),
            body_content_types=tuple(content),
            body_schema=self._convert.schema(json_body["schema"], True) if "schema" in json_body else None,
            responses=responses,
        )

    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], list[str]]:
        """(operation, path parameters, templates the path matches under other methods). A path under
        `/repositories/{id}` is matched as the `/repos/{owner}/{repo}` path it aliases (owner and repo unchecked)."""
        aliased = _REPOSITORY_BY_ID.match(path)
        if aliased:
            path = f"/repos/{{owner}}/{{repo}}{aliased.group(2) or ''}"
        other: list[str] = []
        for template, pattern in self._templates:
            found = pattern.match(path)
            if not found:
                continue
            op = self.operation(method, template)
            if op is None:
                other.append(template)
                continue
            return op, dict(zip(_template_names(template), found.groups(), strict=True)), other
        return None, {}, other

    def check_request(self, method: str, path: str, query: Mapping[str, Sequence[str]], headers: Mapping[str, str],
                      body: bytes) -> list[Violation]:
        op, values, other = self.match(method, path)
        if op is None:
            methods = sorted({m.upper() for t in other for m in self.document["paths"][t] if m in METHODS})
            elsewhere = f"; the path is documented for {', '.join(methods)}" if methods else ""
            return [Violation(f"{method} {path}", "request", "method and path", "#/paths",
                              f"not an operation of GitHub's REST API description{elsewhere}")]
        found: list[Violation] = []
        documented = {(p.name, p.location): p for p in op.parameters}
        for name, value in values.items():
            param = documented.get((name, "path"))
            if param is not None and value != f"{{{name}}}":
                found += _schema_violations(op.name, "request", f"path {name}", param.schema, _coerce(value, param.schema),
                                            f"#/paths/{_pointer(op.template)}/{op.method.lower()}/parameters/{name}")
        for name, given in query.items():
            param = documented.get((name, "query"))
            if param is None:
                found.append(Violation(op.name, "request", f"query {name}", f"#/paths/{_pointer(op.template)}/{op.method.lower()}/parameters",
                                       "not a documented query parameter of the operation"))
                continue
            if len(given) > 1:
                found.append(Violation(op.name, "request", f"query {name}", f"parameters/{name}", f"given {len(given)} times"))
            found += _schema_violations(op.name, "request", f"query {name}", param.schema, _coerce(given[0], param.schema),
                                        f"#/paths/{_pointer(op.template)}/{op.method.lower()}/parameters/{name}")
        for param in op.parameters:
            if param.required and param.location == "query" and param.name not in query:
                found.append(Violation(op.name, "request", f"query {param.name}", f"parameters/{param.name}/required", "required, not sent"))
        found += self._check_body(op, headers, body)
        return found

    def _check_body(self, op: Operation, headers: Mapping[str, str], body: bytes) -> list[Violation]:
        where = f"#/paths/{_pointer(op.template)}/{op.method.lower()}/requestBody"
        if not body:
            return [Violation(op.name, "request", "body", f"{where}/required", "required, none sent")] if op.body_required else []
        if not op.body_content_types:
            return [Violation(op.name, "request", "body", where, f"the operation takes no body; {len(body)} bytes sent")]
        content_type = _header(headers, "content-type").split(";")[0].strip().lower()
        if content_type not in op.body_content_types:
            return [Violation(op.name, "request", "header content-type", f"{where}/content",
                              f"{content_type or 'none'} is not a documented content type ({', '.join(op.body_content_types)})")]
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return [Violation(op.name, "request", "body", where, "not JSON")]
        return _schema_violations(op.name, "request", "body", op.body_schema, data, f"{where}/content/application~1json/schema")

    def check_response(self, method: str, path: str, status: int, headers: Mapping[str, str], body: bytes,
                       accept: str = "") -> list[Violation]:
        """`accept`: the request's Accept header. GitHub's custom media types (`application/vnd.github.raw`, `.diff`,
        …) are documented in prose, not in the description: an answer in the one the request asked for is not JSON
        and is not checked against the JSON schema."""
        op, _, _ = self.match(method, path)
        if op is None:
            return []  # the request was reported already
        part = f"response {status}"
        spec = op.responses.get(str(status)) or op.responses.get(f"{str(status)[0]}XX") or op.responses.get("default")
        where = f"#/paths/{_pointer(op.template)}/{op.method.lower()}/responses/{status}"
        if spec is None:
            if status not in ANY_OPERATION_STATUSES:
                documented = ", ".join(sorted(op.responses))
                return [Violation(op.name, part, "status", f"#/paths/{_pointer(op.template)}/{op.method.lower()}/responses",
                                  f"{status} is not a documented status of the operation ({documented})")]
            spec, where = Response("application/json", self.basic_error, ()), "#/components/schemas/basic-error"
        if 300 <= status < 400 and "Location" in spec.headers and not _header(headers, "location"):  # a redirect to nowhere
            return [Violation(op.name, part, "header location", f"{where}/headers/Location", "documented, not sent")]
        if spec.schema is None:
            return [Violation(op.name, part, "body", where, f"documented without a body; {len(body)} bytes sent")] if body else []
        content_type = _header(headers, "content-type").split(";")[0].strip().lower()
        asked = {m.split(";")[0].strip().lower().removesuffix("+json") for m in accept.split(",")}
        media = content_type.removesuffix("+json")
        if media.startswith("application/vnd.github.") and media != "application/vnd.github.object" and media in asked:
            return []
        documented_type, schema = spec.for_type(content_type)
        if documented_type and content_type != documented_type:
            return [Violation(op.name, part, "header content-type", f"{where}/content", f"{content_type or 'none'}, documented {documented_type}")]
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return [Violation(op.name, part, "body", where, "not JSON")]
        return _schema_violations(op.name, part, "body", schema, data, f"{where}/content/{_pointer(documented_type or '')}/schema")


def _pointer(text: str) -> str:
    return text.replace("~", "~0").replace("/", "~1")


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


# --- the artifact service (Twirp) --------------------------------------------------------------------------------------

# protobuf's scalar type numbers (FieldDescriptorProto.Type, which protobuf-ts's ScalarType reuses)
_INT64_LIKE = {3: "int64", 4: "uint64", 6: "fixed64", 16: "sfixed64", 18: "sint64"}
_INT32_LIKE = {5: "int32", 13: "uint32", 7: "fixed32", 15: "sfixed32", 17: "sint32"}
_SCALARS = {1: "double", 2: "float", 8: "bool", 9: "string", 12: "bytes", **_INT64_LIKE, **_INT32_LIKE}
_WRAPPERS = {"google.protobuf.StringValue": 9, "google.protobuf.Int64Value": 3, "google.protobuf.UInt64Value": 4,
             "google.protobuf.Int32Value": 5, "google.protobuf.UInt32Value": 13, "google.protobuf.BoolValue": 8,
             "google.protobuf.DoubleValue": 1, "google.protobuf.FloatValue": 2, "google.protobuf.BytesValue": 12}
# Twirp's error codes and the HTTP status each is served with (twirp's protocol spec, "Error codes")
TWIRP_ERROR_STATUS = {
    "canceled": 408, "unknown": 500, "invalid_argument": 400, "malformed": 400, "deadline_exceeded": 408, "not_found": 404,
    "bad_route": 404, "already_exists": 409, "permission_denied": 403, "unauthenticated": 401, "resource_exhausted": 429,
    "failed_precondition": 412, "aborted": 409, "out_of_range": 400, "unimplemented": 501, "internal": 500,
    "unavailable": 503, "dataloss": 500,
}


def _scalar_problem(kind: int, value: Any) -> str | None:
    name = _SCALARS.get(kind, f"type {kind}")
    if kind in _INT64_LIKE:
        ok = isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None
        return None if ok else f"{_short(value)} is not a {name} in proto3 JSON (a decimal string, as the toolkit sends it)"
    if kind in _INT32_LIKE:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"{_short(value)} is not a {name} in proto3 JSON (a number)"
    if kind == 8:
        return None if isinstance(value, bool) else f"{_short(value)} is not a bool"
    if kind in (1, 2):
        return None if isinstance(value, int | float) and not isinstance(value, bool) else f"{_short(value)} is not a {name}"
    if kind in (9, 12):
        return None if isinstance(value, str) else f"{_short(value)} is not a {name} (a JSON string)"
    return f"unknown scalar type {kind}"


class TwirpContract:
    def __init__(self, table: Mapping[str, Any]) -> None:
        self.messages: Mapping[str, list[dict[str, Any]]] = table["messages"]
        self.services: Mapping[str, Mapping[str, Mapping[str, str]]] = table["services"]

    @classmethod
    def load(cls, module: Path) -> TwirpContract:
        node = shutil.which("node")
        if node is None or not module.is_file():
            why = "node is not on PATH" if node is None else f"{module} is missing"
            raise ContractUnavailable(f"the artifact service's messages cannot be read ({why}) — run `bash scripts/bootstrap` (it needs npm)")
        done = subprocess.run([node, str(MESSAGES_SCRIPT), str(module)], capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise ContractUnavailable(f"reading the artifact service's messages failed: {done.stderr.strip()[-500:]}")
        return cls(json.loads(done.stdout))

    def method(self, path: str) -> tuple[str, str, Mapping[str, str] | None]:
        """(service, method, {input, output}) of a `/twirp/<service>/<method>` path."""
        parts = path.strip("/").split("/")
        service, method = (parts[1], parts[2]) if len(parts) == 3 and parts[0] == "twirp" else ("", "")
        return service, method, self.services.get(service, {}).get(method)

    def check_request(self, path: str, headers: Mapping[str, str], body: bytes) -> list[Violation]:
        service, method, io = self.method(path)
        name = f"{service.rsplit('.', 1)[-1] or '?'}/{method or '?'}"
        if io is None:
            return [Violation(path, "request", "method", "services", "not a method of the artifact service the toolkit declares")]
        found = []
        content_type = _header(headers, "content-type").split(";")[0].strip().lower()
        if content_type != "application/json":
            found.append(Violation(name, "request", "header content-type", "twirp", f"{content_type or 'none'}, the toolkit sends application/json"))
        if not _header(headers, "authorization").startswith("Bearer "):
            found.append(Violation(name, "request", "header authorization", "twirp", "not a Bearer token (the toolkit sends the runtime token)"))
        return found + self._check_json(name, "request", io["input"], body, requests=True)

    def check_response(self, path: str, status: int, headers: Mapping[str, str], body: bytes) -> list[Violation]:
        service, method, io = self.method(path)
        name = f"{service.rsplit('.', 1)[-1] or '?'}/{method or '?'}"
        part = f"response {status}"
        if status != 200:
            return self._check_error(name, part, status, body)
        if io is None:
            return [Violation(name, part, "status", "twirp", "200 to a method the service does not declare")]
        return self._check_json(name, part, io["output"], body, requests=False)

    def _check_error(self, name: str, part: str, status: int, body: bytes) -> list[Violation]:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return [Violation(name, part, "body", "twirp/errors", "a Twirp error body is JSON")]
        if not isinstance(data, dict) or not isinstance(data.get("code"), str) or not isinstance(data.get("msg"), str):
            return [Violation(name, part, "body", "twirp/errors", 'a Twirp error is {"code": string, "msg": string}')]
        found = []
        expected = TWIRP_ERROR_STATUS.get(data["code"])
        if expected is None:
            found.append(Violation(name, part, "body/code", "twirp/errors", f"{_short(data['code'])} is not a Twirp error code"))
        elif expected != status:
            found.append(Violation(name, part, "status", "twirp/errors", f"Twirp serves code {data['code']} with HTTP {expected}, not {status}"))
        meta = data.get("meta")
        if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
            found.append(Violation(name, part, "body/meta", "twirp/errors", "meta is a map of strings"))
        return found

    def _check_json(self, name: str, part: str, message: str, body: bytes, requests: bool) -> list[Violation]:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return [Violation(name, part, "body", message, "not JSON")]
        return list(self._check_message(name, part, message, data, "body", requests))

    def _check_message(self, name: str, part: str, message: str, data: Any, where: str, requests: bool) -> Iterator[Violation]:
        if not isinstance(data, dict):
            yield Violation(name, part, where, message, f"{_short(data)} is not a JSON object")
            return
        fields = self.messages[message]
        by_proto = {f["name"]: f for f in fields}
        by_json = {f["json_name"]: f for f in fields}
        for key, value in data.items():
            spec = by_proto.get(key)
            if spec is None and key in by_json:
                spec = by_json[key]
                if requests:  # both parse, but the toolkit sends proto names: a request should too
                    yield Violation(name, part, f"{where}/{key}", f"{message}/{spec['name']}",
                                    f"the JSON name; the toolkit sends the proto name {spec['name']!r}")
            if spec is None:
                yield Violation(name, part, f"{where}/{key}", message,
                                f"not a field of {message} (fields: {', '.join(by_proto)}); the service drops unknown fields")
                continue
            if value is None:
                continue  # proto3 JSON: null is the field's default
            values = value if spec["repeat"] else [value]
            if spec["repeat"] and not isinstance(value, list):
                yield Violation(name, part, f"{where}/{key}", f"{message}/{spec['name']}", "a repeated field is a JSON array")
                continue
            for index, item in enumerate(values):
                at = f"{where}/{key}" + (f"/{index}" if spec["repeat"] else "")
                yield from self._check_value(name, part, message, spec, item, at, requests)

    def _check_value(self, name: str, part: str, message: str, spec: Mapping[str, Any], value: Any, at: str,
                     requests: bool) -> Iterator[Violation]:
        schema_path = f"{message}/{spec['name']}"
        if spec["kind"] == "scalar":
            problem = _scalar_problem(int(spec["type"]), value)
        elif spec["kind"] == "enum":
            problem = None if isinstance(value, str | int) and not isinstance(value, bool) else f"{_short(value)} is not an enum value"
        elif spec["type"] in _WRAPPERS:
            problem = _scalar_problem(_WRAPPERS[spec["type"]], value)
            if problem:
                problem += f" ({spec['type']} is its plain value in JSON)"
        elif spec["type"] == "google.protobuf.Timestamp":
            problem = None if isinstance(value, str) and _TIMESTAMP.match(value) and _date_time(value) else \
                f"{_short(value)} is not a Timestamp in proto3 JSON (RFC 3339 in UTC with Z, 0, 3, 6 or 9 fractional digits)"
        else:
            yield from self._check_message(name, part, spec["type"], value, at, requests)
            return
        if problem:
            yield Violation(name, part, at, schema_path, problem)


# --- the upload to the signed blob URL ------------------------------------------------------------------------------


def check_blob_upload(create_request: Mapping[str, Any], method: str, headers: Mapping[str, str]) -> list[Violation]:
    """The PUT of an artifact's bytes to its signed URL, against what the toolkit's Azure client sends (a block blob
    with its content type in `x-ms-blob-content-type`: @actions/artifact's `blobHTTPHeaders.blobContentType`), and
    with no Authorization header (the URL's SAS signature authorises it; Azure refuses both at once)."""
    name = "Azure Blob Storage/Put Blob"
    found = []
    if method != "PUT":
        found.append(Violation(name, "request", "method", "blob-upload", f"{method}, the signed URL takes a PUT"))
    if _header(headers, "x-ms-blob-type") != "BlockBlob":
        found.append(Violation(name, "request", "header x-ms-blob-type", "blob-upload", "must be BlockBlob"))
    if _header(headers, "authorization"):
        found.append(Violation(name, "request", "header authorization", "blob-upload", "sent with a SAS URL"))
    declared = create_request.get("mime_type")
    stored = _header(headers, "x-ms-blob-content-type")
    if declared is not None and stored != declared:
        found.append(Violation(name, "request", "header x-ms-blob-content-type", "blob-upload",
                               f"{stored or 'none'}, but CreateArtifact declared mime_type {declared!r} (the toolkit sends it as the blob's content type)"))
    if declared is None and not stored:
        found.append(Violation(name, "request", "header x-ms-blob-content-type", "blob-upload",
                               "none: the toolkit always sets the blob's content type"))
    return found


def check_blob_download(method: str, headers: Mapping[str, str]) -> list[Violation]:
    """The GET of an artifact's zip from the signed URL `GET …/actions/artifacts/{id}/zip` redirects to: no
    Authorization header (the URL's SAS signature authorises it; the token must not travel to the storage host)."""
    name = "Azure Blob Storage/Get Blob"
    found = []
    if method != "GET":
        found.append(Violation(name, "request", "method", "blob-download", f"{method}, a download is a GET"))
    if _header(headers, "authorization"):
        found.append(Violation(name, "request", "header authorization", "blob-download", "sent with a SAS URL"))
    return found


# --- loading, once per process --------------------------------------------------------------------------------------


@cache
def rest_contract() -> RestContract:
    return RestContract.load(contract_dir() / OPENAPI_FILE)


@cache
def twirp_contract() -> TwirpContract:
    return TwirpContract.load(contract_dir() / ARTIFACT_MODULE)


def provenance() -> dict[str, str]:
    """Which packages the contract came from (name@version), for messages and the README."""
    found = {}
    for path in (OPENAPI_PACKAGE, ARTIFACT_PACKAGE):
        try:
            data = json.loads((contract_dir() / path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found[str(data.get("name"))] = str(data.get("version"))
    return found



# --- one recorded exchange, whichever service it went to ------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One request and its answer as a test saw them; `path` is relative to the REST API's root (a GHES-style
    `/api/v3` prefix already taken off) or a `/twirp/…` or `/blob/…` path."""

    method: str
    path: str
    query: Mapping[str, Sequence[str]]
    headers: Mapping[str, str]
    body: bytes
    status: int | None  # None: no answer (a connection error)
    response_headers: Mapping[str, str]
    response_body: bytes


def check_exchanges(exchanges: Sequence[Exchange]) -> list[Violation]:
    """Every request and answer of a sequence (a blob upload is checked against the CreateArtifact before it)."""
    found: list[Violation] = []
    created: Mapping[str, Any] = {}
    for ex in exchanges:
        if ex.path.startswith("/blob/"):
            found += check_blob_download(ex.method, ex.headers) if ex.method == "GET" else check_blob_upload(created, ex.method, ex.headers)
            continue
        if ex.path.startswith("/twirp/"):
            twirp = twirp_contract()
            found += twirp.check_request(ex.path, ex.headers, ex.body)
            if ex.path.endswith("/CreateArtifact"):
                created = json.loads(ex.body or b"{}")
            if ex.status is not None:
                found += twirp.check_response(ex.path, ex.status, ex.response_headers, ex.response_body)
            continue
        rest = rest_contract()
        found += rest.check_request(ex.method, ex.path, ex.query, ex.headers, ex.body)
        if ex.status is not None:
            found += rest.check_response(ex.method, ex.path, ex.status, ex.response_headers, ex.response_body)
    return found
