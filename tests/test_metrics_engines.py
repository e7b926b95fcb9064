"""The same query on DuckDB, a real PostgreSQL server and Spark local agrees to 1e-9.

One ~2,000-unit synthetic data set with every metric type, capping (fixed and
percentile), CUPED (mean, ratio, 0/1), segments and daily series, and every
data quirk (repeat and multi-variant exposures, an unknown variant, orphans,
duplicates, pre-exposure and out-of-window events). Each engine is checked
against the plain-Python oracle of ``metrics_support`` and against DuckDB.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb
import pytest
from metrics_support import (
    assert_close,
    load_duckdb,
    load_postgres,
    load_spark,
    oracle,
    resolved,
    stats_dict,
    synthetic,
)

from upsell_ab.metrics.aggregates import ExperimentData, RepeatCount
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.spec.models import (
    Aggregate,
    Capping,
    Cuped,
    MetricDefinition,
    MetricType,
    Window,
)

VARIANTS = ("control", "treatment", "bold")
METRICS: dict[str, MetricDefinition] = {
    "take": MetricDefinition(type=MetricType.proportion, event="upsell_purchase"),
    "revenue": MetricDefinition(
        type=MetricType.mean,
        event="order",
        capping=Capping(kind="percentile", value=0.95),
        cuped=Cuped(lookback=timedelta(days=14)),
    ),
    "orders": MetricDefinition(type=MetricType.count_, event="order"),
    "aov": MetricDefinition(
        type=MetricType.ratio,
        numerator=Aggregate(event="order", value="value"),
        denominator=Aggregate(event="order", value="count"),
        cuped=Cuped(lookback=timedelta(days=14)),
    ),
    "items": MetricDefinition(
        type=MetricType.ratio,
        numerator=Aggregate(event="order", value="quantity"),
        denominator=Aggregate(event="order", value="count"),
        capping=Capping(kind="fixed", value=4.0),
        window=Window(start=timedelta(hours=1), end=timedelta(days=10)),
    ),
    "repeat": MetricDefinition(
        type=MetricType.retention,
        event="order",
        window=Window(start=timedelta(days=1), end=timedelta(days=30)),
    ),
    "profit": MetricDefinition(
        type=MetricType.profit,
        event="order",
        margin=0.3,
        capping=Capping(kind="fixed", value=900.0),
    ),
    "refund": MetricDefinition(type=MetricType.proportion, event="refund", cuped=Cuped()),
    "discount": MetricDefinition(type=MetricType.mean, event="order", value="discount"),
}
SEGMENTS = ("channel", "tier")
DATA = synthetic()
RESOLVED = resolved(METRICS, variants=VARIANTS, segments=SEGMENTS)


def _compare(a: ExperimentData, b: ExperimentData, rel: float = 1e-9) -> None:
    assert a.quality == b.quality
    assert (a.first_exposure, a.last_exposure) == (b.first_exposure, b.last_exposure)
    for name in METRICS:
        left, right = a.metrics[name], b.metrics[name]
        for variant in VARIANTS:
            assert_close(
                stats_dict(left.by_variant[variant]), stats_dict(right.by_variant[variant]), rel
            )
        assert left.by_segment.keys() == right.by_segment.keys()
        for key, cell in left.by_segment.items():
            for variant in VARIANTS:
                assert_close(
                    stats_dict(cell[variant]), stats_dict(right.by_segment[key][variant]), rel
                )
        assert [d.day for d in left.daily] == [d.day for d in right.daily]
        for x, y in zip(left.daily, right.daily, strict=True):
            for variant in VARIANTS:
                assert_close(
                    stats_dict(x.by_variant[variant]), stats_dict(y.by_variant[variant]), rel
                )


@pytest.fixture(scope="module")
def duckdb_result() -> ExperimentData:
    con = duckdb.connect()
    load_duckdb(con, *DATA)
    return compute_experiment_data(RESOLVED, connection=con, segments=True, daily=True)


def test_duckdb_matches_the_python_oracle(duckdb_result: ExperimentData) -> None:
    expected = oracle(*DATA, "exp1", VARIANTS, METRICS)
    quality = duckdb_result.quality
    assert quality.exposures_by_variant == expected.units
    assert quality.multiple_exposure_units == expected.multi > 0
    assert quality.orphan_events == expected.orphans == 40
    assert quality.events_before_exposure == expected.before > 0
    assert quality.events_outside_window == expected.outside > 0
    assert quality.duplicates_dropped == expected.duplicates > 0
    assert quality.unknown_variants == expected.unknown and expected.unknown
    for name in METRICS:
        for variant in VARIANTS:
            actual = stats_dict(duckdb_result.metrics[name].by_variant[variant])
            assert_close(actual, expected.stats[name][variant])


def test_segments_match_the_oracle_and_add_up(duckdb_result: ExperimentData) -> None:
    revenue = duckdb_result.metrics["revenue"]
    keys = {k for k in revenue.by_segment if k[0] == "channel"}
    assert keys == {("channel", v) for v in ("web", "app", "store", "(missing)")}
    for key in [("channel", "app"), ("channel", "(missing)"), ("tier", "returning")]:
        expected = oracle(*DATA, "exp1", VARIANTS, METRICS, segment=key)
        for name in ("revenue", "aov", "take"):
            for variant in VARIANTS:
                actual = stats_dict(duckdb_result.metrics[name].by_segment[key][variant])
                assert_close(actual, expected.stats[name][variant])
    for attribute in SEGMENTS:  # segments of one attribute partition the units
        for variant in VARIANTS:
            parts = [c[variant] for k, c in revenue.by_segment.items() if k[0] == attribute]
            total = parts[0]
            for part in parts[1:]:
                total = total + part  # type: ignore[operator]
            assert_close(stats_dict(total), stats_dict(revenue.by_variant[variant]))


def test_daily_is_cumulative_and_ends_at_the_overall_numbers(duckdb_result: ExperimentData) -> None:
    for name in METRICS:
        series = duckdb_result.metrics[name].daily
        days = [d.day for d in series]
        assert days == [days[0] + timedelta(days=i) for i in range(len(days))]
        assert days[0] == duckdb_result.first_exposure
        for variant in VARIANTS:
            assert_close(
                stats_dict(series[-1].by_variant[variant]),
                stats_dict(duckdb_result.metrics[name].by_variant[variant]),
            )
            counts = [d.by_variant[variant].n for d in series]
            assert counts == sorted(counts)
    series = duckdb_result.metrics["revenue"].daily
    for index in (0, 3, 8):
        expected = oracle(*DATA, "exp1", VARIANTS, METRICS, day=series[index].day)
        for name in ("revenue", "aov", "repeat", "profit"):
            for variant in VARIANTS:
                actual = stats_dict(duckdb_result.metrics[name].daily[index].by_variant[variant])
                assert_close(actual, expected.stats[name][variant])


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


def _shared_store() -> tuple[Any, Any, int]:
    """DATA plus 600 customers of another experiment with 3 orders each (one delivered
    twice): over the 20 % orphan share, so the second count runs; plus 5 exposure rows of
    this experiment without a unit id. Returns the frames and
    the hand count of those customers' distinct order events."""
    import pandas as pd

    exposures, events = DATA
    start = exposures["timestamp"].min()
    others = pd.DataFrame(
        {
            "experiment": "other_exp",
            "variant": "control",
            "unit_id": [f"other{i}" for i in range(600)],
            "timestamp": start,
            "channel": "web",
            "event_id": [f"ox{i}" for i in range(600)],
            "tier": "new",
        }
    )[list(exposures.columns)]
    orders = events.iloc[[0] * 1800].copy()
    orders["unit_id"] = [f"other{i // 3}" for i in range(1800)]
    orders["event_type"] = "order"
    orders["event_id"] = [f"oe{i}" for i in range(1800)]
    orders["timestamp"] = start + pd.Timedelta(days=1)
    shared_events = pd.concat([events, orders, orders.iloc[:1]], ignore_index=True)
    # and 5 rows of this experiment without a unit id: counted apart, in no statistic
    unitless = exposures.iloc[:5].copy()
    unitless["unit_id"] = None
    unitless["event_id"] = [f"nx{i}" for i in range(5)]
    return pd.concat([exposures, others, unitless], ignore_index=True), shared_events, 1800


