"""ONE table of registry variants — markdown blocks and gateway.yaml lists — with what each must read as: the models it
lists, or the config error (its words, with the line) it must be refused with. The reader, `approval promote` and
registry-guard are all tested against this table (tests/unit/test_registry_grammar.py), so they can never disagree.

The rule the table encodes: what the grammar accepts is exactly what a person reading the rendered file sees as
listed; everything else is refused with its line number, never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

START = "<!-- approved-models:start -->"
END = "<!-- approved-models:end -->"
EVIDENCE = ("approved_at=2025-03-01T08:00:01Z approved_by=octocat run_url=https://github.com/o/r/actions/runs/1 "
            "record_sha256=3f5c0a1e9d2b4c6f8a0e1d3c5b7a9f2e4d6c8b0a1f3e5d7c9b2a4f6e8d0c1b3a")
PROFILE = "profile=codex-cli profile_sha256=10f2c021f82f0a1e9d2b4c6f8a0e1d3c5b7a9f2e4d6c8b0a1f3e5d7c9b2a4f6e"


NO_MODEL = "a mapping without a string `model`"


def agents(body: str) -> str:
    """An AGENTS.md whose block holds `body`: the start marker is line 3, the body's first line is line 4."""
    return f"# Agents\n\n{START}\n{body}{END}\n\nMore text.\n"


@dataclass(frozen=True)
class Variant:
    id: str
    kind: Literal["markdown", "yaml"]
    text: str
    models: tuple[str, ...] | None = None  # what it lists, when accepted
    error: str = ""  # the words of the config error, when refused

    @property
    def accepted(self) -> bool:
        return self.models is not None


def ok(id: str, kind: Literal["markdown", "yaml"], text: str, *models: str) -> Variant:
    return Variant(id, kind, text, models)


def refused(id: str, kind: Literal["markdown", "yaml"], text: str, error: str) -> Variant:
    return Variant(id, kind, text, None, error)


