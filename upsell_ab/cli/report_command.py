"""`upsell-ab report PATH...`: one summary of every running experiment (CI job summaries)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

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
Exit codes: 0 done; 1 invalid spec/input; 2 data-quality failure with
--fail-on quality; 3 guardrail breached with --fail-on guardrail."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report", help="report every running experiment", description=DESCRIPTION
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    parser.add_argument("--store", metavar="DB", help="DuckDB store (default: each spec's)")
    add_output_arguments(parser, default_format="markdown")
    add_memory_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    apply_memory_argument(args)
    from upsell_ab.api import Experiment
    from upsell_ab.workflow import running_specs

    specs = running_specs(args.paths)
    runs = []
    with progress(total=len(specs)) as step:
        for resolved in specs:
            result = Experiment(resolved).analyze(args.store, daily=not args.no_daily, step=step)
            runs.append(result.run)
            step.advance()
        step("rendering the report")
        text = render_runs(runs, args.format, to_terminal=args.output is None)
    if not runs:
        print("upsell-ab report: no running experiments found", file=sys.stderr)
    write_text(text, args.output)
    code = exit_code(runs, args.fail_on)
    for note in failure_notes(runs, code):
        print(f"upsell-ab report: {note}", file=sys.stderr)
    return int(code)