def _check_shared(result: ExperimentData, expected_elsewhere: int) -> None:
    plain = oracle(*DATA, "exp1", VARIANTS, METRICS)
    quality = result.quality
    assert quality.other_experiment_events == expected_elsewhere
    assert quality.exposure_rows_without_unit == 5
    assert quality.orphan_events == plain.orphans == 40  # the strangers, as before
    for name in METRICS:  # the statistics themselves do not move
        for variant in VARIANTS:
            assert_close(
                stats_dict(result.metrics[name].by_variant[variant]), plain.stats[name][variant]
            )


def test_other_experiments_customers_are_not_orphans_duckdb() -> None:
    exposures, events, elsewhere = _shared_store()
    con = duckdb.connect()
    load_duckdb(con, exposures, events)
    _check_shared(compute_experiment_data(RESOLVED, connection=con), elsewhere)


@pytest.mark.postgres
def test_other_experiments_customers_are_not_orphans_postgres(postgres_dsn: str) -> None:
    import psycopg

    exposures, events, elsewhere = _shared_store()
    load_postgres(postgres_dsn, exposures, events)
    with psycopg.connect(postgres_dsn) as conn:
        _check_shared(compute_experiment_data(RESOLVED, connection=conn), elsewhere)
    load_postgres(postgres_dsn, *DATA)


