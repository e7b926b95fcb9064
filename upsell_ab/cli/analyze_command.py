"""`upsell-ab analyze SPEC`: the whole path for one experiment, printed or written."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from upsell_ab.cli import preload
from upsell_ab.cli.memory_option import add_memory_argument, apply_memory_argument
from upsell_ab.cli.run_output import (
    add_output_arguments,
    exit_code,
    failure_notes,
    progress,
    render_runs,
    write_text,
)

DESCRIPTION = """Analyse one experiment: aggregate its data in the store (or read a
summary CSV of counts), run the statistics, apply the spec's decision rule and
print the report. Exit codes: 0 done; 1 invalid spec/input; 2 data-quality
failure with --fail-on quality; 3 guardrail breached with --fail-on guardrail."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze", help="analyse one experiment and decide", description=DESCRIPTION
    )
    parser.add_argument("spec", metavar="SPEC", help="experiment spec (YAML)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--store", metavar="DB", help="DuckDB store (default: the spec's)")
    source.add_argument(
        "--summary",
        metavar="FILE.csv",
        help="per-variant counts/sums: variant,metric,n,sum,sum_squares[,...]",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=YOURS",
        help="with --summary: the CSV's name for a summary column, e.g. --map n=shown "
        "--map sum=took (repeat)",
    )
    parser.add_argument(
        "--segments", action="store_true", help="also break results down by segment"
    )
    add_output_arguments(parser, default_format="text")
    add_memory_argument(parser)
    parser.set_defaults(run=run)


def _map_error(message: str) -> Exception:
    from upsell_ab.errors import InputError, Location, Problem

    return InputError([Problem(Location(field="--map"), message, code="usage")])


def summary_columns(flags: list[str]) -> dict[str, str]:
    """``["n=shown", "sum=took"]`` -> ``{"n": "shown", "sum": "took"}``."""
    columns: dict[str, str] = {}
    for flag in flags:
        canonical, sep, source = flag.partition("=")
        if not sep or not canonical.strip() or not source.strip():
            raise _map_error(f"--map {flag!r}: write COLUMN=YOURS, e.g. --map n=shown")
        if canonical.strip() in columns:
            raise _map_error(f"--map names '{canonical.strip()}' twice")
        columns[canonical.strip()] = source.strip()
    return columns


def run(args: argparse.Namespace) -> int:
    apply_memory_argument(args)
    from upsell_ab.api import load

    experiment = load(args.spec)
    data: Any = args.summary or args.store
    if args.map:
        from upsell_ab.metrics.summary_csv import read_summary

        if not args.summary:
            raise _map_error("--map names the columns of a --summary CSV; give --summary FILE")
        data = read_summary(args.summary, experiment.resolved, summary_columns(args.map))
    # SciPy's import overlaps the query (the analysis needs it after)
    with progress() as step, preload.during_first_query():
        result = experiment.analyze(
            data,
            segments=args.segments,
            daily=not args.no_daily,
            step=step,
        )
        step("rendering the report")
        text = render_runs([result.run], args.format, to_terminal=args.output is None)
    write_text(text, args.output)
    code = exit_code([result.run], args.fail_on)
    for note in failure_notes([result.run], args.fail_on):
        print(f"upsell-ab analyze: {note}", file=sys.stderr)
    return int(code)
