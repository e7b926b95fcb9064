"""The column names of files a ``files`` source reads in place, without reading the data.

``validate`` compares a spec's column mapping with the real files, so a mapping
the export cannot satisfy fails in CI with a located problem instead of as a
DuckDB binder error at analysis time. The names come from the reader the
analysis itself uses (DuckDB's ``read_csv`` / ``read_parquet`` with the same
arguments, under ``DESCRIBE``): CSV sniffing reads a sample of rows, Parquet only the
footer, so the cost does not grow with the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from upsell_ab.events.schema import quote_identifier


@dataclass(frozen=True)
class FileHeader:
    """What reading the header of ``path`` gave: its column names, or why there are none."""

    path: str
    columns: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    """DuckDB's type of each column (``VARCHAR``, ``TIMESTAMP``, ``DOUBLE`` ...)."""
    missing: bool = False
    """No file matches the path or glob (data that lives elsewhere, e.g. not in CI)."""
    error: str | None = None
    """The files exist but cannot be read (damaged, wrong format)."""


def read_file_header(path: str, file_format: str) -> FileHeader:
    """Column names of the file(s) at ``path`` (a file or glob), as DuckDB reads them."""
    import glob

    import duckdb

    if not glob.glob(path, recursive=True):
        return FileHeader(path, missing=True)
    connection = duckdb.connect()
    try:
        described = connection.execute(
            "SELECT column_name, column_type FROM "
            f"(DESCRIBE SELECT * FROM {_reader(path, file_format)})"
        ).fetchall()
    except duckdb.Error as error:
        return FileHeader(path, error=str(error).splitlines()[0][:300])
    finally:
        connection.close()
    return FileHeader(
        path,
        columns=tuple(str(name) for name, _ in described),
        types=tuple(str(kind) for _, kind in described),
    )


def _reader(path: str, file_format: str) -> str:
    """DuckDB's table function reading ``path`` as the analysis does."""
    reader = "read_parquet" if file_format == "parquet" else "read_csv"
    return f"{reader}('" + path.replace("'", "''") + "')"


_CONVERSION = re.compile(
    r"Could not convert string '(?P<value>(?:[^']|'')*)' to (?P<type>[A-Z0-9_ ]+?)"
    r"(?: when casting from source column (?P<column>\S+))?$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class BadValue:
    """A cell of a file read in place that the analysis cannot convert."""

    table: str
    path: str
    file_format: str
    column: str
    value: str
    target: str
    row: int
    """1-based data row (a CSV's line is ``row + 1``: the header comes first)."""

    def describe(self) -> str:
        line = f" (line {self.row + 1})" if self.file_format != "parquet" else ""
        kind = (
            "a number"
            if self.target in _DECIMAL
            else "a whole number"
            if self.target in _WHOLE
            else f"a {self.target.lower()}"
        )
        return (
            f"the {self.table} file {self.path!r}, row {self.row}{line}, column "
            f"'{self.column}': {self.value!r} is not {kind}"
        )

    @property
    def hint(self) -> str:
        if self.target in _DECIMAL:
            return (
                "write numbers with '.' as the decimal point and no thousands separators or "
                "currency signs"
            )
        if self.target in _WHOLE:
            return (
                "the other file holds this column as whole numbers (e.g. unit ids 123 in the "
                "exposures, 'guest' or 'C123' in the events): use the same kind of id in both "
                "exports"
            )
        return "fix the value in the export"


_DECIMAL = frozenset({"DOUBLE", "FLOAT", "DECIMAL"})
_WHOLE = frozenset({"BIGINT", "INTEGER", "HUGEINT", "INT64", "INT32", "INT128"})


def locate_bad_value(message: str, files: Mapping[str, tuple[str, str]]) -> BadValue | None:
    """Where DuckDB's ``Conversion Error`` came from: the file, 1-based row and column of
    the first cell holding the value it names (``12,50`` in a revenue column written with
    a decimal comma). ``files`` maps a table name to (path, format). Runs only after the
    analysis query failed, so its extra scan costs nothing on the normal path."""
    import duckdb

    match = _CONVERSION.search(message)
    if match is None:
        return None
    value = match.group("value").replace("''", "'")
    column = match.group("column")
    connection = duckdb.connect()
    try:
        connection.execute("SET preserve_insertion_order = true")
        for table, (path, file_format) in files.items():
            names = read_file_header(path, file_format).columns
            for name in [column] if column in names else names:
                found = connection.execute(
                    f"SELECT row FROM (SELECT row_number() OVER () AS row, "
                    f"CAST({quote_identifier(name)} AS VARCHAR) AS cell "
                    f"FROM {_reader(path, file_format)}) WHERE cell = ? ORDER BY row LIMIT 1",
                    [value],
                ).fetchall()
                if found:
                    return BadValue(
                        table, path, file_format, name, value, match.group("type"), found[0][0]
                    )
    except duckdb.Error:
        return None
    finally:
        connection.close()
    return None


def text_timestamp_problem(path: str, file_format: str, column: str, table: str) -> str | None:
    """Why a timestamp column of a file read in place came out as text, or None when it
    did not: the file has no data rows (a header alone reads as VARCHAR), or DuckDB's
    sniffer did not recognise the format (``03/04/2026 10:00`` is ambiguous)."""
    import duckdb

    header = read_file_header(path, file_format)
    if header.error is not None or header.missing or column not in header.columns:
        return None
    if header.types[header.columns.index(column)] != "VARCHAR":
        return None
    quoted = quote_identifier(column)
    connection = duckdb.connect()
    try:
        connection.execute("SET preserve_insertion_order = true")
        sample = connection.execute(
            f"SELECT cell, row, TRY_CAST(cell AS TIMESTAMPTZ) IS NULL AS bad FROM "
            f"(SELECT {quoted} AS cell, row_number() OVER () AS row "
            f"FROM {_reader(path, file_format)}) "
            "WHERE cell IS NOT NULL ORDER BY bad DESC, row LIMIT 1"
        ).fetchall()
    except duckdb.Error:
        return None
    finally:
        connection.close()
    if not sample:
        return (
            f"the {table} file {path!r} has no data rows (or no '{column}' values): nothing "
            "to analyse yet; export again once it holds rows, or point the spec at the "
            "right file"
        )
    cell, row, bad = sample[0]
    line = f" (line {row + 1})" if file_format != "parquet" else ""
    example = f"{cell!r} on row {row}{line}" if bad else f"e.g. {cell!r}"
    return (
        f"the {table} file {path!r}: column '{column}' is read as text, not as timestamps "
        f"({example}); write ISO 8601 times such as 2026-03-02 14:05:00 or "
        "2026-03-02T14:05:00+09:00, or load the file with 'upsell-ab ingest', which names "
        "every row it cannot read"
    )