@pytest.mark.spark
def test_other_experiments_customers_are_not_orphans_spark(spark_session: Any) -> None:
    exposures, events, elsewhere = _shared_store()
    load_spark(spark_session, exposures, events)
    _check_shared(compute_experiment_data(RESOLVED, connection=spark_session), elsewhere)
    load_spark(spark_session, *DATA)


def _misspelt() -> tuple[Any, Any, dict[str, int]]:
    """DATA plus a copy of every order event under its unit id upper-cased ('U00012' for
    'u00012', new event ids): orphans over the 20 % share, each one a near miss of an
    exposed unit. Returns the frames and the expected rows per arm, made in pandas (the
    arm of a unit exposed to several configured variants is the smallest)."""
    import pandas as pd

    exposures, events = DATA
    copies = events[events["event_type"] == "order"].copy()
    copies["unit_id"] = copies["unit_id"].str.upper()
    copies["event_id"] = [f"up{i}" for i in range(len(copies))]
    ours = exposures[(exposures["experiment"] == "exp1") & exposures["variant"].isin(VARIANTS)]
    arm = ours.groupby("unit_id")["variant"].min()
    expected = copies["unit_id"].str.lower().map(arm).dropna().value_counts().to_dict()
    return exposures, pd.concat([events, copies], ignore_index=True), expected


def _check_misspelt(result: ExperimentData, expected: dict[str, int]) -> None:
    assert result.near_miss_units is not None
    assert result.near_miss_units.rows_by_variant == expected


def test_misspelt_unit_ids_are_found_duckdb() -> None:
    exposures, events, expected = _misspelt()
    con = duckdb.connect()
    load_duckdb(con, exposures, events)
    _check_misspelt(compute_experiment_data(RESOLVED, connection=con), expected)


@pytest.mark.postgres
def test_misspelt_unit_ids_are_found_postgres(postgres_dsn: str) -> None:
    import psycopg

    exposures, events, expected = _misspelt()
    load_postgres(postgres_dsn, exposures, events)
    with psycopg.connect(postgres_dsn) as conn:
        _check_misspelt(compute_experiment_data(RESOLVED, connection=conn), expected)
    load_postgres(postgres_dsn, *DATA)


