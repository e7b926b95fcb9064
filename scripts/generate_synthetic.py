"""Write synthetic exposures/events Parquet files for the metrics benchmark.

N exposures (one per unit, 3 variants, first exposures spread over 7 days)
and N/10 conversion events (70 % ``order`` with a lognormal-ish value and a
discount, 30 % ``upsell_purchase``) placed from 1 day before to 9 days after
the unit's exposure, so some fall before exposure and some outside the
7-day window. Generated inside DuckDB (``range`` + ``hash``), so 30M rows
take seconds and little memory; the same ``seed`` gives the same files.

    python scripts/generate_synthetic.py --exposures 10000000 --out /tmp/bench_10m
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

EXPERIMENT = "bench"
VARIANTS = ("control", "treatment_a", "treatment_b")
START = "2024-03-01 00:00:00"


def generate(exposures: int, out: Path, *, seed: int = 1, events_ratio: float = 0.1) -> None:
    """Write ``out/exposures.parquet`` and ``out/events.parquet``."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    n_events = max(1, int(exposures * events_ratio))
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    # hash(i, seed) -> uniform-ish integers; variants and times are pure functions of i,
    # so events can recompute their unit's exposure time without a join.
    unit_time = f"TIMESTAMP '{START}' + to_seconds((hash(i, {seed}) % 604800)::BIGINT)"
    con.execute(
        f"""
        COPY (
            SELECT '{EXPERIMENT}' AS experiment,
                   ['control', 'treatment_a', 'treatment_b'][(hash(i, {seed} + 1) % 3)::INT + 1]
                       AS variant,
                   'u' || i::VARCHAR AS unit_id,
                   {unit_time} AS timestamp,
                   'x' || i::VARCHAR AS event_id,
                   ['web', 'app', 'store'][(hash(i, {seed} + 2) % 3)::INT + 1] AS channel
            FROM range({exposures}) t(i)
        ) TO '{out / "exposures.parquet"}' (FORMAT parquet)
        """
    )
    con.execute(
        f"""
        COPY (
            WITH k AS (
                SELECT k, (hash(k, {seed} + 3) % {exposures})::BIGINT AS i,
                       (hash(k, {seed} + 4) % 1000)::DOUBLE / 1000 AS r1,
                       (hash(k, {seed} + 5) % 1000)::DOUBLE / 1000 AS r2
                FROM range({n_events}) t(k)
            )
            SELECT 'u' || i::VARCHAR AS unit_id,
                   {unit_time} + to_seconds((r1 * 864000 - 86400)::BIGINT) AS timestamp,
                   CASE WHEN r2 < 0.7 THEN 'order' ELSE 'upsell_purchase' END AS event_type,
                   round(exp(7.0 + 1.5 * r2), 2) AS value,
                   CASE WHEN r1 < 0.3 THEN round(0.1 * exp(7.0 + 1.5 * r2), 2) ELSE 0.0 END
                       AS discount,
                   1.0 + (k % 3) AS quantity,
                   'o' || k::VARCHAR AS order_id,
                   'e' || k::VARCHAR AS event_id
            FROM k
        ) TO '{out / "events.parquet"}' (FORMAT parquet)
        """
    )
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=int, default=1_000_000, help="number of exposures (N)")
    parser.add_argument("--events-ratio", type=float, default=0.1, help="events per exposure")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args()
    began = time.perf_counter()
    generate(args.exposures, args.out, seed=args.seed, events_ratio=args.events_ratio)
    print(f"wrote {args.out} in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
