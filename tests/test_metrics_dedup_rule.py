"""De-duplication by event id follows the documented rule on every engine (issue 17).

docs/metrics.md: among the rows of the metrics' types that share an event id, the row
first by ``(timestamp, unit, type, value, discount, quantity)``, each ascending with
NULLs last, is kept; the others are duplicates (counted, ``duplicates_dropped``); rows
with no event id always count. The oracle here applies that rule in plain Python (no
SQL, no pandas sort) and the kept rows' statistics come from the independent oracle of
``metrics_support``. Every restated id below is built so that keeping any other of its
rows changes a sum, a count or an arm, so a wrong kept row fails the comparison.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from metrics_support import (
    assert_close,
    events_frame,
    exposures_frame,
    load_duckdb,
    load_postgres,
    load_spark,
    oracle,
    resolved,
    stats_dict,
)

from upsell_ab.metrics.aggregates import ExperimentData
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.spec.models import Aggregate, MetricDefinition, MetricType

VARIANTS = ("control", "treatment")
METRICS: dict[str, MetricDefinition] = {
    "revenue": MetricDefinition(type=MetricType.mean, event="order"),
    "orders": MetricDefinition(type=MetricType.count_, event="order"),
    "discount": MetricDefinition(type=MetricType.mean, event="order", value="discount"),
    "items": MetricDefinition(
        type=MetricType.ratio,
        numerator=Aggregate(event="order", value="quantity"),
        denominator=Aggregate(event="order", value="count"),
    ),
    "refunded": MetricDefinition(type=MetricType.proportion, event="refund"),
}
TYPES = frozenset({"order", "refund"})
RESOLVED = resolved(METRICS, variants=VARIANTS)
NAN = math.nan
T = "2025-01-02 10:00"
"""The shared timestamp of restated rows that tie on time."""
EXPOSURES = exposures_frame(
    [("exp1", "control", u, "2025-01-01 00:00") for u in ("a1", "a2", "a3")]
    + [("exp1", "treatment", u, "2025-01-01 00:00") for u in ("b1", "b2", "b3")]
)
ROWS: list[tuple[Any, ...]] = [
    # exact copies: one kept, two dropped
    *[("a1", "2025-01-02 09:00", "order", 100.0, 10.0, 2.0, "e1")] * 3,
    # restated with another time (and unit and values): the earlier row is kept
    ("a1", "2025-01-03 00:00", "order", 500.0, 0.0, 1.0, "e2"),
    ("b1", "2025-01-02 08:00", "order", 70.0, 7.0, 3.0, "e2"),
    # same time, another unit (and arm): the smaller unit id is kept
    ("b2", T, "order", 300.0, 30.0, 5.0, "e3"),
    ("a2", T, "order", 40.0, 4.0, 1.0, "e3"),
    # same time and unit, other values: the smaller value, then a NULL value last
    ("a3", T, "order", 90.0, 0.0, 1.0, "e4"),
    ("a3", T, "order", NAN, 0.0, 1.0, "e4"),
    ("a3", T, "order", 20.0, 9.0, 3.0, "e4"),
    # a NULL time sorts last: the timed row is kept
    ("b3", None, "order", 999.0, 0.0, 9.0, "e5"),
    ("b3", T, "order", 33.0, 3.0, 1.0, "e5"),
    # NULL discount / quantity sort last
    ("b1", T, "order", 50.0, NAN, 1.0, "e6"),
    ("b1", T, "order", 50.0, 5.0, 1.0, "e6"),
    ("b2", T, "order", 60.0, 0.0, NAN, "e7"),
    ("b2", T, "order", 60.0, 0.0, 4.0, "e7"),
    # a NULL unit sorts last: the unit's row is kept (not an orphan)
    (None, T, "order", 80.0, 0.0, 1.0, "e8"),
    ("a1", T, "order", 80.0, 0.0, 1.0, "e8"),
    # another type of a measured kind: 'order' < 'refund', the order is kept
    ("a2", T, "refund", 10.0, 0.0, 1.0, "e9"),
    ("a2", T, "order", 10.0, 0.0, 1.0, "e9"),
    # a type no metric reads is not an event of the query: no duplicate
    ("b3", "2025-01-02 07:00", "page_view", 0.0, 0.0, 0.0, "e10"),
    ("b3", "2025-01-02 11:00", "order", 25.0, 2.0, 2.0, "e10"),
    # ids restated with a refund that is kept (the earlier row)
    ("b1", "2025-01-02 06:00", "refund", 15.0, 0.0, 1.0, "e11"),
    ("b1", "2025-01-02 12:00", "refund", 15.0, 0.0, 1.0, "e11"),
    # no event id: every row counts, copies included
    *[("a1", "2025-01-04 00:00", "order", 11.0, 1.0, 1.0, None)] * 2,
    ("b1", "2025-01-04 00:00", "order", 12.0, 1.0, 1.0, None),
]
EVENTS = events_frame(ROWS)
KEYS = ("timestamp", "unit_id", "event_type", "value", "discount", "quantity")


def _missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def documented_rule(
    events: pd.DataFrame,
    *,
    nulls_first: bool = False,
    descending: bool = False,
    types: frozenset[str] = TYPES,
) -> tuple[list[dict[Any, Any]], int]:
    """(kept rows, duplicates) by the documented rule, in plain Python (the keywords give
    wrong rules, to show that the comparison would catch them)."""
    rows = [r for r in events.to_dict("records") if r["event_type"] in types]
    by_id: dict[Any, list[dict[Any, Any]]] = {}
    kept = [r for r in rows if _missing(r["event_id"])]
    for r in rows:
        if not _missing(r["event_id"]):
            by_id.setdefault(r["event_id"], []).append(r)

    def rank(r: dict[Any, Any]) -> tuple[tuple[bool, Any], ...]:
        # ascending, NULLs last: (is NULL, value) with a placeholder for NULLs
        return tuple((not nulls_first, 0) if _missing(r[k]) else (nulls_first, r[k]) for k in KEYS)

    for group in by_id.values():
        kept.append(max(group, key=rank) if descending else min(group, key=rank))
    return kept, len(rows) - len(kept)


def test_the_oracle_keeps_what_the_fixture_says() -> None:
    """The rule above applied to the fixture: the kept rows named one by one."""
    kept, duplicates = documented_rule(EVENTS)
    assert duplicates == 2 + 1 + 1 + 2 + 1 + 1 + 1 + 1 + 1 + 1
    chosen = {r["event_id"]: (r["unit_id"], r["value"], r["discount"], r["quantity"]) for r in kept}
    assert chosen["e2"] == ("b1", 70.0, 7.0, 3.0)
    assert chosen["e3"] == ("a2", 40.0, 4.0, 1.0)
    assert chosen["e4"] == ("a3", 20.0, 9.0, 3.0)
    assert chosen["e5"][1] == 33.0
    assert chosen["e6"][2] == 5.0 and chosen["e7"][3] == 4.0 and chosen["e8"][0] == "a1"
    assert [r["event_type"] for r in kept if r["event_id"] == "e9"] == ["order"]
    assert sum(1 for r in kept if _missing(r["event_id"])) == 3


def _expected(nulls_first: bool = False, descending: bool = False) -> tuple[Any, int, int]:
    kept, duplicates = documented_rule(EVENTS, nulls_first=nulls_first, descending=descending)
    frame = pd.DataFrame(kept)[EVENTS.columns]
    # unique ids for the rows without one, so that the stats oracle drops nothing more;
    # NULLs in the kept rows (wrong rules only) are read by the oracle as 0 / never
    ids = [f"none{i}" if _missing(e) else e for i, e in enumerate(frame["event_id"])]
    frame["event_id"] = ids
    frame = frame[frame["timestamp"].notna() & frame["unit_id"].notna()]
    for column in ("value", "discount", "quantity"):
        frame[column] = frame[column].fillna(0.0)
    return oracle(EXPOSURES, frame, "exp1", VARIANTS, METRICS), duplicates, len(kept)


def _check(result: ExperimentData, nulls_first: bool = False, descending: bool = False) -> None:
    expected, duplicates, kept = _expected(nulls_first, descending)
    assert result.quality.duplicates_dropped == duplicates
    assert result.quality.metric_events == kept
    assert result.quality.orphan_events == expected.orphans == 0
    for name in METRICS:
        for variant in VARIANTS:
            actual = stats_dict(result.metrics[name].by_variant[variant])
            assert_close(actual, expected.stats[name][variant])


@pytest.fixture(scope="module")
def duckdb_result() -> ExperimentData:
    con = duckdb.connect()
    load_duckdb(con, EXPOSURES, EVENTS)
    return compute_experiment_data(RESOLVED, connection=con, daily=True)


def test_duckdb_keeps_the_documented_row(duckdb_result: ExperimentData) -> None:
    _check(duckdb_result)


@pytest.mark.parametrize("rule", [{"nulls_first": True}, {"descending": True}])
def test_another_rule_would_be_caught(duckdb_result: ExperimentData, rule: dict[str, bool]) -> None:
    """The comparison is sharp: NULLs first, or the last row of each id, fails it."""
    with pytest.raises(AssertionError):
        _check(duckdb_result, **rule)


SPEC = """\
id: exp1
name: De-duplication
status: running
population: {unit: customer_id}
variants:
  - {id: control, control: true, weight: 0.5}
  - {id: treatment, weight: 0.5}
