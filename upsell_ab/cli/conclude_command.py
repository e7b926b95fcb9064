"""`upsell-ab conclude SPEC`: freeze an experiment's final analysis in the results archive.

Writes ``experiments/results/<id>/v<N>.json`` (:mod:`upsell_ab.archive`): the spec as
analysed and its hash, the data fingerprint, every comparison, the decision and who
concluded it when. Records are immutable: concluding again on the same spec and data
says "unchanged"; on different ones it is refused unless ``--force`` (then a new version
is written and the old one kept). Heavy imports happen inside :func:`run`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from upsell_ab.cli.exit_codes import ExitCode


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "conclude",
        help="freeze an experiment's final analysis and decision in the results archive",
        description=(
            "Analyse SPEC (from --store or --summary, like analyze) and write its final "
            "analysis and decision as an immutable, versioned JSON record under "
            "experiments/results/<id>/ (the spec's folder). Concluding again on other data "
            "is refused unless --force, which writes the next version beside the old one. "
            "Then set the spec's status to concluded: validate checks it has its record."
        ),
    )
    parser.add_argument("spec", metavar="SPEC", help="experiment spec (YAML)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--store", metavar="DB", help="DuckDB store (default: the spec's data)")
    source.add_argument("--summary", metavar="FILE.csv", help="per-variant sums instead of events")
    parser.add_argument("--force", action="store_true", help="write a new version on new data")
    parser.add_argument("--by", metavar="NAME", help="who concludes (default: $USER)")
    parser.add_argument("--results", metavar="DIR", help="archive folder (default: results/)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from upsell_ab.archive.record import build_record, data_fingerprint, data_hash, spec_hash
    from upsell_ab.archive.store import results_dir, write_record
    from upsell_ab.decision.horizon import final_look
    from upsell_ab.errors import InputError, Location, Problem
    from upsell_ab.spec.load import load_experiment
    from upsell_ab.workflow import run_experiment

    # concluding is the experiment's final look: the fixed-horizon "ship" needs no
    # planned sample then (docs/decision.md, "Before ship")
    resolved = final_look(load_experiment(args.spec))
    experiment_run = run_experiment(resolved, store=args.store, summary=args.summary, daily=False)
    experiment = experiment_run.resolved.experiment
    if experiment_run.waiting_for_data:
        raise InputError(
            [
                Problem(
                    Location(file=args.spec),
                    f"{experiment.id} has no exposed units: there is nothing to conclude",
                    "point --store at the experiment's data (or --summary at its sums)",
                )
            ]
        )
    data = data_fingerprint(experiment_run)
    who = args.by or _user()
    written = write_record(
        results_dir(args.spec, args.results),
        lambda version: build_record(experiment_run, concluded_by=who, version=version, data=data),
        experiment.id,
        spec_sha=spec_hash(experiment),
        data_sha=data_hash(data),
        force=args.force,
    )
    outcome = experiment_run.outcome
    verdict = outcome.action.value + (f" {outcome.variant}" if outcome.variant else "")
    if args.format == "json":
        print(
            json.dumps(
                {
                    "experiment": experiment.id,
                    "status": written.status,
                    "version": written.version,
                    "path": str(written.path),
                    "decision": verdict,
                }
            )
        )
    elif written.status == "unchanged":
        print(
            f"unchanged: {experiment.id} is already concluded as v{written.version} on this spec "
            f"and data ({written.path})"
        )
    else:
        print(f"concluded {experiment.id} as v{written.version}: {verdict} -> {written.path}")
        if experiment.status.value != "concluded":
            print(
                f"  next: set 'status: concluded' in {args.spec} (validate then checks the record)",
                file=sys.stderr,
            )
    return int(ExitCode.OK)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
