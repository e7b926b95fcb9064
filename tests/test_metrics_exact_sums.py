"""Exact sums (upsell_ab/metrics/sql_exact.py): DuckDB aggregates on every core and the
report is still the same bytes on 1, 2 and 4 threads.

Data: 60,000 customers, about 200,000 orders with values at full double precision (not
on a cents grid, so a floating-point sum depends on the order of its additions),
several orders per customer, 3 % re-delivered order ids, pre-exposure orders for a
CUPED covariate. Parquet files are written with small row groups and the store holds
several row groups, so DuckDB really splits the work between threads.

Oracles: ``math.fsum`` (an exactly rounded sum: Shewchuk's algorithm) over per-customer
values computed here in pandas with no code of ours; ``Fraction`` for the adversarial
case where a floating-point sum in file order loses every small term.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from metrics_support import events_frame, exposures_frame, load_duckdb, resolved
from sqlglot import exp, parse_one

from upsell_ab.events.engines import DuckDBEngine, duckdb_threads
from upsell_ab.events.store import EventStore
from upsell_ab.metrics.compute import build_plan, compute_experiment_data
from upsell_ab.metrics.sql import QueryBuilder
from upsell_ab.metrics.sufficient import RatioStats, SampleStats
from upsell_ab.spec.models import MetricDefinition, MetricType

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 3, 2)
ARMS = ("control", "pairing", "bundle")
CUSTOMERS = 60_000

SPEC = """\
id: exact_sums
name: Exact sums across thread counts
status: running
start: 2026-03-02
end: 2026-03-15
population: {{unit: customer}}
variants:
  - {{id: control, control: true, weight: 0.34}}
  - {{id: pairing, weight: 0.33}}
  - {{id: bundle, weight: 0.33}}
metrics:
  primary: conversion
  secondary: [revenue, revenue_cuped, revenue_per_order]
analysis: {{alpha: 0.05, segments: [channel]}}
data:
{data}
"""
METRICS = """\
metrics:
  conversion: {type: proportion, event: order, window: {end: 30d}}
  revenue: {type: mean, event: order, value: value, window: {end: 30d}}
  revenue_cuped:
    type: mean
    event: order
    value: value
    window: {end: 30d}
    cuped: {lookback: 14d}
  revenue_per_order:
    type: ratio
    numerator: {event: order, value: value}
    denominator: {event: order, value: count}
    window: {end: 30d}
