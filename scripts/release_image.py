#!/usr/bin/env python3
"""The release steps that run off GitHub: build the image, push it, resolve its digest, write the action metadata.

The release workflow (.github/workflows/release.yml) calls this script; the tests run it against a registry on
127.0.0.1. Standard library only (a runner's python3 runs it), so it can run before anything is installed.

    scripts/release-image image --registry ghcr.io --name OWNER/REPO --tag v1.2.3 [--platforms linux/amd64,linux/arm64]
                                [--source URL] [--base PYTHON_IMAGE] [--network host] [--action-out FILE]
    scripts/release-image metadata --reference REGISTRY/NAME@sha256:… [--action-out FILE]
    scripts/release-image notes --tag v1.2.3          # the CHANGELOG section of that version (the release notes)
    scripts/release-image major --tag v1.2.3          # the major tag (v1) to move to this release, or nothing

`image` refuses a tag that is not `v` + approval.__version__ (the one place the version lives), labels the image
with the OCI keys (version, revision, source, created; with --platforms also as index and manifest annotations),
builds with BuildKit (scripts/docker-build) + `docker push` (one platform, the engine's), or with
`docker buildx build --push` for --platforms, then asks the registry itself for the digest the tag now names and checks it against what the push
reported. It prints `name=value` lines (also appended to $GITHUB_OUTPUT when set): version, image, digest,
reference, compressed-bytes. With --action-out it writes the action metadata too: action.yml with `runs.image`
set to `docker://REGISTRY/NAME@sha256:…`, everything else unchanged.

Registry credentials, when the registry asks for them, come from REGISTRY_USERNAME / REGISTRY_PASSWORD (the docker
client has its own login); a loopback registry is spoken to over plain HTTP, as docker does.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
REFERENCE = re.compile(r"(?P<registry>[a-z0-9.-]+(?::[0-9]+)?)/(?P<name>[a-z0-9]+(?:[._/-][a-z0-9]+)*)@(?P<digest>sha256:[0-9a-f]{64})")
TAG = re.compile(r"v(?P<version>(?P<major>0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)(?:-(?P<pre>[0-9A-Za-z.-]+))?)")
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
BUILD_TIMEOUT_S = 3600
HTTP_TIMEOUT_S = 60


class ReleaseError(Exception):
    """A release step failed (exit 1); the message names the step and why."""


class UsageError(ReleaseError):
    """The release was asked for wrongly (exit 2): a tag, a reference or a file that does not fit."""


# -- pure parts ------------------------------------------------------------------------------------------------------


def project_version(init_text: str) -> str:
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', init_text, re.MULTILINE)
    if not match:
        raise UsageError("approval/__init__.py has no __version__ = \"...\" line")
    return match.group(1)


def check_tag(tag: str, version: str) -> None:
    """The release tag must be `v` + the project's version, in SemVer."""
    if not TAG.fullmatch(tag):
        raise UsageError(f"release tag {tag!r} is not v<major>.<minor>.<patch>[-<pre-release>]")
    if tag != f"v{version}":
        raise UsageError(f"release tag {tag} does not match the version in approval/__init__.py ({version}): "
                           f"set __version__ = \"{tag[1:]}\" and add its CHANGELOG section, or tag v{version}")


def oci_labels(version: str, revision: str, source: str, created: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.title": "model-approval-gate",
        "org.opencontainers.image.description": "Approve a candidate model on an OpenAI-compatible gateway (GitHub Action)",
        "org.opencontainers.image.licenses": "MIT",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": source,
        "org.opencontainers.image.created": created,
    }


def pin_action_image(action_yml: str, reference: str) -> str:
    """action.yml with `runs.image` set to `docker://<reference>`; nothing else changes."""
    if not REFERENCE.fullmatch(reference):
        raise UsageError(f"{reference!r} is not REGISTRY/NAME@sha256:<64 hex digits>")
    lines = action_yml.split("\n")
    in_runs = False
    hits: list[int] = []
    for index, line in enumerate(lines):
        if re.match(r"^\S", line):
            in_runs = line.rstrip() == "runs:"
            continue
        if in_runs and re.match(r"^\s+image:\s*\S", line):
            hits.append(index)
    if len(hits) != 1:
        raise UsageError(f"action.yml must have exactly one runs.image line, found {len(hits)}")
    line = lines[hits[0]]
    prefix, _, old = line.partition("image:")
    old_value = old.split("#", 1)[0].strip().strip("'\"")
    if old_value != "Dockerfile" and not old_value.startswith("docker://"):
        raise UsageError(f"runs.image is {old_value!r}: expected Dockerfile (or an earlier docker:// pin)")
    lines[hits[0]] = f"{prefix}image: docker://{reference}"
    return "\n".join(lines)


