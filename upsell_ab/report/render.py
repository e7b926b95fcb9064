"""One entry point for every output format, used by the CLI commands."""

from __future__ import annotations

from collections.abc import Sequence

from upsell_ab.errors import InputError, Location, Problem
from upsell_ab.report.failures import SpecFailure
from upsell_ab.report.history import HistoryEntry, history_html, history_markdown, history_text
from upsell_ab.report.model import ExperimentReport
from upsell_ab.report.programme import (
    ProgrammeSection,
    programme_html,
    programme_markdown,
    programme_text,
)
from upsell_ab.safe_text import escape_json_text, escape_strings

FORMATS: tuple[str, ...] = ("text", "markdown", "json", "html")


def render(
    reports: Sequence[ExperimentReport],
    fmt: str,
    *,
    color: bool = False,
    failures: Sequence[SpecFailure] = (),
    max_bytes: int | None = None,
    history: Sequence[HistoryEntry] = (),
    programme: ProgrammeSection | None = None,
) -> str:
    """Render ``reports`` as ``fmt`` (one of FORMATS). ``color`` only affects
    ``text`` (pass ``sys.stdout.isatty()``); ``max_bytes`` only ``markdown``.
    ``failures`` (specs that could not be reported) get their own error block;
    ``history`` (concluded experiments, :mod:`upsell_ab.report.history`) a section below
    the running ones; ``programme`` (the whole programme against its long-term holdout,
    :mod:`upsell_ab.report.programme`) a section between the two.

    Text from specs and data is untrusted: the human formats get a copy of the
    model with control characters and bidi overrides written as visible escapes
    (:func:`upsell_ab.safe_text.escape_strings`), JSON keeps the real values with
    every such character ``\\u``-escaped. No renderer has to remember it.
    """
    if fmt == "json":
        from upsell_ab.report.json_format import render_json

        return escape_json_text(
            render_json(reports, failures=failures, history=history, programme=programme)
        )
    reports = [escape_strings(report) for report in reports]
    programme = escape_strings(programme) if programme is not None else None
    failures = [escape_strings(failure) for failure in failures]
    history = [escape_strings(entry) for entry in history]
    if fmt == "text":
        from upsell_ab.report.text import render_text

        return (
            _failure_lines(failures)
            + render_text(reports, color=color)
            + (("\n" + programme_text(programme)) if programme else "")
            + history_text(history)
        )
    if fmt == "markdown":
        from upsell_ab.report.markdown import MAX_BYTES, render_markdown

        text = render_markdown(reports, failures=failures, max_bytes=max_bytes or MAX_BYTES)
        text += "\n" + programme_markdown(programme) if programme else ""
        return text + ("\n" + history_markdown(history) if history else "")
    if fmt == "html":
        from upsell_ab.report.html import render_html

        page = render_html(reports, failures=failures)
        block = programme_html(programme) + history_html(history)
        if block and "</body>" in page:
            head, _, tail = page.rpartition("</body>")
            return head + block + "</body>" + tail
        return page + block
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
