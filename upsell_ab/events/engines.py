"""Query engines: run ONE rendered SELECT and return its rows as tuples.

A small protocol so the metrics layer does not care where the data lives:
DuckDB (embedded store or files read in place), PostgreSQL through psycopg 3,
Spark SQL through a PySpark session. Each engine names its SQLGlot dialect,
which is how the query builder knows what to render. Engines opened here
(not handed in by the caller) are read-only where the engine allows it
(DuckDB ``read_only``, PostgreSQL read-only transactions), so even a bug in
the query builder could not modify the data. Drivers are imported lazily.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from upsell_ab.errors import StoreError

Dialect = Literal["duckdb", "postgres", "spark"]
Row = tuple[Any, ...]


@runtime_checkable
class QueryEngine(Protocol):
    """Executes one SELECT and returns all rows (the results are small aggregates)."""

    dialect: Dialect

    def execute(self, sql: str) -> list[Row]: ...

    def close(self) -> None: ...


_BEFORE_QUERY: list[Callable[[], None]] = []


@contextmanager
def before_first_query(callback: Callable[[], None]) -> Iterator[None]:
    """Inside this block, call ``callback`` once, just before the next DuckDB query starts
    (the CLI starts its background import there, :mod:`upsell_ab.cli.preload`: while
    DuckDB runs, the GIL is free; before, the import would slow the main thread's SQL
    building instead). Removed on exit if no query ran."""
    _BEFORE_QUERY.append(callback)
    try:
        yield
    finally:
        if callback in _BEFORE_QUERY:
            _BEFORE_QUERY.remove(callback)


def _before_query() -> None:
    while _BEFORE_QUERY:
        _BEFORE_QUERY.pop()()


def configure_duckdb(connection: Any, memory_limit: str | None = None) -> str:
    """Memory limit (see :mod:`upsell_ab.events.memory`) and a private spill directory for
    a connection we opened; returns the directory, which the caller removes on close."""
    from upsell_ab.events.memory import duckdb_memory_setting, private_spill_directory

    spill = private_spill_directory()
    connection.execute(f"SET memory_limit = '{duckdb_memory_setting(memory_limit)}'")
    connection.execute("SET temp_directory = ?", [spill])
    return spill


@contextmanager
def utc_session(run: Callable[[str], list[Row]], show: str, set_to: str) -> Iterator[None]:
    """Run a query with the session time zone at UTC, then put the caller's back.

    A ``TIMESTAMP WITH TIME ZONE`` column compared with the naive date bounds of a spec
    (or truncated to days) is read in the *session* time zone, which DuckDB and
    PostgreSQL take from the machine or server. Without this, the same Parquet file gave
    different exposures counted and different lifts on a laptop in Los Angeles than on a
    UTC server. Naive timestamps (the store's, UTC by contract) are unaffected.
    ``run`` executes one statement and returns its rows."""
    rows = run(show)
    previous = str(rows[0][0]) if rows else "UTC"
    changed = previous.upper() not in ("UTC", "ETC/UTC")
    if changed:
        run(set_to.format(zone="'UTC'"))
    try:
        yield
    finally:
        if changed:
            run(set_to.format(zone=_quoted(previous)))


@contextmanager
def duckdb_optimizers_off(connection: Any, *names: str) -> Iterator[None]:
    """DuckDB's optimizers ``names`` off for the statements inside (added to those the
    connection already has off), the connection's own setting put back after: a shared
    or caller's connection keeps what it had."""
    rows = connection.execute("SELECT current_setting('disabled_optimizers')").fetchall()
    previous = str(rows[0][0] or "") if rows else ""
    wanted = [name for name in previous.split(",") if name.strip()]
    wanted += [name for name in names if name not in wanted]
    connection.execute("SET disabled_optimizers = ?", [",".join(wanted)])
    try:
        yield
    finally:
        connection.execute("SET disabled_optimizers = ?", [previous])


