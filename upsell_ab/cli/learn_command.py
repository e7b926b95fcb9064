"""`upsell-ab learn --comparisons FILE.csv`: what works across experiments, by offer lever.

Pools the effect sizes of many experiments (one CSV row per comparison; see
:mod:`upsell_ab.learn.comparisons`) with a fixed- or random-effects meta-analysis
(:mod:`upsell_ab.stats.meta_analysis`), per value of one lever with ``--by``. Heavy
imports (scipy) happen inside :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from upsell_ab.cli.exit_codes import ExitCode

DESCRIPTION = """Pool the comparisons of many experiments (a CSV: experiment, lever columns,
metric, estimate, se or variance, optional n_control/n_treatment) with a random-effects
meta-analysis: REML (default) or DerSimonian-Laird between-experiment variance, or a fixed
effect; the Hartung-Knapp interval with --hksj; I^2 and a prediction interval for the next
experiment. --by LEVER pools each value of that column separately (e.g. a column 'timing'
holding 'post_purchase vs at_checkout'). Estimates are pooled on their own scale: give
relative lifts (or log ratios) with their standard errors, one scale per file."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "learn",
        help="pool lifts across experiments by offer lever (meta-analysis)",
        description=DESCRIPTION,
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="result records (upsell-ab conclude) or folders holding them, e.g. "
        "experiments/results",
    )
    parser.add_argument("--comparisons", metavar="FILE.csv", help="one row per comparison")
    parser.add_argument("--metric", help="the metric to pool (required when the file has several)")
    parser.add_argument("--by", metavar="LEVER", help="pool each value of this lever column")
    parser.add_argument(
        "--method",
        choices=("reml", "dl", "fe"),
        default="reml",
        help="tau^2 estimator (default reml)",
    )
    parser.add_argument("--hksj", action="store_true", help="Hartung-Knapp-Sidik-Jonkman interval")
    parser.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    parser.add_argument("--format", choices=("text", "markdown", "json", "html"), default="text")
    parser.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from upsell_ab.errors import InputError, Location, Problem
    from upsell_ab.learn.comparisons import read_comparisons
    from upsell_ab.learn.pool import pool_comparisons
    from upsell_ab.report.learn import RENDERERS

    if not 0.0 < args.level < 1.0:
        raise InputError(
            [Problem(Location(field="--level"), f"{args.level} is not in (0, 1)", "e.g. 0.95")]
        )
    if not args.paths and not args.comparisons:
        raise InputError(
            [
                Problem(
                    Location(field="learn"),
                    "nothing to learn from",
                    "give result records or folders (experiments/results), or --comparisons",
                )
            ]
        )
    comparisons = read_comparisons(args.comparisons) if args.comparisons else []
    several: list[Any] = []
    excluded: list[Any] = []
    if args.paths:
        from upsell_ab.learn.archive import archived_comparisons

        archived, several, excluded = archived_comparisons(args.paths)
        comparisons += archived
    source = args.comparisons or " ".join(args.paths)
    left_out = "; ".join(f"{e.experiment} ({e.reason})" for e in excluded)
    if not comparisons:
        raise InputError(
            [
                Problem(
                    Location(file=source),
                    "no comparison varies a single offer lever"
                    + (f" (left out, concluded as invalid: {left_out})" if excluded else ""),
                    "pooling needs comparisons whose offers differ in exactly one lever",
                )
            ]
        )
    levers = (
        [args.by]
        if args.by or args.comparisons
        else sorted({lever for c in comparisons for lever in c.levers})
    )
    pools = []
    for lever in levers:
        # archived comparisons carry only the lever they vary: pool each where it applies
        members = [c for c in comparisons if c.line or lever is None or lever in c.levers]
        if not members:
            continue
        pools += pool_comparisons(
            members,
            source=source,
            metric=args.metric,
            by=lever,
            method=args.method,
            hksj=args.hksj,
            level=args.level,
        )
    if excluded and pools:
        from dataclasses import replace

        pools[0] = replace(
            pools[0],
            notes=(*pools[0].notes, f"concluded as invalid, not pooled: {left_out}"),
        )
    if several:
        from dataclasses import replace

        listed = "; ".join(
            f"{s.experiment}:{s.variant} on {s.metric} ({', '.join(s.levers)})" for s in several
        )
        pools[0] = replace(
            pools[0],
            notes=(*pools[0].notes, f"varies several levers at once, not pooled: {listed}"),
        )
    text = RENDERERS[args.format](pools)
    if args.output:
        from upsell_ab.output_file import write_output

        write_output(args.output, text)
    else:
        sys.stdout.write(text)
    return int(ExitCode.OK)
