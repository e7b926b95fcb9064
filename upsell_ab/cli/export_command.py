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
    growthbook.add_argument(
        "--store",
        metavar="DB",
        help="read every bandit spec's latest recorded weights from this DuckDB store "
        "(allocation history; --weights wins for the experiments it names)",
    )
    growthbook.set_defaults(run=run)


def _bandit_specs(paths: list[str]) -> list[Any]:
    """Every valid bandit spec under ``paths`` (invalid specs are export_paths' to report)."""
    from upsell_ab.spec.load import discover, parse_file
    from upsell_ab.spec.models import Experiment

    found = []
    for path in discover(paths):
        parsed = parse_file(path, Experiment)
        experiment = parsed.model
        if not parsed.problems and experiment is not None and experiment.allocation.is_bandit:
            found.append(experiment)
    return found


def recorded_weights(bandits: list[Any], store: str) -> dict[str, list[float]]:
    """Latest recorded weights (spec order) of every bandit spec in ``bandits``."""
    from datetime import UTC, datetime

    from upsell_ab.allocation.history import load_allocation_periods, weights_at

    now = datetime.now(UTC)
    found: dict[str, list[float]] = {}
    for experiment in bandits:
        periods = load_allocation_periods(store, experiment)
        current = weights_at(periods, now) if now >= periods[0].period_start else periods[0]
        found[experiment.id] = [float(current.weights[v.id]) for v in experiment.variants]
    return found


def run(args: argparse.Namespace) -> int:
    import sys

    from upsell_ab.cli.run_output import write_text
    from upsell_ab.web.growthbook import dumps, export_paths, read_weights

    bandits = _bandit_specs(args.paths)
    weights = recorded_weights(bandits, args.store) if args.store else {}
    weights.update(read_weights(args.weights) if args.weights else {})
    payload = export_paths(args.paths, weights or None)
    write_text(dumps(payload), args.output)
    for experiment in bandits:
        if experiment.id not in weights:
            # A front end assigning with the starting weights while allocate has moved them
            # would split traffic differently from the backend: say so, never silently.
            print(
                f"note: {experiment.id} is a bandit; exported with the spec's starting "
                "weights (give --store DB for its latest recorded weights, or --weights FILE)",
                file=sys.stderr,
            )
    return int(ExitCode.OK)