def _quoted(zone: str) -> str:
    return "'" + zone.replace("'", "''") + "'"


BUILD_SIDE_SWAP = "build_side_probe_side"
"""DuckDB's optimizer that makes each hash join build on the side it estimates smaller."""

_DUCKDB_ZONE = ("SELECT current_setting('TimeZone')", "SET TimeZone = {zone}")
_POSTGRES_ZONE = ("SHOW TimeZone", "SET TIME ZONE {zone}")


def remove_spill(directory: str | None) -> None:
    if directory:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)


def duckdb_threads() -> int | None:
    """Threads for the metric queries: ``UPSELL_AB_DUCKDB_THREADS`` when set, else None
    (DuckDB's default: every core). The query's sums are exact integers
    (:mod:`upsell_ab.metrics.sql_exact`), so any number of threads gives the same bytes."""
    raw = os.environ.get("UPSELL_AB_DUCKDB_THREADS")
    if raw is None or not raw.strip():
        return None
    try:
        return max(1, int(raw))
    except ValueError:
        raise StoreError(
            f"UPSELL_AB_DUCKDB_THREADS={raw!r} is not a whole number (unset it, or use e.g. 4)"
        ) from None


class DuckDBEngine:
    """DuckDB: an existing connection, a database file (opened read-only), or in memory.

    Connections it opens get the machine-following memory limit and a temporary spill
    directory (removed on :meth:`close`); a caller's connection is left as it is."""

    dialect: Dialect = "duckdb"

    def __init__(
        self,
        connection: Any = None,
        path: str | Path | None = None,
        memory_limit: str | None = None,
    ) -> None:
        import duckdb

        self._spill: str | None = None
        self._owned = connection is None
        if connection is not None:
            self.connection = connection
        elif path is not None:
            if not Path(path).exists():
                raise StoreError(
                    f"event store {path} does not exist "
                    "(create it with 'upsell-ab ingest --store PATH ...')"
                )
            from upsell_ab.events.store_open import open_store

            # waits (bounded) while an ingest holds the file, then reads its committed state
            self.connection = open_store(path, read_only=True)
        else:
            self.connection = duckdb.connect()
        if self._owned:
            try:
                self._spill = configure_duckdb(self.connection, memory_limit)
            except BaseException:
                self.connection.close()
                raise
            # Aggregates only: row order is irrelevant, and keeping it costs memory.
            self.connection.execute("SET preserve_insertion_order = false")
        threads = duckdb_threads()
        if self._owned and threads is not None:
            self.connection.execute("SET threads = ?", [threads])

    def _rows(self, sql: str) -> list[Row]:
        return [tuple(r) for r in self.connection.execute(sql).fetchall()]

    def execute(self, sql: str, *, written_build_sides: bool = False) -> list[Row]:
        """The rows of ``sql``. ``written_build_sides``: every hash join builds on the side
        the SQL puts on its right, as written (DuckDB's swap by estimated sizes is off
        for this statement; see :mod:`upsell_ab.metrics.build_side`)."""
        import duckdb

        try:
            with utc_session(self._rows, *_DUCKDB_ZONE):
                if _BEFORE_QUERY:
                    _before_query()
                if not written_build_sides:
                    return [tuple(r) for r in self.connection.execute(sql).fetchall()]
                with duckdb_optimizers_off(self.connection, BUILD_SIDE_SWAP):
                    return [tuple(r) for r in self.connection.execute(sql).fetchall()]
        except duckdb.Error as error:
            raise StoreError(f"DuckDB query failed: {error}") from error

    def columns(self, relation: str) -> dict[str, str]:
        """Column name -> type name of ``relation`` (SQL text of a table), read from no rows."""
        import duckdb

        try:
            rows = self.connection.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
            return {str(row[0]): str(row[1]) for row in rows}
        except duckdb.Error as error:
            raise StoreError(f"DuckDB query failed: {error}") from error

    def single_thread(self) -> None:
        """One thread from now on (floating-point sums then add in a fixed order); a
        caller's connection is left as it is."""
        if self._owned:
            self.connection.execute("SET threads = 1")

    def close(self) -> None:
        if self._owned:
            self.connection.close()
            remove_spill(self._spill)
            self._spill = None


