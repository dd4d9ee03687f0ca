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


DEFAULT_WORDS = {"always": "yes", "with-expect": "when `expect` is given", "with-registry": "when `approved_models` is given",
                 "with-tools": "when the agent profile sends tools (the default one does)",
                 "with-streamed-tools": "when the agent profile streams tools (the default one does)",
                 "with-streamed-text": "when the agent profile streams and sends no tools", "opt-in": "opt-in"}


def checks_table() -> str:
    """The README's check table as the checks declare themselves (their SPEC: name, default, summary)."""
    from approval.engine.checks import CATALOGUE, CHECKS

    rows = ["| check | default | passes when |", "|---|---|---|"]
    rows += [f"| `{c.spec.name}` | {DEFAULT_WORDS[c.spec.default]} | {_cell(c.spec.summary)} |" for c in CHECKS]
    deprecated = [f"`{d.name}` is deprecated: still accepted in `checks:` and `required:`, it runs as `{d.runs_as}`."
                  for d in CATALOGUE.deprecated]
    return "\n".join([*rows, "", *deprecated])


def test_the_check_table_is_the_checks_own_declaration():
    assert _between("<!-- checks:start -->", "<!-- checks:end -->") == checks_table(), \
        "regenerate the table with tests/unit/test_readme.py::checks_table (a check's SPEC is its one declaration)"


def test_readme_stays_a_readme():
    lines = README.count("\n") + 1
    assert lines < MAX_README_LINES, f"README.md has {lines} lines: move reference text to a page of docs/ (limit {MAX_README_LINES})"
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in README, f"README does not link docs/{page.name}"


def test_the_schema_and_the_action_name_the_checks_as_they_declare_themselves():
    import json

    from approval.engine.checks import CATALOGUE

    schema = json.loads((ROOT / "approval" / "schemas" / "config.schema.json").read_text(encoding="utf-8"))
    assert schema["$defs"]["check_name"]["enum"] == [*CATALOGUE.names, *(d.name for d in CATALOGUE.deprecated)]
    described = " ".join(yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["inputs"]["checks"]["description"].split())
    from approval.settings.profile import GENERIC_TOOLS
    from approval.settings.selection import Given

    standard = ", ".join(CATALOGUE.standard(Given(tools=GENERIC_TOOLS.uses_tools, streams=GENERIC_TOOLS.streams)))
    assert f"Empty: {standard}" in described, "action.yml's `checks` input must name the standard set (of the default profile)"


def test_the_agent_compatibility_table_is_the_committed_matrix() -> None:
    """The table of real agents x defects (agent outcome / gate verdict) is generated from bench/agents-matrix.json."""
    import json

    from harness.agreement import RESULTS, TABLE_END, TABLE_START, readme_table

    data = json.loads(RESULTS.read_text(encoding="utf-8"))
    assert _between(TABLE_START, TABLE_END) == readme_table(data), "regenerate with bash bench/agents (or harness.agreement.write_readme)"
    assert data["summary"]["false_approvals"] == [], "the committed matrix shows a false approval"
