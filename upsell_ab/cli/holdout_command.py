"""`upsell-ab holdout [PATH] --store DB`: the upsell programme against its long-term holdout.

Reads ``program.yaml`` (PATH: the file, or a folder searched like ``metrics.yaml``), builds
the programme-vs-holdout experiment (:mod:`upsell_ab.spec.holdout_analysis`) and runs the
ordinary analysis on the programme exposures logged under the holdout's id. Heavy imports
happen inside :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from upsell_ab.cli.exit_codes import ExitCode


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "holdout",
        help="what the whole upsell programme did, against the long-term holdout",
        description=(
            "Compare customers in the long-term holdout (program.yaml: no offers at all) "
            "with everyone else on the holdout's metrics (repeat purchase, unsubscribes, "
            "complaints, LTV ...). Needs one programme exposure per customer logged under "
            "the holdout's id with variant 'holdout' or 'programme' (HoldoutGate.group)."
        ),
    )
    parser.add_argument(
        "path", nargs="?", default=".", metavar="PATH", help="program.yaml or a folder"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--store", metavar="DB", help="DuckDB store with the exposures")
    source.add_argument("--summary", metavar="FILE.csv", help="per-group sums instead")
    parser.add_argument("--format", choices=("text", "markdown", "json", "html"), default="text")
    parser.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from upsell_ab.cli.run_output import write_text
    from upsell_ab.errors import InputError, Location, Problem
    from upsell_ab.spec.holdout_analysis import programme_spec
    from upsell_ab.spec.program import find_program, load_program
    from upsell_ab.workflow import run_experiment

    path = Path(args.path)
    program_file = path if path.is_file() else find_program(path)
    if program_file is None:
        raise InputError(
            [
                Problem(
                    Location(file=str(path)),
                    "no program.yaml here or in a parent folder",
                    "write one with a holdout (docs/spec.md, 'The programme and its holdout')",
                )
            ]
        )
    holdout = load_program(program_file).holdout
    if holdout is None:
        raise InputError(
            [Problem(Location(file=str(program_file)), "program.yaml has no holdout", None)]
        )
    resolved = programme_spec(holdout, program_file)
    experiment_run = run_experiment(resolved, store=args.store, summary=args.summary)
    write_text(_render(holdout, experiment_run, args.format, args.output is None), args.output)
    if experiment_run.waiting_for_data:
        print(
            f"upsell-ab holdout: note: no programme exposure under '{holdout.id}' yet: log one "
            "per customer with variant holdout or programme (HoldoutGate.group)",
            file=sys.stderr,
        )
    return int(ExitCode.OK)


def _render(holdout: Any, experiment_run: Any, fmt: str, to_terminal: bool) -> str:
    """The programme's answer (gained / lost / no clear difference per metric, as in the
    report's programme section). The experiment machinery's headline ("Ship programme",
    "Keep control") would read as a verdict on switching the programme off, which a
    holdout comparison does not give, so it is not shown; JSON is the report document
    (full analysis) with the ``programme`` answer at the top level, as ``report`` writes."""
    from upsell_ab.cli.run_output import render_runs
    from upsell_ab.report.json_format import render_json
    from upsell_ab.report.programme import (
        build_section,
        programme_html,
        programme_markdown,
        programme_text,
    )

    if experiment_run.waiting_for_data:
        return render_runs([experiment_run], fmt, to_terminal=to_terminal)
    report = experiment_run.report()
    section = build_section(holdout, report)
    if fmt == "json":
        # the report's document, with its top-level ``programme`` as ``report`` writes it
        return render_json([report], programme=section)
    if fmt == "markdown":
        return programme_markdown(section)
    if fmt == "html":
        from html import escape

        title = escape(f"Upsell programme against holdout {holdout.id}")
        return (
            f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}'
            f"</title></head>\n<body>\n{programme_html(section)}\n</body></html>\n"
        )
    return programme_text(section)
