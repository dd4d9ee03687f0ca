"""Dependabot keeps every pin current: each pinned file in the repository is in a directory .github/dependabot.yml covers.

The inventory is every file git would ship (tracked, or new and not ignored), so adding a Dockerfile, a requirements
file, a workflow or a package.json without coverage fails here. Coverage follows Dependabot's own rules:
- docker reads the Dockerfiles in the entry's directory, and updates only the first FROM, never an ARG default
  (dependabot-core#2057): the one external base must be that literal FROM, pinned by tag and digest; a build
  argument may swap it only by naming the stage (`ARG BASE=pinned-base` / `FROM python:…@sha256:… AS pinned-base` /
  `FROM ${BASE}`).
- pip reads *.txt and *.in requirement files in the entry's directory and one level below;
- github-actions with directory `/` reads .github/workflows, and `uses:` must be a commit SHA with its tag in a comment;
- npm reads the package.json in the entry's directory.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import PurePosixPath

import yaml

from tests.unit.test_dependabot import CONFIG, ROOT, dockerfile_problems

DOCKERFILE_NAME = re.compile(r"(docker|container)file", re.IGNORECASE)
REQUIREMENT_LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*(==|>=|<=|~=|!=|<|>)")
USES = re.compile(r"^\s*-?\s*uses:\s*(?P<ref>\S+)(?P<comment>\s+#.*)?$", re.MULTILINE)


def shipped_files() -> list[PurePosixPath]:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            timeout=60, check=True).stdout.decode("utf-8")
    return [PurePosixPath(name) for name in listed.split("\0") if name and (ROOT / name).is_file()]


def covered_directories(ecosystem: str) -> set[PurePosixPath]:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    found: set[PurePosixPath] = set()
    for entry in config["updates"]:
        if entry["package-ecosystem"] == ecosystem:
            for directory in entry.get("directories") or [entry["directory"]]:
                found.add(PurePosixPath(directory.strip("/") or "."))
    return found


def is_requirements_file(path: PurePosixPath, text: str) -> bool:
    """Dependabot's test: the name says requirements, or every line is a requirement or an option; we also want a pin."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    looks = "requirements" in str(path) or all(REQUIREMENT_LINE.match(line) or line.startswith("-") for line in lines)
    return looks and any(REQUIREMENT_LINE.match(line) for line in lines)


def test_every_dockerfile_is_covered_and_updatable():
    covered = covered_directories("docker")
    dockerfiles = [p for p in shipped_files() if DOCKERFILE_NAME.search(p.name)]
    assert dockerfiles, "the action's Dockerfile is missing from the inventory"
    for path in dockerfiles:
        pins, problems = dockerfile_problems((ROOT / path).read_text(encoding="utf-8"))
        assert not problems, f"{path}: {problems}"
        if pins:
            assert path.parent in covered, f"{path}: add a docker entry for directory /{path.parent} to .github/dependabot.yml"


def test_every_requirements_file_is_covered():
    covered = covered_directories("pip")
    found = []
    for path in shipped_files():
        if path.suffix in (".txt", ".in") and is_requirements_file(path, (ROOT / path).read_text(encoding="utf-8", errors="replace")):
            found.append(path)
            assert path.parent in covered or path.parent.parent in covered, (
                f"{path}: add a pip entry for directory /{path.parent} to .github/dependabot.yml")
    assert {"requirements/runtime.txt", "requirements/runtime.in", "requirements/dev.txt"} <= {str(p) for p in found}


def test_every_workflow_directory_and_action_is_covered_and_pinned_by_sha():
    covered = covered_directories("github-actions")
    files = shipped_files()
    workflows = [p for p in files if p.parent == PurePosixPath(".github/workflows") and p.suffix in (".yml", ".yaml")]
    assert workflows and PurePosixPath(".") in covered, "add a github-actions entry for directory / to .github/dependabot.yml"
    actions = [p for p in files if p.name in ("action.yml", "action.yaml")]
    for path in [*workflows, *actions]:
        text = (ROOT / path).read_text(encoding="utf-8")
        remote = [m for m in USES.finditer(text) if not m.group("ref").startswith(("./", "docker://"))]
        if path in actions and remote:
            assert path.parent in covered, f"{path}: add a github-actions entry for directory /{path.parent}"
        for match in remote:
            ref, comment = match.group("ref"), match.group("comment") or ""
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path}: pin {ref} by its full commit SHA"
            assert re.search(r"#\s*v\d", comment), f"{path}: say which tag {ref} is (`# v1.2.3`), so Dependabot updates the comment too"


def test_every_package_json_is_covered():
    covered = covered_directories("npm")
    for path in shipped_files():
        if path.name == "package.json" and "node_modules" not in path.parts:
            assert path.parent in covered, f"{path}: add an npm entry for directory /{path.parent} to .github/dependabot.yml"


def test_the_setup_scripts_install_only_from_files_dependabot_updates():
    """A version written into a script (`pip install x==1.2`, `npm install y@3.4.5`) is a pin no update would ever move."""
    scripts = [p for p in shipped_files() if p.parts[0] in ("scripts", ".ci") and p.suffix in ("", ".sh")]
    assert PurePosixPath("scripts/bootstrap") in scripts
    for path in scripts:
        code = "\n".join(line.split(" #")[0] for line in (ROOT / path).read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#"))
        inline = re.findall(r"[\w.\[\]-]+(?:==\d[\w.]*|@\d+\.\d+\.\d+)", code)
        assert not inline, f"{path} pins {inline}: move the pin into a requirements file or package.json that Dependabot covers"


