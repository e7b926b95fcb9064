"""``plan`` in plain words: what each metric needs, what drives the duration, whether it fits.

When the needed duration exceeds the spec's window (``start`` .. ``end``, or
``--days``), the text says so first, then what the window *can* detect (the
smallest MDE and guardrail margin, relative and absolute) and the alternatives
with their own durations: fewer arms, CUPED from history (with the variance
reduction measured on that history), an absolute margin for a guardrail on a
rare event, and the Bayesian rule with an expected-loss threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def _days(days: float | None) -> str:
    if days is None:
        return "?"
    if days >= 365 * 2:
        return f"{days:,.0f} days (about {days / 365:.0f} years)"
    return f"{math.ceil(days - 1e-9):,} days"


def _effect(metric: Any) -> str:
    m = metric.input
    if m.test == "non_inferiority":
        shown = (
            f"{m.effect:.4g} relative ({m.effect:.1%})"
            if m.effect_kind == "relative"
            else f"{m.effect:.4g} absolute"
        )
        return f"not worse by more than {shown}"
    if m.effect_kind == "relative":
        absolute = f", {metric.effect_absolute:.4g} absolute" if metric.effect_absolute else ""
        return f"lift of {m.effect:.1%}{absolute}"
    return f"change of {m.effect:.4g} absolute"


def _baseline(m: Any) -> str:
    parts = []
    if m.baseline is not None:
        parts.append(f"baseline {m.baseline:.4g}")
    if m.std is not None and m.kind == "mean":
        parts.append(f"std {m.std:.4g}")
    if m.cuped and m.variance_reduction is not None:
        parts.append(f"CUPED -{m.variance_reduction:.0%} variance")
    text = ", ".join(parts)
    return f"{text} ({m.source})" if text else "no baseline"


def reachable_lines(plan: Any, label: str) -> list[str]:
    lines = [f"  {label} it can detect:"]
    for r in plan.reachable:
        metric = next(p for p in plan.metrics if p.input.name == r.metric)
        what = "a margin of" if r.test == "non_inferiority" else "a lift of"
        if r.absolute is None:
            detail = (
                "no effect (the rate cannot move that far)"
                if metric.input.baseline is not None
                else "unknown (no baseline)"
            )
        elif r.relative is not None:
            detail = f"{what} {r.relative:.1%} relative ({r.absolute:.4g} absolute)"
        else:
            detail = f"{what} {r.absolute:.4g} absolute"
        lines.append(f"    {r.metric}: {detail}")
    return lines


def alternatives(
    plan: Any, inputs: Sequence[Any], weights: dict[str, float], control: str
) -> list[str]:
    """Each option the project offers, with the duration it would need."""
    from upsell_ab.stats.planning import plan_experiment, with_cuped

    options: list[str] = []
    window = plan.window_days
    driver = next((p for p in plan.metrics if p.input.name == plan.driver), None)
    common = dict(
        alpha=plan.alpha, power=plan.power, alternative=plan.alternative,
        daily_units=plan.daily_units,
    )  # fmt: skip
    if plan.arms > 2:
        keep = next(v for v in weights if v != control)
        two = plan_experiment(inputs, weights={control: 0.5, keep: 0.5}, control=control, **common)
        options.append(
            f"fewer arms: control and one treatment need {_days(two.days)} "
            f"(alpha is no longer split over {plan.arms - 1} comparisons)"
        )
    if any(m.variance_reduction for m in inputs):
        cuped = plan_experiment(with_cuped(inputs), weights=weights, control=control, **common)
        gains = ", ".join(
            f"{m.name} -{m.variance_reduction:.0%}" for m in inputs if m.variance_reduction
        )
        options.append(
            f"CUPED from history (variance on that history: {gains}): {_days(cuped.days)}; "
            "add cuped: {lookback: 28d} to the metric in metrics.yaml"
        )
    for metric in plan.metrics:
        m = metric.input
        if (
            m.test == "non_inferiority"
            and m.effect_kind == "relative"
            and metric.effect_absolute is not None
            and m.baseline is not None
            and plan.daily_units
            and window
        ):
            fits = next((r for r in plan.reachable if r.metric == m.name), None)
            if fits is not None and fits.absolute is not None:
                options.append(
                    f"{m.name}: a relative margin on a rate of {m.baseline:.2%} is "
                    f"{metric.effect_absolute:.4g} absolute; the smallest margin that fits is "
                    f"margin: {fits.absolute:.2g}, margin_kind: absolute "
                    f"({fits.absolute * 100:.2g} percentage points)"
                )
    decider = next((p for p in plan.metrics if p.input.role == "decision"), None) or next(
        (p for p in plan.metrics if p.input.role == "primary"), None
    )
    if decider is not None and decider.effect_absolute is not None:
        loss = decider.effect_absolute / 10
        rails = (
            f" (the guardrail {driver.input.name} still needs its own sample)"
            if driver is not None and driver.input.role == "guardrail"
            else ""
        )
        options.append(
            "the Bayesian rule: analysis.decision: {rule: bayesian, expected_loss_threshold: "
            f"{loss:.2g}}} ships the arm most likely best on {decider.input.name} once choosing "
            f"it would cost at most {loss:.2g} per customer in expectation (a tenth of the "
            f"MDE); no fixed sample, a bounded expected loss instead of the {plan.alpha:g} "
            f"false-positive guarantee{rails}"
        )
    if driver is not None and driver.input.test == "superiority":
        fits = next((r for r in plan.reachable if r.metric == driver.input.name), None)
        if fits is not None and fits.relative is not None:
            options.append(
                f"a bolder change: an effect of {fits.relative:.0%} on {driver.input.name} "
                "would be detectable by the end date"
            )
    return options


def render_text(
    experiment: Any, plan: Any, inputs: Sequence[Any], notes: Sequence[str], coverage: float,
    window_label: str | None, *, asked: bool = False, units_given: bool = False,
) -> str:  # fmt: skip
    weights = {v.id: v.weight for v in experiment.variants}
    control = experiment.control.id
    split = (
        f", alpha {plan.alpha / (plan.arms - 1):.4g} per comparison (Bonferroni over "
        f"{plan.arms - 1} treatments)"
        if plan.arms > 2
        else ""
    )
    lines = [
        f"Plan for {experiment.id} ({experiment.name})",
        f"  {plan.arms} arms, alpha {plan.alpha:g} {plan.alternative.replace('_', '-')}{split}, "
        f"power {plan.power:g}",
    ]
    if plan.daily_units:
        lines.append(
            f"  traffic: {plan.daily_units:,.0f} units a day in the experiment "
            f"(coverage {coverage:.0%})"
        )
    for metric in plan.metrics:
        m = metric.input
        kind = f"{m.metric_type}, planned as a mean" if m.metric_type else m.kind
        head = f"  {m.role} {m.name} ({kind}, {_baseline(m)}): {_effect(metric)}"
        if metric.total_units is None:
            lines.append(f"{head}: not planned ({metric.missing})")
            continue
        per = ", ".join(f"{v} {n:,}" for v, n in metric.n_per_variant.items())
        days = f", {_days(metric.days)}" if metric.days is not None else ""
        lines.append(f"{head}")
        lines.append(f"      needs {metric.total_units:,} units ({per}){days}")
    for note in notes:
        lines.append(f"  note: {note}")
    if plan.driver is None:
        lines.append("  nothing could be planned: give the baselines above")
        return "\n".join(lines)
    lines.append(
        f"  the experiment needs {plan.total_units:,} units"
        + (f", {_days(plan.days)}" if plan.days is not None else "")
        + f"; {plan.driver} drives the duration"
    )
    if plan.days is None:
        lines.append("  duration: unknown (give --daily-units or analysis.daily_units, or --store)")
    if plan.feasible is False:
        lines.append(
            f"  NOT FEASIBLE: it needs {_days(plan.days)}, but {window_label} gives "
            f"{plan.window_days:g} days ({plan.units_in_window:,} units at "
            f"{plan.daily_units:,.0f} a day). Decide before the test starts."
        )
    elif plan.feasible:
        lines.append(f"  fits {window_label} ({plan.window_days:g} days)")
    if plan.reachable and plan.reachable_n is not None and (asked or plan.feasible is False):
        label = (
            f"with {plan.reachable_n:,.0f} per variant"
            if units_given or not window_label
            else f"by the end of {window_label} ({plan.reachable_n:,.0f} per variant)"
        )
        lines += reachable_lines(plan, label)
    if plan.feasible is False:
        lines.append("  options:")
        for option in alternatives(plan, inputs, weights, control):
            lines.append(f"  - {option}")
    return "\n".join(lines)