class DuckDBRelationEngine:
    """DuckDB relations of a caller's connection, which Python cannot name: each added
    relation becomes a view on that connection for as long as this engine lives
    (``close`` drops them), and queries run through the first relation."""

    dialect: Dialect = "duckdb"
    _SELF = "upsell_ab_anchor"

    def __init__(self, anchor: Any) -> None:
        self.anchor = anchor
        self.views: list[str] = []

    def add_view(self, name: str, relation: Any) -> None:
        import duckdb

        try:
            relation.create_view(name, replace=False)
        except duckdb.Error as error:
            raise StoreError(f"cannot read the DuckDB relation: {error}") from error
        self.views.append(name)

    def execute(self, sql: str) -> list[Row]:
        import duckdb

        try:
            with utc_session(self._rows, *_DUCKDB_ZONE):
                return self._rows(sql)
        except duckdb.Error as error:
            raise StoreError(f"DuckDB query failed: {error}") from error

    def _rows(self, sql: str) -> list[Row]:
        return [tuple(r) for r in self.anchor.query(self._SELF, sql).fetchall()]

    def close(self) -> None:
        for name in reversed(self.views):
            self.anchor.query(self._SELF, f'DROP VIEW IF EXISTS "{name}"')
        self.views.clear()


class PostgresEngine:
    """PostgreSQL via psycopg 3; a DSN opens a read-only autocommit connection."""

    dialect: Dialect = "postgres"

    def __init__(self, connection: Any = None, dsn: str | None = None) -> None:
        import psycopg

        self._owned = connection is None
        if connection is not None:
            self.connection = connection
        else:
            if not dsn:
                raise StoreError("no PostgreSQL connection string given")
            try:
                self.connection = psycopg.connect(dsn, autocommit=True)
                self.connection.read_only = True
            except Exception as error:  # libpq echoes what it cannot parse: the password too
                from upsell_ab.redact import dsn_secrets, redact

                text = redact(str(error).strip(), dsn_secrets(dsn)).replace("\n", " ")
                raise StoreError(
                    f"cannot connect to PostgreSQL: {text} "
                    "(check the connection string in the spec's dsn_env variable)"
                ) from None

    def execute(self, sql: str) -> list[Row]:
        import psycopg

        try:
            with utc_session(self._rows, *_POSTGRES_ZONE):
                return self._rows(sql)
        except psycopg.Error as error:
            raise StoreError(f"PostgreSQL query failed: {error}") from error

    def _rows(self, sql: str) -> list[Row]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: psycopg does not parse '%' placeholders
            return [tuple(r) for r in cursor.fetchall()] if cursor.description else []

    def columns(self, relation: str) -> dict[str, str]:
        """Column name -> type name of ``relation`` (SQL text of a table), read from no rows."""
        import psycopg

        try:
            with self.connection.cursor() as cursor:
                cursor.execute(f"SELECT * FROM {relation} LIMIT 0")
                return {d.name: d.type_display for d in cursor.description or ()}
        except psycopg.Error as error:
            raise StoreError(f"PostgreSQL query failed: {error}") from error

    def close(self) -> None:
        if self._owned:
            self.connection.close()


_SPARK_MEMORY_ADVICE = (
    "Spark's driver ran out of memory. The analysis is one large SQL statement whose "
    "planning, with adaptive query execution on, takes more than the default 1 GB "
    "driver on specs with many metrics, segments and CUPED; start the session with "
    "more driver memory (.config('spark.driver.memory', '2g') or more before "
    "getOrCreate(), or spark-submit --driver-memory 2g), or turn adaptive execution off for it "
    "(spark.conf.set('spark.sql.adaptive.enabled', 'false')). A long-lived session "
    "also keeps the plans of its last 1,000 queries: create it with "
    "spark.sql.ui.retainedExecutions=50. The session may be unusable after this error: "
    "restart it."
)


