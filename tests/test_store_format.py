"""Store formats: 3 leaves derived ids ``"md5:" + md5(key)`` unstored (NULL); format 2
stores (the same ids as text) and format 1 stores (SHA-256 of an ISO key) migrate
(issue 17).

A format 1 or 2 store is made from one written by today's code (Parquet files, so
the SQL ingest path writes it) by writing each derived id as that format defined it
(format 1 ``"sha256:" + sha256(key)`` with ISO timestamps, format 2 ``"md5:" +
md5(key)`` with epoch microseconds, written here in plain SQL and checked against
Python's hashlib on one row) and setting ``store_format`` as that format did. Oracles:
a fresh store of the same files (same rows and ids, same analysis), and idempotence
by event id: re-ingesting the same files into the migrated store adds nothing, and
a file that overlaps the stored rows adds only its new rows.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from upsell_ab.errors import StoreError
from upsell_ab.events import parquet_ingest
from upsell_ab.events.store import EventStore
from upsell_ab.events.store_admin import STORE_FORMAT, store_format
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.spec.load import load_experiment

REPO = Path(__file__).resolve().parents[1]
RESOLVED = load_experiment(REPO / "experiments" / "laptop_bundle.yaml")
ISO = "'%Y-%m-%dT%H:%M:%S.%f'"
MD5_KEY = {
    "exposures": 'concat_ws(chr(31), experiment, variant, unit_id, epoch_us("timestamp"))',
    "events": "CASE WHEN order_id IS NOT NULL THEN concat_ws(chr(31), 'o', event_type, order_id) "
    'ELSE concat_ws(chr(31), unit_id, epoch_us("timestamp"), event_type) END',
}
"""Format 2's and 3's identity key (docs/events.md), written independently of the code."""
OLD_KEY = {
    "exposures": f'concat_ws(chr(31), experiment, variant, unit_id, strftime("timestamp", {ISO}))',
    "events": "CASE WHEN order_id IS NOT NULL THEN concat_ws(chr(31), 'o', event_type, order_id) "
    f'ELSE concat_ws(chr(31), unit_id, strftime("timestamp", {ISO}), event_type) END',
}


def _exposures(path: Path, units: range) -> Path:
    n = len(units)
    pq.write_table(
        pa.table(
            {
                "experiment": ["laptop_bundle"] * n,
                "variant": ["laptop_only" if u % 2 else "bundle" for u in units],
                "unit_id": [f"c{u}" for u in units],
                "timestamp": pa.array(
                    [1_778_580_000_000_000 + u * 61_000_123 for u in units], pa.timestamp("us")
                ),
            }
        ),
        path,
        row_group_size=7,
    )
    return path


def _events(path: Path, units: range) -> Path:
    """Orders without event ids (derived ids); every third one with an order id."""
    n = len(units)
    pq.write_table(
        pa.table(
            {
                "unit_id": [f"c{u}" for u in units],
                "event_type": ["order"] * n,
                "value": [float(1000 + 37 * u) for u in units],
                "order_id": [f"o{u}" if u % 3 == 0 else None for u in units],
                "timestamp": pa.array(
                    [1_778_670_000_000_000 + u * 3_600_000_000 for u in units], pa.timestamp("us")
                ),
            }
        ),
        path,
        row_group_size=7,
    )
    return path


def _ingest(store: EventStore, exposures: Path, events: Path) -> tuple[int, int]:
    a = store.ingest_exposures(exposures)
    b = store.ingest_events(events)
    return a.rows_added, b.rows_added


def _downgrade(path: Path, to: int = 1) -> None:
    """Today's store -> format 1 (no ``store_format``, SHA-256 ids of the ISO key) or 2
    (``store_format`` 2, MD5 ids stored as text); ids NOT NULL as those formats had."""
    connection = duckdb.connect(str(path))
    if to == 1:
        connection.execute("DROP TABLE store_format")
    else:
        connection.execute("UPDATE store_format SET version = ?", [to])
    for kind, key in (OLD_KEY if to == 1 else MD5_KEY).items():
        prefix, digest = ("sha256", "sha256") if to == 1 else ("md5", "md5")
        connection.execute(
            f"UPDATE {kind} SET event_id = '{prefix}:' || {digest}({key}) WHERE event_id IS NULL"
        )
        connection.execute(f"ALTER TABLE {kind} ALTER COLUMN event_id SET NOT NULL")
    connection.close()


def _table(path: Path, kind: str) -> list[tuple[object, ...]]:
    """Rows with their ids (stored, else derived), ids last."""
    connection = duckdb.connect(str(path), read_only=True)
    try:
        return connection.execute(
            f"SELECT * EXCLUDE (ingest_id, event_id), "
            f"COALESCE(event_id, 'md5:' || md5({MD5_KEY[kind]})) FROM {kind} ORDER BY ALL"
        ).fetchall()
    finally:
        connection.close()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "x": _exposures(tmp_path / "x.parquet", range(40)),
        "e": _events(tmp_path / "e.parquet", range(0, 40, 2)),
        "x2": _exposures(tmp_path / "x2.parquet", range(30, 60)),
        "e2": _events(tmp_path / "e2.parquet", range(0, 60, 3)),
    }


def test_new_store_has_format_3_and_no_stored_derived_ids(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    path = tmp_path / "s.duckdb"
    with EventStore(path) as store:
        assert store_format(store.connection) == STORE_FORMAT == 3
        _ingest(store, files["x"], files["e"])
        stored = store.connection.execute("SELECT count(event_id) FROM exposures").fetchall()
    assert stored == [(0,)]
    ids = [r[-1] for r in _table(path, "exposures")]
    assert len(ids) == len(set(ids)) == 40
    assert all(i.startswith("md5:") and len(i) == 36 for i in ids)


def test_a_format_1_store_migrates_and_stays_idempotent(
    tmp_path: Path, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh, old = tmp_path / "fresh.duckdb", tmp_path / "old.duckdb"
    with EventStore(fresh) as store:
        assert _ingest(store, files["x"], files["e"]) == (40, 20)
    shutil.copy(fresh, old)
    _downgrade(old)
    connection = duckdb.connect(str(old), read_only=True)
    assert store_format(connection) == 1
    unit, ts, event_id = connection.execute(
        "SELECT unit_id, \"timestamp\", event_id FROM exposures WHERE unit_id = 'c5'"
    ).fetchall()[0]
    variant = "laptop_only"
    key = "\x1f".join(["laptop_bundle", variant, unit, ts.strftime("%Y-%m-%dT%H:%M:%S.%f")])
    assert event_id == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    connection.close()

    spied: list[object] = []
    real = parquet_ingest.write_parquet
    monkeypatch.setattr(
        "upsell_ab.events.store.write_parquet",
        lambda *a, **k: spied.append(out := real(*a, **k)) or out,
    )
    with EventStore(old) as store:
        assert store.notes == [
            "store migrated to format 3: 60 derived event ids recomputed"
        ]  # 40 exposures + 20 events (none had a given id)
        assert store_format(store.connection) == 3
        # the same files again: nothing added
        assert _ingest(store, files["x"], files["e"]) == (0, 0)
    for kind in ("exposures", "events"):
        assert _table(old, kind) == _table(fresh, kind)  # same ids as a fresh store
    assert compute_experiment_data(RESOLVED, store=old) == compute_experiment_data(
        RESOLVED, store=fresh
    )
    # overlapping files: only the new rows (units 40..59; events of units not stored yet)
    with EventStore(old) as store:
        assert store.notes == []  # migrated once
        added = _ingest(store, files["x2"], files["e2"])
    with EventStore(fresh) as store:
        assert _ingest(store, files["x2"], files["e2"]) == added
    new_events = len([u for u in range(0, 60, 3) if u % 2 or u >= 40])
    assert added == (20, new_events)
    for kind in ("exposures", "events"):
        rows = _table(old, kind)
        assert rows == _table(fresh, kind)
        assert len({r[-1] for r in rows}) == len(rows)  # event ids unique
    assert all(r is not None for r in spied)  # the SQL path wrote every file


def test_a_failed_migration_leaves_the_store_as_it_was(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    """A given id equal to another row's new derived id: refused, nothing changed."""
    path = tmp_path / "old.duckdb"
    with EventStore(path) as store:
        _ingest(store, files["x"], files["e"])
    connection = duckdb.connect(str(path))
    (derived,) = connection.execute(
        f"SELECT min('md5:' || md5({MD5_KEY['events']})) FROM events"
    ).fetchall()[0]
    connection.close()
    _downgrade(path)
    connection = duckdb.connect(str(path))
    connection.execute(
        "INSERT INTO events SELECT * REPLACE (? AS event_id, 'c999' AS unit_id) "
        "FROM events LIMIT 1",
        [derived],
    )
    connection.close()
    before = {k: _table(path, k) for k in ("exposures", "events")}
    with pytest.raises(StoreError, match="equal to the new derived id"):
        EventStore(path).connect()
    assert {k: _table(path, k) for k in ("exposures", "events")} == before
    connection = duckdb.connect(str(path), read_only=True)
    assert store_format(connection) == 1
    connection.close()


