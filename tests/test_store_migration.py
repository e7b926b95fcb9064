"""A store written before ingest batches existed opens, migrates and keeps its rows (issue 9).

The old layout is produced from a store written by today's code by removing what
the migration adds (the ``ingest_id`` columns, the batch columns of ``ingests``) and
rewriting derived event ids as the old rule did (content-derived, value included).
Oracles: the same exports ingested into a fresh store (same rows, same sufficient
statistics), and re-ingesting the original exports, which must now be recognised
(nothing added, no conflict), as it would not be under the old ids.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd

from upsell_ab.events.identity import LEGACY_PREFIX, legacy_derived_id_sql
from upsell_ab.events.schema import event_mapping
from upsell_ab.events.store import EventStore
from upsell_ab.events.store_admin import list_batches, needs_migration
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.spec.load import load_experiment

REPO = Path(__file__).resolve().parents[1]
RESOLVED = load_experiment(REPO / "experiments" / "laptop_bundle.yaml")
VALUE = event_mapping(overrides={"value": "revenue"}, allow_default=("discount", "quantity"))

EXPOSURES = pd.DataFrame(
    {
        "experiment": "laptop_bundle",
        "variant": ["laptop_only", "bundle"] * 20,
        "unit_id": [f"c{i}" for i in range(40)],
        "timestamp": [f"2026-05-{12 + i % 7} 10:{i:02d}:00" for i in range(40)],
    }
)
FIRST = pd.DataFrame(
    {
        "unit_id": [f"c{i}" for i in range(0, 40, 2)],
        "timestamp": [f"2026-05-{13 + i % 7} 12:{i:02d}:00" for i in range(0, 40, 2)],
        "event_type": "order",
        "revenue": [float(1000 + 37 * i) for i in range(0, 40, 2)],
    }
)
SECOND = FIRST.assign(
    unit_id=[f"c{i}" for i in range(1, 40, 2)], revenue=[float(2000 + 11 * i) for i in range(20)]
)


def _write(path: Path) -> None:
    with EventStore(path) as store:
        store.ingest_exposures(EXPOSURES, source_name="exposures.csv")
        store.ingest_events(FIRST, VALUE, source_name="first.csv")
        store.ingest_events(SECOND, VALUE, source_name="second.csv")


def _downgrade(path: Path) -> None:
    """Today's store -> the layout before batches, with old-rule derived event ids."""
    connection = duckdb.connect(str(path))
    connection.execute("DROP TABLE store_format")  # before batches: format 1
    connection.execute(f"UPDATE exposures SET event_id = {legacy_derived_id_sql('exposures')}")
    for table in ("exposures", "events"):
        connection.execute(f"ALTER TABLE {table} DROP COLUMN ingest_id")
    for column in ("ingest_id", "conflicts", "replaced", "implausible", "defaulted", "removed_at"):
        connection.execute(f"ALTER TABLE ingests DROP COLUMN {column}")
    connection.execute(
        'UPDATE events SET event_id = ? || md5(unit_id || CAST("timestamp" AS VARCHAR) '
        "|| event_type || CAST(value AS VARCHAR)) WHERE starts_with(event_id, ?)",
        [LEGACY_PREFIX, "md5:"],
    )
    connection.close()


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    connection = duckdb.connect(str(path), read_only=True)
    try:
        return {
            "exposures": connection.execute(
                'SELECT experiment, variant, unit_id, "timestamp" FROM exposures ORDER BY ALL'
            ).fetchall(),
            "events": connection.execute(
                'SELECT unit_id, "timestamp", event_type, value, event_id FROM events ORDER BY ALL'
            ).fetchall(),
        }
    finally:
        connection.close()


def test_an_old_store_migrates_keeping_rows_statistics_and_identity(tmp_path: Path) -> None:
    fresh, old = tmp_path / "fresh.duckdb", tmp_path / "old.duckdb"
    _write(fresh)
    shutil.copy(fresh, old)
    _downgrade(old)
    connection = duckdb.connect(str(old), read_only=True)
    assert needs_migration(connection)
    connection.close()

    with EventStore(old) as store:
        assert any("store migrated to ingest batches" in note for note in store.notes)
        assert "40 derived event ids recomputed" in " ".join(store.notes)
        batches = list_batches(store.connection)
        assert [(b.kind, b.source, b.rows_now) for b in batches] == [
            ("exposures", "exposures.csv", 40),
            ("events", "first.csv", 20),
            ("events", "second.csv", 20),
        ]
        again = store.ingest_events(FIRST, VALUE, source_name="first.csv")
        assert (again.rows_added, again.conflicts, again.duplicates_skipped) == (0, 0, 20)
        assert store.ingest_exposures(EXPOSURES).rows_added == 0
    assert _rows(old) == _rows(fresh)
    assert compute_experiment_data(RESOLVED, store=old) == compute_experiment_data(
        RESOLVED, store=fresh
    )
    with EventStore(old) as store:  # migrating is done once
        assert not any("migrated" in note for note in store.notes)