def changelog_section(changelog: str, version: str) -> str:
    """The body of `## [<version>] - <date>` in a Keep a Changelog file."""
    heading = re.compile(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}\s*$", re.MULTILINE)
    match = heading.search(changelog)
    if not match:
        raise UsageError(f"CHANGELOG.md has no section \"## [{version}] - YYYY-MM-DD\": move the Unreleased entries there")
    rest = changelog[match.end():]
    end = re.search(r"^## \[|^\[[^\]]+\]:\s", rest, re.MULTILINE)
    body = (rest[: end.start()] if end else rest).strip()
    if not body:
        raise UsageError(f"CHANGELOG.md's section for {version} is empty")
    return body + "\n"


def major_to_move(tag: str, existing: Sequence[str]) -> str | None:
    """`v1` when `tag` is the newest release of its major (pre-releases never move it), else None."""
    parsed = TAG.fullmatch(tag)
    if parsed is None or parsed.group("pre"):
        return None

    def key(candidate: str) -> tuple[int, ...] | None:
        match = TAG.fullmatch(candidate)
        if match is None or match.group("pre") or match.group("major") != parsed.group("major"):
            return None
        return tuple(int(p) for p in match.group("version").split("."))

    mine = key(tag)
    newer = [k for k in (key(t) for t in existing) if k is not None and mine is not None and k > mine]
    return None if newer else f"v{parsed.group('major')}"


def compressed_bytes(manifest: Mapping[str, object]) -> int | None:
    """What a pull of one platform's image manifest downloads: its config and layers, compressed."""
    layers = manifest.get("layers")
    config = manifest.get("config")
    if not isinstance(layers, list) or not isinstance(config, dict):
        return None
    sizes = [config.get("size"), *(layer.get("size") for layer in layers if isinstance(layer, dict))]
    if len(sizes) != len(layers) + 1 or not all(isinstance(size, int) for size in sizes):
        return None
    return sum(size for size in sizes if isinstance(size, int))


# -- the registry ----------------------------------------------------------------------------------------------------