def test_a_format_2_store_keeps_its_ids_and_stays_idempotent(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    """Format 2 stored derived ids as text: they stay (no row rewritten) and still match
    re-ingested rows; rows added afterwards store none."""
    fresh, old = tmp_path / "fresh.duckdb", tmp_path / "old.duckdb"
    with EventStore(fresh) as store:
        _ingest(store, files["x"], files["e"])
    shutil.copy(fresh, old)
    _downgrade(old, to=2)
    connection = duckdb.connect(str(old), read_only=True)
    unit, ts, event_id = connection.execute(
        "SELECT unit_id, \"timestamp\", event_id FROM exposures WHERE unit_id = 'c5'"
    ).fetchall()[0]
    key = "\x1f".join(["laptop_bundle", "laptop_only", unit, str(_epoch_us(ts))])
    assert event_id == "md5:" + hashlib.md5(key.encode()).hexdigest()
    connection.close()
    with EventStore(old) as store:
        assert store.notes == []  # nothing rewritten
        assert store_format(store.connection) == 3
        assert _ingest(store, files["x"], files["e"]) == (0, 0)
        added = _ingest(store, files["x2"], files["e2"])
        texts = store.connection.execute(
            "SELECT count(event_id), count(*) FROM exposures"
        ).fetchall()[0]
    assert texts == (40, 60)  # the 40 format 2 ids kept, the 20 new rows store none
    with EventStore(fresh) as store:
        assert _ingest(store, files["x2"], files["e2"]) == added
    for kind in ("exposures", "events"):
        rows = _table(old, kind)
        assert rows == _table(fresh, kind)
        assert len({r[-1] for r in rows}) == len(rows)
    assert compute_experiment_data(RESOLVED, store=old) == compute_experiment_data(
        RESOLVED, store=fresh
    )


def _epoch_us(ts: object) -> int:
    import calendar
    from datetime import datetime

    assert isinstance(ts, datetime)
    return calendar.timegm(ts.timetuple()) * 1_000_000 + ts.microsecond