MARKDOWN = [
    # accepted: each line is exactly one entry a reader sees listed
    ok("dash-items", "markdown", agents("- a\n- b\n"), "a", "b"),
    ok("star-item", "markdown", agents("* a\n"), "a"),
    ok("empty-block", "markdown", agents("")),
    ok("blank-lines-and-comment-lines", "markdown", agents("\n- a\n\n<!-- kept for the batch jobs -->\n- b\n\n"), "a", "b"),
    ok("evidence-comment", "markdown", agents(f"- a  # {EVIDENCE}\n"), "a"),
    ok("evidence-with-profile", "markdown", agents(f"- a  # {EVIDENCE} {PROFILE}\n- b  # {PROFILE} {EVIDENCE}\n"), "a", "b"),
    ok("profile-without-the-rest", "markdown", agents(f"- a  # {PROFILE}\n"), "a"),
    refused("profile-in-ticks", "markdown", agents(f"- a  # {EVIDENCE} profile=`codex-cli`\n"), "line 4: an item that is not exactly one model ID"),
    ok("free-comment", "markdown", agents("- a  # the fallback, owner: platform\n"), "a"),
    ok("inline-html-comment-then-comment", "markdown", agents("- a <!-- why --> # owner\n"), "a"),
    ok("ticked-id", "markdown", agents("- `a#b`\n- `x*y`\n"), "a#b", "x*y"),
    ok("plain-id-characters", "markdown", agents("- meta-llama/Llama-3.1-8B\n- qwen2.5:7b\n- gpt_4o\n- a+b@c\n"),
       "meta-llama/Llama-3.1-8B", "qwen2.5:7b", "gpt_4o", "a+b@c"),
    # refused: other markdown a reader sees as a listed model (or as part of one)
    refused("plus-item", "markdown", agents("- a\n+ x\n"), "line 5: a `+` item is not an entry"),
    refused("numbered-item", "markdown", agents("1. x\n"), "line 4: a numbered item is not an entry"),
    refused("numbered-paren-item", "markdown", agents("1) x\n"), "line 4: a numbered item is not an entry"),
    refused("task-item-checked", "markdown", agents("- [x] x\n"), "line 4: a task-list item is not an entry"),
    refused("task-item-open", "markdown", agents("- [ ] x\n"), "line 4: a task-list item is not an entry"),
    refused("two-ticked-ids", "markdown", agents("- `a`, `b`\n"), "line 4: an item that is not exactly one model ID"),
    refused("id-then-note", "markdown", agents("- x (note)\n"), "line 4: an item that is not exactly one model ID"),
    refused("ticked-id-then-prose", "markdown", agents("- `a` is the default\n"), "line 4: an item that is not exactly one model ID"),
    refused("ticks-in-comment", "markdown", agents("- a  # also `b`\n"), "line 4: an item that is not exactly one model ID"),
    refused("bold-id", "markdown", agents("- **x**\n"), "line 4: an item that is not exactly one model ID"),
    refused("link-id", "markdown", agents("- [x](https://example.test)\n"), "line 4: an item that is not exactly one model ID"),
    refused("emphasis-underscores", "markdown", agents("- a._b_\n"), "line 4: an item that is not exactly one model ID"),
    refused("two-spaces-after-bullet", "markdown", agents("-  x\n"), "line 4: an item not written `- model-id`"),
    refused("empty-item", "markdown", agents("-\n"), "line 4: an item not written `- model-id`"),
    refused("nested-item", "markdown", agents("- a\n  - b\n"), "line 5: an indented line"),
    refused("indented-item", "markdown", agents("  - x\n"), "line 4: an indented line"),
    refused("tab-indented-item", "markdown", agents("\t- x\n"), "line 4: an indented line"),
    refused("indented-code", "markdown", agents("    x\n"), "line 4: an indented line"),
    refused("continued-item", "markdown", agents("- a\nb\n"), "line 5: text that is not an entry"),
    refused("paragraph", "markdown", agents("x\n"), "line 4: text that is not an entry"),
    refused("setext-heading-dashes", "markdown", agents("x\n---\n"), "line 4: text that is not an entry"),
    refused("setext-heading-equals", "markdown", agents("- a\n===\n"), "line 5: text that is not an entry"),
    refused("atx-heading", "markdown", agents("# x\n"), "line 4: text that is not an entry"),
    refused("blockquote-item", "markdown", agents("> - x\n"), "line 4: text that is not an entry"),
    refused("table-row", "markdown", agents("| x |\n"), "line 4: text that is not an entry"),
    refused("html-li", "markdown", agents("<li>x</li>\n"), "line 4: HTML other than a comment"),
    refused("html-list", "markdown", agents("<ul><li>x</li></ul>\n"), "line 4: HTML other than a comment"),
    refused("multi-line-comment", "markdown", agents("<!--\n- x\n-->\n"), "line 4: HTML other than a comment"),
    refused("unicode-line-separator", "markdown", agents("- a\u2028- b\n"), "line 4: holds the character U+2028"),
    refused("form-feed", "markdown", agents("- a\x0c- b\n"), "line 4: holds the character U+000C"),
    refused("invisible-character-in-ticks", "markdown", agents("- `gpt-4\u200b`\n"), "line 4: an item that is not exactly one model ID"),
    refused("non-ascii-bullet", "markdown", agents("• x\n"), "line 4: text that is not an entry"),
    refused("code-fence-in-block", "markdown", agents("```\n- x\n```\n"), "line 4: a code fence inside the block"),
    refused("listed-twice", "markdown", agents("- a\n- a\n"), "line 5: a is listed again (first at line 4)"),
    # refused: the markers themselves
    refused("no-block", "markdown", "# Agents\n- a\n", "has no approved-models block"),
    refused("second-block", "markdown", agents("- a\n") + f"\n{START}\n- x\n{END}\n", "line 9: a second approved-models block (the first starts at line 3)"),
    refused("extra-end-marker", "markdown", f"{START}\n- a\n{END}\n- x\n{END}\n", "line 5: a second approved-models end marker (the first is at line 3)"),
    refused("end-before-start", "markdown", f"{END}\n- x\n{START}\n", "line 1: the approved-models end marker comes before the start (line 3)"),
    refused("start-without-end", "markdown", f"{START}\n- x\n", "line 1: an approved-models start marker without an end"),
    refused("end-without-start", "markdown", f"- x\n{END}\n", "line 2: an approved-models end marker without a start"),
    refused("marker-in-fence", "markdown", f"```\n{START}\n```\n" + agents("- a\n"), "line 2: an approved-models start marker inside a code fence"),
    refused("block-in-fence", "markdown", "~~~\n" + agents("- a\n") + "~~~\n", "line 4: an approved-models start marker inside a code fence"),
    refused("marker-inside-text", "markdown", agents("- a\n") + f"See {END} here.\n", "line 8: the approved-models end marker is not on a line of its own"),
    refused("marker-spelled-otherwise", "markdown", "<!--approved-models:start-->\n- a\n" + END + "\n",
            "line 1: the approved-models start marker is not on a line of its own"),
    refused("marker-indented", "markdown", f"    {START}\n- a\n{END}\n", "line 1: the approved-models start marker is not on a line of its own"),
    refused("marker-on-item-line", "markdown", f"{START}\n- a {END}\n", "line 2: the approved-models end marker is not on a line of its own"),
    refused("block-after-html", "markdown", f"<details>\n{START}\n- a\n{END}\n", "line 2: the approved-models block follows an HTML block (line 1)"),
    refused("block-in-html-paragraph", "markdown", f"<div>\ntext\n{START}\n- a\n{END}\n", "line 3: the approved-models block follows an HTML block (line 1)"),
    ok("block-after-closed-html", "markdown", f"<div>x</div>\n\n{START}\n- a\n{END}\n", "a"),
    ok("block-after-paragraph", "markdown", f"Only these models.\n{START}\n- a\n{END}\n", "a"),
    refused("block-in-fence-with-info-line", "markdown", f"```\n```python\n{START}\n- a\n{END}\n```\n",
            "line 3: an approved-models start marker inside a code fence"),
]

