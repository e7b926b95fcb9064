"""An arm whose order amounts went missing is flagged (upsell_ab.decision.empty_values).

Scenario: a new checkout in the treatment sends its amounts under another field, so 40 %
of the treatment's orders arrive without an amount (stored as 0). Revenue per customer
then falls in the treatment for no commercial reason (or, with the control broken, the
treatment "wins"). Checks:

* the query's per-arm counts (units with an order since exposure, units with an order
  whose amount is 0 or missing) equal a pandas count of the same rows;
* the headline warning names the arms, their shares and the revenue metric, through
  the whole pipeline (``run_on_data``: the report's warnings);
* with the same share of free orders in both arms the warning stays silent: seeded
  A/A draws of unit counts, false-alarm rate at most the documented 0.001 per
  comparison (2,000 draws: at most 6 alarms, the Poisson 0.999 quantile of mean 2).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from metrics_support import events_frame, exposures_frame, load_duckdb, resolved

from upsell_ab.decision.empty_values import EMPTY_P, empty_value_gaps, empty_value_warnings
from upsell_ab.metrics.aggregates import ExperimentData, QualitySummary
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.spec.models import MetricDefinition, MetricType
from upsell_ab.workflow import run_on_data

METRICS = {
    "conversion": MetricDefinition(type=MetricType.proportion, event="order"),
    "revenue": MetricDefinition(type=MetricType.mean, event="order", value="value"),
}
SPEC = resolved(METRICS)


def _log(seed: int, *, missing_in: str | None, missing_share: float = 0.4):
    """2,000 customers per arm, ~30 % order once or twice after exposure (some also
    before: history, not counted); ``missing_in``'s orders lose their amount with
    probability ``missing_share``; 1 % of every arm's orders are really free (0)."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 5, 1)
    exposures, events = [], []
    for arm in ("control", "treatment"):
        for i in range(2000):
            unit = f"{arm[0]}{i}"
            first = start + timedelta(minutes=int(rng.integers(0, 20_000)))
            exposures.append(("exp1", arm, unit, first.isoformat(sep=" ")))
            if rng.random() < 0.1:  # an order before the first exposure
                before = first - timedelta(days=3)
                events.append((unit, before.isoformat(sep=" "), "order", None, 0.0, 1.0))
            if rng.random() < 0.3:
                for _ in range(int(rng.integers(1, 3))):
                    at = first + timedelta(hours=float(rng.uniform(0.1, 200)))
                    amount = float(np.round(rng.lognormal(3.5, 0.5), 2))
                    if rng.random() < 0.01:
                        amount = 0.0
                    if arm == missing_in and rng.random() < missing_share:
                        amount = None
                    events.append((unit, at.isoformat(sep=" "), "order", amount, 0.0, 1.0))
    ev = events_frame([(*row, f"e{k}") for k, row in enumerate(events)])
    return exposures_frame(exposures), ev


def _pandas_counts(exposures: pd.DataFrame, events: pd.DataFrame) -> dict[str, tuple[int, int]]:
    first = exposures.groupby("unit_id").agg(first=("timestamp", "min"), arm=("variant", "first"))
    joined = events[events["event_type"] == "order"].join(first, on="unit_id", how="inner")
    after = joined[joined["timestamp"] >= joined["first"]]
    empty = after[after["value"].fillna(0.0) == 0.0]
    return {
        arm: (
            int(after.loc[after["arm"] == arm, "unit_id"].nunique()),
            int(empty.loc[empty["arm"] == arm, "unit_id"].nunique()),
        )
        for arm in ("control", "treatment")
    }


def _data(exposures: pd.DataFrame, events: pd.DataFrame) -> ExperimentData:
    con = duckdb.connect()
    load_duckdb(con, exposures, events)
    return compute_experiment_data(SPEC, connection=con, daily=True)


def test_counts_equal_pandas_and_the_broken_arm_is_named() -> None:
    exposures, events = _log(1, missing_in="treatment")
    data = _data(exposures, events)
    assert data.empty_values == {("order", "val"): _pandas_counts(exposures, events)}
    (gap,) = empty_value_gaps(SPEC, data)
    assert (gap.treatment, gap.control, gap.column) == ("treatment", "control", "value")
    assert gap.treatment_share > 0.3 > 0.05 > gap.control_share
    assert gap.p_value < EMPTY_P
    run = run_on_data(SPEC, data)
    headline = " ".join(run.outcome.warnings)
    assert "'order' events' value is 0 or missing" in headline
    assert "treatment" in headline and "revenue" in headline


def test_a_broken_control_is_named_too() -> None:
    exposures, events = _log(2, missing_in="control")
    data = _data(exposures, events)
    (gap,) = empty_value_gaps(SPEC, data)
    assert gap.control_share > gap.treatment_share + 0.2


def test_equal_free_orders_raise_nothing() -> None:
    exposures, events = _log(3, missing_in=None)
    data = _data(exposures, events)
    counts = data.empty_values[("order", "val")]
    assert counts == _pandas_counts(exposures, events)
    assert empty_value_warnings(SPEC, data) == []


def test_false_alarm_rate_under_equal_shares() -> None:
    """2,000 A/A draws of the unit counts (150 ordering customers per arm, 20 % of them
    with a free order in both arms): the shares differ by 5 points or more in a large
    part of the draws (so the p-value condition is what keeps the warning silent), and
    the warning's false-alarm rate stays at most EMPTY_P per comparison."""
    rng = np.random.default_rng(17)
    alarms = gaps = 0
    quality = QualitySummary(exposures_by_variant={}, configured_weights={})
    for _ in range(2000):
        counts = {arm: (150, int(rng.binomial(150, 0.20))) for arm in ("control", "treatment")}
        shares = [empty / units for units, empty in counts.values()]
        gaps += abs(shares[0] - shares[1]) >= 0.05
        data = ExperimentData(
            experiment_id="exp1",
            metrics={},
            quality=quality,
            empty_values={("order", "val"): counts},
        )
        alarms += bool(empty_value_gaps(SPEC, data))
    assert gaps > 400
    assert alarms <= 6
    # and the same check finds a real break at that size: 40 % against 20 %
    found = 0
    for _ in range(200):
        counts = {
            "control": (150, int(rng.binomial(150, 0.20))),
            "treatment": (150, int(rng.binomial(150, 0.45))),
        }
        data = ExperimentData(
            experiment_id="exp1",
            metrics={},
            quality=quality,
            empty_values={("order", "val"): counts},
        )
        found += bool(empty_value_gaps(SPEC, data))
    assert found >= 100
