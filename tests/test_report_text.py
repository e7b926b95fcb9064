"""Terminal text: readable, no colour codes unless asked, width-safe for Japanese."""

from __future__ import annotations

import re
import unicodedata

import pytest

from upsell_ab.errors import InputError
from upsell_ab.report.render import FORMATS, render
from upsell_ab.report.sample import sample_report
from upsell_ab.report.text import render_text

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def display_width(line: str) -> int:
    """Terminal cells per Unicode East Asian Width (W/F = 2), independent of rich."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in line
    )


@pytest.mark.parametrize("width", [60, 80, 120])
def test_every_line_fits_the_terminal_width_with_japanese_wording(width: int) -> None:
    wording = "このコーヒーに合うチーズケーキがあります。今なら１００円引き！" * 2
    text = render_text([sample_report(wording_b=wording)], width=width)
    lines = text.splitlines()
    assert max(display_width(line) for line in lines) <= width
    # the wording is wrapped inside its cell, not lost
    assert "チーズケーキ" in text.replace("\n", "").replace("│", "").replace(" ", "")


def test_plain_output_has_no_colour_codes_and_colour_output_has_them() -> None:
    report = sample_report()
    assert not ANSI.search(render_text([report]))
    assert ANSI.search(render_text([report], color=True))


def test_states_decision_and_the_numbers_of_the_inputs() -> None:
    text = render_text([sample_report()], width=120)
    assert "Decision: Keep running (about 3,200 more units per variant, 5 days)" in text
    assert "+16.8% [+6.0%, +27.5%]" in text  # relative lift 0.1676 in [0.0598, 0.2754]
    assert "SRM ok (p = 0.810)" in text
    assert "guardrail B: not passed (margin 10.0%)" in text
    assert "<0.001 / <0.001" in text  # raw and adjusted p of the primary metric
    assert "0.152" in text  # a secondary metric has no adjusted p
    assert "not 1 - p" in text


def test_render_dispatches_and_rejects_unknown_formats() -> None:
    report = sample_report()
    assert FORMATS == ("text", "markdown", "json", "html")
    assert render([report], "json").lstrip().startswith("{")
    assert render([report], "html").startswith("<!DOCTYPE html>")
    assert "<details>" in render([report], "markdown")
    assert "Decision:" in render([report], "text")
    with pytest.raises(InputError) as error:
        render([report], "pdf")
    assert "use one of: text, markdown, json, html" in str(error.value)


def test_importing_the_renderers_does_not_import_heavy_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys, upsell_ab.report.render, upsell_ab.report.model;"
        "heavy = {'scipy', 'matplotlib', 'pandas', 'duckdb', 'statsmodels', 'rich'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
