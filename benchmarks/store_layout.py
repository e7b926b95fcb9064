r"""What the row order of a store's exposures does to ``report`` (issue 17, stop 26).

Two steps, so a later DuckDB can be asked the same question again:

``rewrite OLD NEW [--order SQL] [--rename]``
    A new store file with the same tables (their own DDL), every table copied from
    ``OLD`` (attached read-only; never changed), the exposures in ``--order`` (e.g.
    ``'experiment, "timestamp"'``; default: as stored). ``--rename`` turns the
    benchmark's ids ``upsell_bench_K`` into ``eK_upsell_bench`` in the exposures and in
    a copy of ``store_specs`` beside ``NEW``: ids that differ inside the first 12
    bytes, the prefix DuckDB keeps in a string column's min/max (zone map).

``scans FOLDER``
    Runs ``report store_specs --format json`` in-process in ``FOLDER`` with DuckDB's
    JSON profile on every statement and prints, per statement, its CPU and, per scan
    of the exposures, the rows and row groups scanned (of all), the scan's operator
    time and its output rows. Rows scanned below the table's rows = zone maps skipped
    row groups.

    python benchmarks/store_layout.py rewrite /tmp/b17/c10000000x5/store.duckdb \
        /tmp/x/store.duckdb --order 'experiment, "timestamp"'
    python benchmarks/store_layout.py scans /tmp/x
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_ID = re.compile(r"^id: upsell_bench_(\d+)", re.MULTILINE)


def rewrite(old: Path, new: Path, order: str | None, rename: bool) -> float:
    """Copy every table of ``old`` into the new file ``new``; seconds taken."""
    import duckdb

    if new.exists():
        raise SystemExit(f"{new} exists; give a new path")
    new.parent.mkdir(parents=True, exist_ok=True)
    specs = old.parent / "store_specs"
    if specs.is_dir():
        target = new.parent / "store_specs"
        shutil.copytree(specs, target, dirs_exist_ok=True)
        if rename:
            for spec in target.iterdir():
                spec.write_text(BENCH_ID.sub(r"id: e\1_upsell_bench", spec.read_text()))
    connection = duckdb.connect(str(new))
    start = time.perf_counter()
    try:
        connection.execute("ATTACH ? AS src (READ_ONLY)", [str(old)])
        tables = connection.execute(
            "SELECT table_name, sql FROM duckdb_tables() WHERE database_name = 'src' "
            "ORDER BY table_name"
        ).fetchall()
        for name, ddl in tables:
            connection.execute(ddl)
            select, suffix = "*", ""
            if name == "exposures":
                if rename:
                    select = (
                        "* REPLACE (regexp_replace(experiment, '^upsell_bench_([0-9]+)$', "
                        "'e\\1_upsell_bench') AS experiment)"
                    )
                if order:
                    suffix = f" ORDER BY {order}"
            connection.execute(
                f'INSERT INTO main."{name}" SELECT {select} FROM src.main."{name}"{suffix}'
            )
        indexes = connection.execute(
            "SELECT sql FROM duckdb_indexes() WHERE database_name = 'src' AND sql IS NOT NULL"
        ).fetchall()
        for (sql,) in indexes:
            connection.execute(sql)
        connection.execute("DETACH src")
        connection.execute("CHECKPOINT")
    finally:
        connection.close()
    return time.perf_counter() - start


def _scans(node: dict[str, Any], out: list[dict[str, Any]]) -> None:
    for child in node.get("children", []):
        info = child.get("extra_info", {})
        if child.get("type") == "TABLE_SCAN" and str(info.get("Table", "")).endswith("exposures"):
            out.append(
                {
                    "rows_scanned": child.get("rows_scanned"),
                    "row_groups": f"{child.get('row_groups_scanned')}/"
                    f"{child.get('total_row_groups_to_scan')}",
                    "op_s": round(float(child.get("timing", 0.0)), 3),
                    "out_rows": child.get("intermediate_rows"),
                    "filters": info.get("Filters"),
                }
            )
        _scans(child, out)


def scans(folder: Path) -> list[dict[str, Any]]:
    """Per statement of ``report``: CPU (DuckDB's ``cpu_time``) and its exposures scans."""
    from upsell_ab.cli.main import main
    from upsell_ab.events import engines

    original = engines.DuckDBEngine.execute
    records: list[dict[str, Any]] = []
    scratch = Path(tempfile.mkdtemp(prefix="store_layout_"))

    def profiled(self: engines.DuckDBEngine, sql: str) -> list[Any]:
        target = scratch / f"{len(records)}.json"
        self.connection.execute(
            f"PRAGMA enable_profiling='json'; PRAGMA profiling_output='{target}'"
        )
        try:
            return original(self, sql)
        finally:
            self.connection.execute("PRAGMA disable_profiling")
            profile = json.loads(target.read_text())
            found: list[dict[str, Any]] = []
            for operator in profile.get("operator", []):
                _scans(operator, found)
            records.append(
                {
                    "statement": len(records),
                    "cpu_s": round(float(profile["query"]["cpu_time"]), 3),
                    "exposure_scans": found,
                }
            )

    here = Path.cwd()
    engines.DuckDBEngine.execute = profiled  # type: ignore[method-assign]
    try:
        os.chdir(folder)
        with contextlib.redirect_stdout(io.StringIO()):
            main(["report", "store_specs", "--format", "json"])
    finally:
        os.chdir(here)
        engines.DuckDBEngine.execute = original  # type: ignore[method-assign]
        shutil.rmtree(scratch, ignore_errors=True)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    step = commands.add_parser("rewrite")
    step.add_argument("old", type=Path)
    step.add_argument("new", type=Path)
    step.add_argument("--order", help="SQL ORDER BY list for the exposures")
    step.add_argument("--rename", action="store_true")
    look = commands.add_parser("scans")
    look.add_argument("folder", type=Path)
    args = parser.parse_args()
    if args.command == "rewrite":
        seconds = rewrite(args.old.resolve(), args.new.resolve(), args.order, args.rename)
        print(f"{args.new}: written in {seconds:.2f} s")
    else:
        for record in scans(args.folder.resolve()):
            print(json.dumps(record))


if __name__ == "__main__":
    main()
