"""The README stays true and short: its input/output tables equal action.yml, its commands are the ones CI runs, its
check table names every check, and it stays a README (the reference lives in docs/, see test_docs.py)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAX_README_LINES = 350


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def action_tables() -> tuple[str, str]:
    """The input and output tables as the README must show them, generated from action.yml."""
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    inputs = ["| Input | Required | Default | Description |", "|---|---|---|---|"]
    for name, spec in action["inputs"].items():
        default = spec.get("default", "")
        shown = f"`{default}`" if default not in ("", None) else ""
        inputs.append(f"| `{name}` | {'yes' if spec.get('required') else 'no'} | {_cell(shown)} | {_cell(spec['description'])} |")
    outputs = ["| Output | Description |", "|---|---|"]
    for name, spec in action["outputs"].items():
        outputs.append(f"| `{name}` | {_cell(spec['description'])} |")
    return "\n".join(inputs), "\n".join(outputs)


def _between(start: str, end: str) -> str:
    match = re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), README, re.DOTALL)
    assert match, f"README lacks the {start} … {end} block"
    return match.group(1).strip()


def test_input_and_output_tables_equal_action_yml():
    inputs, outputs = action_tables()
    assert _between("<!-- inputs:start -->", "<!-- inputs:end -->") == inputs, "regenerate with tests/unit/test_readme.py::action_tables"
    assert _between("<!-- outputs:start -->", "<!-- outputs:end -->") == outputs


def test_readme_commands_are_the_ones_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test" in ci
    assert "```bash\nbash scripts/demo\n```" in README
    assert "```bash\nbash scripts/test\n```" in README


def test_every_check_is_in_the_readme_table():
    from approval.settings.build import ALL_CHECKS

    section = re.search(r"^## What it checks\n(.*?)^## ", README, re.DOTALL | re.MULTILINE)
    assert section, "README lacks its `## What it checks` section"
    rows = {match.group(1) for match in re.finditer(r"^\| `([a-z-]+)` \|", section.group(1), re.MULTILINE)}
    for check in ALL_CHECKS:
        assert check in rows, f"README's check table lacks a row for `{check}`"


def test_readme_stays_a_readme():
    lines = README.count("\n") + 1
    assert lines < MAX_README_LINES, f"README.md has {lines} lines: move reference text to a page of docs/ (limit {MAX_README_LINES})"
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in README, f"README does not link docs/{page.name}"
