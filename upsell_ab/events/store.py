"""The embedded event store: one DuckDB file with ``exposures``, ``events``, ``ingests``.

Writes are atomic and idempotent. Sources are read in chunks
(:mod:`upsell_ab.events.readers`), each validated completely
(:mod:`upsell_ab.events.ingest`) and, inside ONE transaction, written: new
attribute columns are added, every row gets its ``event_id`` (the given id,
else ``"sha256:" + sha256(content key)``), rows whose id is already stored or
repeats earlier in the source are skipped, the rest inserted, the ingest
logged. Any problem in any chunk, or any error, rolls the whole transaction
back (DuckDB DDL is transactional, so even an added column disappears): the
committed store changes only when every row of every source was valid.

Content keys (U+001F-separated UTF-8 text, hashed by DuckDB's ``sha256``):
exposures: experiment, variant, unit_id, timestamp; events: unit_id,
timestamp, event_type, value, discount, quantity, order_id. Attributes are not
part of an exposure's key: the same unit seeing the same variant at the same
instant is one exposure, whatever else a file says about the unit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import InputError, Problem, StoreError
from upsell_ab.events.ingest import CanonicalBatch, validated_chunks
from upsell_ab.events.readers import DEFAULT_CHUNK_ROWS
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
        self._connection = connection
        return connection

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
    ) -> IngestReport:
        """Validate ``source`` (path or DataFrame) fully, then add new exposures atomically."""
        column_mapping = (
            mapping if isinstance(mapping, ColumnMapping) else exposure_mapping(mapping, overrides)
        )
        return self.write_streams(
            [self._chunks(source, "exposures", column_mapping, timezone, source_name)]
        )[0]

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
        return self.write_streams(
            [self._chunks(source, "events", column_mapping, timezone, source_name)]
        )[0]

    def _chunks(
        self,
        source: Any,
        kind: Kind,
        mapping: ColumnMapping,
        timezone: str | None,
        source_name: str | None,
    ) -> Iterable[CanonicalBatch | InputError]:
        return validated_chunks(
            source,
            kind,
            mapping,
            timezone=timezone,
            source_name=source_name,
            chunk_rows=self.chunk_rows,
        )

    def write_batch(self, batch: CanonicalBatch) -> IngestReport:
        """Insert one validated batch in one transaction; all or nothing."""
        return self.write_streams([[batch]])[0]

    def write_batches(self, batches: list[CanonicalBatch]) -> list[IngestReport]:
        """Insert validated batches in ONE transaction (several files: all or none)."""
        return self.write_streams([[batch] for batch in batches])

    def write_streams(
        self, streams: Sequence[Iterable[CanonicalBatch | InputError]]
    ) -> list[IngestReport]:
        """Write sources (each a stream of validated chunks, or errors) in ONE transaction.

        Chunks are written as they are validated, inside the transaction; after the
        first problem nothing more is written but validation goes on, so every
        problem of every source is reported; then the transaction is rolled back
        and one InputError raised. The committed store therefore changes only when
        every chunk of every source was valid - the same guarantee as validating
        everything first, with memory bounded by one chunk. Later sources see
        earlier ones, so a row repeated across files is added once.
        """
        connection = self.connect()
        problems: list[Problem] = []
        reports: list[IngestReport] = []
        connection.execute("BEGIN TRANSACTION")
        try:
            for stream in streams:
                report: IngestReport | None = None
                first: CanonicalBatch | None = None
                start = 0
                for item in stream:
                    if isinstance(item, InputError):
                        problems.extend(item.problems)
                        continue
                    if problems:
                        continue
                    if first is None:
                        first, start = item, self._next_rowid(item.kind)
                        connection.execute(
                            "CREATE OR REPLACE TEMP TABLE _upsell_seen (event_id VARCHAR)"
                        )
                    part = self._write_chunk(item, start)
                    report = part if report is None else report + part
                if first is not None and report is not None and not problems:
                    self._log_ingest(first, report)
                    reports.append(report)
                    connection.execute("DROP TABLE temp._upsell_seen")
            if problems:
                raise InputError(problems)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return reports

    def _next_rowid(self, kind: Kind) -> int:
        """Row ids only grow (nothing is ever deleted; rows of the open transaction get
        larger ids still), so 'rowid >= start' marks rows added by the current source."""
        row = self.connect().execute(f"SELECT coalesce(max(rowid), -1) + 1 FROM {kind}").fetchall()
        return int(row[0][0])

    def _write_chunk(self, batch: CanonicalBatch, start: int) -> IngestReport:
        import pyarrow as pa

        connection = self.connect()
        table = pa.Table.from_pandas(batch.frame, preserve_index=False)
        connection.register("_upsell_incoming", table)
        try:
            if batch.kind == "exposures":
                self._add_attribute_columns(batch.attributes)
            added, in_source, already = self._insert(batch, start)
            connection.execute("DROP TABLE temp._upsell_staged")
        finally:
            connection.unregister("_upsell_incoming")
        return IngestReport(
            rows_read=batch.rows_read,
            rows_added=added,
            duplicates_skipped=in_source + already,
            source=batch.source,
            kind=batch.kind,
            duplicates_in_source=in_source,
            defaulted_columns=batch.defaulted,
        )

    def _insert(self, batch: CanonicalBatch, start: int) -> tuple[int, int, int]:
        """(rows added, duplicates inside the source, rows stored before this source)."""
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
        # stored rows sharing an id with the chunk; rowid < start = stored before this source
        connection.execute(
            "CREATE TEMP TABLE _upsell_matched AS SELECT event_id, rowid < ? AS before "
            f"FROM {kind} WHERE event_id IN (SELECT event_id FROM _upsell_staged)",
            [start],
        )
        matched = int(connection.execute("SELECT count(*) FROM _upsell_matched").fetchall()[0][0])
        target = [*quoted, "event_id"]
        # first row wins among repeats inside the chunk; skip the window when there are none
        staged = (
            "_upsell_staged"
            if total == distinct
            else "(SELECT * FROM _upsell_staged "
            "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _row) = 1)"
        )
        new_only = (
            " WHERE s.event_id NOT IN (SELECT event_id FROM _upsell_matched)" if matched else ""
        )
        inserted = connection.execute(
            f"INSERT INTO {kind} ({', '.join(target)}) "
            f"SELECT {', '.join(target)} FROM {staged} AS s{new_only} ORDER BY _row"
        ).fetchall()
        added = int(inserted[0][0]) if inserted else 0
        already = 0
        if matched:
            # ids stored before this source and not already met in an earlier chunk of it
            inserted_seen = connection.execute(
                "INSERT INTO _upsell_seen SELECT event_id FROM _upsell_matched WHERE before "
                "AND event_id NOT IN (SELECT event_id FROM _upsell_seen)"
            ).fetchall()
            already = int(inserted_seen[0][0]) if inserted_seen else 0
        connection.execute("DROP TABLE temp._upsell_matched")
        return added, total - added - already, already

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
