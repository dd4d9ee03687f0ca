"""The README stays true: its input/output tables equal action.yml, its workflow examples are the repository's own."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


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


def test_usage_examples_are_the_repository_workflows():
    for workflow in ("model-approval.yml", "model-reapproval.yml", "model-approval-matrix.yml"):
        text = (ROOT / ".github" / "workflows" / workflow).read_text(encoding="utf-8").strip()
        assert f"```yaml\n{text}\n```" in README, f"README must show .github/workflows/{workflow} verbatim"


def test_readme_commands_are_the_ones_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test" in ci
    assert "```bash\nbash scripts/demo\n```" in README
    assert "```bash\nbash scripts/test\n```" in README


def test_every_check_and_config_key_is_documented():
    from approval.engine.checks import CATALOGUE

    for check in CATALOGUE.names:
        assert f"`{check}`" in README, check
    schema = yaml.safe_load((ROOT / "approval" / "schemas" / "config.schema.json").read_text(encoding="utf-8"))
    for key in schema["properties"]:
        assert f"`{key}`" in README, key


def test_the_example_record_is_a_valid_record_true_to_itself():
    from approval.record.consistency import record_problems

    match = re.search(r"```json\n(\{\n  \"record_type\": \"model_candidate_approval\".*?)\n```", README, re.DOTALL)
    assert match, "README lacks the example approval record"
    import json

    assert record_problems(json.loads(match.group(1))) == []