def _spark_failure(error: Exception) -> str:
    """The message for a failed Spark statement: the driver's heap exhaustion says what to
    change, as a raw ``java.lang.OutOfMemoryError`` stack trace does not."""
    text = str(error)
    for words in _SPARK_OUT_OF_MEMORY:
        if words in text:
            start = text.index(words)
            said = text[start : start + 200].splitlines()[0]
            return f"{_SPARK_MEMORY_ADVICE} (Spark said: {said})"
    return f"Spark query failed: {text}"


_SPARK_OUT_OF_MEMORY = (
    "java.lang.OutOfMemoryError",  # first: the quote then starts at the class's package
    "OutOfMemoryError",
    "Not enough memory to build and broadcast",  # the driver's broadcast of a join side
    "NOT_ENOUGH_MEMORY_TO_BUILD_AND_BROADCAST",
)
"""The driver's heap exhausted, in the words Spark raises it with (measured: a 480 MB
driver gives either the first or the third for the same query, run to run)."""


class SparkEngine:
    """Spark SQL on a SparkSession (the caller's, or ``getOrCreate()``).

    Days are computed with ``CAST(ts AS DATE)``, which follows the session time
    zone; timestamps are UTC, so an engine we create sets the session to UTC.
    """

    dialect: Dialect = "spark"

    def __init__(self, session: Any = None) -> None:
        if session is None:
            from pyspark.sql import SparkSession

            session = (
                SparkSession.builder.appName("upsell_ab")
                .config("spark.sql.session.timeZone", "UTC")
                # planning the analysis statement with adaptive execution can take most
                # of the default 1 GB, and each kept plan is large (docs/how-to/
                # warehouses.md); both are static: ignored if a JVM already runs
                .config("spark.driver.memory", "2g")
                .config("spark.sql.ui.retainedExecutions", "50")
                .config("spark.ui.showConsoleProgress", "false")
                .getOrCreate()
            )
        self.session = session

    def execute(self, sql: str) -> list[Row]:
        try:
            return [tuple(r) for r in self.session.sql(sql).collect()]
        except Exception as error:  # pyspark raises many unrelated exception types
            raise StoreError(_spark_failure(error)) from error

    def columns(self, relation: str) -> dict[str, str]:
        """Column name -> type name of ``relation`` (SQL text of a table), read from no rows."""
        try:
            return dict(self.session.sql(f"SELECT * FROM {relation} LIMIT 0").dtypes)
        except Exception as error:  # pyspark raises many unrelated exception types
            raise StoreError(_spark_failure(error)) from error

    def close(self) -> None:
        """The session is shared (``getOrCreate``); stopping it is the caller's choice."""


def wrap_connection(connection: Any) -> QueryEngine:
    """An engine for a raw DuckDB / psycopg connection or SparkSession (or an engine)."""
    if isinstance(connection, QueryEngine):
        return connection
    module = type(connection).__module__
    if module.startswith("duckdb") or module.startswith("_duckdb"):
        return DuckDBEngine(connection=connection)
    if module.startswith("psycopg"):
        return PostgresEngine(connection=connection)
    if module.startswith("pyspark"):
        return SparkEngine(session=connection)
    raise StoreError(
        f"unsupported connection type {type(connection).__name__} "
        "(pass a DuckDB connection, a psycopg connection, a SparkSession or a QueryEngine)"
    )


def postgres_dsn(variable: str) -> str:
    """The DSN from the environment variable a spec names (never from the spec itself)."""
    dsn = os.environ.get(variable)
    if not dsn:
        raise StoreError(
            f"environment variable {variable} is not set "
            "(export it with the PostgreSQL connection string, e.g. 'postgresql://...')"
        )
    return dsn
