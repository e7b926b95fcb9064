"""The sparse plan (units without events counted per variant and day, not grouped one by
one: :mod:`upsell_ab.metrics.sql_sparse`) returns the dense plan's rows bit for bit.

Every row of the experiment query (per-variant sums, quality counts, caps, frames, the
daily increments) is compared with ``==`` between the two plans on the same DuckDB
tables: floats included, so any difference in a quantum, a frame or the order of an
integer sum would show. The dense plan (every unit its own group, ``sparse_units=False``)
is the one the oracle tests verified before the sparse plan existed; the oracle is
checked again here on the sparse plan's statistics.

Data: the engines' synthetic log (repeat exposures, units exposed to two variants,
unknown variants, orphans, duplicate event ids, events before exposure and outside
windows) and hostile cases: no unit with an event, every unit with one, refunds that
make a framed mean negative (its frame then is not centred on 0), no exposures at all,
and a variant none of whose units has an event.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd
import pytest
from metrics_support import assert_close, load_duckdb, oracle, resolved, stats_dict
from test_metrics_engines import DATA, METRICS, VARIANTS

from upsell_ab.metrics.compute import build_plan, compute_experiment_data
from upsell_ab.metrics.sql import QueryPlan, render
from upsell_ab.spec.resolve import ResolvedExperiment

PLAIN = resolved(METRICS, variants=VARIANTS)
"""The engines' metrics (percentile and fixed caps, CUPED, ratios, retention, profit)
without segments: segments keep the dense plan."""


def _rows(con: Any, plan: QueryPlan) -> list[tuple[Any, ...]]:
    """The query's rows in a fixed order. An arm with no unit with events has no
    ``empty`` row in the sparse plan (0 units in the dense one; read as 0 either way)."""
    rows = con.execute(render(plan, "duckdb")).fetchall()
    return sorted((r for r in rows if not (r[0] == "empty" and r[6] == 0)), key=repr)


def _both(con: Any, spec: ResolvedExperiment, *, daily: bool, unique: bool) -> None:
    sparse = build_plan(spec, daily=daily, unique_event_ids=unique)
    dense = dataclasses.replace(sparse, sparse_units=False)
    sparse_sql, dense_sql = render(sparse, "duckdb"), render(dense, "duckdb")
    assert '"unit_counts"' in sparse_sql and '"unit_counts"' not in dense_sql
    assert _rows(con, sparse) == _rows(con, dense)


def _no_relevant_events(exposures: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Only page views: no unit has an event of the metrics' types."""
    out = events.copy()
    out["event_type"] = "page_view"
    return out


def _everyone_orders(exposures: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Every exposed unit orders an hour after its first exposure: no unit without events."""
    first = exposures.groupby("unit_id", as_index=False)["timestamp"].min()
    extra = pd.DataFrame(
        {
            "unit_id": first["unit_id"],
            "timestamp": first["timestamp"] + pd.Timedelta(hours=1),
            "event_type": "order",
            "value": 12.5,
            "discount": 0.0,
            "quantity": 1.0,
            "order_id": None,
            "event_id": [f"everyone{i}" for i in range(len(first))],
        }
    )
    extra["timestamp"] = extra["timestamp"].astype(events["timestamp"].dtype)
    return pd.concat([events, extra], ignore_index=True)


def _negative_orders(exposures: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Orders recorded as negative amounts (a refund feed): revenue's range is below 0,
    so its frame's centre is the maximum, not 0, and the empty state is far from it."""
    out = events.copy()
    out["value"] = -out["value"]
    return out


def _bold_never_buys(exposures: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """No unit of the 'bold' arm has any event: its sums are the empty state's alone."""
    bold = set(exposures.loc[exposures["variant"] == "bold", "unit_id"])
    return events[~events["unit_id"].isin(bold)].reset_index(drop=True)


CASES = {
    "synthetic": lambda x, e: e,
    "no_relevant_events": _no_relevant_events,
    "everyone_orders": _everyone_orders,
    "negative_orders": _negative_orders,
    "bold_never_buys": _bold_never_buys,
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("daily", [False, True])
@pytest.mark.parametrize("unique", [False, True])
def test_sparse_rows_equal_the_dense_rows(case: str, daily: bool, unique: bool) -> None:
    exposures, events = DATA
    con = duckdb.connect()
    load_duckdb(con, exposures, CASES[case](exposures, events))
    _both(con, PLAIN, daily=daily, unique=unique)


def test_no_exposures_at_all() -> None:
    exposures, events = DATA
    con = duckdb.connect()
    load_duckdb(con, exposures.iloc[0:0], events)
    _both(con, PLAIN, daily=True, unique=False)
    assert not [r for r in _rows(con, build_plan(PLAIN, daily=True)) if r[0] == "metric"]


def test_sparse_statistics_equal_the_oracle() -> None:
    """The independent pandas oracle (metrics_support) on the sparse plan's statistics,
    with 'bold' holding no event: its numbers come from the unit counts alone."""
    exposures, events = DATA
    events = _bold_never_buys(exposures, events)
    con = duckdb.connect()
    load_duckdb(con, exposures, events)
    result = compute_experiment_data(PLAIN, connection=con, daily=True)
    expected = oracle(exposures, events, "exp1", VARIANTS, METRICS)
    assert result.quality.exposures_by_variant == expected.units
    assert result.quality.orphan_events == expected.orphans
    for name in METRICS:
        for variant in VARIANTS:
            actual = stats_dict(result.metrics[name].by_variant[variant])
            assert_close(actual, expected.stats[name][variant])
        # the daily series ends at the totals
        last = result.metrics[name].daily[-1]
        for variant in VARIANTS:
            assert_close(
                stats_dict(last.by_variant[variant]),
                stats_dict(result.metrics[name].by_variant[variant]),
            )


def test_segments_and_exposure_covariates_keep_the_dense_plan() -> None:
    """A unit's empty state is not one row when the sums are split by segment value, or
    when a CUPED covariate is read from the exposures (a value per unit)."""
    segmented = resolved(METRICS, variants=VARIANTS, segments=("channel",))
    assert '"unit_counts"' not in render(build_plan(segmented, segments=True), "duckdb")
    assert '"unit_counts"' in render(build_plan(segmented, segments=False), "duckdb")
    for dialect in ("postgres", "spark"):
        assert '"unit_counts"' not in render(build_plan(PLAIN), dialect)  # type: ignore[arg-type]


def test_mixed_units_without_events_are_still_counted() -> None:
    """Units exposed to two variants are excluded and counted (the 'multi' row): the
    sparse plan counts them from the units, not from the units with events."""
    start = datetime(2024, 3, 1)
    exposures = pd.DataFrame(
        {
            "experiment": "exp1",
            "variant": ["control", "treatment", "control", "bold", "treatment"],
            "unit_id": ["a", "a", "b", "c", "c"],
            "timestamp": [start + timedelta(hours=h) for h in range(5)],
            "event_id": [f"x{i}" for i in range(5)],
        }
    )
    exposures["timestamp"] = exposures["timestamp"].astype("datetime64[us]")
    events = DATA[1].iloc[0:0]
    con = duckdb.connect()
    load_duckdb(con, exposures, events)
    result = compute_experiment_data(PLAIN, connection=con)
    assert result.quality.multiple_exposure_units == 2
    assert result.quality.exposures_by_variant == {"control": 1, "treatment": 0, "bold": 0}
