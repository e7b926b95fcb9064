"""One entry point for every output format, used by the CLI commands."""

from __future__ import annotations

from collections.abc import Sequence

from upsell_ab.errors import InputError, Location, Problem
from upsell_ab.report.failures import SpecFailure
from upsell_ab.report.model import ExperimentReport
from upsell_ab.safe_text import escape_json_text, escape_strings

FORMATS: tuple[str, ...] = ("text", "markdown", "json", "html")


def render(
    reports: Sequence[ExperimentReport],
    fmt: str,
    *,
    color: bool = False,
    failures: Sequence[SpecFailure] = (),
    max_bytes: int | None = None,
) -> str:
    """Render ``reports`` as ``fmt`` (one of FORMATS). ``color`` only affects
    ``text`` (pass ``sys.stdout.isatty()``); ``max_bytes`` only ``markdown``.
    ``failures`` (specs that could not be reported) get their own error block.

    Text from specs and data is untrusted: the human formats get a copy of the
    model with control characters and bidi overrides written as visible escapes
    (:func:`upsell_ab.safe_text.escape_strings`), JSON keeps the real values with
    every such character ``\\u``-escaped. No renderer has to remember it.
    """
    if fmt == "json":
        from upsell_ab.report.json_format import render_json

        return escape_json_text(render_json(reports, failures=failures))
    reports = [escape_strings(report) for report in reports]
    failures = [escape_strings(failure) for failure in failures]
    if fmt == "text":
        from upsell_ab.report.text import render_text

        return _failure_lines(failures) + render_text(reports, color=color)
    if fmt == "markdown":
        from upsell_ab.report.markdown import MAX_BYTES, render_markdown

        return render_markdown(reports, failures=failures, max_bytes=max_bytes or MAX_BYTES)
    if fmt == "html":
        from upsell_ab.report.html import render_html

        return render_html(reports, failures=failures)
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


def _failure_lines(failures: Sequence[SpecFailure]) -> str:
    """Plain lines for the terminal, before the experiments."""
    lines = []
    for failure in failures:
        what = "invalid spec" if failure.stage == "spec" else "data could not be read"
        lines.append(f"ERROR {failure.title}: {what}")
        lines += [f"  - {problem}" for problem in failure.problems]
    return "\n".join(lines) + "\n\n" if lines else ""