@dataclass
class Registry:
    """The registry's HTTP API v2: manifests by tag or digest, with a bearer token when the registry asks for one."""

    host: str
    username: str | None = None
    password: str | None = None
    token: str | None = None

    @property
    def loopback(self) -> bool:
        hostname = self.host.rsplit(":", 1)[0] if not self.host.startswith("[") else self.host.split("]")[0] + "]"
        return hostname in ("localhost", "[::1]") or hostname.startswith("127.")

    @property
    def base(self) -> str:
        return f"{'http' if self.loopback else 'https'}://{self.host}"

    def _open(self, request: urllib.request.Request) -> tuple[dict[str, str], bytes]:
        handlers = [urllib.request.ProxyHandler({})] if self.loopback else []  # a loopback registry is never proxied
        with urllib.request.build_opener(*handlers).open(request, timeout=HTTP_TIMEOUT_S) as response:
            return {k.lower(): v for k, v in response.headers.items()}, response.read()

    def _request(self, method: str, path: str, accept: Sequence[str]) -> tuple[dict[str, str], bytes]:
        for attempt in range(2):
            headers = {"Accept": ", ".join(accept)}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            request = urllib.request.Request(self.base + path, method=method, headers=headers)
            try:
                return self._open(request)
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and attempt == 0:
                    self.token = self._bearer_token(exc.headers.get("WWW-Authenticate", ""))
                    continue
                raise ReleaseError(f"registry {self.host}: {method} {path} answered {exc.code}") from None
            except (urllib.error.URLError, OSError) as exc:
                raise ReleaseError(f"registry {self.host} unreachable: {exc}") from None
        raise ReleaseError(f"registry {self.host}: {method} {path} refused the credentials")

    def _bearer_token(self, challenge: str) -> str:
        if not challenge.lower().startswith("bearer "):
            raise ReleaseError(f"registry {self.host} wants {challenge.split(' ', maxsplit=1)[0] or 'an unknown'} authentication")
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not realm.startswith("https://") and not realm.startswith(self.base):
            raise ReleaseError(f"registry {self.host}: refusing the token realm {realm!r}")
        request = urllib.request.Request(realm + "?" + urllib.parse.urlencode(params))
        if self.username and self.password:
            basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {basic}")
        try:
            data = json.loads(self._open(request)[1])
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ReleaseError(f"registry {self.host}: no token from {realm}: {exc}") from None
        token = data.get("token") or data.get("access_token")
        if not isinstance(token, str):
            raise ReleaseError(f"registry {self.host}: the token answer has no token")
        return token

    def digest(self, name: str, tag: str) -> str:
        """The digest the registry serves for name:tag (its Docker-Content-Digest header)."""
        headers, _ = self._request("HEAD", f"/v2/{name}/manifests/{tag}", MANIFEST_TYPES)
        digest = headers.get("docker-content-digest", "")
        if not DIGEST.fullmatch(digest):
            raise ReleaseError(f"registry {self.host}: no digest for {name}:{tag}")
        return digest

    def manifest(self, name: str, reference: str) -> dict[str, object]:
        headers, body = self._request("GET", f"/v2/{name}/manifests/{reference}", MANIFEST_TYPES)
        data: dict[str, object] = json.loads(body)
        data["_media_type"] = headers.get("content-type", "")
        return data

    def platform_manifest(self, name: str, digest: str, platform: str) -> dict[str, object]:
        """The image manifest for `platform` (os/arch), following an index when the digest names one."""
        manifest = self.manifest(name, digest)
        entries = manifest.get("manifests")
        if not isinstance(entries, list):
            return manifest
        os_name, _, arch = platform.partition("/")
        for entry in entries:
            if isinstance(entry, dict) and entry.get("platform", {}).get("os") == os_name and entry.get("platform", {}).get("architecture") == arch:
                return self.manifest(name, str(entry["digest"]))
        raise ReleaseError(f"{name}@{digest} has no {platform} image")


# -- steps -----------------------------------------------------------------------------------------------------------


