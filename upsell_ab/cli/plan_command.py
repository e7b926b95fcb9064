"""`upsell-ab plan SPEC`: how many units and days the experiment needs, and whether it fits.

Plans every metric that can decide or block (:mod:`upsell_ab.stats.planning`):
the primary at the spec's MDE, the decision metric (e.g. profit after discount)
and each guardrail's non-inferiority test at its margin; the largest drives
the duration. Baselines and standard deviations come from ``--baseline`` /
``--std`` (``METRIC=VALUE`` for a metric other than the primary) or from the
shop's history with ``--store`` (:mod:`upsell_ab.metrics.history`). The
duration is checked against the spec's window (``start`` .. ``end``) or
``--days``; when it does not fit, the output says what the window can detect
and which alternatives would work. ``--units N`` answers "what can N units
per variant detect". Heavy imports happen inside :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from upsell_ab.cli.arg_types import positive_float
from upsell_ab.cli.exit_codes import ExitCode
from upsell_ab.errors import UpsellAbError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="sample size, duration and feasibility for an experiment spec",
        description=(
            "Units and days needed for the primary metric at the spec's MDE, the decision "
            "metric and every guardrail's non-inferiority margin (the largest drives the "
            "duration), checked against the spec's start..end window or --days; what the "
            "window can detect when it is too short, and the alternatives."
        ),
    )
    parser.add_argument("spec", metavar="SPEC", help="experiment spec (YAML)")
    parser.add_argument(
        "--baseline",
        action="append",
        metavar="[METRIC=]X",
        help="control rate (a share: 0.2 for 20 %%) or mean; bare = primary metric; repeat",
    )
    parser.add_argument(
        "--std", action="append", metavar="[METRIC=]S", help="per-unit standard deviation"
    )
    parser.add_argument(
        "--store", metavar="DB", help="read baselines, std and traffic from history"
    )
    parser.add_argument(
        "--history-days", type=int, default=28, help="days of history to read (default 28)"
    )
    parser.add_argument(
        "--daily-units", type=positive_float, help="eligible units a day (default: spec)"
    )
    parser.add_argument("--mde", type=positive_float, help="override the spec's MDE")
    parser.add_argument("--mde-kind", choices=("relative", "absolute"), help="override mde_kind")
    parser.add_argument("--units", type=int, help="what N units per variant can detect")
    parser.add_argument(
        "--days", type=positive_float, help="what D days can detect (default: the window)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--slot-sd", type=positive_float, help="switchback specs: sd of the slot effect"
    )
    parser.add_argument(
        "--units-per-slot", type=positive_float, help="switchback specs: customers a slot"
    )
    parser.set_defaults(run=run)


def _window(experiment: Any, days: float | None) -> tuple[float | None, str | None]:
    if days is not None:
        return days, f"the next {days:g} days"
    if experiment.start is not None and experiment.end is not None:
        span = (experiment.end - experiment.start).days
        return float(span), f"the window {experiment.start} .. {experiment.end}"
    return None, None


def run(args: argparse.Namespace) -> int:
    from upsell_ab.cli.plan_inputs import metric_inputs, split_assignments
    from upsell_ab.cli.plan_text import alternatives, render_text
    from upsell_ab.errors import StatsError
    from upsell_ab.spec.load import load_experiment
    from upsell_ab.stats.planning import plan_experiment

    resolved = load_experiment(args.spec)
    experiment = resolved.experiment
    settings = experiment.analysis
    primary = experiment.metrics.primary
    known = list(resolved.metrics)
    baselines = split_assignments(args.baseline, primary, "--baseline", known)
    stds = split_assignments(args.std, primary, "--std", known)
    history = None
    if args.store:
        from upsell_ab.metrics.history import read_history

        history = read_history(resolved, args.store, days=args.history_days)
        if not history.units:
            raise StatsError(
                f"the store has no customers with events between {history.entry_start:%Y-%m-%d} "
                f"and {history.entry_end:%Y-%m-%d} (history before the start, leaving room for "
                "the longest metric window); give --baseline/--std, or a store with that history"
            )
    mde = args.mde if args.mde is not None else settings.mde
    mde_kind = args.mde_kind or settings.mde_kind.value
    if mde_kind == "relative" and mde > 1:
        from upsell_ab.spec.rules import percent_scale_hint

        raise StatsError(
            f"a relative MDE of {mde:g} means a lift of {mde * 100:,.0f} % "
            f"({percent_scale_hint(mde)}, or give --mde-kind absolute)"
        )
    inputs, notes = metric_inputs(
        resolved, baselines=baselines, stds=stds, history=history, mde=mde, mde_kind=mde_kind
    )
    about_primary = "".join(f"; {n}" for n in notes if n.startswith(f"{primary}: the history"))
    if inputs[0].kind == "proportion" and inputs[0].baseline is None:
        raise StatsError(
            f"'{primary}' is a rate: pass --baseline (control rate, e.g. 0.2) or --store"
            + about_primary
        )
    if inputs[0].kind == "mean" and inputs[0].std is None:
        raise StatsError(
            f"'{primary}' is a {resolved.metrics[primary].type.value} metric: pass --std "
            "(per-unit standard deviation) or --store" + about_primary
        )
    if experiment.randomization.is_switchback:
        from upsell_ab.cli.plan_switchback import plan_switchback

        return plan_switchback(args, resolved, inputs[0])
    coverage = experiment.population.coverage
    daily = args.daily_units if args.daily_units is not None else settings.daily_units
    if daily is None and history is not None and history.daily_units:
        daily = history.daily_units
        notes.append(f"traffic: {daily:,.1f} eligible units a day in the history")
    window_days, window_label = _window(experiment, args.days)
    weights = {v.id: v.weight for v in experiment.variants}
    control = experiment.control.id
    plan = plan_experiment(
        inputs,
        weights=weights,
        control=control,
        alpha=settings.alpha,
        power=settings.power,
        alternative=settings.alternative.value,
        daily_units=daily * coverage if daily else None,
        window_days=window_days,
        units_per_variant=args.units,
    )
    if args.format == "json":
        payload = {
            "experiment": experiment.id,
            "coverage": coverage,
            **{k: v for k, v in asdict(plan).items() if k not in ("metrics", "reachable")},
            "metrics": [
                {**asdict(p.input), **{k: v for k, v in asdict(p).items() if k != "input"}}
                for p in plan.metrics
            ],
            "reachable": [asdict(r) for r in plan.reachable],
            "alternatives": alternatives(plan, inputs, weights, control)
            if plan.feasible is False
            else [],
            "notes": notes,
        }
        print(json.dumps(payload, indent=2))
        return int(ExitCode.OK)
    asked = args.units is not None or args.days is not None
    text = render_text(
        experiment, plan, inputs, notes, coverage, window_label,
        asked=asked, units_given=args.units is not None,
    )  # fmt: skip
    print(text)
    return int(ExitCode.OK)


def plan_for_init(spec: Path, *, baseline: str | None, std: str | None, out: TextIO) -> None:
    """The plan ``init`` prints after writing ``spec`` (or how to get one)."""
    args = argparse.Namespace(
        spec=str(spec),
        baseline=None if baseline is None else [baseline],
        std=None if std is None else [std],
        store=None,
        history_days=28,
        daily_units=None,
        mde=None,
        mde_kind=None,
        units=None,
        days=None,
        format="text",
    )
    try:
        saved, sys.stdout = sys.stdout, out
        try:
            run(args)
        finally:
            sys.stdout = saved
    except UpsellAbError as error:
        print(f"plan: {error}", file=out)
        print(f"then run: upsell-ab plan {spec} --baseline ... (or --store DB)", file=out)