"""


def _frames(seed: int = 20261204) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    units = np.array([f"c{i:06d}" for i in range(CUSTOMERS)], dtype=object)
    arm = rng.integers(0, 3, CUSTOMERS)
    first = START + pd.to_timedelta(rng.integers(0, 12 * 86400, CUSTOMERS), unit="s")
    exposures = pd.DataFrame(
        {
            "experiment": "exact_sums",
            "variant": np.array(ARMS, dtype=object)[arm],
            "unit_id": units,
            "timestamp": first,
            "channel": np.array(["web", "app", "store"], dtype=object)[
                rng.integers(0, 3, CUSTOMERS)
            ],
        }
    )
    again = exposures.sample(frac=0.1, random_state=1).assign(
        timestamp=lambda f: f["timestamp"] + pd.Timedelta(hours=3)
    )
    exposures = pd.concat([exposures, again], ignore_index=True)
    exposures["event_id"] = [f"x{i}" for i in range(len(exposures))]
    counts = rng.poisson(3.0 + 0.2 * arm)
    owner = np.repeat(np.arange(CUSTOMERS), counts)
    offsets = rng.uniform(-14 * 86400, 35 * 86400, len(owner))
    events = pd.DataFrame(
        {
            "unit_id": units[owner],
            "timestamp": first[owner] + pd.to_timedelta(offsets, unit="s"),
            "event_type": "order",
            # full-precision values: a float sum of these depends on its order
            "value": rng.lognormal(3.0, 1.0, len(owner)) * (1 + 0.05 * arm[owner]),
            "discount": 0.0,
            "quantity": 1.0,
        }
    )
    events["order_id"] = None
    events["event_id"] = [f"o{i}" for i in range(len(events))]
    redelivered = events.sample(frac=0.03, random_state=2)
    events = pd.concat([events, redelivered], ignore_index=True)
    events = events.sample(frac=1.0, random_state=3).reset_index(drop=True)  # scattered
    for frame in (exposures, events):
        frame["timestamp"] = frame["timestamp"].astype("datetime64[us]")
    return exposures, events


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("exact_sums")
    exposures, events = _frames()
    con = duckdb.connect()
    for name, frame in (("exposures", exposures), ("events", events)):
        con.register("frame", frame)
        target = str(root / f"{name}.parquet")
        con.execute(f"COPY frame TO '{target}' (FORMAT parquet, ROW_GROUP_SIZE 16384)")
        con.unregister("frame")
    con.close()
    files = (
        "  kind: files\n  exposures: {path: exposures.parquet}\n"
        "  events: {path: events.parquet}\n"
        "  exposure_columns: {attributes: [channel]}"
    )
    (root / "metrics.yaml").write_text(METRICS)
    (root / "files.yaml").write_text(SPEC.format(data=files))
    (root / "store.yaml").write_text(
        SPEC.format(data="  kind: embedded\n  store: store.duckdb\n"
                    "  exposure_columns: {attributes: [channel]}")
    )  # fmt: skip
    with EventStore(root / "store.duckdb") as store:
        store.ingest_exposures(exposures.drop(columns=["event_id"]))
        store.ingest_events(events.drop(columns=["order_id"]))
    return root


def _analyze(root: Path, spec: str, threads: int) -> bytes:
    env = {**os.environ, "UPSELL_AB_DUCKDB_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", "analyze", spec, "--format", "json",
         "--segments"],
        cwd=root, env=env, capture_output=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 3), result.stderr.decode()[-2000:]
    return result.stdout


@pytest.mark.parametrize("spec", ["files.yaml", "store.yaml"])
def test_json_report_is_byte_identical_on_1_2_and_4_threads(workspace: Path, spec: str) -> None:
    outputs = {threads: _analyze(workspace, spec, threads) for threads in (1, 2, 4)}
    document = json.loads(outputs[1])
    assert document["experiments"][0]["metrics"], "a real report"
    assert outputs[1] == outputs[2] == outputs[4]


def _raw(root: Path, spec: str, threads: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    from upsell_ab.spec.load import load_experiment

    monkeypatch.setenv("UPSELL_AB_DUCKDB_THREADS", str(threads))
    monkeypatch.chdir(root)
    return compute_experiment_data(load_experiment(spec), daily=True, segments=True)


@pytest.mark.parametrize("spec", ["files.yaml", "store.yaml"])
def test_raw_statistics_are_bitwise_equal_across_thread_counts(
    workspace: Path, spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before rounding: every float of every statistic, daily series and segment."""
    single = _raw(workspace, spec, 1, monkeypatch)
    for threads in (2, 4):
        assert repr(_raw(workspace, spec, threads, monkeypatch)) == repr(single), threads
    assert single.quality.duplicates_dropped > 0 or spec == "store.yaml"


