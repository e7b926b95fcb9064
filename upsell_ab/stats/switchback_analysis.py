"""``analyze`` for a switchback spec: every metric on the slot totals, the slot as the unit.

Why. A switchback randomises time slots, so customers of one slot share its arm and its
circumstances; the per-customer engines would treat them as independent and give
intervals far too narrow (docs/switchback.md has the A/A rates of both). Here every
comparison comes from the slot statistics the data layer computed
(:class:`upsell_ab.metrics.sql_slots.SlotSplit`, burn-in left out):

- frequentist: the ratio-of-sums difference with the CR2 cluster-robust variance over
  slots and Bell-McCaffrey degrees of freedom (:mod:`upsell_ab.stats.switchback`),
  through the common :func:`upsell_ab.stats.frequentist.compare_estimates` so the
  relative interval, one-sided alternatives and statuses are those of every other test;
- Bayesian: the Gaussian engine on the same cluster-robust arm estimates (mean,
  Var(mean)), never the Beta-Binomial, whose independent customers a slot design lacks;
- guardrails: the non-inferiority test on those arm estimates with the same df;
- SRM: the number of slots per arm against the weights (:func:`slot_srm`).

What the slot analysis does not do is said in the notes, not silently done per customer:
CUPED (the outcome is analysed without its covariate), quantile metrics (no result),
segment breakdowns and the daily chart (left out).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from upsell_ab.metrics.quantile import QuantileStats
from upsell_ab.metrics.sufficient import (
    CupedRatioStats,
    CupedStats,
    MetricStats,
    RatioStats,
    SampleStats,
)
from upsell_ab.spec.models import Direction, Engine, Guardrail, MetricDefinition, MetricType
from upsell_ab.spec.randomization_models import SlotLength
from upsell_ab.stats.results import (
    ArmEstimate,
    BayesianComparison,
    Comparison,
    ExperimentAnalysis,
    FrequentistComparison,
    MetricResult,
    Status,
    VariantSummary,
)
from upsell_ab.stats.switchback import (
    SlotEstimate,
    SlotTotals,
    bell_mccaffrey_df,
    slot_estimate,
    slot_srm,
)

if TYPE_CHECKING:
    from upsell_ab.metrics.aggregates import ExperimentData
    from upsell_ab.metrics.sql_slots import SlotSplit
    from upsell_ab.spec.models import Analysis
    from upsell_ab.spec.resolve import ResolvedExperiment

METHOD = "switchback: slot totals, CR2 cluster-robust, Bell-McCaffrey t"
"""The ``method`` of every frequentist comparison of a switchback spec."""


def slot_rows(split: SlotSplit, metric: str) -> list[SlotTotals] | None:
    """One :class:`SlotTotals` per slot (n = customers, or a ratio's denominator total;
    total = the outcome's sum); None for statistics the slot analysis cannot use."""
    rows: list[SlotTotals] = []
    for key, stats in split.by_metric.get(metric, {}).items():
        n, total = _totals(stats)
        if n is None or total is None:
            return None
        rows.append(SlotTotals(key, split.arms[key], n, total))
    return rows


def _totals(stats: MetricStats) -> tuple[float | None, float | None]:
    if isinstance(stats, CupedStats):
        stats = stats.outcome
    if isinstance(stats, SampleStats):
        return float(stats.n), stats.mean * stats.n
    if isinstance(stats, RatioStats | CupedRatioStats):
        return stats.denominator_sum, stats.numerator_sum
    return None, None


def arm_estimates(rows: list[SlotTotals], variants: list[str]) -> dict[str, SlotEstimate]:
    """CR2 estimate of every arm with at least 2 slots holding customers."""
    out: dict[str, SlotEstimate] = {}
    for variant in variants:
        slots = sum(1 for r in rows if r.variant == variant and r.n > 0)
        if slots >= 2 and sum(r.n for r in rows if r.variant == variant) > 0:
            out[variant] = slot_estimate(rows, variant)
    return out


def effective_unit_variances(split: SlotSplit, metric: str) -> dict[str, float]:
    """Per arm Var(R_a) x customers_a: the variance one customer would need to have for
    independent customers to give the slot analysis' precision (the per-customer
    variance times the design effect), for the extra-sample statement. Arms with fewer
    than 2 slots are left out."""
    rows = slot_rows(split, metric)
    if rows is None:
        return {}
    variants = sorted(set(split.arms.values()))
    units = split.units_per_arm(variants)
    return {v: e.variance * units[v] for v, e in arm_estimates(rows, variants).items() if units[v]}


def _as_arm(estimate: SlotEstimate) -> ArmEstimate:
    # n counts slots: the randomised units (the engines require n >= 2 of them)
    return ArmEstimate(n=estimate.slots, mean=estimate.mean, variance=estimate.variance)


def analyze_switchback(resolved: ResolvedExperiment, data: ExperimentData) -> ExperimentAnalysis:
    """The switchback analysis of every metric (module docstring); ``data.slots`` set."""
    from upsell_ab.stats.analysis import adjust_families

    assert data.slots is not None
    split = data.slots
    experiment = resolved.experiment
    settings = experiment.analysis
    variants = [v.id for v in experiment.variants]
    control = experiment.control.id
    guardrails = {g.metric: g for g in resolved.guardrails}
    confirmatory = {experiment.metrics.primary, resolved.decision_metric}
    units = split.units_per_arm(variants)
    results = [
        _metric(
            name,
            definition,
            resolved.roles.get(name, "secondary"),
            split,
            variants=variants,
            control=control,
            settings=settings,
            units=units,
            alternative=settings.alternative.value if name in confirmatory else "two_sided",
            guardrail=guardrails.get(name),
        )
        for name, definition in resolved.metrics.items()
    ]
    results = adjust_families(results, confirmatory, guardrails, settings.correction.value)
    weights = {v.id: v.weight for v in experiment.variants}
    srm = slot_srm(
        [SlotTotals(k, arm, 0.0, 0.0) for k, arm in split.arms.items()],
        weights,
        alpha=settings.srm_alpha,
    )
    notes = design_notes(resolved, data)
    if srm.flagged:
        notes.insert(
            0,
            f"sample-ratio mismatch over slots (p = {srm.p_value:.3g} < {settings.srm_alpha}): "
            "the slots per arm do not follow the weights; slot assignment or logging is "
            "broken; no variant may be declared a winner",
        )
    return ExperimentAnalysis(
        experiment_id=data.experiment_id, metrics=results, srm=srm, notes=notes
    )


def design_notes(resolved: ResolvedExperiment, data: ExperimentData) -> list[str]:
    """What the report says about the design: slots as units, per arm, the burn-in."""
    assert data.slots is not None
    split = data.slots
    clock = split.clock
    variants = [v.id for v in resolved.experiment.variants]
    slots = split.slots_per_arm(variants)
    units = split.units_per_arm(variants)
    total_slots = sum(slots.values())
    total_units = sum(units.values())
    per_slot = total_units / total_slots if total_slots else 0.0
    arms = ", ".join(
        f"{v} {slots[v]:,} slots / {units[v]:,} customers"
        + (f" ({units[v] / slots[v]:.1f} a slot)" if slots[v] else "")
        for v in variants
    )
    length = SlotLength(clock.slot).value.replace("_", " ")
    notes = [
        f"switchback design: time slots were randomised, not customers (each "
        f"{length} in {clock.timezone} gets one arm), so the unit "
        f"of analysis is the slot: {total_slots:,} slots with {total_units:,} customers "
        f"({per_slot:.1f} a slot); {arms}. Estimates are ratios of slot sums; intervals and "
        "p-values are cluster-robust over slots (CR2, Bell & McCaffrey 2002) with "
        "Bell-McCaffrey t degrees of freedom; SRM counts slots per arm"
    ]
    exposed = data.quality.total_units
    if clock.burn_in_minutes:
        dropped = max(exposed - total_units, 0)
        notes.append(
            f"burn-in: customers first exposed in the first {clock.burn_in_minutes} minutes "
            f"of a slot (carry-over from the previous arm) are left out: {dropped:,} of "
            f"{exposed:,} customers dropped"
        )
    settings = resolved.experiment.analysis
    if settings.engine is not Engine.frequentist:
        notes.append(
            "switchback: the Bayesian results use the Gaussian engine on the cluster-robust "
            "arm estimates (a Beta-Binomial posterior would count the customers of a slot "
            "as independent)"
        )
    cuped = [name for name, d in resolved.metrics.items() if d.cuped is not None]
    if cuped:
        notes.append(
            "switchback: CUPED is not applied to slot totals; "
            + ", ".join(cuped)
            + " analysed without the covariate"
        )
    if any(m.by_segment for m in data.metrics.values()) or any(
        m.daily for m in data.metrics.values()
    ):
        notes.append(
            "switchback: segment breakdowns and the daily lift chart are per customer, so "
            "they are left out"
        )
    return notes


def _metric(
    name: str,
    definition: MetricDefinition,
    role: str,
    split: SlotSplit,
    *,
    variants: list[str],
    control: str,
    settings: Analysis,
    units: dict[str, int],
    alternative: str,
    guardrail: Guardrail | None,
) -> MetricResult:
    from upsell_ab.stats import bayesian
    from upsell_ab.stats.frequentist import compare_estimates, empty_comparison, non_inferiority

    treatments = [v for v in variants if v != control]
    rows = slot_rows(split, name)
    quantile = definition.type is MetricType.quantile or any(
        isinstance(s, QuantileStats) for s in split.by_metric.get(name, {}).values()
    )
    if rows is None or quantile:
        note = (
            f"{name}: this metric's statistics cannot be reduced to slot totals (a quantile), "
            "so a switchback spec gives it no result"
        )
        return MetricResult(
            metric=name,
            role=role,
            variants=[VariantSummary(v, units.get(v, 0), None) for v in variants],
            comparisons=[Comparison(variant=t, baseline=control) for t in treatments],
            notes=[note],
        )
    estimates = arm_estimates(rows, variants)
    summaries = [
        VariantSummary(v, units.get(v, 0), estimates[v].mean if v in estimates else None)
        for v in variants
    ]
    for v, summary in zip(variants, summaries, strict=True):
        if summary.mean is None and summary.n:
            arm_rows = [r for r in rows if r.variant == v]
            total = sum(r.n for r in arm_rows)
            if total > 0:
                summaries[variants.index(v)] = replace(
                    summary, mean=sum(r.total for r in arm_rows) / total
                )
    direction = (
        guardrail.direction
        if guardrail is not None and guardrail.direction is not None
        else definition.direction
    )
    engine = settings.engine
    comparisons = []
    arms = {v: _as_arm(e) for v, e in estimates.items()}
    for t in treatments:
        frequentist: FrequentistComparison | None = None
        bayes: BayesianComparison | None = None
        non_inferior = None
        if control in estimates and t in estimates:
            df = bell_mccaffrey_df(estimates[control], estimates[t])
            if engine is not Engine.bayesian:
                frequentist = compare_estimates(
                    arms[control],
                    arms[t],
                    method=METHOD,
                    alpha=settings.alpha,
                    alternative=alternative,
                    df=df,
                )
            if engine is not Engine.frequentist:
                bayes = bayesian.gaussian(
                    arms[control], arms[t], settings.priors.lift, 1.0 - settings.alpha, direction
                )
            if guardrail is not None:
                non_inferior = non_inferiority(
                    arms[control],
                    arms[t],
                    margin=guardrail.margin,
                    margin_kind=guardrail.margin_kind.value,
                    higher_is_better=direction is Direction.higher_is_better,
                    alpha=settings.alpha,
                    df=df,
                )
        elif engine is not Engine.bayesian:
            frequentist = empty_comparison(
                METHOD, Status.too_few_units, alternative, settings.alpha
            )
        comparisons.append(
            Comparison(
                variant=t,
                baseline=control,
                frequentist=frequentist,
                bayesian=bayes,
                non_inferiority=non_inferior,
            )
        )
    notes = []
    short = [v for v in variants if v not in estimates]
    if short:
        notes.append(
            f"{', '.join(short)}: fewer than 2 slots with customers, so no slot-level "
            "comparison (the slot is the unit: run more slots)"
        )
    prob_best = None
    if engine is not Engine.frequentist and len(arms) == len(variants):
        prob_best = bayesian.prob_best_gaussian(arms, direction)
    return MetricResult(
        metric=name,
        role=role,
        variants=summaries,
        comparisons=comparisons,
        prob_best=prob_best,
        notes=notes,
    )
