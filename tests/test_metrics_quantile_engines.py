"""Quantile metrics inside the database: DuckDB against a pandas/numpy oracle, and a real
PostgreSQL server and Spark local against DuckDB.

The order statistics are picked by rank, not by an engine's percentile function, so
every engine returns the SAME values: the tolerance is 0 for the quantile and its bounds
per event, for the counts and for the cluster sums (sums of counts); 1e-12 relative for
per-unit values, which are sums whose order of addition differs between engines. The
oracle shares no code with the query: it applies the definitions of docs/metrics.md to
the raw frames with pandas and takes the order statistics with numpy
(``np.quantile(..., method="inverted_cdf")`` is the rank ``ceil(nu n)``).

The data have every quirk the main query handles (multi-variant units, an unknown
variant, duplicates of an event id, events before exposure and after the window,
NULL values, orphans) plus tied prices and clustered orders (several per customer).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from metrics_support import load_duckdb, load_postgres, load_spark, resolved

from upsell_ab.metrics.aggregates import ExperimentData
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.metrics.quantile import QuantileStats
from upsell_ab.spec.models import MetricDefinition, MetricType, QuantileSettings, Window

VARIANTS = ("control", "treatment", "bold")
METRICS: dict[str, MetricDefinition] = {
    "median_order": MetricDefinition(
        type=MetricType.quantile, event="order", quantile=QuantileSettings(level=0.5)
    ),
    "p90_order": MetricDefinition(
        type=MetricType.quantile, event="order", quantile=QuantileSettings(level=0.9)
    ),
    "p25_items": MetricDefinition(
        type=MetricType.quantile,
        event="order",
        value="quantity",
        quantile=QuantileSettings(level=0.25),
        window=Window(start=timedelta(hours=1), end=timedelta(days=10)),
    ),
    "median_spend": MetricDefinition(
        type=MetricType.quantile, event="order", quantile=QuantileSettings(level=0.5, per="unit")
    ),
    "p90_spend_buyers": MetricDefinition(
        type=MetricType.quantile,
        event="order",
        quantile=QuantileSettings(level=0.9, per="unit", ignore_zeros=True),
    ),
    "p75_orders": MetricDefinition(
        type=MetricType.quantile,
        event="order",
        value="count",
        quantile=QuantileSettings(level=0.75, per="unit"),
    ),
    "median_upsell": MetricDefinition(  # no event at all in 'bold'
        type=MetricType.quantile, event="upsell_purchase", quantile=QuantileSettings(level=0.5)
    ),
    "revenue": MetricDefinition(type=MetricType.mean, event="order"),
}
PRICES = np.array([480.0, 520.0, 520.0, 650.0, 980.0])


def synthetic(n_units: int = 1500, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    start = datetime(2024, 5, 1)
    exposures: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    counter = 0
    for i in range(n_units):
        unit, arm = f"c{i:05d}", int(rng.integers(0, 3))
        first = start + timedelta(seconds=int(rng.integers(0, 5 * 86400)))
        exposures.append(("exp1", VARIANTS[arm], unit, first))
        if rng.random() < 0.2:
            exposures.append(("exp1", VARIANTS[arm], unit, first + timedelta(hours=3)))
        if rng.random() < 0.01:
            exposures.append(("exp1", VARIANTS[(arm + 1) % 3], unit, first + timedelta(hours=1)))
        if rng.random() < 0.005:
            exposures.append(("exp1", "ghost", unit, first + timedelta(hours=2)))
        level = rng.normal(0.0, 0.5)  # a customer's orders share a spending level
        for _ in range(rng.poisson(1.2 + 0.3 * arm)):
            offset = timedelta(seconds=float(rng.uniform(-3 * 86400, 12 * 86400)))
            if rng.random() < 0.3:
                value: float | None = float(rng.choice(PRICES))  # tied price points
            else:
                value = float(np.round(np.exp(6.8 + level + rng.normal(0, 0.4)), 2))
            if rng.random() < 0.02:
                value = None
            counter += 1
            kind = "upsell_purchase" if arm < 2 and rng.random() < 0.15 else "order"
            row = (unit, first + offset, kind, value, 0.0, float(rng.integers(1, 5)), f"e{counter}")
            events.append(row)
            if rng.random() < 0.03:
                events.append(row)  # the same event delivered twice
    for i in range(25):
        counter += 1
        events.append((f"stranger{i}", start, "order", 700.0, 0.0, 1.0, f"e{counter}"))
    xp = pd.DataFrame(exposures, columns=["experiment", "variant", "unit_id", "timestamp"])
    xp["timestamp"] = xp["timestamp"].astype("datetime64[us]")
    xp.insert(4, "event_id", [f"x{i}" for i in range(len(xp))])
    ev = pd.DataFrame(
        events,
        columns=["unit_id", "timestamp", "event_type", "value", "discount", "quantity", "event_id"],
    )
    ev["timestamp"] = ev["timestamp"].astype("datetime64[us]")
    for name in ("value", "discount", "quantity"):
        ev[name] = ev[name].astype("float64")
    ev.insert(6, "order_id", None)
    ev["order_id"] = ev["order_id"].astype(object)
    return xp, ev


DATA = synthetic()
RESOLVED = resolved(METRICS, variants=VARIANTS)


def oracle(exposures: pd.DataFrame, events: pd.DataFrame) -> dict[str, dict[str, QuantileStats]]:
    """The definitions of docs/metrics.md applied with pandas, order statistics by numpy."""
    known = exposures[(exposures["experiment"] == "exp1") & exposures["variant"].isin(VARIANTS)]
    first = known.sort_values(["timestamp", "variant"]).groupby("unit_id").head(1)
    several = known.groupby("unit_id")["variant"].nunique()
    units = first[~first["unit_id"].isin(several[several > 1].index)].set_index("unit_id")
    exposed = units["variant"].value_counts().to_dict()
    ordered = events.sort_values(["timestamp", "unit_id", "event_type", "value", "discount"])
    kept = ordered.drop_duplicates("event_id", keep="first")
    kept = kept[kept["unit_id"].isin(units.index)].copy()
    kept["variant"] = kept["unit_id"].map(units["variant"])
    kept["delta"] = kept["timestamp"] - kept["unit_id"].map(units["timestamp"])
    out: dict[str, dict[str, QuantileStats]] = {}
    for name, metric in METRICS.items():
        if metric.type is not MetricType.quantile:
            continue
        assert metric.quantile is not None
        nu = metric.quantile.level
        inside = kept[
            (kept["event_type"] == metric.event)
            & (kept["delta"] >= metric.window.start)
            & (kept["delta"] < metric.window.end)
        ]
        if metric.value == "count":
            y = pd.Series(1.0, index=inside.index)
        else:
            y = inside[metric.value].fillna(0.0)
        per_variant: dict[str, QuantileStats] = {}
        for variant in VARIANTS:
            mine = inside["variant"] == variant
            units_n = int(exposed.get(variant, 0))
            if metric.quantile.per == "event":
                per_variant[variant] = QuantileStats.from_values(
                    y[mine].to_numpy(), nu, inside.loc[mine, "unit_id"].to_numpy(), units=units_n
                )
                continue
            totals = y[mine].groupby(inside.loc[mine, "unit_id"]).sum()
            everyone = units.index[units["variant"] == variant]
            values = totals.reindex(everyone, fill_value=0.0).to_numpy()
            if metric.quantile.ignore_zeros:
                values = values[values != 0]
            per_variant[variant] = QuantileStats.from_values(values, nu, units=units_n)
        out[name] = per_variant
    return out


def _same(actual: QuantileStats, expected: QuantileStats) -> None:
    assert actual.n == expected.n and actual.units == expected.units
    if expected.n == 0:
        assert math.isnan(actual.quantile)
        return
    got, want = (
        (actual.quantile, actual.lower, actual.upper),
        (
            expected.quantile,
            expected.lower,
            expected.upper,
        ),
    )
    if actual.n_clusters is not None:  # per event: the events' own values, exactly
        assert got == want
    else:  # per unit: sums of a unit's events, whose order of addition may differ
        assert got == pytest.approx(want, rel=1e-12)
    assert actual.n_clusters == expected.n_clusters
    for field in ("below_sum", "below_sum_squares", "count_sum", "count_sum_squares", "cross_sum"):
        assert getattr(actual, field) == getattr(expected, field), field


def _compare(actual: ExperimentData, expected: ExperimentData) -> None:
    for name, metric in METRICS.items():
        for variant in VARIANTS:
            a, e = (
                actual.metrics[name].by_variant[variant],
                expected.metrics[name].by_variant[variant],
            )
            if metric.type is MetricType.quantile:
                assert isinstance(a, QuantileStats) and isinstance(e, QuantileStats)
                _same(a, e)
            else:
                assert a == e


@pytest.fixture(scope="module")
def duckdb_result() -> ExperimentData:
    con = duckdb.connect()
    load_duckdb(con, *DATA)
    return compute_experiment_data(RESOLVED, connection=con, segments=True, daily=True)


def test_duckdb_matches_the_oracle(duckdb_result: ExperimentData) -> None:
    expected = oracle(*DATA)
    for name, by_variant in expected.items():
        for variant, stats in by_variant.items():
            actual = duckdb_result.metrics[name].by_variant[variant]
            assert isinstance(actual, QuantileStats)
            _same(actual, stats)
    median = duckdb_result.metrics["median_order"].by_variant["treatment"]
    assert isinstance(median, QuantileStats)
    assert median.n > median.n_clusters > 100  # several orders per customer: clustered
    assert duckdb_result.metrics["median_upsell"].by_variant["bold"].n == 0
    # the oracle's numbers are numpy's inverted-CDF quantiles
    inside = oracle(*DATA)["p90_order"]["control"]
    assert inside.lower <= inside.quantile <= inside.upper


def test_quantile_metrics_have_no_segments_or_daily_series(duckdb_result: ExperimentData) -> None:
    assert duckdb_result.metrics["median_order"].by_segment == {}
    assert duckdb_result.metrics["median_order"].daily == []
    assert duckdb_result.metrics["revenue"].daily  # the other metrics keep theirs
    units = duckdb_result.quality.exposures_by_variant
    stats = duckdb_result.metrics["median_spend"].by_variant["control"]
    assert stats.n == units["control"]  # per unit: every exposed unit is an observation


def test_rank_boundaries_are_exact() -> None:
    """nu n an integer (0.5 x 100, 0.9 x 100): the rank is nu n, not nu n + 1, on DuckDB
    as in numpy's inverted CDF."""
    rows = [("exp1", "control", f"u{i}", datetime(2024, 1, 1)) for i in range(100)]
    xp = pd.DataFrame(rows, columns=["experiment", "variant", "unit_id", "timestamp"])
    xp["timestamp"] = xp["timestamp"].astype("datetime64[us]")
    xp.insert(4, "event_id", [f"x{i}" for i in range(len(xp))])
    ev = pd.DataFrame(
        [
            (f"u{i}", datetime(2024, 1, 2), "order", float(i + 1), 0.0, 1.0, f"e{i}")
            for i in range(100)
        ],
        columns=["unit_id", "timestamp", "event_type", "value", "discount", "quantity", "event_id"],
    )
    ev["timestamp"] = ev["timestamp"].astype("datetime64[us]")
    ev.insert(6, "order_id", None)
    con = duckdb.connect()
    load_duckdb(con, xp, ev)
    metrics = {
        f"q{int(nu * 100)}": MetricDefinition(
            type=MetricType.quantile, event="order", quantile=QuantileSettings(level=nu)
        )
        for nu in (0.5, 0.9, 0.01, 0.99)
    }
    data = compute_experiment_data(resolved(metrics, variants=("control", "t")), connection=con)
    values = np.arange(1.0, 101.0)
    for name, metric in metrics.items():
        assert metric.quantile is not None
        stats = data.metrics[name].by_variant["control"]
        assert isinstance(stats, QuantileStats)
        assert stats.quantile == np.quantile(values, metric.quantile.level, method="inverted_cdf")
    median = data.metrics["q50"].by_variant["control"]
    assert isinstance(median, QuantileStats)
    assert (median.lower, median.upper) == (41.0, 60.0)  # ranks ceil((.5 -+ .098) 100)


@pytest.mark.postgres
def test_postgres_agrees_with_duckdb(postgres_dsn: str, duckdb_result: ExperimentData) -> None:
    import psycopg

    load_postgres(postgres_dsn, *DATA)
    with psycopg.connect(postgres_dsn) as conn:
        result = compute_experiment_data(RESOLVED, connection=conn, segments=True, daily=True)
    _compare(result, duckdb_result)


@pytest.mark.spark
def test_spark_agrees_with_duckdb(spark_session: Any, duckdb_result: ExperimentData) -> None:
    load_spark(spark_session, *DATA)
    result = compute_experiment_data(RESOLVED, connection=spark_session, segments=True, daily=True)
    _compare(result, duckdb_result)
