"""First-exposure increments of the daily series, counted per day rather than row by row.

On its first-exposure day every unit adds the terms of its empty state: window channels
0 (framed: ``(0 - mid) / half``, a constant that is not 0 when every unit bought), fixed
CUPED covariates its own value. DuckDB's query counts the units per (variant, first day)
and multiplies each constant term's quanta by that count (integers: exact), summing only
the covariate terms per unit. Here every unit has an in-window order, so revenue's frame
is centred away from 0 and the constant terms carry weight; the series must equal a
hand-written pandas computation of the cumulative statistics, and be byte-identical on 1
and on 4 threads.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import pandas as pd
import pytest
from metrics_support import (
    assert_close,
    events_frame,
    exposures_frame,
    load_duckdb,
    resolved,
    stats_dict,
)

from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.spec.models import Capping, Cuped, MetricDefinition, MetricType, Window

WINDOW = Window(end=timedelta(days=6))
METRICS: dict[str, MetricDefinition] = {
    "revenue": MetricDefinition(type=MetricType.mean, event="order", window=WINDOW),
    "capped": MetricDefinition(
        type=MetricType.mean,
        event="order",
        window=WINDOW,
        capping=Capping(kind="fixed", value=40.0),
    ),
    "cuped": MetricDefinition(
        type=MetricType.mean, event="order", window=WINDOW, cuped=Cuped(lookback=timedelta(days=5))
    ),
    "conversion": MetricDefinition(type=MetricType.proportion, event="order", window=WINDOW),
}
VARIANTS = ("control", "treatment", "bold")
START = datetime(2024, 3, 4, 6, 0)


def _data() -> tuple[pd.DataFrame, pd.DataFrame]:
    exposures: list[tuple[object, ...]] = []
    events: list[tuple[object, ...]] = []
    for i in range(33):
        unit = f"u{i:02d}"
        first = START + timedelta(days=i % 4, hours=(5 * i) % 17)
        exposures.append(("exp1", VARIANTS[i % 3], unit, first.isoformat()))
        # every unit buys inside the window (one day or several); some before exposure
        offsets = [[0.1], [0.3, 2.2], [1.5, 1.6, 4.0], [-2.0, 0.5], [3.3, 7.5]][i % 5]
        for k, offset in enumerate(offsets):
            value = 5.0 + 3.75 * i + 11.5 * k
            ts = (first + timedelta(days=offset)).isoformat()
            events.append((unit, ts, "order", value, 0.0, 1.0, f"e{i}_{k}"))
    return exposures_frame(exposures), events_frame(events)


DATA = _data()


def _expected(day: date) -> dict[str, dict[str, dict[str, float]]]:
    """The cumulative statistics at the end of ``day``, straight from the definitions."""
    exposures, events = DATA
    cutoff = pd.Timestamp(day + timedelta(days=1))
    first = exposures.groupby("unit_id").agg(first=("timestamp", "min"), v=("variant", "first"))
    first = first[first["first"] < cutoff]
    orders = events.merge(first, left_on="unit_id", right_index=True)
    delta = orders["timestamp"] - orders["first"]
    inside = (delta >= pd.Timedelta(0)) & (delta < pd.Timedelta(days=6))
    inside &= orders["timestamp"] < cutoff
    lookback = (delta < pd.Timedelta(0)) & (delta >= -pd.Timedelta(days=5))
    units = first.copy()
    units["y"] = orders[inside].groupby("unit_id")["value"].sum()
    units["x"] = orders[lookback].groupby("unit_id")["value"].sum()
    units = units.fillna({"y": 0.0, "x": 0.0})
    units["z"] = units["y"].clip(upper=40.0)
    units["c"] = (units["y"] > 0).astype(float)
    out: dict[str, dict[str, dict[str, float]]] = {name: {} for name in METRICS}
    for variant, g in units.groupby("v"):
        n = float(len(g))
        y, x, z, c = g["y"], g["x"], g["z"], g["c"]
        out["revenue"][str(variant)] = {"n": n, "sum": y.sum(), "sum_squares": (y * y).sum()}
        out["capped"][str(variant)] = {"n": n, "sum": z.sum(), "sum_squares": (z * z).sum()}
        out["cuped"][str(variant)] = {
            "n": n,
            "sum": y.sum(),
            "sum_squares": (y * y).sum(),
            "covariate_sum": x.sum(),
            "covariate_sum_squares": (x * x).sum(),
            "cross_sum": (y * x).sum(),
        }
        out["conversion"][str(variant)] = {"n": n, "sum": c.sum(), "sum_squares": (c * c).sum()}
    return out


def _series(threads: int) -> dict[str, list[tuple[date, dict[str, dict[str, float]]]]]:
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    load_duckdb(con, *DATA)
    data = compute_experiment_data(resolved(METRICS, variants=VARIANTS), connection=con, daily=True)
    assert not data.input_notes  # the exact sums, no DOUBLE fallback
    return {
        name: [
            (point.day, {v: stats_dict(point.by_variant[v]) for v in VARIANTS})
            for point in data.metrics[name].daily
        ]
        for name in METRICS
    }


@pytest.fixture(scope="module")
def series() -> dict[str, list[tuple[date, dict[str, dict[str, float]]]]]:
    return _series(1)


def test_every_unit_bought_so_revenue_frame_is_not_centred_on_zero() -> None:
    """The data's premise: the smallest final revenue is positive, so the empty state
    (0) lies outside the frame's centre and its terms are non-zero constants."""
    exposures, events = DATA
    assert events["unit_id"].nunique() == exposures["unit_id"].nunique()
    assert events.groupby("unit_id")["value"].sum().min() > 0


@pytest.mark.parametrize("name", list(METRICS))
def test_daily_series_equal_the_pandas_computation(
    series: dict[str, list[tuple[date, dict[str, dict[str, float]]]]], name: str
) -> None:
    points = series[name]
    # exposures over 4 days, in-window orders up to 4 days after the last: a point a day
    days = [day for day, _ in points]
    assert days == [date(2024, 3, 4) + timedelta(days=k) for k in range(len(days))]
    assert len(days) >= 7
    for day, by_variant in points:
        expected = _expected(day)[name]
        for variant in VARIANTS:
            assert_close(by_variant[variant], expected[variant])


def test_daily_series_are_byte_identical_on_one_and_four_threads(
    series: dict[str, list[tuple[date, dict[str, dict[str, float]]]]],
) -> None:
    assert _series(4) == series
