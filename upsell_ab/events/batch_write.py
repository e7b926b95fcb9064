"""Write one source (a stream of validated chunks) as one ingest batch, inside the
store's open transaction.

Per chunk: stage the rows with their ids (:mod:`upsell_ab.events.identity`) and
content hashes, then sort every row into exactly one class:

- **new**: no stored row has its id: inserted with this batch's ``ingest_id``;
- **already stored**: a row of an earlier batch has its id and the same content:
  skipped (re-ingesting a file adds nothing);
- **repeat in the source**: an earlier row of this source has its id and the same
  content: skipped, counted in ``duplicates_in_source``;
- **conflict**: a row of an earlier batch has its id (or, for events, the same
  unit, type and time, one with and one without order id) but different
  content: a corrected re-export. Refused, unless ``replace``: then the stored
  row is deleted and the new one inserted (counted in ``replaced``);
- **conflict in the source**: two rows of this source share an id with different
  content (two line items of one order, an event id reused): always refused.

After the last chunk, :meth:`BatchWriter.finish` looks for a *shifted copy*:
the new rows of this batch equal stored rows of other batches except that
every timestamp moved by one offset (a whole number of quarter hours, at
most 14 hours) - a re-export that fixed the time zone. Those rows are
conflicts too (or, with ``replace``, replace the stored ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import Location, Problem
from upsell_ab.events.identity import (
    COMPARED,
    DERIVED_PREFIX,
    SHIFT_MATCH,
    SHIFT_MAX_US,
    SHIFT_SHARE,
    SHIFT_STEP_US,
    content_sql,
    derived_id_sql,
    derived_stored_sql,
    same_identity_sql,
    stored_id_sql,
)
from upsell_ab.events.schema import EVENT_COLUMNS, EXPOSURE_COLUMNS, Kind, quote_identifier

if TYPE_CHECKING:
    import duckdb

    from upsell_ab.events.ingest import CanonicalBatch

MAX_EXAMPLES = 3


@dataclass
class BatchTally:
    """Counts of one batch so far."""

    rows_read: int = 0
    rows_added: int = 0
    in_source: int = 0
    already: int = 0
    conflicts: int = 0
    source_conflicts: int = 0
    replaced: int = 0
    examples: list[str] = field(default_factory=list)
    source_examples: list[str] = field(default_factory=list)
    conflict_batches: set[int] = field(default_factory=set)
    shift: str | None = None


class BatchWriter:
    """Writes the chunks of one source as batch ``ingest_id`` of ``kind``."""

    def __init__(
        self, connection: duckdb.DuckDBPyConnection, kind: Kind, ingest_id: int, replace: bool
    ) -> None:
        self.connection = connection
        self.kind = kind
        self.ingest_id = ingest_id
        self.replace = replace
        self.tally = BatchTally()
        connection.execute(
            "CREATE OR REPLACE TEMP TABLE _upsell_seen (event_id VARCHAR, _content VARCHAR)"
        )

    # ------------------------------------------------------------------ chunk
    def write(self, batch: CanonicalBatch) -> None:
        import pyarrow as pa

        connection = self.connection
        table = pa.Table.from_pandas(batch.frame, preserve_index=False)
        connection.register("_upsell_incoming", table)
        try:
            self._stage(batch)
        finally:
            connection.unregister("_upsell_incoming")
        try:
            self._classify_and_insert(batch)
        finally:
            for name in ("_upsell_staged", "_upsell_first", "_upsell_matched", "_upsell_class"):
                connection.execute(f"DROP TABLE IF EXISTS temp.{name}")

    def _columns(self, batch: CanonicalBatch) -> list[str]:
        fixed = EXPOSURE_COLUMNS if self.kind == "exposures" else EVENT_COLUMNS
        return [c for c in fixed if c != "event_id"] + list(batch.attributes)

    def _stage(self, batch: CanonicalBatch) -> None:
        quoted = ", ".join(quote_identifier(c) for c in self._columns(batch))
        self.connection.execute(
            f"CREATE TEMP TABLE _upsell_staged AS SELECT {quoted}, "
            f"COALESCE(event_id, {derived_id_sql(self.kind)}) AS event_id, "
            f"event_id IS NULL AS _derived, sha256({content_sql(self.kind)}) AS _content, _row "
            "FROM _upsell_incoming"
        )

    def _classify_and_insert(self, batch: CanonicalBatch) -> None:
        connection = self.connection
        tally = self.tally
        kind = self.kind
        batch_id = self.ingest_id
        tally.rows_read += int(
            connection.execute("SELECT count(*) FROM _upsell_staged").fetchall()[0][0]
        )
        self._source_conflicts_in_chunk()
        total, distinct = connection.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM _upsell_staged"
        ).fetchall()[0]
        connection.execute(
            "CREATE TEMP TABLE _upsell_first AS SELECT * FROM _upsell_staged "
            + (
                ""
                if total == distinct
                else "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _row) = 1"
            )
        )
        tally.in_source += int(total) - int(distinct)
        stored_content = f"sha256({content_sql(kind, 't')})"
        # stored text ids (given, or format 2's derived text) by id; stored rows without
        # id (format 3's derived ids) by identity fields for new rows without given id,
        # and by their derived id for given ids shaped like one (rare: hashes them)
        conditions = [
            "t.event_id = s.event_id",
            *(f"s._derived AND {same}" for same in same_identity_sql(kind, "s", "t")),
        ]
        if connection.execute(
            "SELECT count(*) FROM _upsell_first WHERE NOT _derived AND "
            f"starts_with(event_id, '{DERIVED_PREFIX}')"
        ).fetchall()[0][0]:
            conditions.append(
                "NOT s._derived AND t.event_id IS NULL "
                f"AND s.event_id = {derived_id_sql(kind, 't')}"
            )
        connection.execute(
            "CREATE TEMP TABLE _upsell_matched AS "
            + " UNION ALL ".join(
                "SELECT s._row, s.event_id, t.rowid AS stored_rowid, t.ingest_id AS stored_batch, "
                f"{stored_content} = s._content AS same "
                f"FROM _upsell_first AS s JOIN {kind} AS t ON {condition}"
                for condition in conditions
            )
        )
        # ids met in earlier chunks of this source but not inserted (already stored)
        connection.execute(
            "INSERT INTO _upsell_matched SELECT s._row, s.event_id, NULL, ?, "
            "s._content = seen._content FROM _upsell_first AS s "
            "JOIN _upsell_seen AS seen ON seen.event_id = s.event_id",
            [batch_id],
        )
        if kind == "events":
            # the same event restated with an order id added (or dropped): same unit,
            # type and time, one side with order id, the other without
            connection.execute(
                "INSERT INTO _upsell_matched SELECT s._row, s.event_id, t.rowid, t.ingest_id, "
                "false FROM _upsell_first AS s JOIN events AS t ON t.unit_id = s.unit_id "
                'AND t.event_type = s.event_type AND t."timestamp" = s."timestamp" '
                f"WHERE s._derived AND {derived_stored_sql('t')} "
                "AND (t.order_id IS NULL) <> (s.order_id IS NULL) "
                "AND s._row NOT IN (SELECT _row FROM _upsell_matched)"
            )
        connection.execute(
            "CREATE OR REPLACE TEMP TABLE _upsell_class AS SELECT _row, any_value(event_id) "
            "AS event_id, CASE "
            "WHEN bool_or(NOT same AND stored_batch IS NOT DISTINCT FROM $b) THEN 'source' "
            "WHEN bool_or(same AND stored_batch IS NOT DISTINCT FROM $b) THEN 'repeat' "
            "WHEN bool_or(NOT same) THEN 'conflict' ELSE 'stored' END AS class "
            "FROM _upsell_matched GROUP BY _row",
            {"b": batch_id},
        )
        counts = dict(
            connection.execute(
                "SELECT class, count(*) FROM _upsell_class GROUP BY class"
            ).fetchall()
        )
        tally.source_conflicts += int(counts.get("source", 0))
        tally.in_source += int(counts.get("repeat", 0))
        tally.already += int(counts.get("stored", 0))
        conflicts = int(counts.get("conflict", 0))
        tally.conflicts += conflicts
        if counts.get("source"):
            for (row,) in connection.execute(
                "SELECT _row FROM _upsell_class WHERE class = 'source' ORDER BY _row LIMIT ?",
                [MAX_EXAMPLES],
            ).fetchall():
                self._describe_source_conflict(int(row))
        if conflicts:
            self._note_conflicts()
            if self.replace:
                deleted = connection.execute(
                    f"DELETE FROM {kind} WHERE rowid IN (SELECT m.stored_rowid FROM "
                    "_upsell_matched AS m JOIN _upsell_class AS c ON c._row = m._row "
                    "WHERE c.class = 'conflict' AND NOT m.same AND m.stored_rowid IS NOT NULL)"
                ).fetchall()
                tally.replaced += int(deleted[0][0]) if deleted else 0
        connection.execute(
            "INSERT INTO _upsell_seen SELECT c.event_id, s._content FROM _upsell_class AS c "
            "JOIN _upsell_first AS s ON s._row = c._row WHERE c.class = 'stored' "
            + ("" if self.replace else "OR c.class = 'conflict'")
        )
        quoted = [quote_identifier(c) for c in self._columns(batch)]
        target = ", ".join([*quoted, "event_id", "ingest_id"])
        # derived ids are not stored (store format 3: NULL event_id)
        values = ", ".join(
            [*quoted, "CASE WHEN _derived THEN NULL ELSE event_id END", str(int(batch_id))]
        )
        kept = "('conflict')" if self.replace else "('__none__')"
        inserted = connection.execute(
            f"INSERT INTO {kind} ({target}) SELECT {values} FROM _upsell_first WHERE _row NOT IN "
            f"(SELECT _row FROM _upsell_class WHERE class NOT IN {kept}) ORDER BY _row"
        ).fetchall()
        tally.rows_added += int(inserted[0][0]) if inserted else 0

    def _source_conflicts_in_chunk(self) -> None:
        """Rows of this chunk sharing an id with an earlier row of the chunk but not its
        content: counted, described, and dropped (the batch will be refused)."""
        rows = self.connection.execute(
            "WITH w AS (SELECT event_id, _row, _content <> first(_content) OVER "
            "(PARTITION BY event_id ORDER BY _row) AS differs FROM _upsell_staged) "
            "SELECT event_id, count(*) FILTER (WHERE differs), list(_row ORDER BY _row) "
            "FROM w GROUP BY event_id HAVING bool_or(differs) ORDER BY min(_row)"
        ).fetchall()
        if not rows:
            return
        for event_id, differing, source_rows in rows:
            self.tally.source_conflicts += int(differing)
            if len(self.tally.source_examples) < MAX_EXAMPLES:
                shown = ", ".join(str(r) for r in source_rows[:4])
                self.tally.source_examples.append(
                    f"rows {shown} share one {self._identity_text(str(event_id))} "
                    "with different content"
                )
        self.connection.execute(
            "DELETE FROM _upsell_staged WHERE _row IN (SELECT _row FROM (SELECT _row, "
            "_content <> first(_content) OVER (PARTITION BY event_id ORDER BY _row) AS differs "
            "FROM _upsell_staged) WHERE differs)"
        )

    def _identity_text(self, event_id: str) -> str:
        if not event_id.startswith(DERIVED_PREFIX):
            return f"event_id {event_id!r}"
        if self.kind == "events":
            return "(order id, type) or (unit, time, type)"
        return "(experiment, variant, unit, time)"

    def _describe_source_conflict(self, row: int) -> None:
        if len(self.tally.source_examples) < MAX_EXAMPLES:
            self.tally.source_examples.append(
                f"row {row} restates a row met earlier in this source with different content"
            )

    def _note_conflicts(self) -> None:
        """Remember which batches hold the conflicting rows and describe a few."""
        batches = self.connection.execute(
            "SELECT DISTINCT m.stored_batch FROM _upsell_matched AS m JOIN _upsell_class AS c "
            "ON c._row = m._row WHERE c.class = 'conflict' AND NOT m.same"
        ).fetchall()
        self.tally.conflict_batches.update(int(b) for (b,) in batches if b is not None)
        need = MAX_EXAMPLES - len(self.tally.examples)
        if need <= 0:
            return
        compared = COMPARED[self.kind]
        cols = ", ".join(
            [f"s.{quote_identifier(c)}, t.{quote_identifier(c)}" for c in compared]
            + [f"s.event_id, {stored_id_sql(self.kind, 't')}"]
        )
        pairs = self.connection.execute(
            f"SELECT s._row, m.stored_batch, {cols} FROM _upsell_matched AS m "
            "JOIN _upsell_first AS s ON s._row = m._row "
            f"JOIN {self.kind} AS t ON t.rowid = m.stored_rowid "
            "WHERE NOT m.same AND m.stored_batch IS DISTINCT FROM ? "
            "AND m.stored_rowid IS NOT NULL ORDER BY s._row LIMIT ?",
            [self.ingest_id, need],
        ).fetchall()
        for pair in pairs:
            row, stored_batch, values = pair[0], pair[1], pair[2:]
            diffs = [
                f"{name} {_show(values[2 * i + 1])} -> {_show(values[2 * i])}"
                for i, name in enumerate(compared)
                if values[2 * i] != values[2 * i + 1]
            ]
            what = ", ".join(diffs) if diffs else "content"
            who = f"batch {stored_batch}" if stored_batch is not None else "an older batch"
            self.tally.examples.append(
                f"row {row} ({self._describe_row(values, compared)}) differs from {who}: {what}"
            )

    @staticmethod
    def _describe_row(values: tuple[Any, ...], compared: tuple[str, ...]) -> str:
        named = dict(zip(compared, values[0::2], strict=False))
        parts = [f"unit {named.get('unit_id')}"]
        if "event_type" in named:
            parts.append(str(named["event_type"]))
        if named.get("order_id") is not None:
            parts.append(f"order {named['order_id']}")
        return ", ".join(parts)

    # ------------------------------------------------------------------ batch
    def finish(self) -> None:
        """Detect a shifted copy of stored rows among this batch's new rows."""
        tally = self.tally
        if tally.rows_added == 0:
            return
        connection = self.connection
        match = " AND ".join(
            f"n.{quote_identifier(c)} IS NOT DISTINCT FROM o.{quote_identifier(c)}"
            for c in SHIFT_MATCH[self.kind]
        )
        shift = '(epoch_us(n."timestamp") - epoch_us(o."timestamp"))'
        found = connection.execute(
            f"SELECT {shift} AS shift, count(DISTINCT n.rowid) AS hits "
            f"FROM {self.kind} AS n JOIN {self.kind} AS o ON {match} "
            "WHERE n.ingest_id = ? AND o.ingest_id IS DISTINCT FROM ? "
            f"AND {shift} <> 0 AND abs({shift}) <= ? AND {shift} % ? = 0 "
            "GROUP BY shift ORDER BY hits DESC, abs(shift) LIMIT 1",
            [self.ingest_id, self.ingest_id, SHIFT_MAX_US, SHIFT_STEP_US],
        ).fetchall()
        if not found:
            return
        offset, hits = int(found[0][0]), int(found[0][1])
        if hits < SHIFT_SHARE * tally.rows_added:
            return
        tally.shift = _offset_text(offset)
        tally.conflicts += hits
        stored = connection.execute(
            f"SELECT DISTINCT o.ingest_id FROM {self.kind} AS n "
            f"JOIN {self.kind} AS o ON {match} AND {shift} = ? "
            "WHERE n.ingest_id = ? AND o.ingest_id IS DISTINCT FROM ?",
            [offset, self.ingest_id, self.ingest_id],
        ).fetchall()
        tally.conflict_batches.update(int(b) for (b,) in stored if b is not None)
        example = connection.execute(
            f'SELECT n.unit_id, n."timestamp", o."timestamp" FROM {self.kind} AS n '
            f"JOIN {self.kind} AS o ON {match} AND {shift} = ? "
            "WHERE n.ingest_id = ? AND o.ingest_id IS DISTINCT FROM ? ORDER BY n.rowid LIMIT 1",
            [offset, self.ingest_id, self.ingest_id],
        ).fetchall()
        if example:
            unit, new_ts, old_ts = example[0]
            tally.examples.append(
                f"{hits:,} of the {tally.rows_added:,} new rows repeat stored rows with every "
                f"time moved by {tally.shift} (a re-export in another time zone?), e.g. unit "
                f"{unit}: stored at {old_ts}, now at {new_ts}"
            )
        if self.replace:
            deleted = connection.execute(
                f"DELETE FROM {self.kind} WHERE rowid IN (SELECT o.rowid FROM {self.kind} AS n "
                f"JOIN {self.kind} AS o ON {match} AND {shift} = ? "
                "WHERE n.ingest_id = ? AND o.ingest_id IS DISTINCT FROM ?)",
                [offset, self.ingest_id, self.ingest_id],
            ).fetchall()
            tally.replaced += int(deleted[0][0]) if deleted else 0

    def close(self) -> None:
        self.connection.execute("DROP TABLE IF EXISTS temp._upsell_seen")

    def problems(self, source: str) -> list[Problem]:
        """Why this batch must be refused (empty when it may commit)."""
        tally = self.tally
        found: list[Problem] = []
        where = Location(file=source)
        if tally.source_conflicts:
            found.append(
                Problem(
                    where,
                    f"{tally.source_conflicts:,} rows repeat the identity of an earlier row of "
                    "this source with different content: " + "; ".join(tally.source_examples),
                    "one order has one event per type: sum line items per order, or give "
                    "every row its own id with --map events.event_id=COLUMN",
                    "conflict_in_source",
                )
            )
        if tally.conflicts and not self.replace:
            held = ", ".join(str(b) for b in sorted(tally.conflict_batches)) or "older batches"
            found.append(
                Problem(
                    where,
                    f"{tally.conflicts:,} rows conflict with rows already stored (batch "
                    f"{held}): " + "; ".join(tally.examples),
                    "a corrected re-export? rerun with --replace to replace the stored rows, "
                    f"or remove the old batch first with 'upsell-ab store remove {held}'",
                    "conflict",
                )
            )
        return found


def _show(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _offset_text(offset_us: int) -> str:
    sign = "+" if offset_us > 0 else "-"
    minutes = abs(offset_us) // 60_000_000
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