YAML = [
    ok("plain-list", "yaml", "approved_models:\n  - a\n  - model: b\n", "a", "b"),
    ok("quoted-ambiguous-ids", "yaml", 'approved_models: ["1e3", "yes", "0x10", "2024-01-01", "~", ".inf"]\n',
       "1e3", "yes", "0x10", "2024-01-01", "~", ".inf"),
    ok("empty-list", "yaml", "approved_models: []\n"),
    ok("evidence-with-profile", "yaml", "approved_models:\n  - model: a\n    approved_at: \"2025-03-01T08:00:01Z\"\n    approved_by: octocat\n"
       "    record_sha256: \"3f5c0a1e9d2b4c6f8a0e1d3c5b7a9f2e4d6c8b0a1f3e5d7c9b2a4f6e8d0c1b3a\"\n    profile: codex-cli\n"
       "    profile_sha256: \"10f2c021f82f0a1e9d2b4c6f8a0e1d3c5b7a9f2e4d6c8b0a1f3e5d7c9b2a4f6e\"\n", "a"),
    refused("profile-duplicated", "yaml", "approved_models:\n  - model: a\n    profile: codex-cli\n    profile: aider\n",
            "the key 'profile' appears twice in one mapping (lines 3 and 4)"),
    ok("no-list", "yaml", "endpoint: chat\n"),
    refused("duplicate-list-key", "yaml", "approved_models: [a]\nendpoint: chat\napproved_models: [b]\n",
            "the key 'approved_models' appears twice in one mapping (lines 1 and 3)"),
    refused("duplicate-key-in-item", "yaml", "approved_models:\n  - model: a\n    model: b\n", "the key 'model' appears twice in one mapping (lines 2 and 3)"),
    refused("duplicate-other-key", "yaml", "endpoint: chat\napproved_models: [a]\nendpoint: responses\n",
            "the key 'endpoint' appears twice in one mapping (lines 1 and 3)"),
    refused("duplicate-flow-key", "yaml", "approved_models: [{model: a, model: b}]\n", "the key 'model' appears twice in one mapping (lines 1 and 1)"),
    refused("plain-1e3", "yaml", "approved_models:\n  - a\n  - 1e3\n", "the value '1e3' (line 3) is text to this tool but a number"),
    refused("plain-0o17", "yaml", "approved_models: [0o17]\n", "the value '0o17' (line 1) is text to this tool but a number"),
    refused("plain-1.5e3-model", "yaml", "approved_models:\n  - model: 1.5e3\n", "the value '1.5e3' (line 2) is text to this tool but a number"),
    refused("bool-yes", "yaml", "approved_models: [a, yes]\n", "approved_models item 2 (True) is not a model ID"),
    refused("bool-on", "yaml", "approved_models:\n  - on\n", "approved_models item 1 (True) is not a model ID"),
    refused("null", "yaml", "approved_models: [null]\n", "approved_models item 1 (None) is not a model ID"),
    refused("tilde", "yaml", "approved_models:\n  - ~\n", "approved_models item 1 (None) is not a model ID"),
    refused("hex-int", "yaml", "approved_models: [0x10]\n", "approved_models item 1 (16) is not a model ID"),
    refused("int", "yaml", "approved_models: [4]\n", "approved_models item 1 (4) is not a model ID"),
    refused("float-inf", "yaml", "approved_models: [.inf]\n", "approved_models item 1 (inf) is not a model ID"),
    refused("date", "yaml", "approved_models: [2024-01-01]\n", "approved_models item 1 (datetime.date(2024, 1, 1)) is not a model ID"),
    refused("mapping-with-number-model", "yaml", "approved_models:\n  - model: 1\n", f"approved_models item 1 ({NO_MODEL}) is not a model ID"),
    refused("mapping-without-model", "yaml", "approved_models:\n  - approved_by: x\n", f"approved_models item 1 ({NO_MODEL}) is not a model ID"),
    refused("model-in-use-not-a-string", "yaml", "approved_models: [a]\nmodel_in_use: yes\n", "model_in_use (True) is not a model ID"),
    refused("not-a-list", "yaml", "approved_models: a\n", "approved_models is not a list"),
    refused("listed-twice", "yaml", "approved_models: [a, {model: a}]\n", "approved_models lists 'a' twice"),
]

VARIANTS = MARKDOWN + YAML
