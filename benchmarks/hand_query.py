"""The hand-written baseline of the scale benchmark: ONE DuckDB query + z and Welch tests.

What an analyst would write for the benchmark spec (benchmarks/gen_eventlog.py):
first exposure per customer inside the experiment dates, customers seen in two
arms dropped, orders de-duplicated by id (``QUALIFY row_number()``, skipped
when reading our store, which holds each id once), 60-day windows, a 28-day
pre-exposure covariate, and per-arm sums of every metric. Then the pooled
two-proportion z-test on conversion and Welch's t-test on revenue per
customer (normal/t tails from ``scipy.special``). Uses no part of upsell_ab.

    python benchmarks/hand_query.py DATA_DIR [--experiment ID] [--store]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

START, END_EXCLUSIVE = "2025-01-06", "2025-03-07"
ARMS = ("control", "pairing", "bundle")


def hand_sql(data: Path, experiment: str, *, store: bool) -> str:
    if store:
        xp = (
            'SELECT unit_id AS customer_id, variant AS arm, "timestamp" AS ts FROM exposures '
            f"WHERE experiment = '{experiment}'"
        )
        orders = (
            'SELECT unit_id AS customer_id, "timestamp" AS ts, value AS amount FROM events '
            "WHERE event_type = 'order'"
        )
    else:
        xp = (
            "SELECT customer_id, arm, exposed_at AS ts "
            f"FROM read_parquet('{data / 'exposures.parquet'}') "
            f"WHERE experiment_id = '{experiment}'"
        )
        orders = (
            "SELECT customer_id, ordered_at AS ts, amount "
            f"FROM read_parquet('{data / 'orders.parquet'}') WHERE kind = 'order' "
            "QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY ordered_at) = 1"
        )
    arms = ", ".join(f"'{a}'" for a in ARMS)
    window = "o.ts >= f.t0 AND o.ts < f.t0 + INTERVAL 60 DAY"
    lookback = "o.ts >= f.t0 - INTERVAL 28 DAY AND o.ts < f.t0"
    return f"""
    WITH first_seen AS (
        SELECT customer_id, min(ts) AS t0, min(arm) AS arm
        FROM ({xp}) WHERE arm IN ({arms})
          AND ts >= TIMESTAMP '{START}' AND ts < TIMESTAMP '{END_EXCLUSIVE}'
        GROUP BY customer_id HAVING min(arm) = max(arm)
    ),
    per_customer AS (
        SELECT f.arm,
               coalesce(sum(o.amount) FILTER (WHERE {window}), 0) AS y,
               count(o.ts) FILTER (WHERE {window}) AS d,
               coalesce(sum(o.amount) FILTER (WHERE {lookback}), 0) AS x
        FROM first_seen f LEFT JOIN ({orders}) o ON o.customer_id = f.customer_id
        GROUP BY f.customer_id, f.arm
    )
    SELECT arm, count(*) AS n, sum(CASE WHEN d > 0 THEN 1 ELSE 0 END) AS conv,
           sum(y) AS y, sum(y * y) AS yy, sum(x) AS x, sum(x * x) AS xx, sum(x * y) AS xy,
           sum(d) AS d, sum(d * d) AS dd, sum(y * d) AS yd
    FROM per_customer GROUP BY arm ORDER BY arm
    """


def hand_stats(data: Path, experiment: str, *, store: bool = False) -> dict[str, dict[str, Any]]:
    """Per arm: every sufficient statistic, named as upsell_ab's stats classes name them."""
    import duckdb

    con = duckdb.connect(str(data / "store.duckdb"), read_only=True) if store else duckdb.connect()
    try:
        rows = con.execute(hand_sql(data, experiment, store=store)).fetchall()
    finally:
        con.close()
    out: dict[str, dict[str, Any]] = {}
    for arm, n, conv, y, yy, x, xx, xy, d, dd, yd in rows:
        n, conv, d, dd = int(n), float(conv), float(d), float(dd)
        out[arm] = {
            "conversion": {"n": n, "sum": conv, "sum_squares": conv},
            "revenue_per_customer": {"n": n, "sum": y, "sum_squares": yy},
            "revenue_per_customer_cuped": {
                "n": n,
                "sum": y,
                "sum_squares": yy,
                "covariate_sum": x,
                "covariate_sum_squares": xx,
                "cross_sum": xy,
            },
            "revenue_per_order": {
                "n": n,
                "numerator_sum": y,
                "numerator_sum_squares": yy,
                "denominator_sum": d,
                "denominator_sum_squares": dd,
                "cross_sum": yd,
            },
        }
    return out


def tests(stats: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Pooled z (conversion) and Welch t (revenue per customer), each arm vs control."""
    from scipy.special import ndtr, stdtr

    control = stats["control"]
    result: dict[str, Any] = {}
    for arm in ARMS[1:]:
        treat = stats[arm]
        c, t = control["conversion"], treat["conversion"]
        pooled = (c["sum"] + t["sum"]) / (c["n"] + t["n"])
        se = math.sqrt(pooled * (1 - pooled) * (1 / c["n"] + 1 / t["n"]))
        z = (t["sum"] / t["n"] - c["sum"] / c["n"]) / se
        c, t = control["revenue_per_customer"], treat["revenue_per_customer"]
        mc, mt = c["sum"] / c["n"], t["sum"] / t["n"]
        vc = (c["sum_squares"] - c["sum"] ** 2 / c["n"]) / (c["n"] - 1) / c["n"]
        vt = (t["sum_squares"] - t["sum"] ** 2 / t["n"]) / (t["n"] - 1) / t["n"]
        tstat = (mt - mc) / math.sqrt(vc + vt)
        df = (vc + vt) ** 2 / (vc**2 / (c["n"] - 1) + vt**2 / (t["n"] - 1))
        result[arm] = {
            "z": z,
            "p_z": float(2 * ndtr(-abs(z))),
            "t": tstat,
            "df": df,
            "p_t": float(2 * stdtr(df, -abs(tstat))),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("--experiment", default="upsell_bench")
    parser.add_argument("--store", action="store_true")
    args = parser.parse_args()
    stats = hand_stats(args.data.resolve(), args.experiment, store=args.store)
    json.dump({"stats": stats, "tests": tests(stats)}, sys.stdout)


if __name__ == "__main__":
    main()
