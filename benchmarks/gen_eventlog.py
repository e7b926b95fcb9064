"""A standalone event-log generator for the scale benchmark (issue 17).

Writes Parquet shaped like a shop's own export, NOT produced by any part of
upsell_ab (the product's simulator is not used; its own seed, its own column
names): ``exposures.parquet`` (experiment_id, arm, customer_id, exposed_at,
channel) and ``orders.parquet`` (order_id, customer_id, kind, ordered_at,
amount, discount_amount, items), plus a files spec, the metric catalogue and
an embedded-store spec per experiment.

Quirks a real log has, each in a known share:

* event ids (``order_id``) and duplicate deliveries of the same event (2 %);
* orders before the customer's first exposure (CUPED lookback, ~12 %) and after
  the 60-day window (~8 %);
* customers exposed twice (50 %; the second exposure in the same arm, later),
  a few exposed to two arms (0.4 %) and rows naming an arm the spec does not
  have (0.1 %);
* orphan orders from customers never exposed (1 %);
* refunds (an event type no metric reads);
* three arms, 60-day exposure period and 60-day metric windows.

Everything is a pure function of (row number, seed) through DuckDB's ``hash``,
so the files are identical for any number of threads. Usage::

    python benchmarks/gen_eventlog.py OUT_DIR --customers 10000000 [--experiments 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

SEED = 20261203
START = "2025-01-06"
ARMS = ("control", "pairing", "bundle")
ORDERS_PER_CUSTOMER = 0.71
"""7.1M orders (before duplicates and orphans) for 10M customers, as in the issue."""


def _u(expr: str, salt: int) -> str:
    """A uniform in [0, 1) from the hash of (expr, seed, salt)."""
    return f"((hash({expr}, {SEED}, {salt}) % 1000000007) / 1000000007.0)"


def _first_seen(i: str) -> str:
    return f"(TIMESTAMP '{START}' + to_microseconds(CAST({_u(i, 3)} * 60 * 86400e6 AS BIGINT)))"


def _experiment(i: str, experiments: int) -> str:
    if experiments == 1:
        return "'upsell_bench'"
    return f"('upsell_bench_' || CAST(hash({i}, {SEED}, 2) % {experiments} AS VARCHAR))"


def _arm(i: str, salt: int = 1) -> str:
    return f"(['control', 'pairing', 'bundle'])[CAST(hash({i}, {SEED}, {salt}) % 3 AS INTEGER) + 1]"


def _customer(i: str) -> str:
    return f"('C' || lpad(CAST({i} AS VARCHAR), 9, '0'))"


def exposures_sql(customers: int, experiments: int) -> str:
    arm, first = _arm("i"), _first_seen("i")
    other_arm = (
        "(['control', 'pairing', 'bundle'])"
        f"[CAST((hash(i, {SEED}, 1) + 1 + hash(i, {SEED}, 8) % 2) % 3 AS INTEGER) + 1]"
    )
    channel = f"(['web', 'app', 'store'])[CAST(hash(i, {SEED}, 9) % 3 AS INTEGER) + 1]"
    common = f"{_experiment('i', experiments)} AS experiment_id, {_customer('i')} AS customer_id"
    return f"""
    SELECT {common}, {arm} AS arm, {first} AS exposed_at, {channel} AS channel
    FROM range({customers}) t(i)
    UNION ALL  -- seen again, same arm, up to 10 days later
    SELECT {common}, {arm}, {first} + to_microseconds(CAST({_u("i", 5)} * 10 * 86400e6 AS BIGINT)),
           {channel}
    FROM range({customers}) t(i) WHERE {_u("i", 4)} < 0.5
    UNION ALL  -- exposed to a second arm (excluded by the analysis)
    SELECT {common}, {other_arm}, {first} + INTERVAL 1 HOUR, {channel}
    FROM range({customers}) t(i) WHERE {_u("i", 6)} < 0.004
    UNION ALL  -- an arm the spec does not have
    SELECT {common}, 'legacy', {first} - INTERVAL 1 MINUTE, {channel}
    FROM range({customers}) t(i) WHERE {_u("i", 10)} < 0.001
    """


def orders_sql(customers: int) -> str:
    n = int(customers * ORDERS_PER_CUSTOMER)
    who = f"CAST(floor({_u('j', 7)} * {customers}) AS BIGINT)"
    # offset from the customer's first exposure: 12 % up to 28 days before, 80 % within
    # the 60-day window, 8 % between 60 and 90 days after
    r = _u("j", 11)
    days = (
        f"(CASE WHEN {r} < 0.12 THEN -28 * {_u('j', 12)} "
        f"WHEN {r} < 0.92 THEN 60 * {_u('j', 12)} ELSE 60 + 30 * {_u('j', 12)} END)"
    )
    # arm effects: 'pairing' +4 % orders (control drops 4 % of its orders), 'bundle' +3 %
    # order value; amounts exponential with mean 3,000 (a heavy right tail)
    amount = (
        f"round(-ln(1 - {_u('j', 13)}) * 3000 * (CASE WHEN arm = 'bundle' THEN 1.03 ELSE 1 END))"
    )
    base = f"""
    SELECT j, c, {_arm("c")} AS arm,
           {_first_seen("c")} + to_microseconds(CAST({days} * 86400e6 AS BIGINT)) AS ordered_at
    FROM (SELECT j, {who} AS c FROM range({n}) t(j))
    """
    orders = f"""
    SELECT 'O' || lpad(CAST(j AS VARCHAR), 10, '0') AS order_id, {_customer("c")} AS customer_id,
           CASE WHEN {_u("j", 14)} < 0.03 THEN 'refund' ELSE 'order' END AS kind,
           ordered_at, {amount} AS amount,
           CASE WHEN {_u("j", 15)} < 0.2 THEN round({amount} * 0.1) ELSE 0 END AS discount_amount,
           1 + CAST(hash(j, {SEED}, 16) % 3 AS INTEGER) AS items
    FROM ({base}) WHERE NOT (arm <> 'pairing' AND {_u("j", 17)} < 0.04)
    """
    orphans = f"""
    SELECT 'X' || lpad(CAST(j AS VARCHAR), 10, '0'),
           'Z' || lpad(CAST(j AS VARCHAR), 9, '0'), 'order',
           TIMESTAMP '{START}' + to_microseconds(CAST({_u("j", 18)} * 90 * 86400e6 AS BIGINT)),
           round(-ln(1 - {_u("j", 19)}) * 3000), 0, 1
    FROM range({max(1, n // 100)}) t(j)
    """
    return f"""
    WITH o AS ({orders})
    SELECT * FROM o
    UNION ALL SELECT * FROM o WHERE hash(order_id, {SEED}, 20) % 50 = 0  -- re-delivered
    UNION ALL {orphans}
    """


CATALOGUE = """\
metrics:
  conversion:
    type: proportion
    description: Share of exposed customers with an order within 60 days.
    event: order
    window: {end: 60d}
  revenue_per_customer:
    type: mean
    event: order
    value: value
    window: {end: 60d}
  revenue_per_customer_cuped:
    type: mean
    event: order
    value: value
    window: {end: 60d}
    cuped: {lookback: 28d}
  revenue_per_order:
    type: ratio
    numerator: {event: order, value: value}
    denominator: {event: order, value: count}
    window: {end: 60d}
"""

SPEC = """\
id: {id}
name: Upsell benchmark {id}
status: running
start: 2025-01-06
end: 2025-03-06
population: {{unit: customer_id}}
variants:
  - {{id: control, control: true, weight: 0.3333333333333333}}
  - {{id: pairing, weight: 0.3333333333333333}}
  - {{id: bundle, weight: 0.3333333333333334}}
metrics:
  primary: conversion
  secondary: [revenue_per_customer, revenue_per_customer_cuped, revenue_per_order]
analysis: {{alpha: 0.05}}
data:
{data}
"""

FILES_DATA = """\
  kind: files
  exposures: {path: exposures.parquet}
  events: {path: orders.parquet}
  exposure_columns: {experiment: experiment_id, variant: arm, unit_id: customer_id,
                     timestamp: exposed_at}
  event_columns: {unit_id: customer_id, timestamp: ordered_at, type: kind, value: amount,
                  discount: discount_amount, quantity: items, event_id: order_id,
                  order_id: null}"""

STORE_DATA = """\
  kind: embedded
  store: store.duckdb"""


def write_specs(out: Path, experiments: int) -> list[str]:
    (out / "metrics.yaml").write_text(CATALOGUE)
    ids = (
        ["upsell_bench"] if experiments == 1 else [f"upsell_bench_{k}" for k in range(experiments)]
    )
    for experiment_id in ids:
        (out / f"{experiment_id}.files.yaml").write_text(
            SPEC.format(id=experiment_id, data=FILES_DATA)
        )
        store_dir = out / "store_specs"
        store_dir.mkdir(exist_ok=True)
        (store_dir / "metrics.yaml").write_text(CATALOGUE)
        (store_dir / f"{experiment_id}.yaml").write_text(
            SPEC.format(id=experiment_id, data=STORE_DATA)
        )
    return ids


def generate(out: Path, customers: int, experiments: int = 1) -> dict[str, int]:
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    counts: dict[str, int] = {}
    for name, sql in (
        ("exposures", exposures_sql(customers, experiments)),
        ("orders", orders_sql(customers)),
    ):
        path = out / f"{name}.parquet"
        con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
        counts[name] = int(con.execute(f"SELECT count(*) FROM '{path}'").fetchall()[0][0])
    con.close()
    write_specs(out, experiments)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--experiments", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    counts = generate(args.out, args.customers, args.experiments)
    print(f"{counts} in {time.perf_counter() - started:.1f} s -> {args.out}")


if __name__ == "__main__":
    main()
