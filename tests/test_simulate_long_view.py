"""The simulator's long view (issue 15): pushy offers cost late repeat purchases and
satisfaction, and survey response is selective.

Oracles: the documented truth (``truth.MOMENT_PRESSURE``, ``LONG_RUN_REPEAT_LOSS``,
``SATISFACTION_LOSS``, ``World``) turned into closed-form rates, checked with binomial
standard errors (tolerance 4 SE); the whole pipeline then recovers the direction of the
stated effects on the 90-day LTV and the satisfaction score.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.test_simulate_generate import make_experiment
from upsell_ab.simulate import World, simulate
from upsell_ab.simulate.truth import LONG_RUN_REPEAT_LOSS, MOMENT_PRESSURE
from upsell_ab.spec.models import Moment

PUSHY, CALM = "generic", "pairing"
"""The base experiment's arms, offered at checkout (pressure 1.0) and after purchase (0.3)."""


def _timing_experiment() -> Any:
    base = make_experiment()
    variants = []
    for variant, timing in zip(base.variants, ("at_checkout", "post_purchase"), strict=True):
        offer = variant.offer.model_copy(update={"discount": variant.offer.discount.__class__()})
        data = variant.model_dump(mode="python")
        data["offer"] = {**offer.model_dump(mode="python"), "timing": timing}
        data["offer"]["wording"] = "Add a cheesecake made to go with this coffee?"
        variants.append(data)
    return make_experiment(variants=variants, id="timing")


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return simulate([_timing_experiment()], units=60_000, days=14, seed=5)


def _first_exposure(exposures: pd.DataFrame) -> pd.DataFrame:
    return exposures.sort_values("timestamp").drop_duplicates("unit_id")[
        ["unit_id", "variant", "timestamp"]
    ]


def test_late_repeats_follow_the_offers_pressure(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    exposures, events = frames
    first = _first_exposure(exposures).set_index("unit_id")
    orders = events[events["event_type"] == "order"].copy()
    orders["since"] = orders["timestamp"] - orders["unit_id"].map(first["timestamp"])
    orders["variant"] = orders["unit_id"].map(first["variant"])
    ids = orders["order_id"].astype(str)
    world = World()
    for variant, moment in ((PUSHY, Moment.at_checkout), (CALM, Moment.post_purchase)):
        mine = orders[orders["variant"] == variant]
        eligible = mine.loc[ids[mine.index].str.endswith("-r2"), "unit_id"].nunique()
        late = mine.loc[ids[mine.index].str.endswith("-r3"), "unit_id"].nunique()
        expected = world.third_repeat * (1 - LONG_RUN_REPEAT_LOSS * MOMENT_PRESSURE[moment])
        se = math.sqrt(expected * (1 - expected) / eligible)
        assert eligible > 500
        assert abs(late / eligible - expected) < 4 * se, (variant, late / eligible, expected)
        assert mine.loc[ids[mine.index].str.endswith("-r3"), "since"].min() >= pd.Timedelta(days=61)


def test_survey_scores_and_selective_response(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Among respondents, the share of unhappy scores (<= 2) is the population share
    q inflated by the response factor: q f / (q f + 1 - q); the population share q comes
    from the documented normal, P(round(N(mu, sd)) <= 2) = Phi((2.5 - mu) / sd)."""
    from scipy.stats import norm

    exposures, events = frames
    first = _first_exposure(exposures).set_index("unit_id")
    survey = events[events["event_type"] == "survey_response"].copy()
    survey["variant"] = survey["unit_id"].map(first["variant"])
    world = World()
    shares = {}
    for variant, moment in ((PUSHY, Moment.at_checkout), (CALM, Moment.post_purchase)):
        mine = survey[survey["variant"] == variant]
        mu = world.satisfaction_mean - 0.5 * MOMENT_PRESSURE[moment]
        q = norm.cdf((2.5 - mu) / world.satisfaction_sd)
        f = world.unhappy_response_factor
        expected = q * f / (q * f + 1 - q)
        got = float((mine["value"] <= 2).mean())
        se = math.sqrt(expected * (1 - expected) / len(mine))
        assert abs(got - expected) < 4 * se, (variant, got, expected)
        shares[variant] = len(mine) / int((first["variant"] == variant).sum())
        assert set(np.unique(mine["value"])) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    # the pushier arm has more unhappy customers, who answer more often
    assert shares[PUSHY] > shares[CALM]


def test_the_pipeline_sees_the_long_view(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """Through analyze: the pushy arm's 90-day LTV has fewer purchases per customer, its
    satisfaction score is lower, and the response-rate check notices the selective
    response (the arms answer at different rates)."""
    import upsell_ab

    exposures, events = frames
    from pathlib import Path

    catalogue = Path(__file__).resolve().parents[1] / "experiments" / "metrics.yaml"
    experiment = upsell_ab.define(
        id="timing",
        name="Timing",
        status="running",
        population={"unit": "customer_id"},
        variants=[
            {"id": PUSHY, "weight": 0.5, "control": True},
            {"id": CALM, "weight": 0.5},
        ],
        metrics={
            "primary": "upsell_take_rate",
            "secondary": ["customer_ltv_90d", "satisfaction_score"],
        },
        catalogue=catalogue,
    )
    result = experiment.analyze(exposures=exposures, events=events)
    score = {a.variant: a.mean for a in result.metric("satisfaction_score").variants}
    assert score[CALM] > score[PUSHY]
    (late,) = result.comparisons("customer_ltv_90d_purchases")
    assert late.relative_lift is not None and late.relative_lift > 0
    rates = result.metric("survey_response_rate")
    assert rates.role == "check"
    assert any("satisfaction score is biased" in w for w in result.report.decision.warnings)
