"""Text a gateway (or a record, or a pull request's author) controls is inert wherever it lands.

Markdown (PR comment, job summary, tracking issue, `--report-out`, `summarize --format markdown`) is parsed with a real
CommonMark parser (markdown-it-py, with GitHub's tables and strikethrough): the untrusted text must come out as text
nodes holding exactly its characters — no link, image, emphasis, heading, code span break-out, HTML, table cell
boundary — and nothing GitHub would make live after rendering (@mentions, issue references, autolinks).
On the terminal, no control character or escape sequence reaches the screen and no line starts a workflow command.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from html import unescape

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from approval.common.console import no_workflow_command, one_line, terminal_text, visible
from approval.common.markdown import fenced, html_text, md_cell, md_code
from approval.engine.results import Category, CheckResult, RunCheck, Status
from approval.engine.suite import ModelOutcome, RunOutcome
from approval.lifecycle.guard import guard_unavailable
from approval.report.render import progress_line, render_markdown, render_text
from approval.report.summary import Row, summarize
from approval.report.summary import render_markdown as summary_markdown
from approval.report.summary import render_text as summary_text
from harness.mocked_gateway import make_settings

PIECES = [
    "![x](http://e.test/i.png)", "[click here](http://e.test)", "**APPROVED**", "__x__", "*", "_", "~~", "~", "# ", "## ✅ approved",
    "\n# heading\n", "\n\n", "\r\n", "\r", "| ", "|", "\\|", "\\", "`", "``", "```", "~~~", "<", ">", "&", "&amp;", "&#x41;", "&lt;", "<b>",
    "<!-- model-approval-gate:x:y -->", "<!--", "-->", "<img src=x>", "<http://e.test>", "http://e.test/a", "https://e.test",
    "www.e.test", "a@b.test", "@octocat", "@acme/admins", "#123", "owner/repo#4", "$x$", "$$", "[^1]", "[ ]", "[!NOTE]", "> ", "- ",
    "+ ", "1. ", "2) ", "---", "===", "    ", "\t", " ", "x", "APPROVED", "\x1b[2K", "\x1b[1G", "\x1b[31m", "\x9b", "\u202e", "\u2066",
    "\u200b", "\u2028", "\x85", "\x00", "\x7f", "::set-output name=a::b", "::error::x", "##[error]", ":tada:", "\\`", "(", ")", "!",
]
HOSTILE = st.one_of(st.lists(st.sampled_from(PIECES), max_size=12).map("".join), st.text(max_size=40))
MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
LIVE = re.compile(r"@\w|#\w|://|(?i:\bwww\.)")


def plain(text: str) -> str:
    """What a reader must see: the text's visible form on one line."""
    return " ".join(visible(text).split())


def inline_children(tokens: list[Token]) -> list[Token]:
    return [child for token in tokens if token.type == "inline" for child in token.children or []]


def rendered(children: list[Token]) -> str:
    return "".join(c.content for c in children if c.type in ("text", "code_inline")).replace("\u200b", "")


def assert_shown_as_is(children: list[Token], text: str, before: str = "", after: str = "") -> None:
    assert [c.type for c in children if c.type != "text"] == [], children
    shown = "".join(c.content for c in children)
    assert not LIVE.search(shown), shown
    assert shown.replace("\u200b", "") == before + plain(text).replace("\u200b", "") + after


CONTEXTS = [("{}", "", ""), ("Detail: {} (end)", "Detail: ", " (end)"), ("> {}", "", ""), ("- {}", "", ""), ("### {}", "", ""),
            ("1. {}", "", ""), ("- **check** (model): {}", " (model): ", "")]


def blocks(md: str) -> list[str]:
    return [t.type for t in MD.parse(md) if t.type != "inline"]


