"""The analysis of an adaptively allocated (bandit) experiment: every comparison on the
period-weighted statistics, and the SRM test against each period's weights.

Why. When a bandit moved traffic between arms while the metric drifted, pooling an
arm's units weighs its periods by its own traffic (Simpson's paradox): three identical
wordings, the last one fed in a busy week, look different. The data layer computes the
statistics per allocation window (:mod:`upsell_ab.metrics.sql_periods`);
:func:`upsell_ab.stats.period_weighted.period_weighted` combines them with the same
weights w_t = N_t / N for every arm (GrowthBook's bandit estimator; Cochran 1977,
stratified means) into pseudo sufficient statistics that both engines take unchanged.
0/1 metrics are then analysed as means (the pseudo sums are not counts of successes),
as GrowthBook does for bandits. The expected unit counts of the SRM test are the sum
over periods of N_t x weight_t (:mod:`upsell_ab.stats.srm_periods`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from upsell_ab.metrics.aggregates import ExperimentData
    from upsell_ab.metrics.sufficient import MetricStats
    from upsell_ab.spec.resolve import ResolvedExperiment
    from upsell_ab.stats.results import SrmResult

BINARY = ("proportion", "retention")


def is_adaptive(data: ExperimentData) -> bool:
    """True when the statistics come split by more than one allocation window."""
    return data.periods is not None and len(data.periods.windows) > 1


def period_weighted_view(
    resolved: ResolvedExperiment, data: ExperimentData
) -> tuple[ResolvedExperiment, ExperimentData, list[str]]:
    """``resolved`` and ``data`` as the engines must see an adaptive experiment (0/1
    metrics as means, every arm's statistics period-weighted), plus the report's notes.
    Unchanged for a fixed split."""
    if not is_adaptive(data):
        return resolved, data, []
    from upsell_ab.spec.models import MetricType
    from upsell_ab.stats.period_weighted import period_weighted

    assert data.periods is not None
    variants = [v.id for v in resolved.experiment.variants]
    metrics = dict(data.metrics)
    definitions = dict(resolved.metrics)
    merged = 0
    from upsell_ab.metrics.quantile import QuantileStats

    for name, series in data.periods.by_metric.items():
        if name not in metrics or any(
            isinstance(s, QuantileStats) for period in series for s in period.values()
        ):
            continue  # order statistics do not combine by period: left pooled
        weighting = period_weighted(series, variants)
        merged = max(merged, weighting.periods_in - weighting.periods_used)
        metrics[name] = dataclasses.replace(metrics[name], by_variant=dict(weighting.by_variant))
        if definitions[name].type.value in BINARY:
            definitions[name] = definitions[name].model_copy(update={"type": MetricType.mean})
    windows = data.periods.windows
    notes = [
        f"allocation was adaptive ({len(windows)} allocation periods): every arm's estimate "
        "weights each period by its share of all units, the same weights for every arm, so "
        "a change over time shared by the arms cancels (pooling would be biased); 0/1 "
        "metrics are compared as means"
        + (f"; {merged} sparse period(s) merged with a neighbour" if merged else "")
    ]
    notes.append("weights by period: " + "; ".join(
        f"{'from the start' if w.start is None else 'from ' + w.start.isoformat(sep=' ')}: "
        + ", ".join(f"{v} {w.weights[v]:.0%}" for v in variants)
        for w in windows
    ))  # fmt: skip
    target = resolved.experiment.allocation.metric or resolved.decision_metric
    if target in metrics:
        gain = equal_split_gain(
            data.quality.exposures_by_variant, metrics[target].by_variant, variants
        )
        if gain is not None:
            error = _amount(gain[1], gain[1], signed=False)
            notes.append(
                f"estimated gain on {target} against an equal split of the same "
                f"{sum(data.quality.exposures_by_variant.values()):,} units: "
                f"{_amount(gain[0], gain[1])} in total (standard error {error})"
            )
    if any(m.by_segment for m in data.metrics.values()):
        notes.append("segment breakdowns pool the periods (not period-weighted)")
    view = dataclasses.replace(resolved, metrics=definitions)
    return view, dataclasses.replace(data, metrics=metrics), notes


def _amount(value: float, spread: float, *, signed: bool = True) -> str:
    """Plain figures for people: whole numbers from 100 up, two decimals below, and a
    rounding residue far below the standard error shown as 0."""
    if abs(value) < 1e-9 * max(abs(spread), 1.0):
        value = 0.0
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return "+" + text if signed and value > 0 else text


def equal_split_gain(
    units: Mapping[str, int], stats: Mapping[str, MetricStats], variants: Sequence[str]
) -> tuple[float, float] | None:
    """What the adaptive split earned over an equal split of the same N units, on the
    period-weighted arm means m_k: G = sum_k (n_k - N/K) m_k, with
    Var(G) = sum_k (n_k - N/K)^2 Var(m_k) (the arms are independent). None when an arm
    has no estimate."""
    import math

    from upsell_ab.stats.estimates import arm_estimate, arm_status
    from upsell_ab.stats.results import Status

    total = sum(units.get(v, 0) for v in variants)
    if not variants or total == 0:
        return None
    share = total / len(variants)
    gain, variance = 0.0, 0.0
    for variant in variants:
        arm = stats.get(variant)
        if arm is None or arm_status(arm) is not Status.ok:
            return None
        estimate = arm_estimate(arm)
        extra = units.get(variant, 0) - share
        gain += extra * estimate.mean
        variance += extra * extra * estimate.variance
    return gain, math.sqrt(variance)


def adaptive_srm(data: ExperimentData, alpha: float) -> SrmResult:
    """SRM of the arms' total units against each period's weights."""
    from upsell_ab.stats.srm_periods import srm_test_periods

    assert data.periods is not None
    return srm_test_periods(
        list(data.periods.units), [dict(w.weights) for w in data.periods.windows], alpha=alpha
    )
