"""The per-unit join's build side from the store's counts (upsell_ab.metrics.build_side).

From the embedded store the experiment query hashes the events rather than the units when
there are no more event rows of the metrics' types than exposure rows of the experiment.
Checked here on real DuckDB stores written by our ingest:
- the two counts equal pandas' counts of the ingested frames;
- the choice follows them (few events: the events; many events per unit: the optimizer);
- the plan under the choice builds ``per_unit`` on the events (a LEFT join, as written),
  and DuckDB left alone would hash the units (the reason for the choice);
- the statistics equal the plain-Python oracle either way (the choice changes cost only);
- a shared or caller's connection gets its own ``disabled_optimizers`` back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from metrics_support import assert_close, oracle, resolved, stats_dict, synthetic

from upsell_ab.events.engines import DuckDBEngine, duckdb_optimizers_off
from upsell_ab.events.store import EventStore
from upsell_ab.metrics.build_side import events_build_side, hash_events, side_counts_sql
from upsell_ab.metrics.compute import build_plan, compute_experiment_data
from upsell_ab.metrics.sql import QueryBuilder, render
from upsell_ab.spec.models import DataSource, MetricDefinition, MetricType, SourceKind

METRICS = {
    "orders": MetricDefinition(type=MetricType.count_, event="order"),
    "take": MetricDefinition(type=MetricType.proportion, event="upsell_purchase"),
    "revenue": MetricDefinition(type=MetricType.mean, event="order"),
}
VARIANTS = ("control", "treatment", "bold")
TYPES = ("order", "upsell_purchase")


def _store(root: Path, events_per_unit: int) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """A store of the synthetic data (exact repeats removed: the store keeps one row per
    event id); ``events_per_unit`` > 1 repeats every event that often under new ids."""
    exposures, events = synthetic(n_units=800, seed=11)
    events = events.drop_duplicates().reset_index(drop=True)
    if events_per_unit > 1:
        copies = []
        for k in range(events_per_unit):
            copy = events.copy()
            copy["event_id"] = copy["event_id"] + f"-{k}"
            copies.append(copy)
        events = pd.concat(copies, ignore_index=True)
    path = root / "store.duckdb"
    with EventStore(path) as store:
        store.ingest_exposures(exposures.drop(columns=["event_id"]))
        store.ingest_events(events.drop(columns=["order_id"]))
    return path, exposures, events


def _spec(path: Path) -> Any:
    data = DataSource(kind=SourceKind.embedded, store=str(path))
    return resolved(METRICS, variants=VARIANTS, data=data)


@pytest.fixture(scope="module", params=[1, 6], ids=["few-events", "many-events"])
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp(f"side{request.param}")
    path, exposures, events = _store(root, request.param)
    return request.param, path, exposures, events


def test_counts_and_choice_follow_the_data(case: Any) -> None:
    per_unit, path, exposures, events = case
    spec = _spec(path)
    plan = build_plan(spec, unique_event_ids=True)
    engine = DuckDBEngine(path=path)
    try:
        (x, e), *_ = engine.execute(side_counts_sql(plan, TYPES))
        choice = events_build_side(plan, TYPES, engine)
    finally:
        engine.close()
    assert x == int((exposures["experiment"] == "exp1").sum())
    assert e == int(events["event_type"].isin(TYPES).sum())
    # the synthetic data has ~1.2 exposure rows per unit and ~0.5 such events per unit
    assert choice is (per_unit == 1) is (e <= x)


def _joins(connection: Any, sql: str) -> list[dict[str, Any]]:
    """The hash joins of DuckDB's physical plan (EXPLAIN in JSON): each one's extra info,
    plus ``build_tables``, the tables scanned under its build side (its second child)."""
    text = connection.execute(f"EXPLAIN (FORMAT json) {sql}").fetchall()[0][1]
    found: list[dict[str, Any]] = []

    def tables(node: dict[str, Any]) -> set[str]:
        names = {str(node.get("extra_info", {}).get("Table", "")).split(".")[-1]} - {""}
        for child in node.get("children", []):
            names |= tables(child)
        return names

    def walk(node: dict[str, Any]) -> None:
        if node.get("name") == "HASH_JOIN":
            children = node.get("children", [])
            build = tables(children[1]) if len(children) > 1 else set()
            found.append({**node.get("extra_info", {}), "build_tables": build})
        for child in node.get("children", []):
            walk(child)

    for node in json.loads(text):
        walk(node)
    return found


def _plain_store(root: Path, units: int) -> Path:
    """``units`` units exposed once, half as many orders (ingested as a shop would):
    DuckDB's estimate of the units' group-by is then far below ``units`` (800 for 20,000)."""
    start = pd.Timestamp("2024-03-01")
    exposures = pd.DataFrame(
        {
            "experiment": "exp1",
            "variant": [VARIANTS[i % 3] for i in range(units)],
            "unit_id": [f"u{i}" for i in range(units)],
            "timestamp": [start + pd.Timedelta(seconds=i % 86400) for i in range(units)],
        }
    )
    orders = units // 2
    events = pd.DataFrame(
        {
            "unit_id": [f"u{i * 7 % units}" for i in range(orders)],
            "timestamp": [start + pd.Timedelta(days=1, seconds=i % 86400) for i in range(orders)],
            "event_type": "order",
            "value": 10.0,
            "event_id": [f"e{i}" for i in range(orders)],
        }
    )
    path = root / "plain.duckdb"
    with EventStore(path) as store:
        store.ingest_exposures(exposures)
        store.ingest_events(events)
    return path


def test_written_sides_hash_the_events_where_duckdb_would_hash_the_units(
    tmp_path: Path,
) -> None:
    path = _plain_store(tmp_path, 20_000)
    data = DataSource(kind=SourceKind.embedded, store=str(path))
    spec = resolved({"orders": METRICS["orders"]}, variants=VARIANTS, data=data)
    plan = build_plan(spec, daily=True, unique_event_ids=True)
    sql = render(plan, "duckdb")
    engine = DuckDBEngine(path=path)
    try:
        assert events_build_side(plan, ("order",), engine)
    finally:
        engine.close()
    connection = duckdb.connect(str(path), read_only=True)
    try:

        def per_unit_build() -> set[str]:
            (join,) = [j for j in _joins(connection, sql) if j.get("Conditions") == "u = u"]
            # the units join their events (INNER: the sparse plan, sql_sparse)
            assert join["Join Type"] == "INNER"
            return set(join["build_tables"])

        with duckdb_optimizers_off(connection, "build_side_probe_side"):
            # units JOIN kept: the right side (the events) is hashed, as written
            assert per_unit_build() == {"events"}
        # the reason for the choice: DuckDB's own estimate swaps it to hash the 20,000
        # units rather than the 10,000 events; if this fails, a newer DuckDB estimates the
        # units better and the choice may no longer be needed (docs: build_side)
        assert "events" not in per_unit_build()
    finally:
        connection.close()


@pytest.mark.parametrize("daily", [False, True])
def test_statistics_equal_the_oracle_either_way(case: Any, daily: bool) -> None:
    _, path, exposures, events = case
    result = compute_experiment_data(_spec(path), daily=daily)
    expected = oracle(exposures, events, "exp1", VARIANTS, METRICS)
    assert result.quality.orphan_events == expected.orphans
    assert result.quality.events_before_exposure == expected.before
    for name in METRICS:
        for variant in VARIANTS:
            actual = stats_dict(result.metrics[name].by_variant[variant])
            assert_close(actual, expected.stats[name][variant])


def test_the_connection_gets_its_setting_back(tmp_path: Path) -> None:
    path, _, _ = _store(tmp_path, 1)
    connection = duckdb.connect(str(path), read_only=True)
    connection.execute("SET disabled_optimizers = 'statistics_propagation'")

    def setting() -> str:
        row = connection.execute("SELECT current_setting('disabled_optimizers')").fetchone()
        assert row is not None
        return str(row[0])

    engine = DuckDBEngine(connection=connection)
    spec = _spec(path)
    builder = QueryBuilder(build_plan(spec, unique_event_ids=True), "duckdb")
    with duckdb_optimizers_off(connection, "build_side_probe_side"):
        assert set(setting().split(",")) == {"statistics_propagation", "build_side_probe_side"}
    assert setting() == "statistics_propagation"
    rows = engine.execute(builder.build().sql(dialect="duckdb"), written_build_sides=True)
    assert rows and setting() == "statistics_propagation"
    with pytest.raises(Exception, match="DuckDB query failed"):
        engine.execute("SELECT * FROM no_such_table", written_build_sides=True)
    assert setting() == "statistics_propagation"
    connection.close()


def test_rule_is_no_more_events_than_exposure_rows() -> None:
    assert hash_events(exposure_rows=10, event_rows=10)
    assert hash_events(exposure_rows=10, event_rows=0)
    assert not hash_events(exposure_rows=10, event_rows=11)
