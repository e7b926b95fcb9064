"""`upsell-ab simulate SPEC... --store DB`: realistic data with stated true effects."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from upsell_ab.simulate.generate import SimulatedExperiment
    from upsell_ab.spec.resolve import ResolvedExperiment

DESCRIPTION = """Simulate exposures and events for the given specs (files or folders)
and ingest them into a DuckDB store. Units are assigned by the real assigner
(weights, targeting, coverage hold), with daily traffic, order values, repeat
purchases, refunds, unsubscribes and pre-exposure history. True effects come
from each variant's offer (docs/workflow.md) unless --effects overrides them.
Deterministic per --seed; re-running adds nothing (idempotent ingest). A bandit
spec (allocation: bandit) is simulated period by period, calling `allocate` at
each period's end as production would, so its weights move with the data."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate", help="simulate data with known effects into a store", description=DESCRIPTION
    )
    parser.add_argument("specs", nargs="+", metavar="SPEC", help="spec files or folders")
    parser.add_argument("--store", required=True, metavar="DB", help="DuckDB store to write")
    parser.add_argument("--units", type=int, default=20000, help="customers per experiment")
    parser.add_argument("--days", type=int, default=14, help="days of traffic (default 14)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--start", type=date.fromisoformat, help="first day (YYYY-MM-DD)")
    parser.add_argument(
        "--effects",
        metavar="FILE",
        help="YAML/JSON: {variant: {event_type: multiplier}} or {experiment: {variant: {...}}}",
    )
    parser.add_argument(
        "--aa", action="store_true", help="A/A: every variant behaves as the control"
    )
    parser.set_defaults(run=run)


def load_specs(paths: list[str]) -> list[ResolvedExperiment]:
    from upsell_ab.spec.load import discover, load_experiment

    return [load_experiment(p) for p in discover([Path(p) for p in paths])]


def ingest(
    resolved: list[ResolvedExperiment],
    store: str | Path,
    *,
    units: int,
    days: int,
    seed: int,
    start: date | None = None,
    effects: str | None = None,
    aa: bool = False,
) -> list[SimulatedExperiment]:
    """Simulate and write into ``store``; returns what was simulated."""
    from dataclasses import replace

    from upsell_ab.events.store import EventStore
    from upsell_ab.simulate.generate import simulate_detailed
    from upsell_ab.simulate.truth import Truth, load_effects

    truth = load_effects(effects) if effects else Truth()
    if aa:
        truth = replace(truth, null=True)
    fixed = [r for r in resolved if not r.experiment.allocation.is_bandit]
    by_id: dict[str, SimulatedExperiment] = {}
    if fixed:
        exposures, events, summaries = simulate_detailed(
            fixed, units=units, days=days, seed=seed, start=start, truth=truth
        )
        with EventStore(store) as target, _simulation_conflicts():
            target.ingest_exposures(exposures, source_name="simulate")
            target.ingest_events(events, source_name="simulate")
        by_id.update((s.experiment_id, s) for s in summaries)
    for item in resolved:
        if item.experiment.allocation.is_bandit:
            # weights depend on the data so far: simulated period by period, with
            # ``allocate`` at every period's end, as production runs it
            from upsell_ab.simulate.adaptive import simulate_bandit

            run = simulate_bandit(
                item, store, units=units, days=days, seed=seed, start=start, truth=truth
            )
            by_id[item.experiment.id] = run.summary
    return [by_id[r.experiment.id] for r in resolved]


@contextmanager
def _simulation_conflicts() -> Iterator[None]:
    """A store already holding another simulation (other --seed/--units/--days/--start)
    refuses the new rows (same ids, other content); simulate has no --replace, so its
    hint names what a simulating user can do."""
    from dataclasses import replace

    from upsell_ab.errors import InputError

    try:
        yield
    except InputError as error:
        problems = [
            replace(
                p,
                hint="this store holds a different simulation (another --seed, --units, "
                "--days or --start); simulate into a new --store, or remove the old batch "
                "with 'upsell-ab store remove N' (N from 'upsell-ab store list')",
            )
            if p.code == "conflict"
            else p
            for p in error.problems
        ]
        raise InputError(problems) from error


def run(args: argparse.Namespace) -> int:
    from upsell_ab.cli.exit_codes import ExitCode
    from upsell_ab.errors import InputError, Location, Problem

    if args.units < 1 or args.days < 1:
        raise InputError(
            [Problem(Location(field="--units/--days"), "must be at least 1", code="bad_argument")]
        )
    resolved = load_specs(args.specs)
    if not resolved:
        raise InputError([Problem(Location(file=" ".join(args.specs)), "no spec files found")])
    summaries = ingest(
        resolved,
        args.store,
        units=args.units,
        days=args.days,
        seed=args.seed,
        start=args.start,
        effects=args.effects,
        aa=args.aa,
    )
    for summary in summaries:
        takes = ", ".join(
            f"{variant} take {truth.take_rate * 100:.1f} %"
            for variant, truth in summary.truths.items()
        )
        print(
            f"{summary.experiment_id}: {summary.units_exposed:,} of {summary.units_arrived:,} "
            f"units exposed ({takes})"
        )
        if summary.holdout is not None:
            print(
                f"  programme {summary.holdout}: a programme exposure for each of the "
                f"{summary.units_arrived:,} customers, {summary.held_out:,} held out (no offer)"
            )
        if summary.units_exposed == 0:
            print(
                f"  note: no simulated customer matched {summary.experiment_id}'s targeting; "
                "the simulated world has segments new/returning/vip and channels "
                "web/app/email/in_store (docs/workflow.md)"
            )
    print(f"store: {args.store}")
    return int(ExitCode.OK)
