"""Awkward and hostile data files at ingest (issue 10): located errors, no traceback, no leftovers.

Each case runs the real CLI on a file written here; the oracle is what the
file contains (the line we put the bad byte on, the rows we wrote).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_support import run_cli
from upsell_ab.events.ingest import MAX_ATTRIBUTE_COLUMNS

TS = "2026-03-05T10:00:00+00:00"


def test_mixed_type_json_lines_are_read_as_text_and_located(tmp_path: Path) -> None:
    exposures = tmp_path / "x.jsonl"
    exposures.write_text(
        json.dumps({"experiment": "e", "variant": "a", "unit_id": "u1", "timestamp": TS,
                    "channel": 10}) + "\n"
        + json.dumps({"experiment": "e", "variant": "a", "unit_id": 2, "timestamp": TS,
                      "channel": "web"}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    events = tmp_path / "e.jsonl"
    events.write_text(
        json.dumps({"unit_id": "u1", "timestamp": TS, "event_type": "order", "value": 10}) + "\n"
        + json.dumps({"unit_id": "u2", "timestamp": TS, "event_type": "order", "value": "abc"})
        + "\n",
        encoding="utf-8",
    )  # fmt: skip
    store = tmp_path / "new.duckdb"
    refused = run_cli("ingest", "--store", str(store), "--events", str(events))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "row 2, value" in refused.stderr and "'abc'" in refused.stderr
    assert not store.exists()  # a refused first ingest leaves no store behind
    done = run_cli(
        "ingest", "--store", str(store), "--exposures", str(exposures), "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["store_rows"]["exposures"] == 2
    import duckdb

    with duckdb.connect(str(store), read_only=True) as connection:
        rows = connection.execute("SELECT unit_id, channel FROM exposures ORDER BY 1").fetchall()
    assert rows == [("2", "web"), ("u1", "10")]


def test_mixed_encoding_csv_blames_the_line_with_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(
        b"experiment,variant,unit_id,timestamp,channel\n"
        b"e,a,u1,2026-03-02 10:00:00,web\n"
        b"e,a,u2,2026-03-02 10:00:00,caf\xe9\n"
    )
    done = run_cli("ingest", "--store", str(tmp_path / "s.duckdb"), "--exposures", str(path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{path}:3:31: byte 0xe9 is not UTF-8" in done.stderr, done.stderr
    assert not (tmp_path / "s.duckdb").exists()


def test_a_csv_with_1500_extra_columns_adds_no_store_columns(tmp_path: Path) -> None:
    names = [f"x{i}" for i in range(1500)]
    lines = [",".join(["experiment", "variant", "unit_id", "timestamp", *names])]
    lines += [
        ",".join(["e", "a", f"u{j}", "2026-03-02 10:00:00", *["v"] * 1500]) for j in range(50)
    ]
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = tmp_path / "s.duckdb"
    refused = run_cli("ingest", "--store", str(store), "--exposures", str(path))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"1,500 attribute columns; at most {MAX_ATTRIBUTE_COLUMNS}" in refused.stderr
    assert "--attribute" in refused.stderr and not store.exists()
    kept = run_cli("ingest", "--store", str(store), "--exposures", str(path), "--attribute", "x7")
    assert kept.returncode == 0, kept.stderr
    import duckdb

    with duckdb.connect(str(store), read_only=True) as connection:
        columns = [r[0] for r in connection.execute("DESCRIBE exposures").fetchall()]
    assert "x7" in columns and "x8" not in columns and len(columns) < 20


def test_store_path_in_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("experiment,variant,unit_id,timestamp\ne,a,u,2026-03-02 10:00:00\n")
    done = run_cli("ingest", "--store", str(tmp_path / "no" / "s.duckdb"), "--exposures", str(path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _big_id_events(tmp_path: Path, fmt: str) -> Path:
    """Three events: two integer ids just above 2**53 (a float64 cannot tell them apart)
    and one without an id, so the id column holds integers and a null."""
    order = {"timestamp": TS, "event_type": "order"}
    rows = [
        {"event_id": 2**53 + 1, "unit_id": "u1", **order, "value": 10},
        {"event_id": 2**53 + 2, "unit_id": "u1", **order, "value": 20},
        {"event_id": None, "unit_id": "u2", **order, "value": 30},
    ]
    if fmt == "jsonl":
        path = tmp_path / "e.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "e.parquet"
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    table = pa.table(
        {**columns, "event_id": pa.array(columns["event_id"], pa.int64())}
    )  # timestamps as text: the chunked path reads this file
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_integer_event_ids_above_2_53_with_a_null_are_kept_exactly(
    tmp_path: Path, fmt: str
) -> None:
    """pandas reads an integer column with a null as float64, which rounds 2**53 + 1 to
    2**53: the two ids would have merged and one order been skipped as a duplicate."""
    store = tmp_path / "s.duckdb"
    done = run_cli("ingest", "--store", str(store), "--events", str(_big_id_events(tmp_path, fmt)))
    assert done.returncode == 0, done.stderr
    import duckdb

    with duckdb.connect(str(store), read_only=True) as connection:
        ids = connection.execute(
            "SELECT event_id, value FROM events WHERE event_id NOT LIKE 'md5:%' ORDER BY 2"
        ).fetchall()
        total = connection.execute("SELECT count(*) FROM events").fetchone()
    assert ids == [(str(2**53 + 1), 10.0), (str(2**53 + 2), 20.0)]
    assert total == (3,)
