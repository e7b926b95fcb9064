"""analyze(): dispatch per metric kind, multiplicity family, guardrails, SRM, edge cases."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from upsell_ab.metrics.aggregates import ExperimentData, MetricData, QualitySummary
from upsell_ab.metrics.sufficient import CupedStats, MetricStats, RatioStats, SampleStats
from upsell_ab.spec.models import (
    Aggregate,
    Analysis,
    Cuped,
    Experiment,
    Guardrail,
    MetricDefinition,
    MetricRoles,
    Variant,
)
from upsell_ab.spec.resolve import ResolvedExperiment
from upsell_ab.stats.analysis import analyze
from upsell_ab.stats.results import Status

VARIANTS = ("control", "a", "b")


def resolved(**analysis: object) -> ResolvedExperiment:
    experiment = Experiment(
        id="timing",
        name="Offer timing",
        variants=[
            Variant(id="control", weight=0.5, control=True),
            Variant(id="a", weight=0.25),
            Variant(id="b", weight=0.25),
        ],
        metrics=MetricRoles(
            primary="take_rate",
            secondary=["revenue", "rev_cuped"],
            guardrails=[
                Guardrail(metric="aov", margin=0.05),
                Guardrail(metric="complaints", margin=0.002, margin_kind="absolute"),
            ],
        ),
        analysis=Analysis(**analysis),
    )
    metrics = {
        "take_rate": MetricDefinition(type="proportion", event="upsell_purchase"),
        "revenue": MetricDefinition(type="mean", event="order"),
        "rev_cuped": MetricDefinition(type="mean", event="order", cuped=Cuped()),
        "aov": MetricDefinition(
            type="ratio",
            numerator=Aggregate(event="order"),
            denominator=Aggregate(event="order", value="count"),
        ),
        "complaints": MetricDefinition(
            type="proportion", event="complaint", direction="lower_is_better"
        ),
    }
    roles = {
        "take_rate": "primary",
        "revenue": "secondary",
        "rev_cuped": "secondary",
        "aov": "guardrail",
        "complaints": "guardrail",
    }
    return ResolvedExperiment(experiment=experiment, metrics=metrics, roles=roles)


def data(
    units: dict[str, int] | None = None, **override: Mapping[str, MetricStats]
) -> ExperimentData:
    n = units or {"control": 2000, "a": 1000, "b": 1000}
    conversions = {"control": 400, "a": 250, "b": 190}
    metrics: dict[str, dict[str, MetricStats]] = {
        "take_rate": {v: SampleStats.from_proportion(n[v], conversions[v]) for v in VARIANTS},
        "revenue": {v: SampleStats(n[v], n[v] * 30.0, n[v] * 2500.0) for v in VARIANTS},
        "rev_cuped": {
            v: CupedStats(
                n[v], n[v] * 30.0, n[v] * 2500.0, n[v] * 28.0, n[v] * 2300.0, n[v] * 1900.0
            )
            for v in VARIANTS
        },
        "aov": {
            v: RatioStats(n[v], n[v] * 30.0, n[v] * 2500.0, n[v] * 1.2, n[v] * 2.0, n[v] * 50.0)
            for v in VARIANTS
        },
        "complaints": {v: SampleStats.from_proportion(n[v], n[v] // 100) for v in VARIANTS},
    }
    metrics.update({k: dict(v) for k, v in override.items()})
    return ExperimentData(
        experiment_id="timing",
        metrics={k: MetricData(metric=k, by_variant=v) for k, v in metrics.items()},
        quality=QualitySummary(
            exposures_by_variant=dict(n), configured_weights={"control": 0.5, "a": 0.25, "b": 0.25}
        ),
    )


def test_methods_and_roles() -> None:
    analysis = analyze(resolved(), data())
    methods = {
        m.metric: {c.frequentist.method for c in m.comparisons if c.frequentist}
        for m in analysis.metrics
    }
    assert methods == {
        "take_rate": {"pooled z-test"},
        "revenue": {"welch t-test"},
        "rev_cuped": {"cuped welch"},
        "aov": {"delta method ratio"},
        "complaints": {"pooled z-test"},
    }
    assert [m.role for m in analysis.metrics] == [
        "primary",
        "secondary",
        "secondary",
        "guardrail",
        "guardrail",
    ]
    cuped = analysis.metric("rev_cuped").comparisons[0].frequentist
    assert cuped is not None and (cuped.variance_reduction or 0) > 0


def test_primary_matches_statsmodels_and_holm_family() -> None:
    analysis = analyze(resolved(), data())
    primary = analysis.metric("take_rate")
    raw = []
    for comparison, (n, x) in zip(primary.comparisons, [(1000, 250), (1000, 190)], strict=True):
        _z, p = proportions_ztest([x, 400], [n, 2000])
        assert comparison.frequentist is not None
        assert comparison.frequentist.p_value == pytest.approx(p, rel=1e-9)
        raw.append(p)
    holm = multipletests(raw, method="holm")[1]
    assert [c.p_value_adjusted for c in primary.comparisons] == pytest.approx(list(holm))
    bh = analyze(resolved(correction="benjamini_hochberg"), data()).metric("take_rate")
    assert [c.p_value_adjusted for c in bh.comparisons] == pytest.approx(
        list(multipletests(raw, method="fdr_bh")[1])
    )
    # Guardrails are not part of any family.
    assert all(c.p_value_adjusted is None for c in analysis.metric("aov").comparisons)
    assert [v.mean for v in primary.variants] == pytest.approx([0.2, 0.25, 0.19])


def test_bayesian_present_for_both_and_absent_for_frequentist() -> None:
    both = analyze(resolved(), data())
    primary = both.metric("take_rate")
    assert primary.comparisons[0].bayesian is not None
    assert primary.comparisons[0].bayesian.method == "beta-binomial"
    assert primary.prob_best is not None and sum(primary.prob_best.values()) == pytest.approx(1.0)
    assert both.metric("revenue").comparisons[0].bayesian is not None
    only = analyze(resolved(engine="frequentist"), data())
    assert all(c.bayesian is None for m in only.metrics for c in m.comparisons)
    assert all(m.prob_best is None for m in only.metrics)


def test_guardrails_non_inferiority() -> None:
    worse_complaints = {
        "control": SampleStats.from_proportion(2000, 20),
        "a": SampleStats.from_proportion(1000, 40),
        "b": SampleStats.from_proportion(1000, 10),
    }
    analysis = analyze(resolved(), data(complaints=worse_complaints))
    rails = {c.variant: c.non_inferiority for c in analysis.metric("complaints").comparisons}
    assert rails["a"] is not None and rails["a"].passed is False  # 4 % vs 1 %: worse by 3 pp
    assert rails["b"] is not None and rails["b"].margin_kind == "absolute"
    # Lower is better: the bound is the upper end of the change.
    assert rails["b"].bound is not None and rails["b"].bound > -0.01
    assert analysis.metric("take_rate").comparisons[0].non_inferiority is None


def test_srm_flag_and_notes() -> None:
    units = {"control": 2000, "a": 1000, "b": 800}
    analysis = analyze(resolved(), data(units))
    assert analysis.srm.flagged and analysis.srm.p_value is not None and analysis.srm.p_value < 1e-3
    assert "sample-ratio mismatch" in analysis.notes[0]
    assert not analyze(resolved(), data()).srm.flagged


def test_missing_metric_and_empty_variant() -> None:
    empty = {
        "control": SampleStats.from_proportion(2000, 400),
        "a": SampleStats.from_proportion(0, 0),
        "b": SampleStats.from_proportion(1000, 190),
    }
    base = data(take_rate=empty)
    metrics = {k: v for k, v in base.metrics.items() if k != "revenue"}
    trimmed = ExperimentData(experiment_id="timing", metrics=metrics, quality=base.quality)
    analysis = analyze(resolved(), trimmed)
    primary = analysis.metric("take_rate")
    a, b = primary.comparisons
    assert a.frequentist is not None and a.frequentist.status is Status.no_data
    assert (
        a.p_value_adjusted is None
        and a.bayesian is not None
        and a.bayesian.status is Status.no_data
    )
    # The empty arm is not part of the Holm family: b keeps its raw p-value.
    assert b.frequentist is not None and b.p_value_adjusted == pytest.approx(b.frequentist.p_value)
    assert primary.prob_best is None
    assert primary.variants[1].mean is None
    revenue = analysis.metric("revenue")
    assert revenue.notes and all(
        c.frequentist and c.frequentist.status is Status.no_data for c in revenue.comparisons
    )
    for metric in analysis.metrics:
        for comparison in metric.comparisons:
            f = comparison.frequentist
            assert f is not None
            for value in (f.p_value, f.statistic, f.absolute_lift):
                assert value is None or math.isfinite(value)


def test_one_sided_alternative_applies_to_primary_only() -> None:
    analysis = analyze(resolved(alternative="greater"), data())
    assert {
        c.frequentist.alternative for c in analysis.metric("take_rate").comparisons if c.frequentist
    } == {"greater"}
    assert {
        c.frequentist.alternative for c in analysis.metric("revenue").comparisons if c.frequentist
    } == {"two_sided"}
    a = analysis.metric("take_rate").comparisons[0].frequentist
    assert a is not None and a.absolute_ci.high is None
    _z, p = proportions_ztest([250, 400], [1000, 2000], alternative="larger")
    assert a.p_value == pytest.approx(p, rel=1e-9)


def test_mixed_statistics_kinds_are_a_typed_error() -> None:
    from upsell_ab.errors import StatsError

    mixed: dict[str, MetricStats] = {
        "control": SampleStats(2000, 60000.0, 5e6),
        "a": RatioStats(1000, 30000.0, 2.5e6, 1200.0, 2000.0, 50000.0),
        "b": SampleStats(1000, 30000.0, 2.5e6),
    }
    with pytest.raises(StatsError, match="different statistics kinds"):
        analyze(resolved(), data(revenue=mixed))
