"""One entry point for every output format, used by the CLI commands."""

from __future__ import annotations

from collections.abc import Sequence

from upsell_ab.errors import InputError, Location, Problem
from upsell_ab.report.model import ExperimentReport
from upsell_ab.safe_text import escape_json_text, escape_strings

FORMATS: tuple[str, ...] = ("text", "markdown", "json", "html")


def render(reports: Sequence[ExperimentReport], fmt: str, *, color: bool = False) -> str:
    """Render ``reports`` as ``fmt`` (one of FORMATS). ``color`` only affects
    ``text`` (pass ``sys.stdout.isatty()``).

    Text from specs and data is untrusted: the human formats get a copy of the
    model with control characters and bidi overrides written as visible escapes
    (:func:`upsell_ab.safe_text.escape_strings`), JSON keeps the real values with
    every such character ``\\u``-escaped. No renderer has to remember it.
    """
    if fmt == "json":
        from upsell_ab.report.json_format import render_json

        return escape_json_text(render_json(reports))
    reports = [escape_strings(report) for report in reports]
    if fmt == "text":
        from upsell_ab.report.text import render_text

        return render_text(reports, color=color)
    if fmt == "markdown":
        from upsell_ab.report.markdown import render_markdown

        return render_markdown(reports)
    if fmt == "html":
        from upsell_ab.report.html import render_html

        return render_html(reports)
    raise InputError(
        [
            Problem(
                Location(field="format"),
                f"unknown report format {fmt!r}",
                hint=f"use one of: {', '.join(FORMATS)}",
                code="unknown_format",
            )
        ]
    )
