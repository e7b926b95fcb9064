"""The column names of files a ``files`` source reads in place, without reading the data.

``validate`` compares a spec's column mapping with the real files, so a mapping
the export cannot satisfy fails in CI with a located problem instead of as a
DuckDB binder error at analysis time. The names come from the reader the
analysis itself uses (DuckDB's ``read_csv`` / ``read_parquet`` with the same
arguments, under ``DESCRIBE``): CSV sniffing reads a sample of rows, Parquet only the
footer, so the cost does not grow with the file.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    reader = "read_parquet" if file_format == "parquet" else "read_csv"
    literal = "'" + path.replace("'", "''") + "'"
    connection = duckdb.connect()
    try:
        described = connection.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {reader}({literal}))"
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