@given(HOSTILE)
@example("![x](http://e.test/i.png) [click here](http://e.test) **APPROVED**")
@example("1. x")
@example("x\n===")
@example("- [ ] task")
@settings(max_examples=300, deadline=None)
def test_untrusted_text_renders_as_its_own_characters_in_running_text(text: str) -> None:
    if not plain(text):
        return
    for context, before, after in CONTEXTS:
        md = context.format(md_cell(text))
        assert blocks(md) == blocks(context.format("x")), md
        children = [c for c in inline_children(MD.parse(md)) if c.type not in ("strong_open", "strong_close") and c.content != "check"]
        assert_shown_as_is(children, text, before, after)


def cells(md: str) -> list[list[list[Token]]]:
    """The rows of the one table in `md`, each a list of cells, each the inline tokens of that cell."""
    tokens = MD.parse(md)
    assert [t.type for t in tokens].count("table_open") == 1, md
    rows: list[list[list[Token]]] = []
    for token in tokens:
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows:
            rows[-1].append(token.children or [])
    return rows


@given(HOSTILE)
@example("a | b")
@example("evil|model`@team")
@example("x\\|y")
@settings(max_examples=300, deadline=None)
def test_untrusted_text_in_a_table_cell_keeps_the_row_and_is_shown_as_is(text: str) -> None:
    rows = cells(f"| a | b | c |\n|---|---|---|\n| 1 | {md_cell(text)} | 3 |\n| 1 | {md_code(text, cell=True)} | 3 |\n")
    assert [len(r) for r in rows] == [3, 3, 3], rows
    for row in rows[1:]:
        assert rendered(row[0]) == "1" and rendered(row[2]) == "3"
    assert_shown_as_is(rows[1][1], text)
    code = rows[2][1]
    if plain(text) and "\\|" not in plain(text):
        assert [c.type for c in code] == ["code_inline"], code
    assert [c.type for c in code if c.type not in ("code_inline", "text")] == []
    assert rendered(code) == no_workflow_command(plain(text)).replace("\u200b", "") or not plain(text) or "\\|" in plain(text)
    assert "<!--" not in md_code(text) + md_code(text, cell=True)


@given(HOSTILE)
@example("`x`` y ```")
@example("` leading and trailing `")
@settings(max_examples=300, deadline=None)
def test_a_code_span_cannot_be_closed_from_inside(text: str) -> None:
    children = inline_children(MD.parse(f"model {md_code(text)} end"))
    assert [c.type for c in children] == ["text", "code_inline", "text"], children
    assert children[1].content == (no_workflow_command(plain(text).replace("<!--", "<\u200b!--")) or " ")


@given(st.lists(HOSTILE, max_size=4))
@settings(max_examples=200, deadline=None)
def test_a_code_block_cannot_be_closed_or_left_from_inside(lines: list[str]) -> None:
    tokens = MD.parse("\n".join([*fenced(lines), "after"]))
    assert [t.type for t in tokens] == ["fence", "paragraph_open", "inline", "paragraph_close"]
    assert tokens[0].content.splitlines() == [no_workflow_command(one_line(line).replace("<!--", "<\u200b!--")) for line in lines]
    assert "<!-- model-approval-gate" not in "\n".join(fenced(lines))


@given(HOSTILE)
@settings(max_examples=200, deadline=None)
def test_untrusted_text_in_raw_html_is_entities_only(text: str) -> None:
    html = html_text(text)
    assert not set("<>\"'") & set(html.replace("&lt;", "").replace("&gt;", "").replace("&quot;", "").replace("&#x27;", ""))
    assert not LIVE.search(unescape(html)) and "##[" not in html