def run(command: Sequence[str], *, timeout: float = BUILD_TIMEOUT_S, cwd: Path = ROOT) -> str:
    try:
        proc = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise ReleaseError(f"{command[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise ReleaseError(f"{' '.join(command[:3])} did not finish within {timeout:.0f}s") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise ReleaseError(f"{' '.join(command[:3])} failed with exit code {proc.returncode}:\n{tail}")
    return proc.stdout + proc.stderr


def git_facts() -> tuple[str, str]:
    """The commit being released and its commit time (RFC 3339, UTC): the image's revision and creation time, so that
    a rebuild of the same commit carries the same labels ($SOURCE_DATE_EPOCH, when set, gives the time instead)."""
    revision = os.environ.get("GITHUB_SHA") or run(["git", "rev-parse", "HEAD"], timeout=30).strip()
    epoch = os.environ.get("SOURCE_DATE_EPOCH") or run(["git", "log", "-1", "--format=%ct", revision], timeout=30).strip()
    if not epoch.isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH / the commit time {epoch!r} is not a Unix time")
    return revision, datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_source() -> str:
    if os.environ.get("GITHUB_REPOSITORY"):
        return f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{os.environ['GITHUB_REPOSITORY']}"
    raise UsageError("--source URL is needed (the repository's web address; GITHUB_REPOSITORY is not set)")


def build_and_push(args: argparse.Namespace, image: str, labels: Mapping[str, str]) -> str:
    """Build and push image:tag; the digest the push reported."""
    common: list[str] = []
    for key, value in labels.items():
        common += ["--label", f"{key}={value}"]
    if args.base:
        common += ["--build-arg", f"PYTHON_IMAGE={args.base}"]
    if args.network:
        common += ["--network", args.network]
    target = f"{image}:{args.tag}"
    if args.platforms:
        for key, value in labels.items():
            common += ["--annotation", f"index,manifest:{key}={value}"]
        with tempfile.TemporaryDirectory() as scratch:
            metadata = Path(scratch) / "metadata.json"
            run(["docker", "buildx", "build", "--platform", args.platforms, *common, "--provenance=false", "--sbom=false",
                 "--metadata-file", str(metadata), "--push", "-t", target, str(ROOT)])
            digest = str(json.loads(metadata.read_text(encoding="utf-8")).get("containerimage.digest", ""))
    else:  # BuildKit, which leaves out the pinned base stage when --base replaces it
        run(["bash", str(ROOT / "scripts" / "docker-build"), *common, "-t", target, str(ROOT)])
        pushed = run(["docker", "push", target])
        found = re.findall(rf"{re.escape(args.tag)}: digest: (sha256:[0-9a-f]{{64}})", pushed)
        digest = found[-1] if found else ""
    if not DIGEST.fullmatch(digest):
        raise ReleaseError(f"the push of {target} reported no digest")
    return digest


def emit(values: Mapping[str, str]) -> None:
    lines = [f"{key}={value}" for key, value in values.items()]
    print("\n".join(lines))
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


def write_metadata(reference: str, out: Path) -> None:
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(pin_action_image(text, reference), encoding="utf-8")


def cmd_image(args: argparse.Namespace) -> None:
    version = project_version((ROOT / "approval" / "__init__.py").read_text(encoding="utf-8"))
    check_tag(args.tag, version)
    name = args.name.lower()
    registry = Registry(args.registry, os.environ.get("REGISTRY_USERNAME"), os.environ.get("REGISTRY_PASSWORD"))
    revision, created = git_facts()
    labels = oci_labels(version, revision, args.source or default_source(), created)
    image = f"{args.registry}/{name}"
    pushed = build_and_push(args, image, labels)
    served = registry.digest(name, args.tag)
    if served != pushed:
        raise ReleaseError(f"{image}:{args.tag} is {served} in the registry, but the push reported {pushed}")
    platform = args.platforms.split(",")[0] if args.platforms else _engine_platform()
    size = compressed_bytes(registry.platform_manifest(name, served, platform))
    reference = f"{image}@{served}"
    if args.action_out:
        write_metadata(reference, Path(args.action_out))
    emit({"version": version, "image": image, "digest": served, "reference": reference,
          "compressed-bytes": "" if size is None else str(size)})


def _engine_platform() -> str:
    out = run(["docker", "version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"], timeout=60).strip()
    return out.splitlines()[-1] if out else "linux/amd64"


def cmd_metadata(args: argparse.Namespace) -> None:
    write_metadata(args.reference, Path(args.action_out))
    emit({"reference": args.reference, "action": args.action_out})


def cmd_notes(args: argparse.Namespace) -> None:
    version = project_version((ROOT / "approval" / "__init__.py").read_text(encoding="utf-8"))
    check_tag(args.tag, version)
    sys.stdout.write(changelog_section((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), version))


def cmd_major(args: argparse.Namespace) -> None:
    existing = run(["git", "tag", "--list", "v*"], timeout=60).split()
    print(major_to_move(args.tag, existing) or "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/release-image", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    image = commands.add_parser("image", help="build, push, resolve the digest, optionally write the action metadata")
    image.add_argument("--registry", required=True, help="e.g. ghcr.io, or 127.0.0.1:5000")
    image.add_argument("--name", required=True, help="the repository in the registry, e.g. OWNER/model-approval-gate")
    image.add_argument("--tag", required=True, help="the release tag, v<version>")
    image.add_argument("--platforms", help="build these with docker buildx (e.g. linux/amd64,linux/arm64); default: docker build")
    image.add_argument("--source", help="the repository's web address (default: from GITHUB_SERVER_URL and GITHUB_REPOSITORY)")
    image.add_argument("--base", help="PYTHON_IMAGE build argument (default: the Dockerfile's pinned base)")
    image.add_argument("--network", help="network for RUN during the build (e.g. host)")
    image.add_argument("--action-out", help="write action.yml pinned to the pushed digest here")
    image.set_defaults(func=cmd_image)
    metadata = commands.add_parser("metadata", help="write action.yml pinned to REGISTRY/NAME@sha256:…")
    metadata.add_argument("--reference", required=True)
    metadata.add_argument("--action-out", default=str(ROOT / "action.yml"))
    metadata.set_defaults(func=cmd_metadata)
    notes = commands.add_parser("notes", help="print the CHANGELOG section of the release")
    notes.add_argument("--tag", required=True)
    notes.set_defaults(func=cmd_notes)
    major = commands.add_parser("major", help="print the major tag to move to this release, if any")
    major.add_argument("--tag", required=True)
    major.set_defaults(func=cmd_major)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
