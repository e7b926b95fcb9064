"""Issue 9: the data-quality gates do not bias the test (A/A simulation).

Seeded A/A experiments (both arms convert at 20 %, 500 units each) go through
``analyze`` and ``decide`` with every gate on (quality counts under their
thresholds, both arms exposed over the same days, the default minimum sample).
A "significant" verdict (ship, or keep control because the variant lost) must
occur at the two-sided alpha within Monte-Carlo error, and exactly when the
plain test alone says p < alpha: no gate looks at the effect.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import numpy as np
from metrics_support import resolved

from upsell_ab.decision.model import Action
from upsell_ab.decision.rules import decide
from upsell_ab.metrics.aggregates import ExperimentData, MetricData, QualitySummary
from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.spec.models import Analysis, MetricDefinition, MetricType
from upsell_ab.stats.analysis import analyze

RUNS = 2000
N = 500


def test_false_positive_rate_with_the_gates_on() -> None:
    base = resolved({"take": MetricDefinition(type=MetricType.proportion, event="buy")})
    analysis = Analysis(engine="frequentist", correction="none", mde=1.0)
    spec = replace(base, experiment=base.experiment.model_copy(update={"analysis": analysis}))
    rng = np.random.default_rng(99)
    gated = plain = 0
    period = (date(2025, 3, 3), date(2025, 3, 16))
    for x_c, x_t in zip(rng.binomial(N, 0.2, RUNS), rng.binomial(N, 0.2, RUNS), strict=True):
        stats = {
            "control": SampleStats.from_proportion(N, int(x_c)),
            "treatment": SampleStats.from_proportion(N, int(x_t)),
        }
        data = ExperimentData(
            experiment_id="exp1",
            metrics={"take": MetricData("take", stats)},
            quality=QualitySummary(
                exposures_by_variant={"control": N, "treatment": N},
                configured_weights={"control": 0.5, "treatment": 0.5},
                orphan_events=int(x_c + x_t) // 10,
                events_before_exposure=int(x_c + x_t) // 10,
                metric_events=int(x_c + x_t) * 2,
                exposure_periods={"control": period, "treatment": period},
            ),
            first_exposure=period[0],
            last_exposure=period[1],
        )
        result = analyze(spec, data)
        outcome = decide(spec, result, data)
        freq = result.metric("take").comparisons[0].frequentist
        assert freq is not None and freq.p_value is not None
        significant = freq.p_value < 0.05
        plain += significant
        decided = outcome.action is Action.ship or (
            outcome.action is Action.keep_control and "significantly worse" in outcome.reasons[0]
        )
        gated += decided
        assert decided == significant  # the gates never add or remove a verdict here
        assert outcome.action is not Action.invalid
    rate = gated / RUNS
    error = math.sqrt(0.05 * 0.95 / RUNS)
    assert abs(rate - 0.05) <= 4 * error, rate
    assert gated == plain
