"""Read sources in chunks: CSV (every cell as text), Parquet, JSON lines, DataFrames.

Why chunks: a 10M-row file should not need its whole decoded copy in memory
at once. :func:`iter_source` yields :class:`SourceTable` pieces of at most
``chunk_rows`` rows, each carrying the source row numbers of its rows, so a
problem found in chunk 7 is still reported at its real row. Validation and the
write transaction live elsewhere (``ingest``, ``store``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import InputError, Location, Problem

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_CHUNK_ROWS = 1_000_000
"""Rows decoded and validated at a time (memory bound of one ingest, roughly
0.5 GB of working memory per million typical exposure rows)."""

_CSV_BLOCK_BYTES = 1 << 22


@dataclass(frozen=True)
class SourceTable:
    """A source (or a chunk of one) read as-is: CSV cells are strings;
    Parquet/DataFrame keep their types."""

    frame: pd.DataFrame
    name: str
    format: str
    sha256: str | None = None
    """Content hash of the whole file (None for a DataFrame)."""
    row_numbers: Any = None
    """Source row number of each frame row (numpy int array) for chunks and
    subsets; None = 1..n."""

    @property
    def has_lines(self) -> bool:
        return self.format == "csv"

    def row_number(self, position: int) -> int:
        if self.row_numbers is None:
            return position + 1
        return int(self.row_numbers[position])


def read_source(source: Any, *, name: str | None = None) -> SourceTable:
    """The whole source as one table (small inputs, tests)."""
    import pandas as pd

    chunks = list(iter_source(source, name=name, chunk_rows=2**62))
    if len(chunks) == 1:
        return chunks[0]
    first = chunks[0]
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    return SourceTable(frame, first.name, first.format, first.sha256)


def iter_source(
    source: Any, *, name: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[SourceTable]:
    """Yield a path (``.csv``, ``.parquet``/``.pq``, ``.jsonl``/``.ndjson``) or a DataFrame
    in chunks; always at least one (possibly empty) chunk. Raises InputError for
    unreadable files, after yielding what could be read for malformed CSV rows."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        yield SourceTable(source.reset_index(drop=True), name or "DataFrame", "frame")
        return
    path = Path(source)
    display = name or str(path)
    if not path.is_file():
        raise InputError(
            [Problem(Location(file=display), "file not found", "check the path", "not_found")]
        )
    digest = file_sha256(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        yield from _parquet_chunks(path, display, digest, chunk_rows)
    elif suffix in (".jsonl", ".ndjson"):
        yield SourceTable(_read_jsonl(path, display), display, "jsonl", digest)
    else:
        yield from _csv_chunks(path, display, digest, chunk_rows)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _bad_file(display: str, message: str, hint: str, line: int | None = None) -> InputError:
    return InputError([Problem(Location(file=display, line=line), message, hint, "bad_file")])


_DELIMITERS = (",", ";", "\t", "|")
"""Field separators a shop's export may use: spreadsheets in locales whose decimal mark is
a comma (most of Europe) save "CSV" with ';', and some tools write tab or '|'."""


def csv_delimiter(header_line: str) -> str:
    """The separator that splits the header into the most fields (',' on a tie, so a
    plain CSV is read as before): ``order_id;unit_id;value`` is three columns, not one
    column whose name holds semicolons."""
    import csv

    def fields(delimiter: str) -> int:
        try:
            return len(next(csv.reader([header_line], delimiter=delimiter), []))
        except csv.Error:
            return 0

    return max(_DELIMITERS, key=lambda d: (fields(d), d == ","))


def _csv_header(path: Path, display: str) -> tuple[list[str], str]:
    """The header's column names and the file's field separator (:func:`csv_delimiter`)."""
    import csv

    with path.open("rb") as handle:
        first = handle.readline(_CSV_BLOCK_BYTES)  # only line 1: a bad byte later is not its
    try:
        line = first.decode("utf-8-sig").rstrip("\r\n")
        delimiter = csv_delimiter(line)
        header = next(csv.reader([line], delimiter=delimiter), None)
    except (csv.Error, UnicodeDecodeError) as error:
        raise _bad_file(
            display, f"unreadable header: {error}", "save the file as UTF-8 CSV", 1
        ) from None
    if not header:
        raise _bad_file(display, "empty file: no header row", "the first line names the columns", 1)
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, column in enumerate(header, start=1):
        where = Location(file=display, line=1, column=index, field=column)
        if not column.strip():
            problems.append(Problem(where, "empty column name", "name every column", "bad_header"))
        elif column in seen:
            problems.append(
                Problem(where, f"column {column!r} appears twice", "rename one", "bad_header")
            )
        seen.add(column)
    if problems:
        raise InputError(problems)
    return header, delimiter


def _csv_chunks(path: Path, display: str, digest: str, chunk_rows: int) -> Iterator[SourceTable]:
    """Streaming pyarrow reader, every column typed as string (so '007' stays '007'
    and a bad number can be shown as written)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    header, delimiter = _csv_header(path, display)
    bad_rows: list[Problem] = []

    def on_invalid(row: Any) -> str:
        line = row.number
        bad_rows.append(
            Problem(
                Location(file=display, line=line, row=None if line is None else line - 1),
                f"expected {row.expected_columns} fields, found {row.actual_columns}: "
                f"{str(row.text)[:80]!r}",
                "quote fields that contain the delimiter; row numbers reported after "
                "this row may be shifted by it",
                "bad_row",
            )
        )
        return "skip"

    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf8", block_size=_CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, invalid_row_handler=on_invalid, newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={column: pa.string() for column in header},
                strings_can_be_null=False,
            ),
        )
        pending = reader.schema.empty_table()
        offset = 0
        emitted = False
        for batch in reader:
            pending = pa.concat_tables([pending, pa.Table.from_batches([batch])])
            while pending.num_rows >= chunk_rows:
                yield _chunk(pending.slice(0, chunk_rows), display, digest, offset)
                offset += chunk_rows
                pending = pending.slice(chunk_rows)
                emitted = True
        if pending.num_rows or not emitted:
            yield _chunk(pending, display, digest, offset)
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        bad = _first_non_utf8(path)
        if bad is not None:
            line, column, byte = bad
            raise InputError(
                [
                    Problem(
                        Location(file=display, line=line, column=column),
                        f"byte 0x{byte:02x} is not UTF-8 "
                        "(the file, or part of it, is in another text encoding)",
                        _encoding_hint(path),
                        "bad_file",
                    )
                ]
            ) from None
        raise _bad_file(
            display, f"cannot read CSV: {error}", "save the file as UTF-8 CSV with one header row"
        ) from None
    if bad_rows:
        raise InputError(bad_rows)


def _encoding_hint(path: Path) -> str:
    """How to convert a file that is not UTF-8: Japanese spreadsheets save Shift_JIS
    (Windows code page 932) by default, Western European ones Latin-1; the first names
    cp932 only when the file's first MiB decodes as cp932."""
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    try:
        head.decode("cp932")
    except UnicodeDecodeError:
        return "save the whole file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
    return (
        "save the whole file as UTF-8; it reads as Shift_JIS (Japanese Excel's CSV): "
        "iconv -f cp932 -t utf-8, or in Excel 'CSV UTF-8' (else iconv -f latin1 -t utf-8)"
    )


def _first_non_utf8(path: Path) -> tuple[int, int, int] | None:
    """(line, byte column, byte) of the first byte that is not UTF-8; lines are physical
    lines (a quoted field spanning lines counts each). None when the file is UTF-8."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset_in_line = 1, 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                before = block[: error.start]
                newlines = before.count(b"\n")
                column = (
                    error.start - before.rfind(b"\n")
                    if newlines
                    else offset_in_line + error.start + 1
                )
                return line + newlines, column, block[error.start]
            newlines = block.count(b"\n")
            line += newlines
            offset_in_line = (
                len(block) - block.rfind(b"\n") - 1 if newlines else offset_in_line + len(block)
            )
    return None


def _chunk(table: Any, display: str, digest: str, offset: int) -> SourceTable:
    import numpy as np
    import pandas as pd

    rows = np.arange(offset + 1, offset + table.num_rows + 1, dtype=np.int64)
    frame = table.combine_chunks().to_pandas(types_mapper=pd.ArrowDtype)
    return SourceTable(frame, display, "csv", digest, rows)


def _parquet_chunks(
    path: Path, display: str, digest: str, chunk_rows: int
) -> Iterator[SourceTable]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
        offset = 0
        emitted = False
        for batch in handle.iter_batches(batch_size=min(chunk_rows, 2**31 - 1)):
            rows = np.arange(offset + 1, offset + batch.num_rows + 1, dtype=np.int64)
            frame = batch.to_pandas(types_mapper=_exact_integers)
            yield SourceTable(frame, display, "parquet", digest, rows)
            offset += batch.num_rows
            emitted = True
        if not emitted:
            yield SourceTable(
                handle.schema_arrow.empty_table().to_pandas(), display, "parquet", digest
            )
    except (pa.ArrowException, OSError) as error:
        raise _bad_file(
            display,
            f"cannot read Parquet: {error}",
            "check that the file is a complete Parquet file",
        ) from None


def _exact_integers(arrow_type: Any) -> Any:
    """Integer Parquet columns stay Arrow integers in pandas: the default conversion
    turns an integer column with a null into float64, which rounds ids above 2**53
    (9007199254740993 -> ...992), so two distinct event ids could merge silently."""
    import pandas as pd
    import pyarrow as pa

    return pd.ArrowDtype(arrow_type) if pa.types.is_integer(arrow_type) else None


_FLOAT_EXACT_INTEGERS = 2.0**53
"""Beyond this magnitude a float64 no longer holds every integer."""


def _read_jsonl(path: Path, display: str) -> pd.DataFrame:
    """JSON lines as a frame. A column whose values mix JSON types (``"value": 10`` on
    one line, ``"abc"`` on the next; ids as strings then numbers) becomes text, so
    validation can name the row of the bad value instead of pyarrow failing on the
    whole column. pandas reads a column of integers with a null as float64, which
    rounds integers above 2**53; when a float column holds such a value the file is
    read again with every value kept as the Python object JSON gave (exact)."""
    import json

    import numpy as np
    import pandas as pd

    try:
        frame = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
        if any(
            pd.api.types.is_float_dtype(frame[name].dtype)
            and bool(np.any(np.abs(frame[name].to_numpy()) > _FLOAT_EXACT_INTEGERS))
            for name in frame.columns
        ):
            with path.open(encoding="utf-8") as handle:
                records = [json.loads(line) for line in handle if line.strip()]
            frame = pd.DataFrame(records, dtype=object)
            frame = frame.where(frame.notna(), None)
    except (ValueError, UnicodeDecodeError) as error:
        raise _bad_file(
            display, f"cannot read JSON lines: {error}", "one JSON object per line"
        ) from None
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].map(_json_text, na_action="ignore")
    return frame


def _json_text(value: Any) -> Any:
    """One JSON value as text: strings as they are, numbers and booleans as JSON writes
    them, nested objects as compact JSON."""
    import json

    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
