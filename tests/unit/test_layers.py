"""The package's layers hold: no module imports from a layer above its own, and no modules import each other in a
circle. The folders are the layers, from the bottom up; a new folder must be placed here before it is used."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "approval"
# bottom first; a module may import from its own layer and the ones before it
LAYERS = ("common", "schemas", "profiles", "settings", "engine", "record", "report", "lifecycle", "github", "capture", "frontends", "")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    """The layer of approval.<folder>.…; `approval` itself (its version) is the bottom, `approval.__main__` the top."""
    if module == "approval":
        return 0
    parts = module.split(".")
    folder = parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else ""
    return LAYERS.index(folder)


def imports(path: Path) -> Iterator[tuple[str, int, bool]]:
    """(imported approval module, line, at module level) for every import of the package in one file."""
    tree = ast.parse(path.read_text("utf-8"))
    top_level = {id(node) for node in tree.body} | {id(n) for node in tree.body if isinstance(node, ast.If) for n in node.body}
    here = module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert not node.level, f"{here}: line {node.lineno}: use an absolute import (approval.…)"
            base = node.module
            if base == "approval" or base.startswith("approval."):
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    target = candidate if (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py").exists() else base
                    yield target, node.lineno, id(node) in top_level
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("approval."):
                    yield alias.name, node.lineno, id(node) in top_level


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_folder_of_the_package_is_a_known_layer() -> None:
    folders = {p.relative_to(PACKAGE).parts[0] for p in MODULES if len(p.relative_to(PACKAGE).parts) > 1}
    assert folders <= set(LAYERS), f"place the new folder in LAYERS: {sorted(folders - set(LAYERS))}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_module_imports_from_a_layer_above_its_own(path: Path) -> None:
    here = module_name(path)
    upward = [f"line {line}: {target}" for target, line, _ in imports(path) if layer(target) > layer(here)]
    assert not upward, f"{here} ({LAYERS[layer(here)] or 'top'}) imports from a layer above it: {upward}"


def test_no_import_cycle_among_the_modules() -> None:
    graph: dict[str, set[str]] = {module_name(p): set() for p in MODULES}
    for path in MODULES:
        here = module_name(path)
        for target, _, _ in imports(path):
            if target != here and target in graph:
                graph[here].add(target)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            pytest.fail("import cycle: " + " → ".join(cycle))


def test_the_layer_rule_itself_catches_an_upward_import(tmp_path: Path) -> None:
    assert layer("approval.settings.build") < layer("approval.engine.routing")
    assert layer("approval.common.redact") == 0
    assert layer("approval.__main__") == len(LAYERS) - 1


def loaded_at_import(module: str) -> set[str]:
    """Every module of the package that importing `module` loads (module-level imports, followed), and the third-party
    top-level names they import."""
    seen: set[str] = set()
    third_party: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = PACKAGE.parent / Path(*name.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        tree = ast.parse(path.read_text("utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith("approval"):
                third_party.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                third_party |= {a.name.split(".")[0] for a in node.names if not a.name.startswith("approval")}
        todo += [target for target, _, top in imports(path) if top]
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(2, len(parts))]  # the packages a module lives in run first
    return seen | {f"third-party:{name}" for name in third_party}


def test_the_summary_of_records_loads_no_runner_and_no_http_client() -> None:
    """`approval summarize` reads records: its module must not pull in the suite, the gateway client or requests."""
    loaded = loaded_at_import("approval.report.summary")
    assert not {m for m in loaded if m.startswith("approval.engine")}, sorted(loaded)
    assert "third-party:requests" not in loaded


LAZY_POLICY = "Lazy imports:"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_a_function_local_import_says_why(path: Path) -> None:
    """An import inside a function is there for start-up time: it carries its reason (a comment on its line or just
    above it, or above the first of the imports it is grouped with), or its module's docstring states the policy."""
    source = path.read_text("utf-8")
    tree = ast.parse(source)
    if LAZY_POLICY in (ast.get_docstring(tree) or ""):
        return
    lines = source.splitlines()
    unexplained = []
    for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
        for node in (n for n in ast.walk(func) if isinstance(n, ast.Import | ast.ImportFrom)):
            first = node.lineno
            while first > 1 and lines[first - 2].strip().startswith(("import ", "from ")):
                first -= 1
            if "#" not in lines[node.lineno - 1] and not lines[first - 2].strip().startswith("#"):
                unexplained.append(f"line {node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not unexplained, f"say why each import is inside a function, or move it to the top: {unexplained}"
