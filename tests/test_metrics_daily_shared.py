"""Metrics on one event share their daily in-window sums, and get the same series.

The daily series computes each distinct per-(unit, day) in-window sum once (several
metrics on one order event: revenue, revenue with CUPED, a ratio's numerator; or
conversion's event count and the ratio's denominator). Here one spec holds four such
metrics; its daily series must equal, bit for bit, the series of each metric analysed
alone, and both must equal a hand-written pandas computation of the cumulative
statistics (units first exposed by the end of day D, events counted up to the end of
D), which shares no code with the query. Units have orders on one day, on several
days, on none, before exposure (CUPED covariate) and after the window.
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
from upsell_ab.spec.models import Aggregate, Cuped, MetricDefinition, MetricType, Window

WINDOW = Window(end=timedelta(days=10))
METRICS: dict[str, MetricDefinition] = {
    "conversion": MetricDefinition(type=MetricType.proportion, event="order", window=WINDOW),
    "revenue": MetricDefinition(type=MetricType.mean, event="order", window=WINDOW),
    "revenue_cuped": MetricDefinition(
        type=MetricType.mean, event="order", window=WINDOW, cuped=Cuped(lookback=timedelta(days=7))
    ),
    "aov": MetricDefinition(
        type=MetricType.ratio,
        numerator=Aggregate(event="order", value="value"),
        denominator=Aggregate(event="order", value="count"),
        window=WINDOW,
    ),
}
VARIANTS = ("control", "treatment")
START = datetime(2024, 5, 1, 8, 0)


def _data() -> tuple[pd.DataFrame, pd.DataFrame]:
    exposures: list[tuple[object, ...]] = []
    events: list[tuple[object, ...]] = []
    for i in range(24):
        unit = f"u{i:02d}"
        first = START + timedelta(days=(i // 2) % 4, hours=3 * (i % 5))
        exposures.append(("exp1", VARIANTS[i % 2], unit, first.isoformat()))
        # orders: none, one day, two or three days (one of them twice), before exposure
        # (the CUPED lookback) and after the 10-day window
        offsets = [[], [0.1], [0.2, 1.5], [0.5, 0.6, 2.5, 4.2], [-3.0, 1.0], [9.5, 10.5]][i % 6]
        for k, offset in enumerate(offsets):
            ts = first + timedelta(days=offset)
            value = 10.0 + 7.25 * i + 3.5 * k
            events.append((unit, ts.isoformat(), "order", value, 0.0, 1.0, f"e{i}_{k}"))
        events.append((unit, (first + timedelta(hours=2)).isoformat(), "visit", 1.0, 0, 1, f"v{i}"))
    return exposures_frame(exposures), events_frame(events)


DATA = _data()


def _expected(day: date) -> dict[str, dict[str, dict[str, float]]]:
    """The cumulative statistics at the end of ``day``, straight from the definitions."""
    exposures, events = DATA
    cutoff = pd.Timestamp(day + timedelta(days=1))
    first = exposures.groupby("unit_id").agg(first=("timestamp", "min"), v=("variant", "first"))
    first = first[first["first"] < cutoff]
    orders = events[events["event_type"] == "order"].merge(
        first, left_on="unit_id", right_index=True
    )
    delta = orders["timestamp"] - orders["first"]
    inside = (delta >= pd.Timedelta(0)) & (delta < pd.Timedelta(days=10))
    inside &= orders["timestamp"] < cutoff
    lookback = (delta < pd.Timedelta(0)) & (delta >= -pd.Timedelta(days=7))
    units = first.copy()
    units["y"] = orders[inside].groupby("unit_id")["value"].sum()
    units["d"] = orders[inside].groupby("unit_id").size()
    units["x"] = orders[lookback].groupby("unit_id")["value"].sum()
    units = units.fillna({"y": 0.0, "d": 0.0, "x": 0.0})
    units["c"] = (units["d"] > 0).astype(float)
    out: dict[str, dict[str, dict[str, float]]] = {name: {} for name in METRICS}
    for variant, g in units.groupby("v"):
        n = float(len(g))
        y, d, x, c = g["y"], g["d"], g["x"], g["c"]
        out["conversion"][str(variant)] = {"n": n, "sum": c.sum(), "sum_squares": (c * c).sum()}
        out["revenue"][str(variant)] = {"n": n, "sum": y.sum(), "sum_squares": (y * y).sum()}
        out["revenue_cuped"][str(variant)] = {
            "n": n,
            "sum": y.sum(),
            "sum_squares": (y * y).sum(),
            "covariate_sum": x.sum(),
            "covariate_sum_squares": (x * x).sum(),
            "cross_sum": (y * x).sum(),
        }
        out["aov"][str(variant)] = {
            "n": n,
            "numerator_sum": y.sum(),
            "numerator_sum_squares": (y * y).sum(),
            "denominator_sum": d.sum(),
            "denominator_sum_squares": (d * d).sum(),
            "cross_sum": (y * d).sum(),
        }
    return out


@pytest.fixture(scope="module")
def series() -> dict[str, dict[str, list[tuple[date, dict[str, dict[str, float]]]]]]:
    """Per analysis ('together' or a metric's name), per metric, its daily series."""
    con = duckdb.connect()
    load_duckdb(con, *DATA)
    analyses = {"together": METRICS} | {name: {name: m} for name, m in METRICS.items()}
    out: dict[str, dict[str, list[tuple[date, dict[str, dict[str, float]]]]]] = {}
    for label, metrics in analyses.items():
        data = compute_experiment_data(
            resolved(metrics, variants=VARIANTS), connection=con, daily=True
        )
        out[label] = {
            name: [
                (point.day, {v: stats_dict(point.by_variant[v]) for v in VARIANTS})
                for point in data.metrics[name].daily
            ]
            for name in metrics
        }
    return out


@pytest.mark.parametrize("name", list(METRICS))
def test_a_metric_gets_the_same_daily_series_alone_and_with_its_channel_sharers(
    series: dict[str, dict[str, list[tuple[date, dict[str, dict[str, float]]]]]], name: str
) -> None:
    together, alone = series["together"][name], series[name][name]
    assert len(together) >= 10  # exposures over 4 days, orders up to 10.5 days later
    assert together == alone  # bit for bit: the same sums of the same per-unit values


@pytest.mark.parametrize("name", list(METRICS))
def test_shared_daily_series_equal_the_pandas_computation(
    series: dict[str, dict[str, list[tuple[date, dict[str, dict[str, float]]]]]], name: str
) -> None:
    for day, by_variant in series["together"][name]:
        expected = _expected(day)[name]
        for variant in VARIANTS:
            assert_close(by_variant[variant], expected[variant])


def test_a_refund_below_the_final_value_keeps_the_exact_daily_sums() -> None:
    """A unit's revenue of 1000 on its first day and -999.5 the next ends at 0.5, the
    largest final value: the quantum is 2^-63, so the first day's state is 1000 * 2^63
    quanta, beyond a BIGINT. Value sums therefore keep 128-bit quanta (and counts, which
    only grow, use 64-bit ones): the query runs exactly, with no DOUBLE fallback, and
    gives the pandas numbers."""
    exposures = exposures_frame(
        [("exp1", "control", "u1", "2024-05-01 08:00"), ("exp1", "treatment", "u2", "2024-05-01")]
    )
    events = events_frame(
        [
            ("u1", "2024-05-01 09:00", "order", 1000.0, 0.0, 1.0, "e1"),
            ("u1", "2024-05-02 09:00", "order", -999.5, 0.0, 1.0, "e2"),
            ("u2", "2024-05-02 09:00", "order", 0.25, 0.0, 1.0, "e3"),
        ]
    )
    con = duckdb.connect()
    load_duckdb(con, exposures, events)
    data = compute_experiment_data(resolved(METRICS, variants=VARIANTS), connection=con, daily=True)
    assert not data.input_notes  # no "Sums were added in floating point" fallback
    first, second = data.metrics["revenue"].daily[:2]
    assert stats_dict(first.by_variant["control"]) == {"n": 1.0, "sum": 1000.0, "sum_squares": 1e6}
    assert stats_dict(second.by_variant["control"]) == {"n": 1.0, "sum": 0.5, "sum_squares": 0.25}
    orders = [stats_dict(p.by_variant["control"]) for p in data.metrics["aov"].daily[:2]]
    assert [o["denominator_sum"] for o in orders] == [1.0, 2.0]
    assert [o["numerator_sum"] for o in orders] == [1000.0, 0.5]
