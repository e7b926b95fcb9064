"""`upsell-ab export growthbook`: the GrowthBook SDK payload for every running experiment.

Any GrowthBook SDK (JavaScript, React, iOS, Android, Go, PHP, Python) given
this payload assigns each customer the variant :class:`~upsell_ab.assignment.Assigner`
assigns, and returns the offer to render as the feature value. A targeting
rule GrowthBook cannot evaluate exactly is refused with its spec line.
"""

from __future__ import annotations

import argparse
from typing import Any

from upsell_ab.cli.exit_codes import ExitCode


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export running experiments for other tools (GrowthBook SDK payload)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    growthbook = targets.add_parser(
        "growthbook",
        help="the GrowthBook SDK payload ({'features': ...}) for every running experiment",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    growthbook.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    growthbook.add_argument(
        "--output", "-o", metavar="FILE", help="write to FILE (atomically) instead of stdout"
    )
    growthbook.add_argument(
        "--weights",
        metavar="FILE",
        help='current weights per experiment, JSON {"experiment_id": [w1, w2, ...]} in spec '
        "order (e.g. a bandit's latest allocation); default: the spec's weights",
    )
    growthbook.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from upsell_ab.cli.run_output import write_text
    from upsell_ab.web.growthbook import dumps, export_paths, read_weights

    weights = read_weights(args.weights) if args.weights else None
    payload = export_paths(args.paths, weights)
    write_text(dumps(payload), args.output)
    return int(ExitCode.OK)
