"""Group-sequential monitoring of the deciding metric at the current look.

When ``analysis.sequential.enabled`` with ``method: obrien_fleming | pocock``
the analysis compares each treatment's z statistic on the decision metric
with the Lan-DeMets spending bound of the current look (Lan & DeMets 1983,
Biometrika 70:659; boundaries from :mod:`upsell_ab.stats.group_sequential`):

- planned sample per variant: the spec's power settings (alpha, power, MDE,
  arms) with the observed control baseline (:func:`.frequentist_sequential.planned_units`);
- information fraction t = I_now / I_planned with I = 1 / (1/n_C + 1/n_T), capped at 1;
- looks so far: the planned looks k / K (k = 1..K-1) already passed, then the
  current one at t (:func:`look_fractions`);
- reported interval: the repeated confidence interval estimate +- c_k SE and
  the repeated p-value (Jennison & Turnbull 2000, "Group Sequential Methods
  with Applications to Clinical Trials", ch. 9), which agree with the bound:
  p < alpha exactly when |z| >= c_k.

Why repeated intervals and not the fixed-horizon ones: a fixed 95 % interval
read at every look excludes 0 far more often than 5 % of the time under H0.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.spec.models import MetricType
from upsell_ab.stats.estimates import arm_estimates
from upsell_ab.stats.frequentist import proportion_estimate
from upsell_ab.stats.frequentist_sequential import planned_units
from upsell_ab.stats.lift import relative_lift
from upsell_ab.stats.results import (
    ArmEstimate,
    Interval,
    MetricResult,
    SequentialStatus,
    difference,
)

if TYPE_CHECKING:
    from upsell_ab.metrics.aggregates import ExperimentData
    from upsell_ab.spec.resolve import ResolvedExperiment


# ------------------------------------------------------------ group-sequential looks
GROUP_METHODS = ("obrien_fleming", "pocock")
"""``analysis.sequential.method`` values served by Lan-DeMets spending boundaries."""

_METHOD_NAMES = {"obrien_fleming": "O'Brien-Fleming", "pocock": "Pocock"}
_P_FLOOR = 1e-15
"""Repeated p-values are solved down to this floor (spending bounds lose accuracy below)."""


def look_fractions(current: float, looks: int) -> tuple[float, ...]:
    """Information fractions of every look so far, the current one last.

    Earlier looks are assumed where the spec planned them (k / K, equally
    spaced); the current look sits wherever the data are now (capped at 1 =
    final). Lan-DeMets spending makes the bound valid for any such placement
    (Lan & DeMets 1983)."""
    t = min(max(current, 0.0), 1.0)
    earlier = tuple(k / looks for k in range(1, looks) if k / looks < t - 1e-9)
    return (*earlier, t)


@functools.lru_cache(maxsize=256)
def current_bound(method: str, fractions: tuple[float, ...], alpha: float) -> float:
    """Two-sided Lan-DeMets bound c_k of the last look in ``fractions``."""
    from upsell_ab.stats.group_sequential import design

    return design(method, len(fractions), alpha, fractions).bounds[-1]


def repeated_p_value(z: float, method: str, fractions: tuple[float, ...]) -> float:
    """Smallest alpha whose look-k bound |z| reaches: the repeated p-value of
    Jennison & Turnbull (2000, sec. 9.4). It is below alpha exactly when the
    repeated confidence interval excludes 0, so p and interval never disagree.
    Valid but conservative (it ignores that earlier looks did not stop)."""
    from scipy import optimize
    from scipy.special import log_ndtr

    target = abs(z)
    high = math.log(0.999)

    def gap(log_alpha: float) -> float:
        return current_bound(method, fractions, math.exp(log_alpha)) - target

    if gap(high) >= 0.0:
        return 1.0
    # c_k(alpha) >= z_{1 - alpha/2} (look k spends at most alpha), so the repeated
    # p-value is at least the nominal two-sided one: a tight lower end for the bracket
    low = max(math.log(_P_FLOOR), math.log(2.0) + float(log_ndtr(-target)) - 1e-9)
    if gap(low) <= 0.0:
        return math.exp(low)
    root = optimize.brentq(gap, low, high, xtol=1e-7, rtol=1e-10)
    return math.exp(float(root))


def information(n_control: float, n_treatment: float) -> float:
    """Statistical information of a two-arm difference, up to the unit variance:
    1 / (1/n_C + 1/n_T) (so unequal splits count correctly)."""
    if n_control <= 0 or n_treatment <= 0:
        return 0.0
    return 1.0 / (1.0 / n_control + 1.0 / n_treatment)


def group_sequential_comparisons(
    metric: MetricResult,
    estimates: Mapping[str, ArmEstimate],
    planned_per_variant: Mapping[str, int] | None,
    *,
    method: str,
    looks: int,
    alpha: float,
) -> tuple[MetricResult, SequentialStatus | None]:
    """The deciding metric at the current look of a group-sequential design.

    Per treatment: information fraction t = I_now / I_planned (I = 1 / (1/n_C +
    1/n_T), capped at 1), the Lan-DeMets bound c_k at the looks
    :func:`look_fractions` gives, compared with the fixed-horizon test's z. The
    comparison's intervals become repeated confidence intervals, estimate
    +- c_k SE (Jennison & Turnbull 2000, ch. 9; absolute difference and
    delta-method relative lift), and its p-value the matching repeated p-value.
    ``alpha`` is split over the treatments by the caller when it corrects for
    multiplicity. Without a plan or a statistic the results stay fixed-horizon
    and the status says why."""
    units = {v.variant: v.n for v in metric.variants}
    name = _METHOD_NAMES.get(method, method)
    comparisons = []
    verdicts: list[tuple[bool, str]] = []
    for comparison in metric.comparisons:
        result = comparison.frequentist
        control, variant = comparison.baseline, comparison.variant
        label = f"{variant} vs {control}"
        c_est, t_est = estimates.get(control), estimates.get(variant)
        planned = (
            information(planned_per_variant.get(control, 0), planned_per_variant.get(variant, 0))
            if planned_per_variant is not None
            else 0.0
        )
        z = result.statistic if result is not None else None
        if result is None or planned <= 0.0 or c_est is None or t_est is None:
            verdicts.append((False, f"{label}: no planned sample or estimate yet, continue"))
            comparisons.append(comparison)
            continue
        now = information(units.get(control, 0), units.get(variant, 0))
        fractions = look_fractions(now / planned, looks)
        k, share = len(fractions), fractions[-1]
        final = share >= 1.0
        bound = current_bound(method, fractions, alpha)
        where = (
            f"{label}: look {k} of {looks} at information fraction {share:.2f}"
            f"{' (final)' if final else ''}, {name} bound {bound:.3f}"
        )
        if z is None or not math.isfinite(z):
            verdicts.append((final, f"{where}: no test statistic yet"))
            comparisons.append(comparison)
            continue
        crossed = abs(z) >= bound
        verdict = (
            "may stop"
            if crossed
            else ("final look, no significant difference" if final else "continue")
        )
        verdicts.append(
            (
                crossed or final,
                f"{where}, |z| = {abs(z):.3f} {'>=' if crossed else '<'} bound: {verdict}",
            )
        )
        se = math.sqrt(c_est.variance + t_est.variance)
        diff = difference(c_est, t_est)
        level = 1.0 - alpha
        lift = relative_lift(c_est, t_est)
        relative = (
            Interval(
                lift.lift - bound * math.sqrt(lift.variance),
                lift.lift + bound * math.sqrt(lift.variance),
                level,
            )
            if lift is not None
            else Interval(None, None, level)
        )
        repeated = replace(
            result,
            method=f"{result.method}, repeated CI ({name} spending, look {k} of {looks})",
            absolute_ci=Interval(diff - bound * se, diff + bound * se, level),
            relative_ci=relative,
            p_value=repeated_p_value(z, method, fractions),
        )
        comparisons.append(replace(comparison, frequentist=repeated))
    status = None
    if verdicts:
        status = SequentialStatus(
            method=method,
            may_stop=all(stop for stop, _ in verdicts),
            reason=f"{metric.metric}: " + "; ".join(text for _, text in verdicts),
        )
    return replace(metric, comparisons=comparisons), status


def apply_group_sequential(
    resolved: ResolvedExperiment, data: ExperimentData, results: list[MetricResult]
) -> tuple[list[MetricResult], SequentialStatus | None]:
    """Repeated intervals for the confirmatory metrics (primary and decision) and the
    stopping status from the decision metric. Call before multiplicity adjustment:
    the repeated p-values join the Holm/BH family like fixed ones."""
    experiment = resolved.experiment
    settings = experiment.analysis.sequential
    confirmatory = {experiment.metrics.primary, resolved.decision_metric}
    out: list[MetricResult] = []
    status: SequentialStatus | None = None
    for result in results:
        metric_data = data.metrics.get(result.metric)
        if result.metric not in confirmatory or metric_data is None:
            out.append(result)
            continue
        stats = metric_data.by_variant
        definition = resolved.metrics[result.metric]
        binary = definition.type in (MetricType.proportion, MetricType.retention) and all(
            isinstance(s, SampleStats) for s in stats.values()
        )
        estimates = (
            {
                v: proportion_estimate(s)
                for v, s in stats.items()
                if isinstance(s, SampleStats) and s.n
            }
            if binary
            else arm_estimates(stats)
        )
        updated, verdict = group_sequential_comparisons(
            result,
            estimates,
            planned_units(resolved, result, data),
            method=settings.method,
            looks=settings.looks,
            alpha=experiment.analysis.alpha,
        )
        out.append(updated)
        if result.metric == resolved.decision_metric:
            status = verdict
    return out, status