@pytest.mark.spark
def test_misspelt_unit_ids_are_found_spark(spark_session: Any) -> None:
    exposures, events, expected = _misspelt()
    load_spark(spark_session, exposures, events)
    _check_misspelt(compute_experiment_data(RESOLVED, connection=spark_session), expected)
    load_spark(spark_session, *DATA)


def _sent_twice() -> tuple[Any, Any, dict[tuple[str, str], RepeatCount]]:
    """DATA plus a copy, 500 ms later and without an event id, of every order of the
    treatment arm (a tracker firing twice). Returns the frames and, made in pandas,
    (variant, 'order') -> (events, repeats) of the exposed units (arm: smallest configured
    variant): a repeat has the unit's previous order's value (NULLs alike) at most 2 s
    before, and not both rows carry an event id."""
    import pandas as pd

    exposures, events = DATA
    ours = exposures[(exposures["experiment"] == "exp1") & exposures["variant"].isin(VARIANTS)]
    arm = ours.dropna(subset=["unit_id"]).groupby("unit_id")["variant"].min()
    orders = events[events["event_type"] == "order"]
    copies = orders[orders["unit_id"].map(arm) == "treatment"].copy()
    copies["timestamp"] = copies["timestamp"] + pd.Timedelta(milliseconds=500)
    copies["event_id"] = None
    doubled = pd.concat([events, copies], ignore_index=True)
    rows = doubled[(doubled["event_type"] == "order") & doubled["timestamp"].notna()]
    rows = rows.assign(variant=rows["unit_id"].map(arm)).dropna(subset=["variant"])
    rows = rows.sort_values(["unit_id", "timestamp"], kind="stable")
    before = rows.groupby("unit_id").shift()
    same_value = (rows["value"] == before["value"]) | (
        rows["value"].isna() & before["value"].isna()
    )
    repeat = (
        (rows["timestamp"] - before["timestamp"] <= pd.Timedelta(seconds=2))
        & same_value
        & (rows["event_id"].isna() | before["event_id"].isna())
    )
    rows = rows.assign(repeat=repeat)
    counted = rows.groupby("variant")["repeat"].agg(["size", "sum"])
    units = rows.groupby("variant")["unit_id"].nunique()
    repeating = rows[rows["repeat"]].groupby("variant")["unit_id"].nunique()
    expected = {
        (str(v), "order"): RepeatCount(
            int(r["size"]), int(r["sum"]), int(units[v]), int(repeating.get(v, 0))
        )
        for v, r in counted.iterrows()
    }
    return exposures, doubled, expected


def _check_sent_twice(result: ExperimentData, expected: dict[tuple[str, str], RepeatCount]) -> None:
    assert result.repeated_events is not None  # None: the query failed on this engine
    assert result.repeated_events.sampled_one_in == 1
    assert result.repeated_events.counts == expected
    assert expected[("treatment", "order")].repeats > 100


def _check_sampled(result: ExperimentData, expected: dict[tuple[str, str], RepeatCount]) -> None:
    """A 1-in-3 hash sample of the units (the engine's own hash): about a third of the
    customers with events (5 binomial s.d.), never more repeats than the whole has."""
    repeated = result.repeated_events
    assert repeated is not None and repeated.sampled_one_in == 3
    total = sum(c.units for c in expected.values())
    sampled = sum(c.units for c in repeated.counts.values())
    assert abs(sampled - total / 3) < 5 * (total * (1 / 3) * (2 / 3)) ** 0.5
    for key, count in repeated.counts.items():
        assert count.events <= expected[key].events and count.repeats <= expected[key].repeats
    assert repeated.counts[("treatment", "order")].units_repeating > 0


