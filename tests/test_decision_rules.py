"""Decision rules on hand-built analyses: every branch of ``decide``.

Inputs are typed results as the engines would return them; expected actions
follow from the rule text in the spec, and the keep-running sample size is
checked against Evan Miller's closed form computed here with scipy."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pytest
from scipy.stats import norm

from upsell_ab.decision.model import Action
from upsell_ab.decision.rules import decide
from upsell_ab.metrics.aggregates import ExperimentData, MetricData, QualitySummary
from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.spec.models import Experiment, MetricDefinition
from upsell_ab.spec.resolve import ResolvedExperiment
from upsell_ab.stats.results import (
    BayesianComparison,
    Comparison,
    ExperimentAnalysis,
    FrequentistComparison,
    Interval,
    MetricResult,
    NonInferiority,
    SrmResult,
    Status,
    VariantSummary,
)

CATALOGUE = {
    "take_rate": MetricDefinition(type="proportion", event="upsell_purchase"),
    "profit_per_customer": MetricDefinition(type="profit", event="order", margin=0.3, unit="JPY"),
    "refund_rate": MetricDefinition(type="proportion", event="refund", direction="lower_is_better"),
}


def resolved(
    *, variants: int = 2, analysis: dict[str, Any] | None = None, guardrail: bool = True
) -> ResolvedExperiment:
    ids = ["a", "b", "c"][:variants]
    spec = {
        "id": "exp",
        "name": "Experiment",
        "status": "running",
        "variants": [
            {
                "id": v,
                "weight": round(1 / variants, 6)
                if i
                else 1 - (variants - 1) * round(1 / variants, 6),
                "control": i == 0,
            }
            for i, v in enumerate(ids)
        ],
        "metrics": {
            "primary": "take_rate",
            "guardrails": [{"metric": "refund_rate", "margin": 0.1}] if guardrail else [],
        },
        "analysis": analysis or {},
    }
    experiment = Experiment.model_validate(spec)
    names = ["take_rate", "profit_per_customer"] + (["refund_rate"] if guardrail else [])
    roles = {"take_rate": "primary", "profit_per_customer": "secondary", "refund_rate": "guardrail"}
    return ResolvedExperiment(
        experiment=experiment,
        metrics={n: CATALOGUE[n] for n in names},
        roles={n: roles[n] for n in names},
    )


def freq(lift: float, low: float, high: float, p: float) -> FrequentistComparison:
    return FrequentistComparison(
        method="pooled z-test",
        status=Status.ok,
        alternative="two_sided",
        absolute_lift=lift,
        relative_lift=lift / 0.2,
        absolute_ci=Interval(low, high, 0.95),
        relative_ci=Interval(low / 0.2, high / 0.2, 0.95),
        p_value=p,
    )


def bayes(prob: float, loss: float = 0.0001) -> BayesianComparison:
    return BayesianComparison(
        method="beta-binomial",
        status=Status.ok,
        prob_beat_baseline=prob,
        expected_loss=loss,
        relative_lift=0.1,
        absolute_ci=Interval(None, None, 0.95),
        relative_ci=Interval(None, None, 0.95),
    )


def metric(
    name: str,
    comparisons: list[Comparison],
    *,
    n: int = 10000,
    means: tuple[float, ...] = (0.2, 0.24, 0.24),
    prob_best: dict[str, float] | None = None,
) -> MetricResult:
    variants = ["a"] + [c.variant for c in comparisons]
    return MetricResult(
        metric=name,
        role="primary",
        variants=[VariantSummary(v, n, means[i]) for i, v in enumerate(variants)],
        comparisons=comparisons,
        prob_best=prob_best,
    )


def guard(passed: bool | None, worse: bool = False, variant: str = "b") -> MetricResult:
    ci = (0.004, 0.012) if worse else (-0.003, 0.004)
    return metric(
        "refund_rate",
        [
            Comparison(
                variant,
                "a",
                frequentist=freq(0.008 if worse else 0.0005, *ci, 0.001 if worse else 0.6),
                non_inferiority=NonInferiority(0.1, "relative", 0.01 if passed else 0.4, passed),
            )
        ],
        means=(0.03, 0.038 if worse else 0.03),
    )


def analysis(*metrics: MetricResult, srm_flagged: bool = False) -> ExperimentAnalysis:
    srm = SrmResult(
        observed={"a": 10000, "b": 10000},
        expected={"a": 10000.0, "b": 10000.0},
        statistic=0.0 if not srm_flagged else 30.0,
        df=1,
        p_value=1.0 if not srm_flagged else 1e-8,
        flagged=srm_flagged,
    )
    return ExperimentAnalysis("exp", list(metrics), srm)


def winner(p: float = 0.0003, prob: float = 0.999, n: int = 10000) -> MetricResult:
    return metric(
        "take_rate",
        [Comparison("b", "a", freq(0.041, 0.020, 0.062, p), bayes(prob), p_value_adjusted=p)],
        n=n,
    )


def test_frequentist_winner_ships_with_a_plain_reason() -> None:
    outcome = decide(resolved(), analysis(winner(), guard(True)))
    assert outcome.action is Action.ship and outcome.variant == "b"
    assert outcome.metric == "take_rate"
    assert (
        "Variant b raised the take rate by 4.1 pp, +20.5 % relative "
        "(95 % CI 2.0 pp to 6.2 pp, Holm-adjusted p = 0.0003)." in outcome.reasons
    )
    assert any("not 1 - p" in r for r in outcome.reasons)


def test_srm_makes_the_experiment_invalid_even_with_a_winner() -> None:
    outcome = decide(resolved(), analysis(winner(), guard(True), srm_flagged=True))
    assert outcome.action is Action.invalid and outcome.variant is None
    assert "Sample ratio mismatch" in outcome.reasons[0]


def test_multiple_exposures_above_the_limit_make_it_invalid() -> None:
    quality = QualitySummary(
        {"a": 9900, "b": 9900}, {"a": 0.5, "b": 0.5}, multiple_exposure_units=400
    )
    data = ExperimentData("exp", {}, quality)
    outcome = decide(resolved(), analysis(winner(), guard(True)), data)
    assert outcome.action is Action.invalid
    assert "saw more than one variant" in outcome.reasons[0]


def test_no_data_or_missing_metric_is_invalid() -> None:
    empty = metric("take_rate", [Comparison("b", "a")], n=0)
    assert decide(resolved(), analysis(empty)).action is Action.invalid
    assert decide(resolved(), analysis(guard(True))).action is Action.invalid


def test_significant_loser_keeps_control_and_unclear_keeps_running() -> None:
    loser = metric(
        "take_rate",
        [Comparison("b", "a", freq(-0.03, -0.05, -0.01, 0.001), p_value_adjusted=0.001)],
    )
    assert decide(resolved(), analysis(loser, guard(True))).action is Action.keep_control
    unclear = metric(
        "take_rate",
        [Comparison("b", "a", freq(0.01, -0.01, 0.03, 0.3), p_value_adjusted=0.3)],
        n=1000,
    )
    outcome = decide(resolved(), analysis(unclear, guard(True)))
    assert outcome.action is Action.keep_running


def test_p_below_alpha_but_interval_across_zero_does_not_ship() -> None:
    odd = metric(
        "take_rate", [Comparison("b", "a", freq(0.01, -0.001, 0.03, 0.04), p_value_adjusted=0.04)]
    )
    assert decide(resolved(), analysis(odd, guard(True))).action is not Action.ship


def test_lower_is_better_decision_metric_ships_a_decrease() -> None:
    spec = resolved(analysis={"decision": {"metric": "refund_rate"}}, guardrail=False)
    spec = ResolvedExperiment(
        spec.experiment, {**spec.metrics, "refund_rate": CATALOGUE["refund_rate"]}, spec.roles
    )
    down = metric(
        "refund_rate",
        [Comparison("b", "a", freq(-0.01, -0.015, -0.005, 0.001), p_value_adjusted=0.001)],
    )
    assert decide(spec, analysis(down)).action is Action.ship
    up = metric(
        "refund_rate",
        [Comparison("b", "a", freq(0.01, 0.005, 0.015, 0.001), p_value_adjusted=0.001)],
    )
    assert decide(spec, analysis(up)).action is Action.keep_control


def test_bayesian_rule_uses_prob_best_and_expected_loss() -> None:
    rule = {
        "decision": {
            "rule": "bayesian",
            "prob_best_threshold": 0.95,
            "expected_loss_threshold": 0.001,
        }
    }
    assert (
        decide(resolved(analysis=rule), analysis(winner(prob=0.97), guard(True))).action
        is Action.ship
    )
    assert (
        decide(resolved(analysis=rule), analysis(winner(prob=0.90, n=1000), guard(True))).action
        is Action.keep_running
    )
    costly = metric(
        "take_rate",
        [Comparison("b", "a", freq(0.041, 0.02, 0.062, 0.0003), bayes(0.99, loss=0.01))],
    )
    assert decide(resolved(analysis=rule), analysis(costly, guard(True))).action is not Action.ship


def test_both_rule_needs_agreement() -> None:
    rule = {"decision": {"rule": "both"}}
    agree = decide(resolved(analysis=rule), analysis(winner(prob=0.99), guard(True)))
    assert agree.action is Action.ship
    disagree = decide(resolved(analysis=rule), analysis(winner(prob=0.80), guard(True)))
    assert disagree.action is not Action.ship
    assert any("disagree" in r for r in disagree.reasons)


def test_guardrail_breach_blocks_shipping_and_is_listed() -> None:
    outcome = decide(resolved(), analysis(winner(), guard(False, worse=True)))
    assert outcome.action is Action.keep_control
    assert outcome.guardrails_breached == ["refund_rate"]
    assert any("Guardrail breached" in r for r in outcome.reasons)


def test_unproven_guardrail_keeps_running_without_a_breach() -> None:
    outcome = decide(resolved(), analysis(winner(), guard(False)))
    assert outcome.action is Action.keep_running
    assert outcome.guardrails_breached == []
    none = decide(resolved(), analysis(winner(), guard(None)))
    assert none.action is Action.keep_running


def test_profit_rule_with_minimum_margin() -> None:
    rule = {"decision": {"metric": "profit_per_customer", "min_profit_margin": 20}}

    def profit(lift: float) -> MetricResult:
        return metric(
            "profit_per_customer",
            [Comparison("b", "a", freq(lift, lift - 5, lift + 5, 0.0001), p_value_adjusted=0.0001)],
            means=(800.0, 800.0 + lift),
        )

    small = decide(resolved(analysis=rule), analysis(profit(15.0), guard(True)))
    assert small.action is not Action.ship and small.metric == "profit_per_customer"
    assert any("min_profit_margin" in r for r in small.reasons)
    big = decide(resolved(analysis=rule), analysis(profit(25.0), guard(True)))
    assert big.action is Action.ship


def test_best_of_several_winners_ships() -> None:
    result = metric(
        "take_rate",
        [
            Comparison("b", "a", freq(0.03, 0.01, 0.05, 0.001), p_value_adjusted=0.002),
            Comparison("c", "a", freq(0.05, 0.03, 0.07, 0.0001), p_value_adjusted=0.0002),
        ],
    )
    guards = metric(
        "refund_rate",
        [
            Comparison(
                v,
                "a",
                freq(0.0, -0.003, 0.003, 0.9),
                non_inferiority=NonInferiority(0.1, "relative", 0.01, True),
            )
            for v in ("b", "c")
        ],
        means=(0.03, 0.03, 0.03),
    )
    outcome = decide(resolved(variants=3), analysis(result, guards))
    assert outcome.action is Action.ship and outcome.variant == "c"


def _proportion_data(n: int, days: int) -> ExperimentData:
    stats_ = {
        "a": SampleStats.from_proportion(n, n // 5),
        "b": SampleStats.from_proportion(n, n // 5),
    }
    quality = QualitySummary({"a": n, "b": n}, {"a": 0.5, "b": 0.5})
    return ExperimentData(
        "exp",
        {"take_rate": MetricData("take_rate", stats_)},
        quality,
        first_exposure=date(2025, 3, 3),
        last_exposure=date(2025, 3, 2 + days),
    )


def test_keep_running_states_units_and_days_from_the_closed_form() -> None:
    unclear = metric(
        "take_rate",
        [Comparison("b", "a", freq(0.0, -0.03, 0.03, 1.0), p_value_adjusted=1.0)],
        n=1000,
        means=(0.2, 0.2),
    )
    data = _proportion_data(1000, 10)
    outcome = decide(resolved(analysis={"mde": 0.1}), analysis(unclear, guard(True)), data)
    assert outcome.action is Action.keep_running
    # Evan Miller: n = (z_.975 sqrt(2 p q) + z_.8 sqrt(p q + p2 q2))^2 / delta^2
    p1, p2 = 0.2, 0.22
    root = norm.ppf(0.975) * math.sqrt(2 * p1 * (1 - p1)) + norm.ppf(0.8) * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    needed = math.ceil(root**2 / 0.02**2)
    assert outcome.additional_units_needed == needed - 1000
    # 2,000 units over 10 days, half to each arm -> 100 a day per arm
    assert outcome.additional_days_needed == pytest.approx((needed - 1000) / 100)


def test_planned_sample_reached_without_a_winner_keeps_control() -> None:
    flat = metric(
        "take_rate",
        [Comparison("b", "a", freq(0.0, -0.005, 0.005, 0.9), p_value_adjusted=0.9)],
        n=100000,
        means=(0.2, 0.2),
    )
    outcome = decide(resolved(), analysis(flat, guard(True)), _proportion_data(100000, 20))
    assert outcome.action is Action.keep_control
    assert outcome.additional_units_needed is None


def test_sequential_stopping_advice_is_passed_on() -> None:
    from dataclasses import replace

    from upsell_ab.stats.results import SequentialStatus

    status = SequentialStatus(
        "confidence_sequence", may_stop=True, reason="the sequence excludes 0"
    )
    outcome = decide(resolved(), replace(analysis(winner(), guard(True)), sequential=status))
    assert outcome.action is Action.ship
    assert outcome.reasons[-1] == (
        "Sequential monitoring (confidence_sequence): may stop; the sequence excludes 0"
    )


def test_wording_never_rounds_to_a_certainty_or_to_zero() -> None:
    from upsell_ab.decision.reasons import amount, chance

    rate, yen = CATALOGUE["take_rate"], CATALOGUE["profit_per_customer"]
    assert chance(0.99995) == "> 99.9 %" and chance(0.00001) == "< 0.1 %"
    assert chance(0.5) == "50.0 %"
    assert amount(0.00001, rate) == "< 0.1 pp" and amount(0.041, rate) == "4.1 pp"
    assert amount(0.2, yen) == "< 1 JPY" and amount(1234.4, yen) == "1,234 JPY"