metrics:
  primary: conversion
  secondary: [revenue]
data:
  kind: files
  exposures: {path: exposures.parquet}
  events: {path: orders.parquet}
  exposure_columns: {experiment: experiment, variant: variant, unit_id: unit_id,
                     timestamp: timestamp}
  event_columns: {unit_id: unit_id, timestamp: timestamp, type: event_type, value: value,
                  discount: discount, quantity: quantity, event_id: event_id,
                  order_id: null}
"""
METRICS_FILE = """\
metrics:
  conversion: {type: proportion, event: order}
  revenue: {type: mean, event: order, value: value}
"""


@pytest.mark.parametrize("form", ["json", "markdown", "html"])
def test_the_report_says_how_many_were_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    """A files source (Parquet, read by DuckDB) through the CLI: the report states the
    duplicates of the order rows (the spec measures orders only), by the rule above."""
    from upsell_ab.cli.main import main

    EXPOSURES.to_parquet(tmp_path / "exposures.parquet")
    EVENTS.to_parquet(tmp_path / "orders.parquet")
    (tmp_path / "exp1.yaml").write_text(SPEC)
    (tmp_path / "metrics.yaml").write_text(METRICS_FILE)
    monkeypatch.chdir(tmp_path)
    _, duplicates = documented_rule(EVENTS, types=frozenset({"order"}))
    assert duplicates == 10  # the refunds of e9 and e11 are not read: two fewer
    try:
        main(["analyze", "exp1.yaml", "--format", form])
    except SystemExit as stop:
        assert not stop.code
    out = capsys.readouterr().out
    if form == "json":
        (experiment,) = json.loads(out)["experiments"]
        assert experiment["quality"]["duplicates_dropped"] == duplicates
    elif form == "markdown":
        assert f"- duplicate events dropped: {duplicates}\n" in out
    else:
        assert f"<li>Duplicate events dropped: {duplicates}</li>" in out


@pytest.mark.postgres
def test_postgres_keeps_the_documented_row(postgres_dsn: str) -> None:
    import psycopg

    load_postgres(postgres_dsn, EXPOSURES, EVENTS)
    with psycopg.connect(postgres_dsn) as conn:
        _check(compute_experiment_data(RESOLVED, connection=conn, daily=True))


@pytest.mark.spark
def test_spark_keeps_the_documented_row(spark_session: Any) -> None:
    load_spark(spark_session, EXPOSURES, EVENTS)
    _check(compute_experiment_data(RESOLVED, connection=spark_session, daily=True))


def test_the_fixture_spans_arms() -> None:
    """Restated ids cross arms (e2, e3), so a wrong row moves a sale between arms."""
    arms = dict(zip(EXPOSURES["unit_id"], EXPOSURES["variant"], strict=True))
    units = {r[0] for r in ROWS if r[-1] in ("e2", "e3") and r[0] is not None}
    assert {arms[u] for u in units} == set(VARIANTS)
    assert datetime(2025, 1, 1) + timedelta(days=1) <= pd.Timestamp(T).to_pydatetime()
