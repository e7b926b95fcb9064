"""The embedded event store: one DuckDB file with ``exposures``, ``events``, ``ingests``.

Writes are atomic and idempotent. Sources are read in chunks
(:mod:`upsell_ab.events.readers`), each validated completely
(:mod:`upsell_ab.events.ingest`) and, inside ONE transaction, written as one
ingest batch per source (:mod:`upsell_ab.events.batch_write`): new attribute
columns are added, every row gets its ``event_id`` (the given id, else
``"md5:" + md5(identity key)``, see :mod:`upsell_ab.events.identity`) and
its batch's ``ingest_id``; rows already stored are skipped, rows that restate a
stored row with different content are conflicts (refused, or replacing the
stored row with ``replace=True``), the rest inserted, the batch logged. Any
problem in any chunk, any conflict, or any error rolls the whole transaction
back (DuckDB DDL is transactional, so even an added column disappears): the
committed store changes only when every row of every source was valid.
``dry_run=True`` does all of it and rolls back, returning what would happen.
Parquet files are written inside DuckDB instead, in the same transaction and
with the same outcome (:mod:`upsell_ab.events.parquet_ingest`); they fall back
to the chunked path for every case that path alone words (refusals, warnings).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import InputError, Problem, StoreError
from upsell_ab.events.batch_write import BatchWriter
from upsell_ab.events.ingest import CanonicalBatch
from upsell_ab.events.parquet_ingest import ParquetSource, source_stream, write_parquet
from upsell_ab.events.readers import DEFAULT_CHUNK_ROWS
from upsell_ab.events.schema import (
    EXPOSURE_COLUMNS,
    STORE_COLUMNS,
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
    conflicts: int = 0
    """Rows restating a stored row with different content (refused unless replaced)."""
    conflicts_in_source: int = 0
    """Rows repeating the identity of an earlier row of the same source with different
    content (always refused)."""
    replaced: int = 0
    """Stored rows deleted because this source replaced them (``replace=True``)."""
    ingest_id: int | None = None
    """The batch id in the store (None for a dry run or an empty source)."""
    warnings: tuple[Problem, ...] = ()
    """Located notes that did not refuse the source (implausible values ...)."""
    implausible: int = 0
    """Rows outside the plausible ranges (reported as warnings)."""

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
            conflicts=self.conflicts + other.conflicts,
            conflicts_in_source=self.conflicts_in_source + other.conflicts_in_source,
            replaced=self.replaced + other.replaced,
            ingest_id=self.ingest_id if self.ingest_id == other.ingest_id else None,
            warnings=(*self.warnings, *other.warnings),
            implausible=self.implausible + other.implausible,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["defaulted_columns"] = list(self.defaulted_columns)
        data["warnings"] = [
            {
                "file": w.location.file,
                "line": w.location.line,
                "row": w.location.row,
                "column": w.location.field,
                "message": w.message,
                "hint": w.hint,
                "code": w.code,
            }
            for w in self.warnings
        ]
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

    def __init__(
        self,
        path: str | Path = DEFAULT_STORE,
        *,
        read_only: bool = False,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        self.chunk_rows = chunk_rows
        self._connection: duckdb.DuckDBPyConnection | None = None
        self.notes: list[str] = []
        """Messages for the user from opening the store (a migration of an older file)."""
        self._spill: str | None = None

    # ------------------------------------------------------------- lifecycle
    def connect(self) -> duckdb.DuckDBPyConnection:
        """Open (creating the file and tables if needed) and return the connection."""
        if self._connection is not None:
            return self._connection
        from upsell_ab.events.store_open import open_store

        # waits (bounded, UPSELL_AB_STORE_WAIT) while another process holds the file
        connection = open_store(self.path, read_only=self.read_only)
        from upsell_ab.events.engines import configure_duckdb

        try:
            self._spill = configure_duckdb(connection)
        except BaseException:
            connection.close()
            raise
        if not self.read_only:
            create_schema(connection)
            from upsell_ab.events.store_admin import (
                STORE_FORMAT,
                migrate,
                migrate_ids,
                needs_migration,
                store_format,
            )

            try:
                if needs_migration(connection):
                    self.notes.extend(migrate(connection))
                if store_format(connection) != STORE_FORMAT:
                    self.notes.extend(migrate_ids(connection))
            except BaseException:
                self._connection_failed(connection)
                raise
        self._connection = connection
        return connection

    def _connection_failed(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Close a connection whose set-up failed (the file stays free for others)."""
        from upsell_ab.events.engines import remove_spill

        connection.close()
        remove_spill(self._spill)
        self._spill = None

    def close(self) -> None:
        if self._connection is not None:
            from upsell_ab.events.engines import remove_spill

            self._connection.close()
            self._connection = None
            remove_spill(self._spill)
            self._spill = None

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
        replace: bool = False,
    ) -> IngestReport:
        """Validate ``source`` (path or DataFrame) fully, then add new exposures atomically."""
        column_mapping = (
            mapping if isinstance(mapping, ColumnMapping) else exposure_mapping(mapping, overrides)
        )
        stream = self._chunks(source, "exposures", column_mapping, timezone, source_name)
        return self.write_streams([stream], replace=replace)[0]

    def ingest_events(
        self,
        source: Any,
        mapping: EventColumns | ColumnMapping | None = None,
        source_name: str | None = None,
        *,
        timezone: str | None = None,
        overrides: dict[str, str] | None = None,
        replace: bool = False,
    ) -> IngestReport:
        """Validate ``source`` (path or DataFrame) fully, then add new events atomically."""
        column_mapping = (
            mapping if isinstance(mapping, ColumnMapping) else event_mapping(mapping, overrides)
        )
        stream = self._chunks(source, "events", column_mapping, timezone, source_name)
        return self.write_streams([stream], replace=replace)[0]

    def _chunks(
        self,
        source: Any,
        kind: Kind,
        mapping: ColumnMapping,
        timezone: str | None,
        source_name: str | None,
    ) -> Iterable[CanonicalBatch | InputError]:
        return source_stream(
            source,
            kind,
            mapping,
            timezone=timezone,
            source_name=source_name,
            chunk_rows=self.chunk_rows,
        )

    def write_batch(self, batch: CanonicalBatch, *, replace: bool = False) -> IngestReport:
        """Insert one validated batch in one transaction; all or nothing."""
        return self.write_streams([[batch]], replace=replace)[0]

    def write_batches(
        self, batches: list[CanonicalBatch], *, replace: bool = False
    ) -> list[IngestReport]:
        """Insert validated batches in ONE transaction (several files: all or none)."""
        return self.write_streams([[batch] for batch in batches], replace=replace)

    def write_streams(
        self,
        streams: Sequence[Iterable[CanonicalBatch | InputError]],
        *,
        replace: bool = False,
        dry_run: bool = False,
    ) -> list[IngestReport]:
        """Write sources (each a stream of validated chunks, or errors) in ONE transaction.

        Chunks are written as they are validated, inside the transaction; after the
        first problem nothing more is written but validation goes on, so every
        problem of every source is reported; then the transaction is rolled back
        and one InputError raised. The committed store therefore changes only when
        every chunk of every source was valid - the same guarantee as validating
        everything first, with memory bounded by one chunk. Later sources see
        earlier ones, so a row repeated across files is added once.

        Rows that restate stored rows with different content (conflicts) refuse the
        write unless ``replace``; with ``dry_run`` nothing is committed and
        conflicts do not raise: the reports say what would have happened.
        """
        connection = self.connect()
        problems: list[Problem] = []
        reports: list[IngestReport] = []
        connection.execute("BEGIN TRANSACTION")
        try:
            next_id = self._next_ingest_id()
            for stream in streams:
                native = None
                writer: BatchWriter | None
                first: CanonicalBatch | None
                if isinstance(stream, ParquetSource) and not (replace or dry_run or problems):
                    native = write_parquet(connection, stream, next_id, self._add_attribute_columns)
                if native is not None:
                    writer, first, warnings = native.writer, native.first, native.warnings
                else:
                    writer, first, warnings = self._write_chunks(stream, next_id, replace, problems)
                if writer is None or first is None or problems:
                    continue
                writer.finish()
                writer.close()
                report = self._report(first, writer, warnings)
                if not dry_run:
                    problems.extend(writer.problems(first.source))
                if not problems:
                    self._log_ingest(first, report)
                    reports.append(report)
                    next_id += 1
            if problems:
                raise InputError(problems)
            connection.execute("ROLLBACK" if dry_run else "COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        if dry_run:
            reports = [replace_id(r) for r in reports]
        return reports

    def _write_chunks(
        self,
        stream: Iterable[CanonicalBatch | InputError],
        ingest_id: int,
        replace: bool,
        problems: list[Problem],
    ) -> tuple[BatchWriter | None, CanonicalBatch | None, list[Problem]]:
        """The chunked path: each validated chunk classified and written as it comes;
        after the first problem only validation goes on (``problems`` collects it)."""
        writer: BatchWriter | None = None
        first: CanonicalBatch | None = None
        warnings: list[Problem] = []
        for item in stream:
            if isinstance(item, InputError):
                problems.extend(item.problems)
                continue
            warnings.extend(item.warnings)
            if problems:
                continue
            if writer is None:
                first = item
                writer = BatchWriter(self.connect(), item.kind, ingest_id, replace)
            if item.kind == "exposures":
                self._add_attribute_columns(item.attributes)
            writer.write(item)
        return writer, first, warnings

    def _next_ingest_id(self) -> int:
        row = self.connect().execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests")
        return int(row.fetchall()[0][0])

    @staticmethod
    def _report(
        batch: CanonicalBatch, writer: BatchWriter, warnings: list[Problem]
    ) -> IngestReport:
        tally = writer.tally
        return IngestReport(
            rows_read=tally.rows_read,
            rows_added=tally.rows_added,
            duplicates_skipped=tally.in_source + tally.already,
            source=batch.source,
            kind=batch.kind,
            duplicates_in_source=tally.in_source,
            defaulted_columns=batch.defaulted,
            conflicts=tally.conflicts,
            conflicts_in_source=tally.source_conflicts,
            replaced=tally.replaced,
            ingest_id=writer.ingest_id,
            warnings=tuple(warnings),
            implausible=sum(1 for w in warnings if w.code == "implausible_value"),
        )

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
            "INSERT INTO ingests (kind, source, content_sha256, rows_read, rows_added, "
            "duplicates, ingested_at, ingest_id, conflicts, replaced, implausible, defaulted) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                batch.kind,
                batch.source,
                batch.sha256,
                report.rows_read,
                report.rows_added,
                report.duplicates_skipped,
                datetime.now(UTC).replace(tzinfo=None),
                report.ingest_id,
                report.conflicts,
                report.replaced,
                report.implausible,
                ",".join(batch.defaulted),
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
        return tuple(
            r[0] for r in rows if r[0] not in EXPOSURE_COLUMNS and r[0] not in STORE_COLUMNS
        )

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


def replace_id(report: IngestReport) -> IngestReport:
    """``report`` without its batch id (a dry run commits no batch)."""
    from dataclasses import replace

    return replace(report, ingest_id=None)