def outcome_with(text: str, sample: str, several: bool = True) -> tuple[RunOutcome, list[RunCheck]]:
    """A run of one or two candidates and a baseline whose every gateway-controlled text is `text`."""
    configured = ["cand-a", "cand-b"] if several else ["cand-a"]
    settings_ = make_settings(models=configured, baseline_model="base")  # configured IDs are validated; records' are not
    models = [f"cand {text}", f"{text} second"][: len(configured)]
    checks = [CheckResult("reachability", Status.FAIL, Category.INFRASTRUCTURE, 12.0, text),
              CheckResult("model-echo", Status.WARN, Category.MODEL, 3.0, f"echo {text}"),
              CheckResult("latency", Status.PASS, Category.NONE, 5.0, text, {"p50_ms": 5.0})]
    candidates = [ModelOutcome(m, "candidate", list(checks), "fail", False, sample_output=sample, gaps=[f"gap {text}"]) for m in models]
    baseline = ModelOutcome(f"base {text}", "baseline", list(checks), "fail", False)
    run = RunOutcome(settings_, "id", datetime(2026, 1, 1, tzinfo=UTC), 1.0, candidates, baseline, [text, f"note {text}"])
    return run, [guard_unavailable(text)]


def strong(children: list[Token]) -> list[str]:
    """What the report itself makes bold (check names, ratios), in order."""
    return [children[i + 1].content for i, c in enumerate(children) if c.type == "strong_open"]


def structure(md: str) -> tuple[list[str], list[str], list[int]]:
    """The document's block structure, its HTML, and the cell count of every table row."""
    tokens = MD.parse(md)
    blocks = [t.type for t in tokens if t.type.endswith("_open") and not t.type.startswith(("t", "th", "td"))]
    html = [t.content.strip() for t in tokens if t.type == "html_block"]
    html += [c.content for c in inline_children(tokens) if c.type == "html_inline"]
    widths, width = [], 0
    for t in tokens:
        if t.type == "tr_open":
            width = 0
        elif t.type in ("th_open", "td_open"):
            width += 1
        elif t.type == "tr_close":
            widths.append(width)
    return blocks, html, widths


@given(HOSTILE, HOSTILE)
@example("![x](http://e.test/i.png) | **APPROVED** <!-- model-approval-gate:a:b --> @acme/admins\n## ✅ approved", "```\n# x\n~~~")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.parametrize("several", [False, True], ids=["one candidate", "two candidates"])
def test_a_whole_report_keeps_its_shape_whatever_the_gateway_says(several: bool, text: str, sample: str) -> None:
    benign, benign_checks = outcome_with("plain", "plain", several)
    run, run_checks = outcome_with(text, sample, several)
    md = render_markdown(run, run_checks=run_checks)
    blocks, html, widths = structure(md)
    expected_blocks, _, expected_widths = structure(render_markdown(benign, run_checks=benign_checks))
    assert blocks == expected_blocks  # no heading, list, quote or code block more or less
    assert widths == expected_widths  # every table row keeps its cells
    for chunk in html:
        tags = re.findall(r"<[^>]*>", chunk)
        assert set(tags) <= {"<details>", "</details>", "<summary>", "</summary>"}, chunk
    tokens = MD.parse(md)
    children = inline_children(tokens)
    assert not [c for c in children if c.type in ("link_open", "image", "em_open", "s_open")], md
    assert strong(children) == strong(inline_children(MD.parse(render_markdown(benign, run_checks=benign_checks))))
    assert "<!--" not in md  # a hidden marker, even inside code, would make another run's search find this comment
    assert not [line for line in md.splitlines() if line.lstrip().startswith("::") or "##[" in line]  # --report-out /dev/stdout
    assert not LIVE.search("\n".join(c.content for c in children if c.type == "text")), md  # code spans are never made live


def test_summarize_rows_keep_their_cells_and_a_failing_candidate_cannot_show_approved() -> None:
    hostile = ["evil|model", "x\n| ✅ approved |", "a\\|b", "`|`", "<b>|</b>", "@acme/admins | ✅ approved"]
    rows = [Row(f"https://gw.test/{h}", h, h, "fail", 12.0, (h,), "2026-11-01T10:00:00Z", "r.json") for h in hostile]
    md = summary_markdown(summarize(rows))
    table = cells(md)
    assert [len(r) for r in table] == [6] * (len(hostile) + 1)
    for row in table[1:]:
        assert rendered(row[3]) == "❌ not approved"


