"""The pages of docs/ stay true: every config key and check is documented, the example record is a valid record,
the workflow examples are the repository's own, and no link of the README or a page is dead."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted(DOCS.glob("*.md"))]


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _outside_fences(text: str) -> list[str]:
    """The lines that are not inside a fenced code block (``` or ````, closed by a fence at least as long)."""
    kept, fence = [], ""
    for line in text.split("\n"):
        match = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
        if fence:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) and not line.strip()[len(match.group(1)):]:
                fence = ""
            continue
        if match:
            fence = match.group(1)
            continue
        kept.append(line)
    return kept


def headings(text: str) -> list[str]:
    return [line.lstrip("#").strip() for line in _outside_fences(text) if re.match(r"^#{1,6} ", line)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` removed, spaces to `-`."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in headings(text):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def links(text: str) -> list[str]:
    prose = "\n".join(_outside_fences(text))
    prose = re.sub(r"`[^`\n]*`", "", prose)  # inline code is not a link
    return re.findall(r"\]\(([^)\s]+)\)", prose)


@pytest.mark.parametrize(("heading", "expected"), [
    ("The approval lifecycle", "the-approval-lifecycle"),
    ("Routing evidence: which model and route served each call", "routing-evidence-which-model-and-route-served-each-call"),
    ("Installing the command: `pipx`", "installing-the-command-pipx"),
    ("The agent's own client: `agent-client`", "the-agents-own-client-agent-client"),
    ("registry-guard on pull requests", "registry-guard-on-pull-requests"),
    ("Configuration reference: `gateway.yaml`", "configuration-reference-gatewayyaml"),
    ("snake_case stays", "snake_case-stays"),
])
def test_anchor_slugs_follow_github(heading, expected):
    assert slug(heading) == expected


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_a_file_and_anchor_that_exist(path):
    text = path.read_text(encoding="utf-8")
    dead = []
    for target in links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            dead.append(f"{target}: no file {file_part}")
            continue
        if anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
            dead.append(f"{target}: no heading with the anchor #{anchor} in {linked.relative_to(ROOT)}")
    assert not dead, f"{path.relative_to(ROOT)} has dead links:\n" + "\n".join(dead)


def test_the_link_check_catches_dead_links():
    text = "# Title\n\n## A section\n\n[ok](#a-section) [bad](#nowhere) [file](missing.md)\n```\n# not a heading\n```\n"
    assert links(text) == ["#a-section", "#nowhere", "missing.md"]
    assert anchors(text) == {"title", "a-section"}


def test_every_page_has_a_title_and_an_intro():
    for path in sorted(DOCS.glob("*.md")):
        lines = path.read_text(encoding="utf-8").split("\n")
        assert lines[0].startswith("# "), f"{path.name} must open with its title"
        assert lines[1] == "" and lines[2] and not lines[2].startswith("#"), f"{path.name} needs an intro under its title"


def test_every_check_and_config_key_is_documented():
    from approval.engine.checks import CATALOGUE

    checks = page("checks.md")
    for check in CATALOGUE.names:
        assert f"`{check}`" in checks, check
    configuration = page("configuration.md")
    schema = yaml.safe_load((ROOT / "approval" / "schemas" / "config.schema.json").read_text(encoding="utf-8"))
    for key in schema["properties"]:
        assert f"`{key}`" in configuration, key


def test_usage_examples_are_the_repository_workflows():
    action = page("action.md")
    for workflow in ("model-approval.yml", "model-reapproval.yml", "model-approval-matrix.yml"):
        text = (ROOT / ".github" / "workflows" / workflow).read_text(encoding="utf-8").strip()
        assert f"```yaml\n{text}\n```" in action, f"docs/action.md must show .github/workflows/{workflow} verbatim"


def test_the_example_comment_keeps_its_headings_out_of_the_outline():
    action = page("action.md")
    assert "````markdown\n## ❌ Model approval:" in action, "docs/action.md shows the comment as a ````markdown block"
    outline = headings(action)
    assert not [h for h in outline if "Model approval" in h or h.startswith("Compared with the baseline")], outline


def test_the_example_record_is_a_valid_record_true_to_itself():
    from approval.record.consistency import record_problems

    match = re.search(r"```json\n(\{\n  \"record_type\": \"model_candidate_approval\".*?)\n```", page("record.md"), re.DOTALL)
    assert match, "docs/record.md lacks the example approval record"
    assert record_problems(json.loads(match.group(1))) == []
