"""Group-sequential monitoring in the analysis (O'Brien-Fleming / Pocock spending).

Oracles: the published Lan-DeMets O'Brien-Fleming-type bounds for K = 5
(4.877, 3.357, 2.680, 2.290, 2.031; gsDesign / rpact, listed in
docs/stats-bayesian-sequential.md), the normal quantile for one look, a seeded
A/A simulation (rejection rate <= alpha within Monte-Carlo error, while naive
peeking at 1.96 clearly exceeds it), and a strong effect that must cross.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from upsell_ab.metrics.aggregates import ExperimentData, MetricData, QualitySummary
from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.spec.models import Analysis, Experiment, MetricDefinition, MetricRoles, Variant
from upsell_ab.spec.resolve import ResolvedExperiment
from upsell_ab.stats import group_monitoring
from upsell_ab.stats.analysis import analyze
from upsell_ab.stats.frequentist import proportion_estimate, proportion_test
from upsell_ab.stats.group_monitoring import (
    current_bound,
    group_sequential_comparisons,
    look_fractions,
    repeated_p_value,
)
from upsell_ab.stats.results import Comparison, MetricResult, VariantSummary

PUBLISHED_OBF_K5 = (4.877, 3.357, 2.680, 2.290, 2.031)


def _metric(control: SampleStats, treatment: SampleStats) -> MetricResult:
    test = proportion_test(control, treatment, alpha=0.05, alternative="two_sided")
    return MetricResult(
        metric="take_rate",
        role="primary",
        variants=[
            VariantSummary("control", control.n, control.sum / control.n),
            VariantSummary("b", treatment.n, treatment.sum / treatment.n),
        ],
        comparisons=[Comparison(variant="b", baseline="control", frequentist=test)],
    )


def _estimates(control: SampleStats, treatment: SampleStats) -> dict[str, object]:
    return {"control": proportion_estimate(control), "b": proportion_estimate(treatment)}


def test_planned_looks_reproduce_the_published_obrien_fleming_bounds() -> None:
    for k, published in enumerate(PUBLISHED_OBF_K5, start=1):
        fractions = look_fractions(k / 5, 5)
        assert fractions == pytest.approx([j / 5 for j in range(1, k + 1)])
        assert current_bound("obrien_fleming", fractions, 0.05) == pytest.approx(
            published, abs=1e-3
        )


def test_a_look_off_the_plan_keeps_earlier_looks_where_planned() -> None:
    assert look_fractions(0.5, 5) == pytest.approx((0.2, 0.4, 0.5))
    assert look_fractions(1.7, 4) == pytest.approx((0.25, 0.5, 0.75, 1.0))
    # one look at t: the whole two-sided spending alpha(t) at once, a normal quantile
    spent = 4.0 * norm.sf(norm.isf(0.05 / 4.0) / math.sqrt(0.3))
    assert current_bound("obrien_fleming", (0.3,), 0.05) == pytest.approx(
        norm.isf(spent / 2.0), rel=1e-9
    )


@pytest.mark.parametrize("z", [1.5, 2.4, 3.6])
@pytest.mark.parametrize("method", ["obrien_fleming", "pocock"])
def test_repeated_p_value_is_below_alpha_exactly_when_the_bound_is_crossed(
    z: float, method: str
) -> None:
    fractions = (0.2, 0.4, 0.6)
    p = repeated_p_value(z, method, fractions)
    assert current_bound(method, fractions, p) == pytest.approx(z, abs=1e-6)
    assert (p < 0.05) == (z >= current_bound(method, fractions, 0.05))


def test_interim_look_uses_the_published_bound_for_its_interval_and_verdict() -> None:
    control = SampleStats.from_proportion(800, 160)
    treatment = SampleStats.from_proportion(800, 240)
    metric = _metric(control, treatment)
    # planned 2,000 per arm, 800 now: information fraction 0.4 = look 2 of 5
    updated, status = group_sequential_comparisons(
        metric,
        _estimates(control, treatment),  # type: ignore[arg-type]
        {"control": 2000, "b": 2000},
        method="obrien_fleming",
        looks=5,
        alpha=0.05,
    )
    result = updated.comparisons[0].frequentist
    assert result is not None and result.absolute_ci.low is not None
    assert result.absolute_ci.high is not None
    p_c, p_t = 0.2, 0.3
    se = math.sqrt(p_c * (1 - p_c) / 800 + p_t * (1 - p_t) / 800)
    width = (result.absolute_ci.high - result.absolute_ci.low) / 2.0
    assert width / se == pytest.approx(PUBLISHED_OBF_K5[1], abs=1e-3)
    assert status is not None and "look 2 of 5" in status.reason and "3.357" in status.reason
    z = metric.comparisons[0].frequentist.statistic  # type: ignore[union-attr]
    assert z is not None and abs(z) > 3.357
    assert status.may_stop
    assert result.p_value is not None and result.p_value < 0.05


def test_weak_interim_effect_says_continue() -> None:
    control = SampleStats.from_proportion(800, 160)
    treatment = SampleStats.from_proportion(800, 190)  # z ~ 1.8: fixed p < .1, far below 3.357
    _, status = group_sequential_comparisons(
        _metric(control, treatment),
        _estimates(control, treatment),  # type: ignore[arg-type]
        {"control": 2000, "b": 2000},
        method="obrien_fleming",
        looks=5,
        alpha=0.05,
    )
    assert status is not None and not status.may_stop and "continue" in status.reason


def test_aa_rejection_rate_stays_at_alpha_over_five_looks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """2,000 seeded A/A experiments, 5 equally spaced looks of 400 units per arm.
    The crossing rule of the analysis rejects <= alpha + 3 MC SE; naive peeking at
    1.96 (same data) rejects far more (about 14 % in theory), so the test can fail."""
    # the repeated p-value is checked above; here only the crossing rule matters
    monkeypatch.setattr(group_monitoring, "repeated_p_value", lambda *args: 0.5)
    rng = np.random.default_rng(20240611)
    runs, looks, per_look, rate = 2000, 5, 400, 0.2
    draws = rng.binomial(per_look, rate, size=(runs, 2, looks)).cumsum(axis=2)
    planned = {"control": per_look * looks, "b": per_look * looks}
    rejected = naive = 0
    for run in range(runs):
        crossed = peeked = False
        for k in range(looks):
            n = per_look * (k + 1)
            control = SampleStats.from_proportion(n, int(draws[run, 0, k]))
            treatment = SampleStats.from_proportion(n, int(draws[run, 1, k]))
            metric = _metric(control, treatment)
            _, status = group_sequential_comparisons(
                metric,
                _estimates(control, treatment),  # type: ignore[arg-type]
                planned,
                method="obrien_fleming",
                looks=looks,
                alpha=0.05,
            )
            assert status is not None
            z = metric.comparisons[0].frequentist.statistic  # type: ignore[union-attr]
            crossed |= z is not None and abs(z) >= current_bound(
                "obrien_fleming", look_fractions((k + 1) / looks, looks), 0.05
            )
            peeked |= z is not None and abs(z) >= 1.959964
            if status.may_stop:
                break
        rejected += crossed
        naive += peeked
    se = math.sqrt(0.05 * 0.95 / runs)
    assert rejected / runs <= 0.05 + 3 * se
    assert naive / runs > 0.05 + 5 * se


def _resolved(**analysis: object) -> ResolvedExperiment:
    experiment = Experiment(
        id="gs",
        name="Group-sequential",
        variants=[Variant(id="control", weight=0.5, control=True), Variant(id="b", weight=0.5)],
        metrics=MetricRoles(primary="take_rate"),
        analysis=Analysis(**analysis),
    )
    return ResolvedExperiment(
        experiment=experiment,
        metrics={"take_rate": MetricDefinition(type="proportion", event="upsell_purchase")},
        roles={"take_rate": "primary"},
    )


def _data(n: int, conversions: tuple[int, int]) -> ExperimentData:
    stats = {
        "control": SampleStats.from_proportion(n, conversions[0]),
        "b": SampleStats.from_proportion(n, conversions[1]),
    }
    return ExperimentData(
        experiment_id="gs",
        metrics={"take_rate": MetricData(metric="take_rate", by_variant=stats)},
        quality=QualitySummary(
            exposures_by_variant={"control": n, "b": n},
            configured_weights={"control": 0.5, "b": 0.5},
        ),
    )


def test_analyze_reports_the_final_look_with_the_published_final_bound() -> None:
    """Past the planned sample (baseline 0.2, MDE 10 % relative: ~6,500 per arm) the
    look is final: fractions 0.2 ... 0.8, 1.0, bound 2.031; the interval is the
    repeated one, wider than the fixed-horizon 95 % interval."""
    resolved = _resolved(sequential={"enabled": True, "method": "obrien_fleming", "looks": 5})
    data = _data(20000, (4000, 4400))
    analysis = analyze(resolved, data)
    status = analysis.sequential
    assert status is not None and status.method == "obrien_fleming"
    assert "look 5 of 5" in status.reason and "2.031" in status.reason and status.may_stop
    result = analysis.metric("take_rate").comparisons[0].frequentist
    assert result is not None and "repeated CI" in result.method
    low, high = result.absolute_ci.low, result.absolute_ci.high
    assert low is not None and high is not None
    se = math.sqrt(0.2 * 0.8 / 20000 + 0.22 * 0.78 / 20000)
    assert (high - low) / (2 * se) == pytest.approx(PUBLISHED_OBF_K5[-1], abs=1e-3)
    assert not any("fixed-horizon" in note for note in analysis.notes)


def test_analyze_early_strong_effect_may_stop_and_weak_one_continues() -> None:
    resolved = _resolved(sequential={"enabled": True, "method": "pocock", "looks": 4})
    strong = analyze(resolved, _data(1500, (300, 420)))
    assert strong.sequential is not None and strong.sequential.may_stop
    assert "Pocock" in strong.sequential.reason and "look 1 of 4" in strong.sequential.reason
    weak = analyze(resolved, _data(1500, (300, 310)))
    assert weak.sequential is not None and not weak.sequential.may_stop
