"""A hand-made example report: typed inputs written out by hand, no engine run.

Used by the renderer tests, the golden file, the benchmark and for looking at
the HTML in a browser. Every number below is an *input* (as if the engines
had produced it), so outputs built from it test formatting, not statistics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from upsell_ab.decision.model import Action, Outcome
from upsell_ab.metrics.aggregates import ExperimentData, MetricData, QualitySummary
from upsell_ab.metrics.sufficient import MetricStats, SampleStats
from upsell_ab.report.model import DailyLift, ExperimentReport, build_report
from upsell_ab.spec.models import (
    Direction,
    Experiment,
    MetricDefinition,
    MetricType,
)
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


@dataclass(frozen=True)
class SampleResolved:
    """Stands in for ``spec.resolve.ResolvedExperiment`` (same attributes)."""

    experiment: Experiment
    metrics: Mapping[str, MetricDefinition]
    roles: Mapping[str, str] = field(default_factory=dict)


CATALOGUE: dict[str, MetricDefinition] = {
    "take_rate": MetricDefinition(
        type=MetricType.proportion, event="upsell_purchase", description="Offer accepted"
    ),
    "revenue": MetricDefinition(
        type=MetricType.mean, event="order", unit="JPY", description="Revenue per customer"
    ),
    "refund_rate": MetricDefinition(
        type=MetricType.proportion,
        event="refund",
        direction=Direction.lower_is_better,
        description="Customers who asked for a refund",
    ),
}


def sample_experiment(index: int = 0, *, wording_b: str | None = None) -> Experiment:
    """A cake-with-coffee wording test (domain.md's cafe example)."""
    return Experiment.model_validate(
        {
            "id": f"cake_wording_{index}" if index else "cake_wording",
            "name": "ケーキ提案の言い回し / Cake offer wording",
            "hypothesis": "A specific benefit sells more cakes than a generic question.",
            "owner": "growth-team",
            "status": "running",
            "start": date(2024, 5, 1),
            "variants": [
                {
                    "id": "A",
                    "weight": 0.5,
                    "control": True,
                    "name": "Generic",
                    "offer": {
                        "tactic": "cross_sell",
                        "timing": "at_checkout",
                        "wording": "ケーキもいかがですか？ | Would you like a cake too?",
                        "items": [{"sku": "cake-01", "name": "Cheesecake", "price": 450}],
                    },
                },
                {
                    "id": "B",
                    "weight": 0.5,
                    "name": "Specific benefit",
                    "offer": {
                        "tactic": "cross_sell",
                        "timing": "post_purchase",
                        "wording": wording_b
                        or "このコーヒーに合うチーズケーキがあります（100円引き）",
                        "discount": {"amount": 100, "limited_time": "48h"},
                        "items": [
                            {
                                "sku": "cake-01",
                                "name": "Cheesecake",
                                "price": 450,
                                "currency": "JPY",
                            }
                        ],
                    },
                },
            ],
            "metrics": {
                "primary": "take_rate",
                "secondary": ["revenue"],
                "guardrails": [{"metric": "refund_rate", "margin": 0.1}],
            },
            "analysis": {"sequential": {"enabled": True}},
        }
    )


def _interval(low: float | None, high: float | None) -> Interval:
    return Interval(low, high, 0.95)


def sample_analysis(experiment_id: str) -> ExperimentAnalysis:
    take = MetricResult(
        metric="take_rate",
        role="primary",
        variants=[VariantSummary("A", 5012, 0.2005), VariantSummary("B", 4988, 0.2341)],
        comparisons=[
            Comparison(
                variant="B",
                baseline="A",
                frequentist=FrequentistComparison(
                    method="pooled z-test",
                    status=Status.ok,
                    alternative="two_sided",
                    absolute_lift=0.0336,
                    relative_lift=0.1676,
                    absolute_ci=_interval(0.0120, 0.0552),
                    relative_ci=_interval(0.0598, 0.2754),
                    statistic=4.07,
                    p_value=0.000047,
                    sequential=True,
                ),
                bayesian=BayesianComparison(
                    method="beta-binomial",
                    status=Status.ok,
                    prob_beat_baseline=0.99991,
                    expected_loss=0.00002,
                    relative_lift=0.1670,
                    absolute_ci=_interval(0.0173, 0.0499),
                    relative_ci=_interval(0.0860, 0.2480),
                ),
                p_value_adjusted=0.000047,
            )
        ],
        prob_best={"A": 0.00009, "B": 0.99991},
    )
    revenue = MetricResult(
        metric="revenue",
        role="secondary",
        variants=[VariantSummary("A", 5012, 1843.2), VariantSummary("B", 4988, 1901.7)],
        comparisons=[
            Comparison(
                variant="B",
                baseline="A",
                frequentist=FrequentistComparison(
                    method="welch t-test",
                    status=Status.ok,
                    alternative="two_sided",
                    absolute_lift=58.5,
                    relative_lift=0.0317,
                    absolute_ci=_interval(-21.4, 138.4),
                    relative_ci=_interval(-0.0116, 0.0750),
                    statistic=1.43,
                    p_value=0.152,
                    sequential=True,
                ),
                bayesian=None,
            )
        ],
        prob_best=None,
        notes=["Bayesian engine skipped for this metric in the sample."],
    )
    refunds = MetricResult(
        metric="refund_rate",
        role="guardrail",
        variants=[VariantSummary("A", 5012, 0.0120), VariantSummary("B", 4988, 0.0124)],
        comparisons=[
            Comparison(
                variant="B",
                baseline="A",
                frequentist=FrequentistComparison(
                    method="pooled z-test",
                    status=Status.ok,
                    alternative="two_sided",
                    absolute_lift=0.0004,
                    relative_lift=0.0333,
                    absolute_ci=_interval(-0.0039, 0.0047),
                    relative_ci=_interval(-0.31, 0.38),
                    p_value=0.85,
                    sequential=True,
                ),
                bayesian=BayesianComparison(
                    method="beta-binomial",
                    status=Status.ok,
                    prob_beat_baseline=0.43,
                    expected_loss=0.0012,
                    relative_lift=0.035,
                    absolute_ci=_interval(-0.0037, 0.0045),
                    relative_ci=_interval(-0.29, 0.36),
                ),
                non_inferiority=NonInferiority(
                    margin=0.1, margin_kind="relative", p_value=0.21, passed=False, bound=0.31
                ),
            )
        ],
    )
    return ExperimentAnalysis(
        experiment_id=experiment_id,
        metrics=[take, revenue, refunds],
        srm=SrmResult(
            observed={"A": 5012, "B": 4988},
            expected={"A": 5000.0, "B": 5000.0},
            statistic=0.0576,
            df=1,
            p_value=0.8103,
            flagged=False,
        ),
    )


def sample_outcome() -> Outcome:
    return Outcome(
        action=Action.keep_running,
        variant=None,
        reasons=[
            "B beats A on take_rate (adjusted p <0.001), but the refund_rate guardrail is "
            "not yet proven non-inferior.",
        ],
        additional_units_needed=3200,
        additional_days_needed=4.5,
        guardrails_breached=[],
    )


def sample_data(experiment_id: str) -> ExperimentData:
    quality = QualitySummary(
        exposures_by_variant={"A": 5012, "B": 4988},
        configured_weights={"A": 0.5, "B": 0.5},
        multiple_exposure_units=7,
        orphan_events=3,
        duplicates_dropped=12,
    )
    stats: dict[str, MetricStats] = {
        "A": SampleStats.from_proportion(5012, 1005),
        "B": SampleStats.from_proportion(4988, 1168),
    }
    return ExperimentData(
        experiment_id=experiment_id,
        metrics={"take_rate": MetricData("take_rate", stats)},
        quality=quality,
        first_exposure=date(2024, 5, 1),
        last_exposure=date(2024, 5, 14),
    )


def sample_daily_lifts(days: int = 14) -> dict[str, list[DailyLift]]:
    """A made-up path that narrows as data accrue (input, not a computation)."""
    start = date(2024, 5, 1)
    lifts = []
    for day in range(days):
        half_width = 0.9 / (day + 1) ** 0.5
        estimate = 0.1676 + 0.12 * (-1) ** day / (day + 1)
        lifts.append(
            DailyLift(
                start + timedelta(days=day),
                "B",
                estimate,
                estimate - half_width,
                estimate + half_width,
            )
        )
    return {"take_rate": lifts}


def sample_report(index: int = 0, *, wording_b: str | None = None) -> ExperimentReport:
    experiment = sample_experiment(index, wording_b=wording_b)
    resolved = SampleResolved(
        experiment,
        CATALOGUE,
        {"take_rate": "primary", "revenue": "secondary", "refund_rate": "guardrail"},
    )
    return build_report(
        resolved,
        sample_analysis(experiment.id),
        sample_outcome(),
        sample_data(experiment.id),
        daily_lifts=sample_daily_lifts(),
    )
