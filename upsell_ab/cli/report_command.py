"""`upsell-ab report PATH...`: one summary of every running experiment (CI job summaries)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from upsell_ab.cli import preload
from upsell_ab.cli.exit_codes import ExitCode
from upsell_ab.cli.memory_option import add_memory_argument, apply_memory_argument
from upsell_ab.cli.run_output import (
    add_output_arguments,
    exit_code,
    failure_notes,
    progress,
    render_runs,
    write_text,
)

DESCRIPTION = """Analyse every experiment with status 'running' under the given
files or folders and print one report. Markdown is made for GitHub job
summaries:  upsell-ab report experiments/ --format markdown >> $GITHUB_STEP_SUMMARY
A spec that does not load (or whose data cannot be read) gets an error block;
every other experiment is still reported. Every failing experiment and its
reason is named on stderr.
Exit codes: 0 done; 1 an invalid spec or input (the report is still written),
or no spec file under PATH; 2 data-quality failure with --fail-on quality (also
when no running experiment has any exposures: wrong or empty store); 3
guardrail breached with --fail-on guardrail. 1 beats 2 beats 3."""

MIN_MARKDOWN_BYTES = 1024


def _budget(text: str) -> int:
    value = int(text)
    if value < MIN_MARKDOWN_BYTES:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_MARKDOWN_BYTES}")
    return value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="report every running experiment",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    parser.add_argument("--store", metavar="DB", help="DuckDB store (default: each spec's)")
    add_output_arguments(parser, default_format="markdown")
    parser.add_argument(
        "--max-bytes",
        type=_budget,
        default=None,
        metavar="N",
        help="Markdown size budget in UTF-8 bytes (default 1,000,000: GitHub refuses job "
        "summaries over 1 MiB); details, then whole experiments are left out to fit",
    )
    add_memory_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    apply_memory_argument(args)
    from upsell_ab.api import Experiment
    from upsell_ab.errors import UpsellAbError
    from upsell_ab.workflow import collect_running, data_failure

    found = collect_running(args.paths)
    if found.files == 0:
        print(
            f"upsell-ab report: error: no experiment spec (*.yaml) under {' '.join(args.paths)}: "
            "check the path",
            file=sys.stderr,
        )
        return int(ExitCode.INVALID_INPUT)
    from upsell_ab.metrics.shared import sharing

    runs = []
    failures = list(found.failures)
    with progress(total=len(found.running)) as step:
        # one store connection and one other-experiment event count for all experiments
        # (closed before the programme section opens the store again)
        # SciPy's import overlaps the first query (the analysis needs it after)
        with sharing(found.running, args.store), preload.during_first_query():
            for resolved in found.running:
                try:
                    result = Experiment(resolved).analyze(
                        args.store, daily=not args.no_daily, step=step
                    )
                except UpsellAbError as error:
                    # the store or query failed for this spec: its error block, the rest report
                    failures.append(data_failure(resolved, error))
                else:
                    runs.append(result.run)
                step.advance()
        step("rendering the report")
        from upsell_ab.report.history import load_history

        programme = None
        if runs:
            step("the programme against its long-term holdout")
            programme = programme_section(args.paths, args.store or _shared_store(runs), failures)
        text = render_runs(
            runs,
            args.format,
            to_terminal=args.output is None,
            failures=failures,
            max_bytes=args.max_bytes,
            history=load_history(args.paths),
            programme=programme,
        )
    if not runs and not failures:
        print("upsell-ab report: note: no running experiments found", file=sys.stderr)
    write_text(text, args.output)
    code = exit_code(runs, args.fail_on, failures)
    for note in failure_notes(runs, args.fail_on, failures):
        print(f"upsell-ab report: {note}", file=sys.stderr)
    if code:
        print(f"upsell-ab report: exit {int(code)} ({code.name.lower()})", file=sys.stderr)
    return int(code)


def programme_section(paths: list[str], store: str | None, failures: list[Any]) -> Any:
    """The programme section (:mod:`upsell_ab.report.programme`) when the specs obey a
    ``program.yaml`` holdout; a holdout that cannot be analysed gets an error block."""
    from upsell_ab.errors import UpsellAbError
    from upsell_ab.report.failures import SpecFailure
    from upsell_ab.report.programme import load_programme

    try:
        return load_programme(paths, store)
    except UpsellAbError as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        failures.append(SpecFailure("program.yaml", "data", lines or [type(error).__name__]))
        return None


def _shared_store(runs: list[Any]) -> str | None:
    """The embedded store every reported experiment names (None when they name none or
    several): where the programme exposures are looked for without ``--store``."""
    stores = {run.resolved.experiment.data.store for run in runs}
    return next(iter(stores)) if len(stores) == 1 else None