def _oracle(exposures: pd.DataFrame, events: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per arm: n, sum and sum of squares of revenue and orders, from pandas + fsum."""
    xp = exposures[
        (exposures["timestamp"] >= START) & (exposures["timestamp"] < datetime(2026, 3, 16))
    ]
    first = (
        xp.sort_values("timestamp")
        .groupby("unit_id")
        .agg(t0=("timestamp", "first"), arm=("variant", "first"))
    )
    kept = events.sort_values(["timestamp", "unit_id"]).drop_duplicates("event_id")
    joined = kept.merge(first, left_on="unit_id", right_index=True)
    delta = joined["timestamp"] - joined["t0"]
    window = joined[(delta >= timedelta(0)) & (delta < timedelta(days=30))]
    per_unit = window.groupby("unit_id")["value"].agg(lambda v: math.fsum(v))
    orders = window.groupby("unit_id").size()
    out: dict[str, dict[str, float]] = {}
    for arm in ARMS:
        ids = first.index[first["arm"] == arm]
        y = per_unit.reindex(ids, fill_value=0.0).to_numpy()
        d = orders.reindex(ids, fill_value=0).to_numpy(dtype=float)
        out[arm] = {
            "n": float(len(ids)),
            "sum": math.fsum(y),
            "sum_squares": math.fsum(y * y),
            "orders": math.fsum(d),
            "cross": math.fsum(y * d),
        }
    return out


def test_statistics_equal_an_exactly_rounded_pandas_computation(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exposures, events = _frames()
    expected = _oracle(exposures, events)
    data = _raw(workspace, "files.yaml", 2, monkeypatch)
    for arm in ARMS:
        framed = data.metrics["revenue"].by_variant[arm]
        ratio = data.metrics["revenue_per_order"].by_variant[arm]
        assert isinstance(framed, SampleStats) and isinstance(ratio, RatioStats)
        revenue = framed.in_frame(0.0, 1.0)
        want = expected[arm]
        assert revenue.n == want["n"] == ratio.n
        assert revenue.sum == pytest.approx(want["sum"], rel=1e-13)
        assert revenue.sum_squares == pytest.approx(want["sum_squares"], rel=1e-13)
        assert ratio.denominator_sum == want["orders"]  # counts: exact
        assert ratio.cross_sum == pytest.approx(want["cross"], rel=1e-13)


def test_sums_are_exact_where_floating_point_loses_every_small_term() -> None:
    """Per unit, orders of 2^53, then 1, then -2^53 (in that order): a DOUBLE sum gives
    0 (2^53 + 1 rounds back to 2^53); per arm, one unit of 2^53 followed by units of 1
    and one of -2^53. Exact sums give what ``Fraction`` gives, on any number of threads."""
    big = float(2**53)
    exposures: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    values = {"control": [big] + [1.0] * 500 + [-big], "treatment": [big] + [3.0] * 500 + [-big]}
    for arm, per_unit in values.items():
        for i, value in enumerate(per_unit):
            unit = f"{arm}{i:04d}"
            exposures.append(("exp1", arm, unit, "2024-01-01 10:00"))
            events.append((unit, "2024-01-01 11:00", "order", value, 0.0, 1.0, f"{unit}a"))
    unit = "control_triple"
    exposures.append(("exp1", "control", unit, "2024-01-01 10:00"))
    for k, value in enumerate((big, 1.0, -big)):
        events.append((unit, f"2024-01-01 11:0{k}", "order", value, 0.0, 1.0, f"t{k}"))
    spec = resolved({"revenue": MetricDefinition(type=MetricType.mean, event="order")})
    for threads in (1, 4):
        con = duckdb.connect()
        con.execute(f"SET threads = {threads}")
        load_duckdb(con, exposures_frame(exposures), events_frame(events))
        data = compute_experiment_data(spec, connection=con, daily=True)
        for arm, per_unit in values.items():
            framed = data.metrics["revenue"].by_variant[arm]
            assert isinstance(framed, SampleStats)
            stats = framed.in_frame(0.0, 1.0)
            exact = sum((Fraction(v) for v in per_unit), Fraction(0))
            if arm == "control":
                exact += 1  # the unit whose three orders net to 1
            assert stats.sum == float(exact), (threads, arm)
        con.close()


def test_a_value_beyond_the_exact_range_falls_back_and_says_so() -> None:
    """1e-300 revenue (below 2^-20: the fixed point would round it away) and 1e300 (too
    large for 128 bits): the DOUBLE sums on one thread give the right means, and the
    statistics carry the note the report shows."""
    spec = resolved({"revenue": MetricDefinition(type=MetricType.mean, event="order")})
    for scale in (1e-300, 1e300):
        exposures = [("exp1", "control" if i % 2 else "treatment", f"u{i}", "2024-01-01")
                     for i in range(40)]  # fmt: skip
        values = [(i % 7 + 1) * scale for i in range(40)]
        events = [(f"u{i}", "2024-01-01 01:00", "order", v, 0.0, 1.0, f"e{i}")
                  for i, v in enumerate(values)]  # fmt: skip
        con = duckdb.connect()
        load_duckdb(con, exposures_frame(exposures), events_frame(events))
        data = compute_experiment_data(spec, connection=con)
        control = data.metrics["revenue"].by_variant["control"]
        assert isinstance(control, SampleStats)
        expected = math.fsum(values[1::2]) / 20
        assert control.mean == pytest.approx(expected, rel=1e-12)
        (note,) = data.input_notes
        assert "floating point on one thread" in note
        con.close()


def test_in_range_data_gets_no_fallback_note(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = resolved({"revenue": MetricDefinition(type=MetricType.mean, event="order")})
    con = duckdb.connect()
    exposures = [("exp1", "control", "u1", "2024-01-01"), ("exp1", "treatment", "u2", "2024-01-01")]
    events = [("u1", "2024-01-01 01:00", "order", 1e-6, 0.0, 1.0, "e1")]
    load_duckdb(con, exposures_frame(exposures), events_frame(events))
    assert compute_experiment_data(spec, connection=con).input_notes == ()


# ------------------------------------------------------------------ plan shape


def _summed_types(sql: str) -> list[str]:
    """For every SUM of the query, what it adds: 'hugeint' (a CAST to HUGEINT, or a CASE
    of them), 'bigint' (a CAST to BIGINT: a quantised per-unit term, DuckDB adds them
    into a HUGEINT), 'count' (integers: a CASE of 1/0, a column of counts), 'fixed' (a
    window over the fixed-point per-(unit, day) sums), 'partial' (a column of integer
    sums of quanta, or of a count times an integer of quanta: the daily series' parts
    added up per day) or the SQL of anything else."""
    tree = parse_one(sql, dialect="duckdb")
    counts = {a.alias for a in tree.find_all(exp.Alias) if isinstance(a.this, exp.Count)}
    counts.add("dn")  # the 0/1 unit counter of the daily increments
    integer = (exp.DataType.Type.INT128, exp.DataType.Type.BIGINT)

    def whole(node: exp.Expr) -> bool:
        return isinstance(node, exp.Cast) and node.to.this in integer

    partial = {
        a.alias
        for a in tree.find_all(exp.Alias)
        if (isinstance(a.this, exp.Sum) and whole(a.this.this))
        or (isinstance(a.this, exp.Mul) and whole(a.this.this) and whole(a.this.expression))
    }
    kinds: list[str] = []
    for node in tree.find_all(exp.Sum):
        arg = node.this
        branches = (
            [*(i.args["true"] for i in arg.args["ifs"]), arg.args.get("default")]
            if isinstance(arg, exp.Case)
            else [arg]
        )
        casts = {b.to.this for b in branches if isinstance(b, exp.Cast)}
        if len(casts) == 1 and all(isinstance(b, exp.Cast) for b in branches):
            kinds.append(
                {exp.DataType.Type.INT128: "hugeint", exp.DataType.Type.BIGINT: "bigint"}.get(
                    casts.pop(), arg.sql("duckdb")
                )
            )
        elif all(isinstance(b, exp.Literal) and b.is_int for b in branches) or (
            isinstance(arg, exp.Column) and arg.name in counts
        ):
            kinds.append("count")
        elif isinstance(node.parent, exp.Window) and isinstance(arg, exp.Column):
            kinds.append("fixed")
        elif isinstance(arg, exp.Column) and not arg.table and arg.name in partial:
            kinds.append("partial")
        else:
            kinds.append(arg.sql("duckdb"))
    return kinds


@pytest.mark.parametrize("unique", [True, False])
def test_every_sum_of_the_duckdb_query_is_over_integers(unique: bool) -> None:
    from upsell_ab.spec.load import load_experiment

    spec = load_experiment(REPO / "experiments" / "laptop_bundle.yaml")
    plan = build_plan(spec, daily=True, segments=True, unique_event_ids=unique)
    kinds = _summed_types(QueryBuilder(plan, "duckdb").build().sql(dialect="duckdb"))
    integers = {"hugeint", "bigint", "count", "fixed", "partial"}
    assert kinds and set(kinds) <= integers, kinds
    # event values per unit and the daily increments in 128 bits, the totals' terms
    # (below 2^63 quanta) as BIGINTs
    assert kinds.count("hugeint") > 10 and kinds.count("bigint") > 10
    # the fallback (and PostgreSQL) keep DOUBLE sums: the check above can fail
    plain = QueryBuilder(replace(plan, exact_sums=False), "duckdb").build().sql(dialect="duckdb")
    assert not set(_summed_types(plain)) <= integers


def test_duckdb_uses_every_core_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPSELL_AB_DUCKDB_THREADS", raising=False)
    assert duckdb_threads() is None
    engine = DuckDBEngine()
    try:
        ((threads,),) = engine.execute("SELECT current_setting('threads')")
        assert int(threads) == os.cpu_count()
    finally:
        engine.close()
    monkeypatch.setenv("UPSELL_AB_DUCKDB_THREADS", "1")
    engine = DuckDBEngine()
    try:
        assert engine.execute("SELECT current_setting('threads')") == [(1,)]
    finally:
        engine.close()
