"""Semantics of the metric query on small hand-made tables (DuckDB).

Each expected number is worked out by hand in the test from the rows above
it (plain arithmetic / numpy), never read back from the code under test.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import numpy as np
import pytest
from metrics_support import events_frame, exposures_frame, load_duckdb, resolved

from upsell_ab.errors import SpecError, StoreError
from upsell_ab.metrics.aggregates import ExperimentData
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.metrics.sufficient import CupedStats, RatioStats, SampleStats
from upsell_ab.spec.models import (
    Aggregate,
    Capping,
    Cuped,
    DataSource,
    EventColumns,
    ExposureColumns,
    MetricDefinition,
    MetricType,
    SourceKind,
    Table,
    Window,
)

TAKE = MetricDefinition(type=MetricType.proportion, event="upsell_purchase")
REVENUE = MetricDefinition(type=MetricType.mean, event="order")


def run(
    metrics: dict[str, MetricDefinition],
    exposures: list[tuple[object, ...]],
    events: list[tuple[object, ...]],
    **kwargs: object,
) -> ExperimentData:
    con = duckdb.connect()
    load_duckdb(con, exposures_frame(exposures), events_frame(events))
    return compute_experiment_data(resolved(metrics), connection=con, **kwargs)  # type: ignore[arg-type]


def test_first_exposure_defines_variant_and_clock() -> None:
    # u1 is seen twice in control: the clock starts at the FIRST exposure, so the order
    # 7 days + 30 min after it is outside the 7-day window (though inside the second's).
    data = run(
        {"revenue": REVENUE},
        [
            ("exp1", "control", "u1", "2024-01-01 10:00"),
            ("exp1", "control", "u1", "2024-01-03 10:00"),
            ("exp1", "treatment", "u2", "2024-01-01 10:00"),
        ],
        [
            ("u1", "2024-01-02 10:00", "order", 30.0, 0.0, 1.0, "e1"),
            ("u1", "2024-01-08 10:30", "order", 500.0, 0.0, 1.0, "e2"),
            ("u2", "2024-01-08 09:59", "order", 7.0, 0.0, 1.0, "e3"),
        ],
    )
    revenue = data.metrics["revenue"].by_variant
    assert revenue["control"] == SampleStats(n=1, sum=30.0, sum_squares=900.0)
    assert revenue["treatment"] == SampleStats(n=1, sum=7.0, sum_squares=49.0)
    assert data.quality.events_outside_window == 1
    assert data.quality.exposures_by_variant == {"control": 1, "treatment": 1}


def test_multiple_variant_units_excluded_unknown_variants_reported() -> None:
    data = run(
        {"take": TAKE},
        [
            ("exp1", "control", "u1", "2024-01-01 10:00"),
            ("exp1", "treatment", "u1", "2024-01-01 11:00"),  # u1: two variants -> excluded
            ("exp1", "treatment", "u2", "2024-01-01 10:00"),
            ("exp1", "ghost", "u2", "2024-01-01 09:00"),  # unknown row ignored: u2 stays
            ("exp1", "ghost", "u3", "2024-01-01 10:00"),  # only unknown -> not a unit
            ("exp1", "phantom", "u3", "2024-01-01 10:00"),
            ("other", "control", "u4", "2024-01-01 10:00"),  # another experiment
            ("exp1", "treatment", None, "2024-01-01 10:00"),  # no unit id: ignored
        ],
        [
            ("u1", "2024-01-01 12:00", "upsell_purchase", 5.0, 0.0, 1.0, "e1"),
            ("u2", "2024-01-01 12:00", "upsell_purchase", 5.0, 0.0, 1.0, "e2"),
            ("u3", "2024-01-01 12:00", "upsell_purchase", 5.0, 0.0, 1.0, "e3"),
            ("u4", "2024-01-01 12:00", "upsell_purchase", 5.0, 0.0, 1.0, "e4"),
        ],
    )
    quality = data.quality
    assert quality.multiple_exposure_units == 1
    assert quality.unknown_variants == {"ghost": 2, "phantom": 1}
    assert quality.exposures_by_variant == {"control": 0, "treatment": 1}
    # orphans: units with no exposure to a configured variant (u3) and to no other
    # experiment; u4 is another experiment's customer: counted apart, not an orphan (the
    # share 2/4 is above the 20 % threshold, so the second count ran)
    assert quality.orphan_events == 1
    assert quality.other_experiment_events == 1
    assert quality.metric_events == 3
    take = data.metrics["take"].by_variant
    assert take["treatment"] == SampleStats(n=1, sum=1.0, sum_squares=1.0)
    assert take["control"] == SampleStats(n=0, sum=0.0, sum_squares=0.0)


def test_window_bounds_before_exposure_duplicates_and_orphans() -> None:
    window = Window(start=timedelta(hours=1), end=timedelta(days=2))
    metric = MetricDefinition(type=MetricType.count_, event="order", window=window)
    data = run(
        {"orders": metric},
        [("exp1", "control", "u1", "2024-01-01 00:00")],
        [
            ("u1", "2023-12-31 23:59", "order", 1.0, 0.0, 1.0, "e0"),  # before exposure
            ("u1", "2024-01-01 00:59:59", "order", 1.0, 0.0, 1.0, "e1"),  # before start: outside
            ("u1", "2024-01-01 01:00", "order", 1.0, 0.0, 1.0, "e2"),  # = start: counts
            ("u1", "2024-01-01 01:00", "order", 1.0, 0.0, 1.0, "e2"),  # duplicate of e2
            ("u1", "2024-01-02 23:59:59", "order", 1.0, 0.0, 1.0, "e3"),  # counts
            ("u1", "2024-01-03 00:00", "order", 1.0, 0.0, 1.0, "e4"),  # = end: outside
            ("u1", "2024-01-01 05:00", "refund", 1.0, 0.0, 1.0, "e5"),  # type unused: ignored
            ("zz", "2024-01-01 05:00", "order", 1.0, 0.0, 1.0, "e6"),  # orphan
        ],
    )
    assert data.metrics["orders"].by_variant["control"] == SampleStats(1, 2.0, 4.0)
    quality = data.quality
    assert (quality.events_before_exposure, quality.events_outside_window) == (1, 2)
    assert (quality.duplicates_dropped, quality.orphan_events) == (1, 1)


def test_value_sources_zero_fill_profit_and_retention() -> None:
    metrics = {
        "revenue": REVENUE,
        "qty": MetricDefinition(type=MetricType.mean, event="order", value="quantity"),
        "disc": MetricDefinition(type=MetricType.mean, event="order", value="discount"),
        "n_orders": MetricDefinition(type=MetricType.mean, event="order", value="count"),
        "profit": MetricDefinition(type=MetricType.profit, event="order", margin=0.25),
        "repeat": MetricDefinition(
            type=MetricType.retention,
            event="order",
            window=Window(start=timedelta(days=1), end=timedelta(days=30)),
        ),
    }
    data = run(
        metrics,
        [
            ("exp1", "control", "u1", "2024-01-01 00:00"),
            ("exp1", "control", "u2", "2024-01-01 00:00"),  # no events: zero-filled
            ("exp1", "control", "u3", "2024-01-01 00:00"),
        ],
        [
            ("u1", "2024-01-01 01:00", "order", 100.0, 10.0, 2.0, "e1"),
            ("u1", "2024-01-03 01:00", "order", 40.0, 0.0, 1.0, "e2"),
            ("u3", "2024-01-01 02:00", "order", 60.0, 6.0, 3.0, "e3"),
        ],
    )
    stats = {name: m.by_variant["control"] for name, m in data.metrics.items()}
    u1, u3 = 140.0, 60.0
    assert stats["revenue"] == SampleStats(3, u1 + u3, u1**2 + u3**2)
    assert stats["qty"] == SampleStats(3, 3.0 + 3.0, 9.0 + 9.0)
    assert stats["disc"] == SampleStats(3, 16.0, 100.0 + 36.0)
    assert stats["n_orders"] == SampleStats(3, 3.0, 4.0 + 1.0)
    p1, p3 = 140 * 0.25 - 10.0, 60 * 0.25 - 6.0
    profit = stats["profit"].in_frame(0.0, 1.0)  # raw sums of y (the query centres them)
    assert (profit.n, profit.sum) == (3, pytest.approx(p1 + p3))
    assert profit.sum_squares == pytest.approx(p1**2 + p3**2)
    assert stats["repeat"] == SampleStats(3, 1.0, 1.0)  # only u1 ordered again after day 1


def test_ratio_counts_zero_denominator_units_in_n() -> None:
    aov = MetricDefinition(
        type=MetricType.ratio,
        numerator=Aggregate(event="order"),
        denominator=Aggregate(event="order", value="count"),
    )
    data = run(
        {"aov": aov},
        [("exp1", "treatment", u, "2024-01-01 00:00") for u in ("u1", "u2", "u3")],
        [
            ("u1", "2024-01-01 01:00", "order", 100.0, 0.0, 1.0, "e1"),
            ("u1", "2024-01-01 02:00", "order", 50.0, 0.0, 1.0, "e2"),
            ("u2", "2024-01-01 01:00", "order", 30.0, 0.0, 1.0, "e3"),
        ],
    )
    stats = data.metrics["aov"].by_variant["treatment"]
    assert stats == RatioStats(3, 180.0, 150.0**2 + 30.0**2, 3.0, 4.0 + 1.0, 150 * 2 + 30 * 1)
    assert stats.ratio == pytest.approx(60.0)


def test_cuped_covariate_is_the_metric_over_the_lookback() -> None:
    metric = MetricDefinition(type=MetricType.mean, event="order", cuped=Cuped(lookback="7d"))
    data = run(
        {"revenue": metric},
        [("exp1", "control", "u1", "2024-01-10 00:00"), ("exp1", "control", "u2", "2024-01-10")],
        [
            ("u1", "2024-01-02 23:59", "order", 1000.0, 0.0, 1.0, "e1"),  # > 7 days before
            ("u1", "2024-01-03 00:00", "order", 20.0, 0.0, 1.0, "e2"),  # = -7d: in lookback
            ("u1", "2024-01-09 23:00", "order", 5.0, 0.0, 1.0, "e3"),
            ("u1", "2024-01-11 00:00", "order", 70.0, 0.0, 1.0, "e4"),
            ("u2", "2024-01-12 00:00", "order", 10.0, 0.0, 1.0, "e5"),
        ],
    )
    x1, y1, y2 = 25.0, 70.0, 10.0
    assert data.metrics["revenue"].by_variant["control"] == CupedStats(
        2, y1 + y2, y1**2 + y2**2, x1, x1**2, x1 * y1
    )
    assert data.quality.events_before_exposure == 3


def test_capping_fixed_and_percentile_match_numpy() -> None:
    values = [0.0, 5.0, 10.0, 20.0, 40.0, 80.0, 400.0]
    exposures = [("exp1", "control", f"u{i}", "2024-01-01 00:00") for i in range(len(values))]
    events = [
        (f"u{i}", "2024-01-01 01:00", "order", v, 0.0, 1.0, f"e{i}")
        for i, v in enumerate(values)
        if v > 0
    ]
    metrics = {
        "fixed": MetricDefinition(
            type=MetricType.mean, event="order", capping=Capping(kind="fixed", value=50)
        ),
        "p90": MetricDefinition(
            type=MetricType.mean, event="order", capping=Capping(kind="percentile", value=0.9)
        ),
    }
    data = run(metrics, exposures, events)
    fixed = np.minimum(values, 50.0)
    # linear interpolation (as quantile_cont) over the POSITIVE values only
    cap = np.quantile([v for v in values if v > 0], 0.9)
    p90 = np.minimum(values, cap)
    for name, capped in (("fixed", fixed), ("p90", p90)):
        stats = data.metrics[name].by_variant["control"].in_frame(0.0, 1.0)  # raw sums of y
        assert stats.n == 7
        assert (stats.sum, stats.sum_squares) == (
            pytest.approx(capped.sum(), rel=1e-12),
            pytest.approx((capped**2).sum(), rel=1e-12),
        )
    assert cap < 400.0  # the cap really bit


def test_daily_series_counts_units_and_events_as_of_each_day() -> None:
    data = run(
        {"revenue": REVENUE},
        [("exp1", "control", "u1", "2024-01-01 10:00"), ("exp1", "control", "u2", "2024-01-03")],
        [
            ("u1", "2024-01-01 11:00", "order", 10.0, 0.0, 1.0, "e1"),
            ("u1", "2024-01-04 11:00", "order", 5.0, 0.0, 1.0, "e2"),
            ("u2", "2024-01-03 11:00", "order", 2.0, 0.0, 1.0, "e3"),
        ],
        daily=True,
    )
    series = [(d.day.isoformat(), d.by_variant["control"]) for d in data.metrics["revenue"].daily]
    assert series == [
        ("2024-01-01", SampleStats(1, 10.0, 100.0)),
        ("2024-01-02", SampleStats(1, 10.0, 100.0)),
        ("2024-01-03", SampleStats(2, 12.0, 104.0)),
        ("2024-01-04", SampleStats(2, 17.0, 229.0)),
    ]


def test_files_read_in_place_with_column_mapping(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    xp = exposures_frame(
        [("exp1", "control", "u1", "2024-01-01"), ("exp1", "treatment", "u2", "2024-01-01")]
    )
    ev = events_frame([("u1", "2024-01-01 01:00", "upsell_purchase", 9.0, 0.0, 1.0, "e1")])
    xp.rename(columns={"unit_id": "customer", "timestamp": "seen_at"}).to_parquet(
        folder / "x.parquet"
    )
    ev.rename(columns={"event_type": "kind", "unit_id": "customer"}).to_csv(
        folder / "e.csv", index=False
    )
    source = DataSource(
        kind=SourceKind.files,
        exposures=Table(path=str(folder / "x.parquet")),
        events=Table(path=str(folder / "e.csv")),
        exposure_columns=ExposureColumns(unit_id="customer", timestamp="seen_at"),
        event_columns=EventColumns(unit_id="customer", type="kind"),
    )
    data = compute_experiment_data(resolved({"take": TAKE}, data=source))
    assert data.metrics["take"].by_variant == {
        "control": SampleStats(1, 1.0, 1.0),
        "treatment": SampleStats(1, 0.0, 0.0),
    }


def test_embedded_store_opened_read_only_and_missing_store_is_an_error(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "store.duckdb"
    con = duckdb.connect(str(path))
    load_duckdb(
        con,
        exposures_frame([("exp1", "control", "u1", "2024-01-01")]),
        events_frame([("u1", "2024-01-01 01:00", "order", 9.0, 0.0, 1.0, "e1")]),
    )
    con.close()
    data = compute_experiment_data(resolved({"revenue": REVENUE}), store=path)
    assert data.metrics["revenue"].by_variant["control"] == SampleStats(1, 9.0, 81.0)
    with pytest.raises(StoreError, match="does not exist"):
        compute_experiment_data(resolved({"revenue": REVENUE}), store=path.with_name("nope.db"))


def test_unknown_segment_attribute_is_a_spec_error() -> None:
    source = DataSource(exposure_columns=ExposureColumns(attributes=["channel"]))
    spec = resolved({"take": TAKE}, data=source, segments=("chanel",))
    with pytest.raises(SpecError, match="chanel"):
        compute_experiment_data(spec, connection=duckdb.connect(), segments=True)