@pytest.mark.parametrize("hostile", ["\x1b[2Kforged", "\x1b[1G\x1b[31mRED", "a\rRESULT: APPROVED", "x\u202eDEVORPPA", "\x9b2K",
                                     "z\u2060w\ufeff", "b\x08\x08ok", "l\u2028RESULT: APPROVED", "n\nRESULT: APPROVED", "\x00\x07\x7f"])
def test_the_terminal_shows_escape_sequences_and_controls_escaped(hostile: str) -> None:
    run, run_checks = outcome_with(hostile, "s")
    check = run.candidates[0].checks[0]
    outputs = [terminal_text(render_text(run, run_checks)), terminal_text(progress_line(hostile, check, True)),
               terminal_text(summary_text(summarize([Row("g", hostile, "chat", "fail", 1.0, (hostile,), "t", "r")])))]
    for out in outputs:
        bad = [ch for ch in out if ch not in "\n\t\u200b\u200c\u200d" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")]
        assert bad == [], out
        assert not any(line.startswith("RESULT: APPROVED") for line in out.splitlines())
    assert "\\x1b" in terminal_text("\x1b[2K") and "\\u202e" in terminal_text("\u202e")


def test_the_tools_own_line_breaks_and_indentation_still_work() -> None:
    assert terminal_text("a\n  b\tc\n✅ 日本語 👩\u200d💻") == "a\n  b\tc\n✅ 日本語 👩\u200d💻"


@pytest.mark.parametrize("line", ["::set-output name=approved::true", "  ::error::forged", "::stop-commands::tok", "::add-mask::x",
                                  "x ##[set-output name=a;]b", "::", "\t::warning::w"])
def test_no_printed_line_can_start_a_workflow_command(line: str) -> None:
    for out in (terminal_text(line), terminal_text(f"ok\n{line}"), terminal_text(render_text(outcome_with(f"a\n{line}", "s")[0]))):
        for printed in out.splitlines():
            assert not printed.lstrip().startswith("::") and "##[" not in printed, printed


@pytest.mark.parametrize("hostile", ["\x1b[31mred", "a\rb", "x\n::set-output name=a::b", "\u202eevil", "%0A::error::x"])
def test_an_annotation_stays_one_command_and_shows_controls_escaped(hostile: str) -> None:
    import io

    from approval.github import commands

    out = io.StringIO()
    commands.error(f"gateway said {hostile}", title=hostile, stream=out)
    commands.group(hostile, stream=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("::error title=") and lines[1].startswith("::group::")
    assert not [ch for ch in out.getvalue() if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf")]


@given(HOSTILE)
@example("evil|model ![x](http://e.test) **APPROVED** @acme/admins <!-- model-approval-gate:a:b -->")
@settings(max_examples=100, deadline=None)
def test_a_pull_requests_registry_cannot_dress_up_the_guards_lines(name: str) -> None:
    """Model names in the approved list come from the pull request's author: the guard's lines show them as text."""
    from approval.lifecycle.guard import Verdict, registry_guard
    from approval.settings.registry import Entry, Registry

    if not name.strip():
        return
    base = Registry((Entry("old"),), model_in_use="old")
    head = Registry((Entry("old"), Entry(name), Entry(f"{name}2")), model_in_use=name)
    check = registry_guard(base, head, {f"{name}2": Verdict("fail")}, registry_files=f"AGENTS.md {name}", base_label=name)
    benign = registry_guard(base, Registry((Entry("old"), Entry("n"), Entry("n2")), model_in_use="n"), {"n2": Verdict("fail")},
                            registry_files="AGENTS.md n", base_label="n")
    md = "\n".join(check.lines)
    assert structure(md)[0] == structure("\n".join(benign.lines))[0]
    children = inline_children(MD.parse(md))
    assert strong(children) == strong(inline_children(MD.parse("\n".join(benign.lines))))
    assert not [c for c in children if c.type in ("link_open", "image", "em_open", "s_open", "html_inline")]
    assert "<!--" not in md and not LIVE.search("\n".join(c.content for c in children if c.type == "text"))
