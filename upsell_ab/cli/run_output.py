"""What ``analyze``, ``report`` and ``demo`` share: output flags, progress, exit codes.

Kept out of the command modules so the three commands behave identically
(same ``--format``/``--output``/``--fail-on`` semantics, same exit codes).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from upsell_ab.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from upsell_ab.report.failures import SpecFailure
    from upsell_ab.report.history import HistoryEntry
    from upsell_ab.report.programme import ProgrammeSection
    from upsell_ab.workflow import ExperimentRun

FAIL_ON_CHOICES: tuple[str, ...] = ("quality", "guardrail")


def add_output_arguments(parser: argparse.ArgumentParser, *, default_format: str) -> None:
    parser.add_argument(
        "--format",
        choices=("text", "markdown", "json", "html"),
        default=default_format,
        help=f"output format (default {default_format})",
    )
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument(
        "--fail-on",
        nargs="+",
        choices=FAIL_ON_CHOICES,
        default=[],
        metavar="WHAT",
        help="exit 2 on a data-quality failure (quality), 3 on a guardrail breach (guardrail)",
    )
    parser.add_argument(
        "--no-daily", action="store_true", help="skip the per-day cumulative lifts (faster)"
    )


def write_text(text: str, output: str | None) -> None:
    """Write to stdout, or to a file through :func:`upsell_ab.output_file.write_output`
    (regular files atomically by rename; devices, FIFOs and symlinks written through)."""
    if output is None or output == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from upsell_ab.output_file import write_output

    write_output(output, text)


def render_runs(
    runs: Sequence[ExperimentRun],
    fmt: str,
    *,
    to_terminal: bool,
    failures: Sequence[SpecFailure] = (),
    max_bytes: int | None = None,
    history: Sequence[HistoryEntry] = (),
    programme: ProgrammeSection | None = None,
) -> str:
    from upsell_ab.report.render import render

    return render(
        [run.report() for run in runs],
        fmt,
        color=to_terminal and sys.stdout.isatty(),
        failures=failures,
        max_bytes=max_bytes,
        history=history,
        programme=programme,
    )


def no_data_anywhere(runs: Sequence[ExperimentRun]) -> bool:
    """Every running experiment is waiting for data: the store is empty or the wrong one."""
    return bool(runs) and all(run.waiting_for_data for run in runs)


def exit_code(
    runs: Sequence[ExperimentRun],
    fail_on: Sequence[str],
    failures: Sequence[SpecFailure] = (),
) -> ExitCode:
    """1 beats 2 beats 3: an unreadable spec means the gate did not see everything, and
    with bad data a guardrail result means less. Quality also fails when no running
    experiment has any data at all (nothing was checked). Every failure is named by
    :func:`failure_notes`, whichever code wins."""
    if failures:
        return ExitCode.INVALID_INPUT
    if "quality" in fail_on and (any(run.quality_failed for run in runs) or no_data_anywhere(runs)):
        return ExitCode.DATA_QUALITY
    if "guardrail" in fail_on and any(run.guardrail_breached for run in runs):
        return ExitCode.GUARDRAIL
    return ExitCode.OK


def failure_notes(
    runs: Sequence[ExperimentRun],
    fail_on: Sequence[str],
    failures: Sequence[SpecFailure] = (),
) -> list[str]:
    """One log line per failing experiment and its reason, for every kind of failure
    (not only the one that set the exit code). 'error:' marks what fails the
    command with the given ``--fail-on``; 'warning:' what would with another."""

    def level(kind: str) -> str:
        return "error" if kind in fail_on else "warning"

    notes = [
        f"error: {failure.title}: {'invalid spec' if failure.stage == 'spec' else 'no data'}: "
        + (failure.problems[0] if failure.problems else "see the report")
        + (f" (+{len(failure.problems) - 1} more)" if len(failure.problems) > 1 else "")
        for failure in failures
    ]
    for run in runs:
        experiment = run.resolved.experiment.id
        if run.quality_failed:
            reason = run.outcome.reasons[0] if run.outcome.reasons else "data-quality failure"
            notes.append(f"{level('quality')}: {experiment}: data quality: {reason}")
        if run.guardrail_breached:
            prefix = "Guardrail breached: "
            sentences = [r[len(prefix) :] for r in run.outcome.reasons if r.startswith(prefix)]
            detail = " ".join(sentences) or ", ".join(run.outcome.guardrails_breached)
            notes.append(f"{level('guardrail')}: {experiment}: guardrail breached: {detail}")
    if no_data_anywhere(runs):
        notes.append(
            f"{level('quality')}: no running experiment has any exposures in the store: "
            "check --store (or the specs' data source) points to the production data"
        )
    else:
        notes += [
            f"note: {run.resolved.experiment.id}: waiting for data (no exposures yet)"
            for run in runs
            if run.waiting_for_data
        ]
    return notes


class Steps:
    """What :func:`progress` yields: call it with the current step's text (a
    :data:`upsell_ab.workflow.Step`), ``advance()`` after each finished item."""

    def __init__(self, bar: Any = None, task: Any = None) -> None:
        self._bar = bar
        self._task = task

    def __call__(self, text: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=text)

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)


@contextmanager
def progress(enabled: bool | None = None, total: int | None = None) -> Iterator[Steps]:
    """A rich progress bar (``total`` items) or spinner with the current step on
    stderr when it is a terminal; silent otherwise (CI logs stay clean)."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield Steps()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield Steps(bar, bar.add_task("starting", total=total))
