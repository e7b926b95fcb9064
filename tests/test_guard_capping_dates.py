"""Issue 9, cases 1 and 2 at the data layer, on DuckDB, PostgreSQL and Spark.

1. A percentile cap is the quantile of the units' POSITIVE values: with 0.1 %,
   1 % or 10 % buyers the 99th percentile of all units is 0 and used to turn
   every order into 0; now the buyers keep their money (only the top 1 % of the
   buyers' values is cut). Expected numbers: numpy's linear quantile over the
   positive values, computed here from the rows.
2. Exposures outside the spec's [start, end] are excluded and counted; each
   variant's exposure period is reported (the decision layer refuses arms that
   do not overlap in time); a stray 1901 / 2199 exposure cannot stretch the
   daily series over a century.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import duckdb
import numpy as np
import pytest
from metrics_support import (
    events_frame,
    exposures_frame,
    load_duckdb,
    load_postgres,
    load_spark,
    resolved,
)

from upsell_ab.metrics.aggregates import ExperimentData
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.spec.models import Capping, MetricDefinition, MetricType
from upsell_ab.spec.resolve import ResolvedExperiment

REVENUE = MetricDefinition(
    type=MetricType.mean,
    event="order",
    capping=Capping(kind="percentile", value=0.99),
)
SHARES = (0.001, 0.01, 0.1)
UNITS = 2000


def _sparse(share: float, seed: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """UNITS customers split over two arms; ``share`` of them buy once (log-normal JPY)."""
    rng = np.random.default_rng(seed)
    exposures = [
        ("exp1", "control" if i % 2 == 0 else "treatment", f"u{i}", "2024-01-01 10:00")
        for i in range(UNITS)
    ]
    buyers = rng.choice(UNITS, size=max(1, round(share * UNITS)), replace=False)
    events = [
        (
            f"u{i}",
            "2024-01-02 10:00",
            "order",
            float(round(rng.lognormal(11, 1), 0)),
            0.0,
            1.0,
            f"e{i}",
        )
        for i in sorted(buyers)
    ]
    return exposures, events


def _expected(events: list[tuple[Any, ...]]) -> dict[str, tuple[float, float]]:
    """(sum, sum of squares) per arm, capped at numpy's 99th percentile of the positives."""
    values = {e[0]: e[3] for e in events}
    positive = np.array(list(values.values()))
    cap = float(np.quantile(positive, 0.99))
    out = {}
    for arm, parity in (("control", 0), ("treatment", 1)):
        capped = np.array(
            [min(values.get(f"u{i}", 0.0), cap) for i in range(UNITS) if i % 2 == parity]
        )
        out[arm] = (float(capped.sum()), float((capped**2).sum()))
    return out


def _check(data: ExperimentData, events: list[tuple[Any, ...]]) -> None:
    expected = _expected(events)
    for arm, (total, squares) in expected.items():
        stats = data.metrics["revenue"].by_variant[arm]
        assert stats.n == UNITS // 2
        assert stats.sum == pytest.approx(total, rel=1e-9)
        assert stats.sum_squares == pytest.approx(squares, rel=1e-9)
    assert sum(t for t, _ in expected.values()) > 0  # the buyers' money is still there
    (cap,) = data.caps
    assert cap.metric == "revenue" and cap.channel == "y" and cap.level == 0.99
    assert cap.positive_units == len(events)
    assert cap.value == pytest.approx(np.quantile([e[3] for e in events], 0.99), rel=1e-9)


@pytest.mark.parametrize("share", SHARES)
def test_percentile_cap_uses_the_buyers_values_duckdb(share: float) -> None:
    exposures, events = _sparse(share, seed=round(share * 1000))
    con = duckdb.connect()
    load_duckdb(con, exposures_frame(exposures), events_frame(events))
    data = compute_experiment_data(resolved({"revenue": REVENUE}), connection=con)
    _check(data, events)


def test_no_buyer_means_no_cap_and_no_crash() -> None:
    exposures, _ = _sparse(0.01, seed=3)
    con = duckdb.connect()
    load_duckdb(con, exposures_frame(exposures), events_frame([]))
    data = compute_experiment_data(resolved({"revenue": REVENUE}), connection=con)
    (cap,) = data.caps
    assert cap.value is None and cap.positive_units == 0
    assert data.metrics["revenue"].by_variant["control"].sum == 0.0


@pytest.mark.postgres
def test_percentile_cap_uses_the_buyers_values_postgres(postgres_dsn: str) -> None:
    import psycopg

    for share in SHARES:
        exposures, events = _sparse(share, seed=round(share * 1000))
        load_postgres(postgres_dsn, exposures_frame(exposures), events_frame(events))
        with psycopg.connect(postgres_dsn) as conn:
            data = compute_experiment_data(resolved({"revenue": REVENUE}), connection=conn)
        _check(data, events)


@pytest.mark.spark
def test_percentile_cap_uses_the_buyers_values_spark(spark_session: Any) -> None:
    for share in SHARES:
        exposures, events = _sparse(share, seed=round(share * 1000))
        load_spark(spark_session, exposures_frame(exposures), events_frame(events))
        data = compute_experiment_data(resolved({"revenue": REVENUE}), connection=spark_session)
        _check(data, events)


