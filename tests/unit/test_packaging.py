"""The Python package's metadata: one version, the runtime dependencies the container has, the `approval` command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from approval import __version__

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PEP440 = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text and not text.startswith("-"):
            match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", text)
            assert match, f"unreadable requirement {line!r}"
            names.add(canonical(match.group(0)))
    return names


def test_the_version_is_written_in_one_place():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"], "pyproject.toml must read the version, not repeat it"
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "approval.__version__"}
    assert PEP440.match(__version__), f"{__version__!r} is not a release version PyPI accepts"


def test_the_package_depends_on_what_the_container_installs():
    """What requirements/runtime.in asks for, `pipx install` must get too; and the container has all the package needs."""
    declared = requirement_names(PYPROJECT["project"]["dependencies"])
    asked = requirement_names((ROOT / "requirements" / "runtime.in").read_text(encoding="utf-8").splitlines())
    pinned = requirement_names((ROOT / "requirements" / "runtime.txt").read_text(encoding="utf-8").splitlines())
    assert asked <= declared, f"add to pyproject.toml's dependencies: {sorted(asked - declared)}"
    assert declared <= pinned, f"add to requirements/runtime.in and recompile runtime.txt: {sorted(declared - pinned)}"


def test_the_console_script_is_approval():
    assert PYPROJECT["project"]["scripts"] == {"approval": "approval.frontends.cli:console"}
    assert PYPROJECT["project"]["name"] == "model-approval-gate"
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


def test_the_release_tools_are_pinned_and_in_the_dev_requirements():
    package = (ROOT / "requirements" / "package.txt").read_text(encoding="utf-8").splitlines()
    pins = [line for line in package if line and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[a-z0-9-]+==[0-9][0-9A-Za-z.]*", pin) for pin in pins), pins
    assert {"build", "twine", "setuptools"} == requirement_names(pins)
    assert "-r package.txt" in (ROOT / "requirements" / "dev.txt").read_text(encoding="utf-8").splitlines()


def test_no_requirements_file_names_a_machines_own_index_or_folder():
    """pip-compile writes the compiling machine's --index-url, --extra-index-url and --find-links into its output unless
    told not to (--no-emit-index-url --no-emit-find-links): they would point every install, the image's included, at a
    folder or index of that machine."""
    for path in sorted((ROOT / "requirements").glob("*.txt")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            text = line.split("#", 1)[0].strip()
            assert not text.startswith(("--index-url", "--extra-index-url", "--find-links", "-i ", "-f ")), f"{path.name}:{number}: {line}"
            assert "file://" not in text, f"{path.name}:{number}: {line}"


def test_the_harness_and_the_tests_are_neither_in_the_wheel_nor_in_the_image():
    """harness/ (the loopback peers and fakes the tests, the demo and the bench run) and tests/ stay in the repository:
    the package discovery finds approval's packages alone, and the image's context lets in approval/ alone."""
    from setuptools import find_namespace_packages, find_packages

    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    found = set(find_packages(where=str(ROOT), include=include)) | set(find_namespace_packages(where=str(ROOT), include=include))
    assert "approval" in found and "approval.engine" in found
    assert {name.split(".")[0] for name in found} == {"approval"}, sorted(found)
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines() if line.startswith("!")]
    assert "approval" in allowed and not {"harness", "tests", "bench"} & {path.split("/")[0] for path in allowed}, allowed
    copied = re.findall(r"^COPY\s+(.+)$", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE)
    assert copied and not any(word.startswith(("harness", "tests")) for line in copied for word in line.split()), copied


def _imported_top_level_modules() -> dict[str, str]:
    """Every top-level module the package imports (any depth of the code, function bodies included): name → a file."""
    import ast
    import sys

    found: dict[str, str] = {}
    for path in sorted((ROOT / "approval").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module" \
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
            for name in names:
                top = name.split(".", 1)[0]
                if top != "approval" and top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_module_the_package_imports_is_a_declared_dependency():
    """`pipx install` gets only the declared dependencies: a module that arrives only through another's requirements
    may vanish with that package's next release."""
    from importlib.metadata import packages_distributions

    declared = requirement_names(PYPROJECT["project"]["dependencies"])
    providers = packages_distributions()
    imported = _imported_top_level_modules()
    assert {"yaml", "jsonschema", "openai", "requests"} <= set(imported)  # the walk sees the package's imports at all
    missing = {}
    for module, where in imported.items():
        distributions = {canonical(d) for d in providers.get(module, [])}
        assert distributions, f"{where} imports {module!r}, which no installed distribution provides"
        if not distributions & declared:
            missing[module] = (sorted(distributions), where)
    assert not missing, f"imported but not in pyproject.toml's dependencies (module: distributions, where): {missing}"


def test_the_package_allows_the_sdk_release_the_image_pins():
    """agent-client's findings are about one release of the openai SDK: `pipx install` gets the release the image has."""
    pinned = re.search(r"^openai==(\S+)", (ROOT / "requirements" / "runtime.txt").read_text(encoding="utf-8"), re.MULTILINE)
    asked = re.search(r"^openai==(\S+)", (ROOT / "requirements" / "runtime.in").read_text(encoding="utf-8"), re.MULTILINE)
    declared = [d for d in PYPROJECT["project"]["dependencies"] if canonical(re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0]) == "openai"]
    assert pinned and asked and pinned.group(1) == asked.group(1)
    assert declared == [f"openai=={pinned.group(1)}"], f"pyproject.toml must pin openai=={pinned.group(1)} as the image does, not {declared}"


def test_the_built_in_profiles_and_their_schema_ship_in_the_wheel_and_the_image():
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    assert data["approval.profiles"] == ["*.yaml"] and data["approval.schemas"] == ["*.json"]
    shipped = sorted(p.name for p in (ROOT / "approval" / "profiles").iterdir() if p.suffix in (".yaml", ".yml"))
    assert shipped and all(name.endswith(".yaml") for name in shipped), "a built-in profile is NAME.yaml"
    assert (ROOT / "approval" / "schemas" / "profile.schema.json").is_file()
    assert "COPY approval/ approval/" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "!approval/" in (ROOT / ".dockerignore").read_text(encoding="utf-8")
