"""The embedded event store: one DuckDB file with ``exposures``, ``events``, ``ingests``.

Writes are atomic and idempotent. A batch is validated completely first
(:mod:`upsell_ab.events.ingest`); then, inside one transaction, new attribute
columns are added, every row gets its ``event_id`` (the given id, else
``"sha256:" + sha256(content key)``), rows whose id is already stored or
repeats earlier in the batch are skipped, the rest are inserted and the ingest
is logged. Any error rolls the whole transaction back (DuckDB DDL is
transactional, so even an added column disappears).

Content keys (U+001F-separated UTF-8 text, hashed by DuckDB's ``sha256``):
exposures: experiment, variant, unit_id, timestamp; events: unit_id,
timestamp, event_type, value, discount, quantity, order_id. Attributes are not
part of an exposure's key: the same unit seeing the same variant at the same
instant is one exposure, whatever else a file says about the unit.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import StoreError
from upsell_ab.events.ingest import CanonicalBatch, load_batch
from upsell_ab.events.schema import (
    EVENT_COLUMNS,
    EXPOSURE_COLUMNS,
    ColumnMapping,
    Kind,
    create_schema,
    event_mapping,
    exposure_mapping,
    quote_identifier,
)
from upsell_ab.spec.models import EventColumns, ExposureColumns

if TYPE_CHECKING:
    import duckdb

DEFAULT_STORE = "upsell_ab.duckdb"
"""Store file used when neither the spec nor the command line names one (in the cwd)."""

_SEP = "chr(31)"
_TS = "strftime({col}, '%Y-%m-%dT%H:%M:%S.%f')"
_KEY_SQL: dict[str, str] = {
    "exposures": "concat_ws({sep}, experiment, variant, unit_id, {ts})",
    "events": (
        "concat_ws({sep}, unit_id, {ts}, event_type, CAST(value AS VARCHAR), "
        "CAST(discount AS VARCHAR), CAST(quantity AS VARCHAR), "
        "COALESCE('o:' || order_id, '-'))"
    ),
}


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did. ``duplicates_skipped`` = repeats inside the source +
    rows whose event id was already stored."""

    rows_read: int
    rows_added: int
    duplicates_skipped: int
    source: str
    kind: str = ""
    duplicates_in_source: int = 0
    defaulted_columns: tuple[str, ...] = ()
    """Optional columns absent from the source, filled with defaults (value 0 ...)."""

    def __add__(self, other: IngestReport) -> IngestReport:
        return IngestReport(
            rows_read=self.rows_read + other.rows_read,
            rows_added=self.rows_added + other.rows_added,
            duplicates_skipped=self.duplicates_skipped + other.duplicates_skipped,
            source=self.source if self.source == other.source else f"{self.source}+{other.source}",
            kind=self.kind if self.kind == other.kind else "mixed",
            duplicates_in_source=self.duplicates_in_source + other.duplicates_in_source,
            defaulted_columns=tuple(
                dict.fromkeys((*self.defaulted_columns, *other.defaulted_columns))
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["defaulted_columns"] = list(self.defaulted_columns)
        return data


@dataclass(frozen=True)
class StoreCounts:
    exposures: int
    events: int
    ingests: int


class EventStore:
    """A DuckDB file holding the canonical tables. Use as a context manager, or
    call :meth:`connect` / :meth:`close`. Only one process may write a DuckDB file
    at a time; apps should use :mod:`upsell_ab.events.tracker` spool files instead
    of writing here directly."""

    def __init__(self, path: str | Path = DEFAULT_STORE, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        self._connection: duckdb.DuckDBPyConnection | None = None

    # ------------------------------------------------------------- lifecycle
    def connect(self) -> duckdb.DuckDBPyConnection:
        """Open (creating the file and tables if needed) and return the connection."""
        if self._connection is not None:
            return self._connection
        import duckdb

        try:
            connection = duckdb.connect(self.path, read_only=self.read_only)
        except duckdb.Error as error:
            raise StoreError(
                f"cannot open store {self.path}: {error} (another process may hold it open "
                "for writing; retry when it finishes)"
            ) from None
        if not self.read_only:
            create_schema(connection)
        self._connection = connection
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> EventStore:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        return self.connect()

    # --------------------------------------------------------------- ingest
    def ingest_exposures(
        self,
        source: Any,
        mapping: ExposureColumns | ColumnMapping | None = None,
        source_name: str | None = None,
        *,
        timezone: str | None = None,
        overrides: dict[str, str] | None = None,
    ) -> IngestReport:
        """Validate ``source`` (path or DataFrame) fully, then add new exposures atomically."""
        column_mapping = (
            mapping if isinstance(mapping, ColumnMapping) else exposure_mapping(mapping, overrides)
        )
        batch = load_batch(
            source, "exposures", column_mapping, timezone=timezone, source_name=source_name
        )
        return self.write_batch(batch)

    def ingest_events(
        self,
        source: Any,
        mapping: EventColumns | ColumnMapping | None = None,
        source_name: str | None = None,
        *,
        timezone: str | None = None,
        overrides: dict[str, str] | None = None,
    ) -> IngestReport:
        """Validate ``source`` (path or DataFrame) fully, then add new events atomically."""
        column_mapping = (
            mapping if isinstance(mapping, ColumnMapping) else event_mapping(mapping, overrides)
        )
        batch = load_batch(
            source, "events", column_mapping, timezone=timezone, source_name=source_name
        )
        return self.write_batch(batch)

    def write_batch(self, batch: CanonicalBatch) -> IngestReport:
        """Insert one validated batch in one transaction; all or nothing."""
        return self.write_batches([batch])[0]

    def write_batches(self, batches: list[CanonicalBatch]) -> list[IngestReport]:
        """Insert validated batches in ONE transaction (several files: all or none).
        Later batches see earlier ones, so a row repeated across files is added once."""
        connection = self.connect()
        reports: list[IngestReport] = []
        connection.execute("BEGIN TRANSACTION")
        try:
            for batch in batches:
                reports.append(self._write(batch))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return reports

    def _write(self, batch: CanonicalBatch) -> IngestReport:
        import pyarrow as pa

        connection = self.connect()
        table = pa.Table.from_pandas(batch.frame, preserve_index=False)
        connection.register("_upsell_incoming", table)
        try:
            if batch.kind == "exposures":
                self._add_attribute_columns(batch.attributes)
            added, in_source, already = self._insert(batch)
            report = IngestReport(
                rows_read=batch.rows_read,
                rows_added=added,
                duplicates_skipped=in_source + already,
                source=batch.source,
                kind=batch.kind,
                duplicates_in_source=in_source,
                defaulted_columns=batch.defaulted,
            )
            self._log_ingest(batch, report)
            connection.execute("DROP TABLE temp._upsell_staged")
        finally:
            connection.unregister("_upsell_incoming")
        return report

    def _insert(self, batch: CanonicalBatch) -> tuple[int, int, int]:
        """(rows added, duplicates inside the batch, rows already stored)."""
        connection = self.connect()
        kind: Kind = batch.kind
        fixed = EXPOSURE_COLUMNS if kind == "exposures" else EVENT_COLUMNS
        columns = [c for c in fixed if c != "event_id"] + list(batch.attributes)
        quoted = [quote_identifier(c) for c in columns]
        key = _KEY_SQL[kind].format(sep=_SEP, ts=_TS.format(col='"timestamp"'))
        connection.execute(
            f"CREATE TEMP TABLE _upsell_staged AS SELECT {', '.join(quoted)}, "
            f"COALESCE(event_id, 'sha256:' || sha256({key})) AS event_id, _row "
            "FROM _upsell_incoming"
        )
        row = connection.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM _upsell_staged"
        ).fetchall()[0]
        total, distinct = int(row[0]), int(row[1])
        target = [*quoted, "event_id"]
        # first row wins among repeats inside the batch; skip the window when there are none
        staged = (
            "_upsell_staged"
            if total == distinct
            else "(SELECT * FROM _upsell_staged "
            "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _row) = 1)"
        )
        inserted = connection.execute(
            f"INSERT INTO {kind} ({', '.join(target)}) "
            f"SELECT {', '.join(target)} FROM {staged} AS s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {kind} AS t WHERE t.event_id = s.event_id) "
            "ORDER BY _row"
        ).fetchall()
        added = int(inserted[0][0]) if inserted else 0
        return added, total - distinct, distinct - added

    def _add_attribute_columns(self, attributes: tuple[str, ...]) -> None:
        existing = set(self.attribute_columns()) | set(EXPOSURE_COLUMNS)
        for name in attributes:
            if name not in existing:
                self.connect().execute(
                    f"ALTER TABLE exposures ADD COLUMN {quote_identifier(name)} VARCHAR"
                )

    def _log_ingest(self, batch: CanonicalBatch, report: IngestReport) -> None:
        """Append to ``ingests`` (inside the write transaction, so it commits with the rows)."""
        from datetime import UTC, datetime

        self.connect().execute(
            "INSERT INTO ingests VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                batch.kind,
                batch.source,
                batch.sha256,
                report.rows_read,
                report.rows_added,
                report.duplicates_skipped,
                datetime.now(UTC).replace(tzinfo=None),
            ],
        )

    # ---------------------------------------------------------------- reads
    def attribute_columns(self) -> tuple[str, ...]:
        """Attribute columns of ``exposures``, in table order."""
        rows = (
            self.connect()
            .execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'exposures' AND table_schema = 'main' ORDER BY ordinal_position"
            )
            .fetchall()
        )
        return tuple(r[0] for r in rows if r[0] not in EXPOSURE_COLUMNS)

    def counts(self) -> StoreCounts:
        connection = self.connect()
        exposures, events, ingests = (
            int(connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
            for table in ("exposures", "events", "ingests")
        )
        return StoreCounts(exposures, events, ingests)

    def checksum(self, table: str) -> str:
        """Order-independent digest of a table's columns and rows (tests, audits)."""
        if table not in ("exposures", "events", "ingests"):
            raise StoreError(f"unknown store table {table!r}")
        connection = self.connect()
        columns = connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
            [table],
        ).fetchall()
        row = connection.execute(
            f"SELECT count(*), coalesce(sum(hash(t)), 0)::VARCHAR FROM {table} AS t"
        ).fetchall()
        digest = hashlib.sha256(repr((columns, row)).encode())
        return digest.hexdigest()