def _third(monkeypatch: pytest.MonkeyPatch, first: ExperimentData) -> None:
    """Sample 1 in 3: the sampling bound just above a third of the metrics' events."""
    import math

    from upsell_ab.metrics import compute

    monkeypatch.setattr(
        compute, "REPEAT_SAMPLE_EVENTS", math.ceil(first.quality.metric_events / 2.5)
    )


def test_events_sent_twice_are_counted_duckdb(monkeypatch: pytest.MonkeyPatch) -> None:
    exposures, events, expected = _sent_twice()
    con = duckdb.connect()
    load_duckdb(con, exposures, events)
    first = compute_experiment_data(RESOLVED, connection=con)
    _check_sent_twice(first, expected)
    _third(monkeypatch, first)
    _check_sampled(compute_experiment_data(RESOLVED, connection=con), expected)


@pytest.mark.postgres
def test_events_sent_twice_are_counted_postgres(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    exposures, events, expected = _sent_twice()
    load_postgres(postgres_dsn, exposures, events)
    with psycopg.connect(postgres_dsn) as conn:
        first = compute_experiment_data(RESOLVED, connection=conn)
        _check_sent_twice(first, expected)
        _third(monkeypatch, first)
        _check_sampled(compute_experiment_data(RESOLVED, connection=conn), expected)
    load_postgres(postgres_dsn, *DATA)


@pytest.mark.spark
def test_events_sent_twice_are_counted_spark(
    spark_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    exposures, events, expected = _sent_twice()
    load_spark(spark_session, exposures, events)
    first = compute_experiment_data(RESOLVED, connection=spark_session)
    _check_sent_twice(first, expected)
    _third(monkeypatch, first)
    _check_sampled(compute_experiment_data(RESOLVED, connection=spark_session), expected)
    load_spark(spark_session, *DATA)


def _retyped() -> tuple[Any, Any, dict[tuple[str, str], int]]:
    """DATA plus a copy of every order typed 'Order' (a second app's spelling). Returns the
    frames and, made in pandas, (variant, 'Order') -> rows of the exposed units (arm:
    smallest configured variant)."""
    import pandas as pd

    exposures, events = DATA
    copies = events[events["event_type"] == "order"].copy()
    copies["event_type"] = "Order"
    copies["event_id"] = [f"cap{i}" for i in range(len(copies))]
    ours = exposures[(exposures["experiment"] == "exp1") & exposures["variant"].isin(VARIANTS)]
    arm = ours.dropna(subset=["unit_id"]).groupby("unit_id")["variant"].min()
    counted = copies["unit_id"].map(arm).dropna().value_counts()
    expected = {(str(v), "Order"): int(n) for v, n in counted.items()}
    return exposures, pd.concat([events, copies], ignore_index=True), expected


def _check_retyped(result: ExperimentData, expected: dict[tuple[str, str], int]) -> None:
    found = result.lookalike_events
    assert found is not None  # None: the query failed on this engine
    assert found.meant == {"Order": "order"}
    assert found.rows == expected


def test_types_in_another_spelling_are_counted_duckdb() -> None:
    exposures, events, expected = _retyped()
    con = duckdb.connect()
    load_duckdb(con, exposures, events)
    _check_retyped(compute_experiment_data(RESOLVED, connection=con), expected)


@pytest.mark.postgres
def test_types_in_another_spelling_are_counted_postgres(postgres_dsn: str) -> None:
    import psycopg

    exposures, events, expected = _retyped()
    load_postgres(postgres_dsn, exposures, events)
    with psycopg.connect(postgres_dsn) as conn:
        _check_retyped(compute_experiment_data(RESOLVED, connection=conn), expected)
    load_postgres(postgres_dsn, *DATA)


@pytest.mark.spark
def test_types_in_another_spelling_are_counted_spark(spark_session: Any) -> None:
    exposures, events, expected = _retyped()
    load_spark(spark_session, exposures, events)
    _check_retyped(compute_experiment_data(RESOLVED, connection=spark_session), expected)
    load_spark(spark_session, *DATA)
