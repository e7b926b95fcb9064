"""The DuckDB event store: idempotent, atomic writes; hostile names; the CLI.

Atomicity is checked with table checksums before/after failing ingests (bad
input, and a failure injected after rows were inserted inside the
transaction). Content-key ids are checked against hashlib on the documented key.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from upsell_ab.cli.main import main
from upsell_ab.errors import InputError
from upsell_ab.events.identity import stored_id_sql
from upsell_ab.events.schema import create_schema
from upsell_ab.events.store import EventStore

TABLES = ("exposures", "events", "ingests")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with EventStore(tmp_path / "store.duckdb") as s:
        yield s


def exposures_frame(n: int = 4, **extra: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "experiment": ["exp"] * n,
            "variant": ["control" if i % 2 else "treatment" for i in range(n)],
            "unit_id": [f"u{i}" for i in range(n)],
            "timestamp": [f"2024-05-01T10:{i:02d}:00Z" for i in range(n)],
        }
    )
    for name, values in extra.items():
        frame[name] = values
    return frame


def events_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_id": ["u1", "u1", "u2"],
            "timestamp": ["2024-05-02T00:00:00Z"] * 3,
            "event_type": ["order", "order", "upsell_purchase"],
            "value": [100.0, 100.0, 25.5],
            "discount": [10.0, 10.0, 0.0],
            "quantity": [1.0, 1.0, 2.0],
            "order_id": ["o1", "o1", None],
        }
    )


def checksums(store: EventStore) -> dict[str, str]:
    return {t: store.checksum(t) for t in TABLES}


# ----------------------------------------------------------------- idempotence
def test_reingesting_adds_nothing(store: EventStore) -> None:
    first = store.ingest_exposures(exposures_frame())
    assert (first.rows_read, first.rows_added, first.duplicates_skipped) == (4, 4, 0)
    before = store.checksum("exposures")
    again = store.ingest_exposures(exposures_frame())
    assert (again.rows_added, again.duplicates_skipped, again.duplicates_in_source) == (0, 4, 0)
    assert store.checksum("exposures") == before
    assert store.counts().exposures == 4


def test_duplicates_inside_one_source_are_dropped_and_counted(store: EventStore) -> None:
    report = store.ingest_events(events_frame())
    assert (report.rows_read, report.rows_added, report.duplicates_in_source) == (3, 2, 1)
    assert report.duplicates_skipped == 1


def test_given_event_ids_decide_duplicates(store: EventStore) -> None:
    frame = events_frame().assign(event_id=["a", "a", "b"], value=[1.0, 1.0, 3.0])
    report = store.ingest_events(frame)
    assert (report.rows_added, report.duplicates_in_source) == (2, 1)
    rows = store.connection.execute(
        "SELECT event_id, value FROM events ORDER BY event_id"
    ).fetchall()
    assert rows == [("a", 1.0), ("b", 3.0)]


def test_given_event_id_repeated_with_different_content_is_refused(store: EventStore) -> None:
    before = checksums(store)
    frame = events_frame().assign(event_id=["a", "a", "b"], value=[1.0, 2.0, 3.0])
    with pytest.raises(InputError) as excinfo:
        store.ingest_events(frame)
    (problem,) = excinfo.value.problems
    assert problem.code == "conflict_in_source"
    assert "rows 1, 2" in problem.message and "'a'" in problem.message
    assert checksums(store) == before


def test_content_key_matches_documented_hash(store: EventStore) -> None:
    # "md5:" + md5 of the fields joined by U+001F, times as epoch microseconds; format 3
    # stores no derived id (NULL), stored_id_sql computes it
    us = calendar.timegm((2024, 5, 1, 10, 0, 0)) * 1_000_000
    store.ingest_exposures(exposures_frame(1))
    stored, event_id = store.connection.execute(
        f"SELECT event_id, {stored_id_sql('exposures')} FROM exposures"
    ).fetchall()[0]
    key = "\x1f".join(["exp", "treatment", "u0", str(us)])
    assert stored is None
    assert event_id == "md5:" + hashlib.md5(key.encode()).hexdigest()

    # events: identity from identifying columns only (order id, else unit, time, type)
    store.ingest_events(events_frame().iloc[[0, 2]])
    ids = store.connection.execute(
        f"SELECT {stored_id_sql('events')} FROM events ORDER BY rowid"
    ).fetchall()
    with_order = "\x1f".join(["o", "order", "o1"])
    day = calendar.timegm((2024, 5, 2, 0, 0, 0)) * 1_000_000
    without = "\x1f".join(["u2", str(day), "upsell_purchase"])
    assert [i for (i,) in ids] == [
        "md5:" + hashlib.md5(with_order.encode()).hexdigest(),
        "md5:" + hashlib.md5(without.encode()).hexdigest(),
    ]


def test_same_file_twice_via_path(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "exp.csv"
    exposures_frame(6).to_csv(path, index=False)
    assert store.ingest_exposures(path).rows_added == 6
    assert store.ingest_exposures(path).rows_added == 0
    log = store.connection.execute(
        "SELECT source, content_sha256, rows_added FROM ingests"
    ).fetchall()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert log == [(str(path), digest, 6), (str(path), digest, 0)]


# ------------------------------------------------------------------- atomicity
def test_bad_file_leaves_store_exactly_as_it_was(store: EventStore) -> None:
    store.ingest_exposures(exposures_frame())
    before = checksums(store)
    bad = exposures_frame(5, segment=["a"] * 5)
    bad.loc[3, "timestamp"] = "not a time"
    with pytest.raises(InputError) as excinfo:
        store.ingest_exposures(bad)
    assert excinfo.value.problems[0].location.row == 4
    assert checksums(store) == before
    assert store.attribute_columns() == ()


def test_failure_injected_mid_write_rolls_back_rows_and_new_columns(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from upsell_ab.events.batch_write import BatchWriter

    store.ingest_exposures(exposures_frame())
    before = checksums(store)
    original_write = BatchWriter.write
    inserted: list[int] = []

    def write_then_fail(self, batch):  # type: ignore[no-untyped-def]
        original_write(self, batch)
        inserted.append(self.tally.rows_added)
        raise OSError("disk full (injected)")

    monkeypatch.setattr(BatchWriter, "write", write_then_fail)
    with pytest.raises(OSError, match="injected"):
        store.ingest_exposures(exposures_frame(10, channel=["web"] * 10))
    assert inserted == [6]  # rows really were written inside the transaction
    monkeypatch.undo()
    assert checksums(store) == before
    assert store.attribute_columns() == ()
    # and the store still works afterwards
    assert store.ingest_exposures(exposures_frame(10, channel=["web"] * 10)).rows_added == 6


def test_multi_file_write_is_all_or_nothing(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from upsell_ab.events.ingest import load_batch

    batches = [load_batch(exposures_frame(3), "exposures"), load_batch(events_frame(), "events")]
    before = checksums(store)
    calls = {"n": 0}
    original = store._log_ingest

    def fail_second(batch, report):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("crash in the second file (injected)")
        original(batch, report)

    monkeypatch.setattr(store, "_log_ingest", fail_second)
    with pytest.raises(RuntimeError):
        store.write_batches(batches)
    assert checksums(store) == before


# ----------------------------------------------------------- schema & attributes
def test_attribute_columns_added_on_demand_older_rows_null(store: EventStore) -> None:
    store.ingest_exposures(exposures_frame(2))
    store.ingest_exposures(exposures_frame(3, segment=["new", "returning", "new"]))
    assert store.attribute_columns() == ("segment",)
    rows = store.connection.execute(
        "SELECT unit_id, segment FROM exposures ORDER BY unit_id"
    ).fetchall()
    assert rows == [("u0", None), ("u1", None), ("u2", "new")]


def test_create_schema_is_idempotent_and_matches_contract() -> None:
    import duckdb

    connection = duckdb.connect()
    create_schema(connection)
    create_schema(connection)
    columns = connection.execute(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name IN ('exposures', 'events') ORDER BY table_name, ordinal_position"
    ).fetchall()
    assert columns == [
        ("events", "unit_id", "VARCHAR", "NO"),
        ("events", "timestamp", "TIMESTAMP", "NO"),
        ("events", "event_type", "VARCHAR", "NO"),
        ("events", "value", "DOUBLE", "NO"),
        ("events", "discount", "DOUBLE", "NO"),
        ("events", "quantity", "DOUBLE", "NO"),
        ("events", "order_id", "VARCHAR", "YES"),
        ("events", "event_id", "VARCHAR", "YES"),
        ("events", "ingest_id", "BIGINT", "YES"),
        ("exposures", "experiment", "VARCHAR", "NO"),
        ("exposures", "variant", "VARCHAR", "NO"),
        ("exposures", "unit_id", "VARCHAR", "NO"),
        ("exposures", "timestamp", "TIMESTAMP", "NO"),
        ("exposures", "event_id", "VARCHAR", "YES"),
        ("exposures", "ingest_id", "BIGINT", "YES"),
    ]


# -------------------------------------------------------------- hostile input
HOSTILE_NAMES = [
    'seg"; DROP TABLE events; --',
    "seg'; DELETE FROM exposures; --",
    "seg /* comment */",
    'a" VARCHAR); DROP TABLE events; --',
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_attribute_names_are_refused_and_nothing_runs(store: EventStore, name: str) -> None:
    store.ingest_events(events_frame())
    before = checksums(store)
    with pytest.raises(InputError) as excinfo:
        store.ingest_exposures(exposures_frame(2, **{name: ["x", "y"]}))
    assert excinfo.value.problems[0].code == "bad_attribute"
    assert checksums(store) == before
    assert store.counts().events == 2


def test_hostile_values_are_stored_verbatim(store: EventStore) -> None:
    evil = "u'); DROP TABLE events; -- /*"
    frame = exposures_frame(1, segment=['x"; DROP TABLE exposures; --'])
    frame.loc[0, "unit_id"] = evil
    frame.loc[0, "variant"] = "v' OR '1'='1"
    store.ingest_exposures(frame)
    store.ingest_events(events_frame().assign(event_type="order'; --"))
    assert store.connection.execute(
        "SELECT unit_id, variant, segment FROM exposures"
    ).fetchall() == [(evil, "v' OR '1'='1", 'x"; DROP TABLE exposures; --')]
    assert store.counts().events == 2


def test_quote_identifier_doubles_quotes() -> None:
    import duckdb

    from upsell_ab.events.schema import quote_identifier

    connection = duckdb.connect()
    name = 'x"; DROP TABLE t; --'
    connection.execute("CREATE TABLE t (a INTEGER)")
    connection.execute(f"ALTER TABLE t ADD COLUMN {quote_identifier(name)} VARCHAR")
    names = [
        r[0]
        for r in connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 't'"
        ).fetchall()
    ]
    assert names == ["a", name]


# ------------------------------------------------------------------------ CLI
def test_cli_ingest_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "cli.duckdb"
    exp_path = tmp_path / "exposures.csv"
    ev_path = tmp_path / "orders.csv"
    exposures_frame(4).rename(columns={"unit_id": "customer"}).to_csv(exp_path, index=False)
    events_frame().rename(columns={"unit_id": "customer", "value": "revenue"}).to_csv(
        ev_path, index=False
    )
    argv = [
        "ingest", "--store", str(db), "--exposures", str(exp_path), "--events", str(ev_path),
        "--map", "unit_id=customer", "--map", "events.value=revenue", "--format", "json",
    ]  # fmt: skip
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["rows_added"]) for r in payload["ingests"]] == [
        ("exposures", 4),
        ("events", 2),
    ]
    assert payload["store_rows"] == {"exposures": 4, "events": 2}
    assert main(argv[:-2]) == 0
    out = capsys.readouterr().out
    assert "added 0, duplicates skipped 4" in out


def test_cli_bad_file_exit_1_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cli.duckdb"
    good = tmp_path / "good.csv"
    bad = tmp_path / "bad.csv"
    exposures_frame(3).to_csv(good, index=False)
    frame = events_frame()
    frame.loc[1, "quantity"] = -1
    frame.to_csv(bad, index=False)
    code = main(
        [
            "ingest",
            "--store",
            str(db),
            "--exposures",
            str(good),
            "--events",
            str(bad),
            "--format",
            "json",
        ]
    )
    assert code == 1
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["written"] is False
    assert [(p["file"], p["line"], p["row"], p["column"]) for p in payload["problems"]] == [
        (str(bad), 3, 2, "quantity")
    ]
    assert "nothing written" in captured.err
    assert not db.exists()  # a refused first run leaves no store file behind
    with EventStore(db) as s:
        s.ingest_exposures(exposures_frame(1))
        before = checksums(s)
    assert main(["ingest", "--store", str(db), "--exposures", str(good), "--events", str(bad)]) == 1
    with EventStore(db) as s:
        assert checksums(s) == before


def test_cli_uses_spec_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "exp.yaml"
    spec.write_text(
        "id: exp\nname: Exp\nvariants:\n"
        "  - {id: control, weight: 0.5, control: true}\n"
        "  - {id: treatment, weight: 0.5}\n"
        "metrics: {primary: take_rate}\n"
        f"data:\n  store: {tmp_path / 'spec.duckdb'}\n"
        "  exposure_columns: {unit_id: customer}\n",
        encoding="utf-8",
    )
    path = tmp_path / "e.csv"
    exposures_frame(2).rename(columns={"unit_id": "customer"}).to_csv(path, index=False)
    assert main(["ingest", "--spec", str(spec), "--exposures", str(path)]) == 0
    assert "added 2" in capsys.readouterr().out
    with EventStore(tmp_path / "spec.duckdb") as s:
        assert s.counts().exposures == 2


# ---------------------------------------------------------- chunked streaming
def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_chunked_ingest_counts_repeats_across_chunks_as_in_source(tmp_path: Path) -> None:
    frame = exposures_frame(10)
    frame = pd.concat([frame, frame.iloc[[1, 7]]], ignore_index=True)  # rows 11, 12 repeat 2, 8
    path = write_csv(tmp_path / "e.csv", frame)
    with EventStore(tmp_path / "s.duckdb", chunk_rows=3) as small:
        report = small.ingest_exposures(path)
        assert (report.rows_read, report.rows_added, report.duplicates_in_source) == (12, 10, 2)
        again = small.ingest_exposures(path)
        assert (again.rows_added, again.duplicates_skipped, again.duplicates_in_source) == (
            0,
            12,
            2,
        )
        stored = small.connection.execute("SELECT unit_id FROM exposures ORDER BY rowid").fetchall()
    assert [u for (u,) in stored] == [f"u{i}" for i in range(10)]  # file order kept


def test_chunked_bad_rows_in_first_and_last_chunk_all_located_store_unchanged(
    tmp_path: Path,
) -> None:
    frame = exposures_frame(11)
    frame.loc[1, "timestamp"] = "bad"  # chunk 1
    frame.loc[10, "unit_id"] = ""  # chunk 4 (last, partial)
    path = write_csv(tmp_path / "e.csv", frame)
    with EventStore(tmp_path / "s.duckdb", chunk_rows=3) as small:
        small.ingest_exposures(exposures_frame(2))
        before = checksums(small)
        with pytest.raises(InputError) as excinfo:
            small.ingest_exposures(path)
        located = [
            (p.location.line, p.location.row, p.location.field) for p in excinfo.value.problems
        ]
        assert located == [(3, 2, "timestamp"), (12, 11, "unit_id")]
        assert checksums(small) == before


def test_chunked_parquet_matches_single_chunk(tmp_path: Path) -> None:
    frame = exposures_frame(9, segment=[f"s{i % 2}" for i in range(9)])
    path = tmp_path / "e.parquet"
    frame.to_parquet(path, index=False)
    digests = []
    for chunk_rows in (2, 1_000):
        with EventStore(tmp_path / f"s{chunk_rows}.duckdb", chunk_rows=chunk_rows) as s:
            assert s.ingest_exposures(path).rows_added == 9
            digests.append(s.checksum("exposures"))
    assert digests[0] == digests[1]


def test_header_only_file_adds_nothing(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("experiment,variant,unit_id,timestamp\n", encoding="utf-8")
    report = store.ingest_exposures(path)
    assert (report.rows_read, report.rows_added) == (0, 0)


def test_a_column_warning_is_said_once_for_a_file_read_in_chunks(tmp_path: Path) -> None:
    """An unmapped look-alike column is warned about once per file, not once per chunk
    (a 10M-row CSV printed the same warning ten times)."""
    path = tmp_path / "orders.csv"
    frame = events_frame().assign(order_ref=["r1", "r1", "r2"]).drop(columns="order_id")
    pd.concat([frame] * 3, ignore_index=True).assign(
        timestamp=[f"2024-05-02T0{i}:00:00Z" for i in range(9)]
    ).to_csv(path, index=False)
    with EventStore(tmp_path / "s.duckdb") as store:
        store.chunk_rows = 2
        report = store.ingest_events(path)
    assert report.rows_read == 9
    assert [w.code for w in report.warnings] == ["unmapped_column"]
    assert "order_ref" in str(report.warnings[0])
