"""Bookkeeping of the store: ingest batches (list, remove), defaulted columns, migration.

Every row of ``exposures`` and ``events`` carries the ``ingest_id`` of the batch
that wrote it, and ``ingests`` holds one row per batch, so a batch can be
listed with the rows it still has and removed in one transaction.

Store files written before batches existed (no ``ingest_id`` column) are
migrated when opened for writing, inside one transaction:

1. the new columns are added (``ingest_id`` on both tables; ``ingest_id,
   conflicts, replaced, implausible, defaulted, removed_at`` on ``ingests``);
2. batches are numbered in log order, and rows assigned to them exactly: the
   old store only ever appended, so the ``rows_added`` of the log, in order,
   partition the rows in insertion (rowid) order; rows beyond the log (written
   by hand) keep a NULL batch;
3. derived event ids are recomputed with the current identity rule
   (:mod:`upsell_ab.events.identity`), so re-ingesting an old file is
   recognised. Where the new rule sees several stored rows as one event (the
   copies a corrected re-ingest made under the old rule), the newest row takes
   the new id and the older ones keep their old id (ids stay unique); a note
   counts them by batch: remove the older batch with ``upsell-ab store remove``.

Store format 3 (:data:`STORE_FORMAT`, recorded in the one-row table
``store_format``) leaves derived ids unstored (``event_id`` NULL; they are
``"md5:" + md5(key)``, computed when needed). Format 2 stored that text, which
stays valid: migrating 2 -> 3 only lets ``event_id`` be NULL (a catalogue change,
no row rewritten). Format 1 (a store without that table) derived
``"sha256:" + sha256(key with ISO timestamps)`` (:mod:`upsell_ab.events.identity`):
every stored id equal to the format 1 id of its own row becomes NULL (derived);
other ids (given ids, older copies kept by the migration above) stay. Both run
when the store is opened for writing, in one transaction (:func:`migrate_ids`).
Re-ingesting a file into a migrated store therefore adds nothing, as before the
migration. Older upsell-ab (format 2) refuses to write to a format 3 store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import StoreError
from upsell_ab.events.identity import (
    DERIVED_PREFIX,
    LEGACY_PREFIX,
    derived_id_sql,
    legacy_derived_id_sql,
    stored_id_sql,
)

if TYPE_CHECKING:
    import duckdb

_INGEST_COLUMNS = (
    ("ingest_id", "BIGINT"),
    ("conflicts", "BIGINT DEFAULT 0"),
    ("replaced", "BIGINT DEFAULT 0"),
    ("implausible", "BIGINT DEFAULT 0"),
    ("defaulted", "VARCHAR DEFAULT ''"),
    ("removed_at", "TIMESTAMP"),
)


@dataclass(frozen=True)
class BatchInfo:
    """One ingest batch as ``upsell-ab store list`` shows it."""

    ingest_id: int
    kind: str
    source: str
    ingested_at: datetime
    rows_read: int
    rows_added: int
    duplicates: int
    conflicts: int
    replaced: int
    implausible: int
    defaulted: tuple[str, ...]
    rows_now: int
    """Rows of this batch still in the store (fewer than added after a --replace by a
    later batch; 0 after ``store remove``)."""
    removed_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ingest_id": self.ingest_id,
            "kind": self.kind,
            "source": self.source,
            "ingested_at": self.ingested_at.isoformat(),
            "rows_read": self.rows_read,
            "rows_added": self.rows_added,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "replaced": self.replaced,
            "implausible": self.implausible,
            "defaulted": list(self.defaulted),
            "rows_now": self.rows_now,
            "removed_at": None if self.removed_at is None else self.removed_at.isoformat(),
        }


def _columns(connection: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = 'main'",
        [table],
    ).fetchall()
    return {r[0] for r in rows}


def needs_migration(connection: duckdb.DuckDBPyConnection) -> bool:
    return "ingest_id" not in _columns(connection, "events") or "ingest_id" not in _columns(
        connection, "ingests"
    )


def migrate(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """Bring an older store to the current layout (one transaction); notes for the user."""
    notes: list[str] = []
    connection.execute("BEGIN TRANSACTION")
    try:
        for table in ("exposures", "events"):
            if "ingest_id" not in _columns(connection, table):
                connection.execute(f"ALTER TABLE {table} ADD COLUMN ingest_id BIGINT")
        present = _columns(connection, "ingests")
        for name, sql_type in _INGEST_COLUMNS:
            if name not in present:
                connection.execute(f"ALTER TABLE ingests ADD COLUMN {name} {sql_type}")
        connection.execute(
            "UPDATE ingests SET ingest_id = m.id FROM (SELECT rowid AS r, "
            "row_number() OVER (ORDER BY ingested_at, rowid) AS id FROM ingests) AS m "
            "WHERE ingests.rowid = m.r AND ingests.ingest_id IS NULL"
        )
        for kind in ("exposures", "events"):
            connection.execute(
                f"UPDATE {kind} SET ingest_id = b.id FROM "
                f"(SELECT rowid AS r, row_number() OVER (ORDER BY rowid) - 1 AS k FROM {kind}) "
                "AS x, (SELECT ingest_id AS id, sum(rows_added) OVER (ORDER BY ingest_id) "
                "- rows_added AS lo, sum(rows_added) OVER (ORDER BY ingest_id) AS hi "
                "FROM ingests WHERE kind = ?) AS b "
                f"WHERE {kind}.rowid = x.r AND x.k >= b.lo AND x.k < b.hi "
                f"AND {kind}.ingest_id IS NULL",
                [kind],
            )
        # the newest row of each new identity takes the new id; older rows restating
        # it (copies made by a re-ingest under the old rule) keep their old id, so
        # ids stay unique, and are reported by batch
        connection.execute(
            "CREATE OR REPLACE TEMP TABLE _upsell_ids AS SELECT r, new_id, row_number() OVER "
            "(PARTITION BY new_id ORDER BY r DESC) AS k, batch FROM (SELECT rowid AS r, "
            f"{derived_id_sql('events')} AS new_id, ingest_id AS batch FROM events "
            f"WHERE starts_with(event_id, '{LEGACY_PREFIX}'))"
        )
        changed = connection.execute(
            "UPDATE events SET event_id = n.new_id FROM _upsell_ids AS n "
            "WHERE events.rowid = n.r AND n.k = 1"
        ).fetchall()
        stale = connection.execute(
            "SELECT batch, count(*) FROM _upsell_ids WHERE k > 1 GROUP BY 1 ORDER BY 1"
        ).fetchall()
        connection.execute("DROP TABLE temp._upsell_ids")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    notes.append(
        "store migrated to ingest batches (upsell-ab store list shows them); "
        f"{int(changed[0][0]) if changed else 0:,} derived event ids recomputed"
    )
    if stale:
        total = sum(int(count) for _, count in stale)
        where = ", ".join(
            f"batch {batch if batch is not None else '?'}: {int(count):,}" for batch, count in stale
        )
        notes.append(
            f"warning: {total:,} stored events are older copies of events stored again later "
            f"(a re-ingest with another mapping under the old rule; {where}); the analysis "
            "counts both copies until you remove the older batch with 'upsell-ab store remove'"
        )
    return notes


STORE_FORMAT = 3
"""The store layout this code writes (see the module docstring)."""


def store_format(connection: duckdb.DuckDBPyConnection) -> int:
    """The store's format: the ``store_format`` table's version, else 1."""
    found = connection.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'store_format' AND table_schema = 'main'"
    ).fetchall()[0][0]
    if not found:
        return 1
    rows = connection.execute("SELECT max(version) FROM store_format").fetchall()
    return int(rows[0][0] or 1)


def migrate_ids(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """Format 1 or 2 -> 3 in one transaction (see the module docstring); notes for the
    user (none when no id changed)."""
    found = store_format(connection)
    if found > STORE_FORMAT:
        raise StoreError(
            f"the store has format {found}, newer than this upsell-ab writes "
            f"({STORE_FORMAT}): upgrade upsell-ab to write to it"
        )
    changed = 0
    connection.execute("BEGIN TRANSACTION")
    try:
        for kind in ("exposures", "events"):
            connection.execute(f"ALTER TABLE {kind} ALTER COLUMN event_id DROP NOT NULL")
            result = connection.execute(
                f"UPDATE {kind} SET event_id = NULL "
                f"WHERE starts_with(event_id, '{LEGACY_PREFIX}') "
                f"AND event_id = {legacy_derived_id_sql(kind)}"
            ).fetchall()
            done = int(result[0][0]) if result else 0
            changed += done
            if not done:
                continue
            clash = connection.execute(
                f"SELECT min(i) FROM (SELECT {stored_id_sql(kind)} AS i FROM {kind} "
                f"WHERE event_id IS NULL OR starts_with(event_id, '{DERIVED_PREFIX}') "
                "GROUP BY i HAVING count(*) > 1)"
            ).fetchall()[0][0]
            if clash is not None:
                raise StoreError(
                    f"cannot migrate the store to format {STORE_FORMAT}: {kind} has a given "
                    f"event id {clash!r} equal to the new derived id of another row; "
                    "remove that batch with 'upsell-ab store remove' using the older "
                    "upsell-ab, or ingest into a new store"
                )
        connection.execute("CREATE TABLE IF NOT EXISTS store_format (version INTEGER NOT NULL)")
        connection.execute("DELETE FROM store_format")
        connection.execute("INSERT INTO store_format VALUES (?)", [STORE_FORMAT])
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    if not changed:
        return []
    return [f"store migrated to format {STORE_FORMAT}: {changed:,} derived event ids recomputed"]


def list_batches(connection: duckdb.DuckDBPyConnection) -> list[BatchInfo]:
    """Every batch, oldest first, with the rows it still has in the store."""
    live: dict[tuple[str, int], int] = {}
    for kind in ("exposures", "events"):
        for batch, count in connection.execute(
            f"SELECT ingest_id, count(*) FROM {kind} WHERE ingest_id IS NOT NULL GROUP BY 1"
        ).fetchall():
            live[(kind, int(batch))] = int(count)
    rows = connection.execute(
        "SELECT ingest_id, kind, source, ingested_at, rows_read, rows_added, duplicates, "
        "coalesce(conflicts, 0), coalesce(replaced, 0), coalesce(implausible, 0), "
        "coalesce(defaulted, ''), removed_at FROM ingests ORDER BY ingest_id"
    ).fetchall()
    return [
        BatchInfo(
            ingest_id=int(r[0]),
            kind=str(r[1]),
            source=str(r[2]),
            ingested_at=r[3],
            rows_read=int(r[4]),
            rows_added=int(r[5]),
            duplicates=int(r[6]),
            conflicts=int(r[7]),
            replaced=int(r[8]),
            implausible=int(r[9]),
            defaulted=tuple(d for d in str(r[10]).split(",") if d),
            rows_now=live.get((str(r[1]), int(r[0])), 0),
            removed_at=r[11],
        )
        for r in rows
    ]


def remove_batch(connection: duckdb.DuckDBPyConnection, ingest_id: int) -> tuple[str, int]:
    """Delete every row of batch ``ingest_id`` and mark it removed, in one transaction.
    Returns (kind, rows removed)."""
    from datetime import UTC

    found = connection.execute(
        "SELECT kind, removed_at FROM ingests WHERE ingest_id = ?", [ingest_id]
    ).fetchall()
    if not found:
        known = [r[0] for r in connection.execute("SELECT ingest_id FROM ingests").fetchall()]
        raise StoreError(
            f"no ingest batch {ingest_id} (batches: {', '.join(map(str, known)) or 'none'}; "
            "see 'upsell-ab store list')"
        )
    kind, removed_at = str(found[0][0]), found[0][1]
    if removed_at is not None:
        raise StoreError(f"ingest batch {ingest_id} was already removed at {removed_at}")
    if kind not in ("exposures", "events"):
        raise StoreError(f"ingest batch {ingest_id} has unknown kind {kind!r}")
    connection.execute("BEGIN TRANSACTION")
    try:
        deleted = connection.execute(
            f"DELETE FROM {kind} WHERE ingest_id = ?", [ingest_id]
        ).fetchall()
        connection.execute(
            "UPDATE ingests SET removed_at = ? WHERE ingest_id = ?",
            [datetime.now(UTC).replace(tzinfo=None), ingest_id],
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return kind, int(deleted[0][0]) if deleted else 0


def defaulted_columns(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Canonical event columns that were defaulted (absent from the source), with the
    number of events in the store that carry the default because of it.

    For the analysis and quality summary: ``{"value": 71777}`` means 71,777 stored
    events have value 0 only because their file had no value column.
    """
    rows = connection.execute(
        "SELECT i.defaulted, count(*) FROM events AS e JOIN ingests AS i "
        "ON i.ingest_id = e.ingest_id AND i.kind = 'events' "
        "WHERE coalesce(i.defaulted, '') <> '' GROUP BY 1"
    ).fetchall()
    result: dict[str, int] = {}
    for defaulted, count in rows:
        for name in str(defaulted).split(","):
            if name:
                result[name] = result.get(name, 0) + int(count)
    return result
