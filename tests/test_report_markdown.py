"""Markdown job summary: golden file, escaping, legend, 1 MiB budget."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from upsell_ab.report.markdown import escape, render_markdown
from upsell_ab.report.sample import sample_report

GOLDEN = Path(__file__).parent / "golden" / "report_sample.md"
GITHUB_SUMMARY_LIMIT = 1024 * 1024  # bytes; GitHub's documented step-summary limit


def test_matches_the_reviewed_golden_file() -> None:
    """The golden file was read line by line against the sample's typed inputs
    (upsell_ab/report/sample.py): it formats given numbers, it is not a stats oracle.
    Regenerate with UPSELL_AB_UPDATE_GOLDEN=1 and review the diff."""
    text = render_markdown([sample_report()])
    if os.environ.get("UPSELL_AB_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_headline_states_decision_reason_lift_interval_chance_and_srm() -> None:
    text = render_markdown([sample_report()])
    head = text.split("<details>")[0]
    assert "Decision: Keep running (about 3,200 more units per variant, 5 days)" in head
    # the reason comes right after the decision (the sample's first decision reason)
    assert "Specific benefit (B)**: B beats A on take\\_rate" in head
    # sample input: relative lift 0.1676 in [0.0598, 0.2754], P(beat) 0.99991, SRM p 0.8103
    assert "**+16.8%** (95% confidence sequence [+6.0%, +27.5%])" in head
    assert "chance to beat control > 99.9%" in head
    assert "data quality: SRM ok (p = 0.810)" in head


def test_overview_table_comes_first_with_one_row_per_experiment() -> None:
    reports = [sample_report(i) for i in range(3)]
    text = render_markdown(reports)
    lines = text.splitlines()
    header = lines.index(
        "| Experiment | Decision | Deciding metric | Lift [interval] | Guardrails "
        "| Data quality | Days |"
    )
    assert header < min(i for i, line in enumerate(lines) if line.startswith("### "))
    rows = [line for line in lines[header + 2 :] if line.startswith("| `cake_wording")]
    assert len(rows) == 3
    # sample: exposures 2024-05-01 to 2024-05-14 -> 14 days; lift 0.1676 in [0.0598, 0.2754]
    assert rows[0].endswith("| 14 |")
    assert "B +16.8% \\[+6.0%, +27.5%\\]" in rows[0]


def test_details_are_folded_and_the_legend_explains_chance_vs_p() -> None:
    text = render_markdown([sample_report()])
    assert text.count("<details><summary>") == text.count("</details>") == 1
    # GitHub needs a blank line after <summary> for Markdown inside <details>
    assert re.search(r"</summary>\n\n", text)
    assert "It is not 1 - p." in text


def test_spec_text_is_escaped_in_tables() -> None:
    wording = "<script>alert(1)</script> | *big* _deal_ [x](http://e.invalid)"
    text = render_markdown([sample_report(wording_b=wording)])
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    row = next(line for line in text.splitlines() if "&lt;script&gt;" in line)
    # the table row keeps its 7 cells: every spec pipe is escaped
    assert len(re.findall(r"(?<!\\)\|", row)) == 7 + 1
    assert "\\*big\\*" in row and "\\[x\\]" in row


def test_escape_removes_line_breaks_that_would_end_a_table_row() -> None:
    assert escape("a\nb\r\nc") == "a b c"
    assert escape("a|b") == "a\\|b"
    assert escape("R&D <b>") == "R&amp;D &lt;b&gt;"


def test_many_experiments_stay_under_one_mebibyte_with_a_note() -> None:
    base = sample_report()
    reports = [replace(base, experiment=f"exp_{i:04d}") for i in range(600)]  # ~1.7 MB in full
    text = render_markdown(reports)
    size = len(text.encode("utf-8"))
    assert size < GITHUB_SUMMARY_LIMIT
    assert "Truncated to stay under the 1,000,000-byte summary budget" in text
    # every experiment keeps its headline (decision visible); details are dropped
    assert all(f"`exp_{i:04d}`" in text for i in range(600))
    assert 0 < text.count("<details>") < 600
    assert "It is not 1 - p." in text  # the legend survives truncation


def test_small_budget_drops_details_first_then_whole_experiments() -> None:
    reports = [sample_report(i) for i in range(12)]
    full = render_markdown(reports[:1])
    budget = len(full.encode()) + 1200
    text = render_markdown(reports, max_bytes=budget)
    assert len(text.encode("utf-8")) <= budget
    assert text.count("<details>") == 0  # headlines take priority over details
    assert "(`cake_wording_1`)" in text and "(`cake_wording_11`)" not in text
    assert "| `cake_wording_11` |" in text  # the overview row still shows its decision
    assert "details of" in text and "left out entirely" in text


def test_no_experiments() -> None:
    assert "No experiments to report." in render_markdown([])