# ------------------------------------------------------------------ dates
def _dated(start: date | None, end: date | None) -> ResolvedExperiment:
    base = resolved({"revenue": MetricDefinition(type=MetricType.mean, event="order")})
    experiment = base.experiment.model_copy(update={"start": start, "end": end})
    return replace(base, experiment=experiment)


EXPOSURES = [
    ("exp1", "control", "c1", "2026-03-05 09:00"),
    ("exp1", "control", "c2", "2026-03-06 09:00"),
    ("exp1", "treatment", "t1", "2026-05-05 09:00"),  # after the end: excluded
    ("exp1", "treatment", "t2", "2026-05-05 10:00"),
    ("exp1", "treatment", "t3", "2026-03-30 23:59"),  # on the last day: kept
    ("exp1", "control", "c3", "1901-01-01 00:00"),  # stray clock: excluded
    ("exp1", "control", "c4", "2199-12-31 00:00"),
]
EVENTS = [
    ("c1", "2026-03-05 10:00", "order", 100.0, 0.0, 1.0, "e1"),
    ("t1", "2026-05-05 10:00", "order", 900.0, 0.0, 1.0, "e2"),
    ("t3", "2026-03-31 08:00", "order", 50.0, 0.0, 1.0, "e3"),
    ("c4", "2199-12-31 01:00", "order", 10.0, 0.0, 1.0, "e4"),
]


def _dates_data(engine: str, handle: Any, spec: ResolvedExperiment) -> ExperimentData:
    frames = exposures_frame(EXPOSURES), events_frame(EVENTS)
    if engine == "duckdb":
        load_duckdb(handle, *frames)
        return compute_experiment_data(spec, connection=handle, daily=True)
    if engine == "postgres":
        import psycopg

        load_postgres(handle, *frames)
        with psycopg.connect(handle) as conn:
            return compute_experiment_data(spec, connection=conn, daily=True)
    load_spark(handle, *frames)
    return compute_experiment_data(spec, connection=handle, daily=True)


def _check_dates(data: ExperimentData) -> None:
    quality = data.quality
    assert quality.exposures_by_variant == {"control": 2, "treatment": 1}
    assert quality.units_exposed_outside_dates == 4  # t1, t2, c3, c4
    assert quality.exposure_periods == {
        "control": (date(2026, 3, 5), date(2026, 3, 6)),
        "treatment": (date(2026, 3, 30), date(2026, 3, 30)),
    }
    revenue = data.metrics["revenue"]
    assert revenue.by_variant["control"].sum == 100.0
    assert revenue.by_variant["treatment"].sum == 50.0
    days = [d.day for d in revenue.daily]
    assert days[0] == date(2026, 3, 5) and days[-1] <= date(2026, 3, 31)
    assert len(days) < 40


def test_exposures_outside_the_dates_are_excluded_and_counted_duckdb() -> None:
    data = _dates_data("duckdb", duckdb.connect(), _dated(date(2026, 3, 1), date(2026, 3, 30)))
    _check_dates(data)


def test_keep_outside_dates_uses_every_exposure() -> None:
    spec = _dated(date(2026, 3, 1), date(2026, 3, 30))
    analysis = spec.experiment.analysis.model_copy(update={"outside_dates": "keep"})
    spec = replace(spec, experiment=spec.experiment.model_copy(update={"analysis": analysis}))
    con = duckdb.connect()
    load_duckdb(con, exposures_frame(EXPOSURES), events_frame(EVENTS))
    data = compute_experiment_data(spec, connection=con)
    assert data.quality.exposures_by_variant == {"control": 4, "treatment": 3}
    assert data.quality.units_exposed_outside_dates == 0


def test_undated_spec_with_stray_clocks_keeps_a_short_daily_series() -> None:
    """No start/end in the spec: the exposures from 1901 and 2199 stay in, but the daily
    series holds only days on which something happened, not 109,000 calendar days."""
    con = duckdb.connect()
    load_duckdb(con, exposures_frame(EXPOSURES), events_frame(EVENTS))
    data = compute_experiment_data(_dated(None, None), connection=con, daily=True)
    assert data.quality.exposures_by_variant == {"control": 4, "treatment": 3}
    days = [d.day for d in data.metrics["revenue"].daily]
    assert days[0] == date(1901, 1, 1) and days[-1] == date(2199, 12, 31)
    assert len(days) < 20
    final = data.metrics["revenue"].daily[-1].by_variant
    assert final["control"].sum == data.metrics["revenue"].by_variant["control"].sum
    assert days == sorted(days)
    assert all(b - a >= timedelta(days=1) for a, b in pairwise(days))


@pytest.mark.postgres
def test_exposures_outside_the_dates_postgres(postgres_dsn: str) -> None:
    _check_dates(_dates_data("postgres", postgres_dsn, _dated(date(2026, 3, 1), date(2026, 3, 30))))


@pytest.mark.spark
def test_exposures_outside_the_dates_spark(spark_session: Any) -> None:
    spec = _dated(date(2026, 3, 1), date(2026, 3, 30))
    _check_dates(_dates_data("spark", spark_session, spec))
