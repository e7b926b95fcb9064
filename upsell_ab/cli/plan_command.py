"""`upsell-ab plan SPEC`: units per variant, total and days needed for the spec's MDE.

Uses the spec's analysis settings (alpha, power, mde, mde_kind, alternative,
daily_units), its variants and weights, and its population coverage. The
primary metric's type picks the formula (:mod:`upsell_ab.stats.power`):
proportion/retention need ``--baseline`` (the control rate); mean, count,
profit and ratio metrics need ``--std`` (per-unit standard deviation; for a
ratio the delta-method one) and, for a relative MDE, ``--baseline`` (the
control mean). ``--units N`` also prints the MDE reachable with N units per
variant. Heavy imports (scipy) happen inside :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import math
from contextlib import redirect_stdout
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from upsell_ab.cli.exit_codes import ExitCode
from upsell_ab.errors import UpsellAbError

BINARY = ("proportion", "retention")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="sample size and duration for an experiment spec",
        description=(
            "Units per variant, total units and days needed to detect the spec's MDE on its "
            "primary metric at the spec's alpha and power (Bonferroni split over treatments)."
        ),
    )
    parser.add_argument("spec", metavar="SPEC", help="experiment spec (YAML)")
    parser.add_argument("--baseline", type=float, help="control rate (proportion) or mean")
    parser.add_argument("--std", type=float, help="per-unit standard deviation (mean metrics)")
    parser.add_argument("--daily-units", type=float, help="eligible units a day (default: spec)")
    parser.add_argument("--mde", type=float, help="override the spec's MDE")
    parser.add_argument("--mde-kind", choices=("relative", "absolute"), help="override mde_kind")
    parser.add_argument("--units", type=int, help="also show the MDE reachable with N per variant")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from upsell_ab.errors import StatsError
    from upsell_ab.spec.load import load_experiment
    from upsell_ab.stats import power

    resolved = load_experiment(args.spec)
    experiment = resolved.experiment
    settings = experiment.analysis
    primary = experiment.metrics.primary
    metric_type = resolved.metrics[primary].type.value
    binary = metric_type in BINARY
    if binary and args.baseline is None:
        raise StatsError(f"'{primary}' is a {metric_type} metric: pass --baseline (control rate)")
    if not binary and args.std is None:
        raise StatsError(
            f"'{primary}' is a {metric_type} metric: pass --std (per-unit standard deviation)"
        )
    daily = args.daily_units if args.daily_units is not None else settings.daily_units
    coverage = experiment.population.coverage
    result = power.plan(
        weights={v.id: v.weight for v in experiment.variants},
        control=experiment.control.id,
        mde=args.mde if args.mde is not None else settings.mde,
        mde_kind=args.mde_kind or settings.mde_kind.value,
        baseline=args.baseline,
        std=None if binary else args.std,
        alpha=settings.alpha,
        power=settings.power,
        alternative=settings.alternative.value,
        daily_units=daily * coverage if daily else None,
    )
    reachable = None
    if args.units is not None:
        alpha, target = result.alpha_per_comparison, settings.power
        if binary:
            reachable = power.mde_proportion(
                args.baseline, args.units, alpha=alpha, power=target, alternative=result.alternative
            )
        else:
            reachable = power.mde_mean(
                args.std, args.units, alpha=alpha, power=target, alternative=result.alternative
            )
    if args.format == "json":
        payload: dict[str, Any] = {
            "experiment": experiment.id,
            "metric": primary,
            "metric_type": metric_type,
        }
        payload |= asdict(result)
        payload |= {"coverage": coverage, "units": args.units, "reachable_mde_absolute": reachable}
        print(json.dumps(payload, indent=2))
        return int(ExitCode.OK)
    print(_text(experiment.id, experiment.name, primary, metric_type, result, coverage))
    if args.units is not None:
        shown = "not reachable (rate would leave 0..1)" if reachable is None else f"{reachable:.4g}"
        print(f"  MDE reachable with {args.units:,} per variant: {shown} absolute")
    return int(ExitCode.OK)


def _text(exp_id: str, name: str, metric: str, kind: str, plan: Any, coverage: float) -> str:
    treatments = len(plan.n_per_variant) - 1
    relative = f"{plan.mde_relative:.2%} relative, " if plan.mde_relative is not None else ""
    baseline = f", baseline {plan.baseline:g}" if plan.baseline is not None else ""
    std = f", std {plan.std:g}" if plan.std is not None else ""
    split = (
        f" ({plan.alpha_per_comparison:.4g} per comparison, Bonferroni over {treatments} arms)"
        if treatments > 1
        else ""
    )
    lines = [
        f"Plan for {exp_id} ({name})",
        f"  primary metric: {metric} ({kind}{baseline}{std})",
        f"  MDE: {relative}{plan.mde_absolute:.4g} absolute",
        f"  alpha {plan.alpha:g} {plan.alternative.replace('_', '-')}{split}, power {plan.power:g}",
        "  units per variant: " + ", ".join(f"{v} {n:,}" for v, n in plan.n_per_variant.items()),
        f"  total units: {plan.total_units:,}",
    ]
    if plan.days is not None:
        lines.append(
            f"  duration: {math.ceil(plan.days):,} days ({plan.days:.1f}) at "
            f"{plan.daily_units:,.0f} units a day in the experiment (coverage {coverage:.0%})"
        )
    else:
        lines.append("  duration: unknown (give --daily-units or analysis.daily_units)")
    return "\n".join(lines)


def plan_for_init(spec: Path, *, baseline: str | None, std: str | None, out: TextIO) -> None:
    """The plan ``init`` prints after writing ``spec`` (or how to get one)."""
    args = argparse.Namespace(
        spec=str(spec),
        baseline=None if baseline is None else float(baseline),
        std=None if std is None else float(std),
        daily_units=None,
        mde=None,
        mde_kind=None,
        units=None,
        format="text",
    )
    try:
        with redirect_stdout(out):
            run(args)
    except UpsellAbError as error:
        print(f"plan: {error}", file=out)
        print(f"then run: upsell-ab plan {spec} --baseline ...", file=out)
