"""Validate exposures/events and bring them to canonical columns.

Nothing is written here: :func:`to_canonical` turns one source table (or
chunk, see :mod:`upsell_ab.events.readers`) into a :class:`CanonicalBatch`
(canonical columns, UTC-naive timestamps, floats) or raises one
:class:`~upsell_ab.errors.InputError` listing every problem with its file,
line, data row and column. :func:`validated_chunks` does this chunk by chunk
for the store's single write transaction. Parsing is vectorised (pyarrow CSV
reader, pandas/pyarrow string kernels); there is no per-row Python loop.

Row numbering: ``row`` is the data row (the first row after the header is row
1; Parquet/DataFrame rows count from 1 too); for CSV, ``line`` is the physical
line in the file (header = line 1, so line = row + 1 unless a quoted field
spans several lines).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import InputError, Location, Problem
from upsell_ab.events.column_hints import MEASURED, lookalike
from upsell_ab.events.plausibility import ANY_TYPE, describe
from upsell_ab.events.readers import DEFAULT_CHUNK_ROWS, SourceTable, iter_source, read_source
from upsell_ab.events.schema import (
    ColumnMapping,
    Kind,
    attribute_problem,
    event_mapping,
    exposure_mapping,
)
from upsell_ab.events.timestamps import parse_timestamps, resolve_timezone

if TYPE_CHECKING:
    import pandas as pd

MAX_PROBLEMS_PER_KIND = 10
"""Problems listed per (column, kind of problem); the rest are counted in one line."""

NUMERIC_DEFAULTS: dict[str, float] = {"value": 0.0, "discount": 0.0, "quantity": 1.0}
"""Event columns that may be absent or empty, and the value they then take."""


@dataclass(frozen=True)
class CanonicalBatch:
    """Validated rows in canonical columns, ready for one atomic write.

    ``frame`` holds the canonical columns (``event_id`` may be null: the store
    fills a content hash), the attribute columns, and ``_row`` (data row in the
    source, for stable ordering and first-wins de-duplication).
    """

    kind: Kind
    frame: pd.DataFrame
    attributes: tuple[str, ...]
    source: str
    sha256: str | None
    defaulted: tuple[str, ...] = ()
    """Optional canonical columns absent from the source (filled with defaults)."""
    warnings: tuple[Problem, ...] = ()
    """Located notes that do not refuse the batch (implausible values, a column that
    looks like an order id but is not mapped)."""

    @property
    def rows_read(self) -> int:
        return len(self.frame)


# ------------------------------------------------------------------ validation
def load_batch(
    source: Any,
    kind: Kind,
    mapping: ColumnMapping | None = None,
    *,
    timezone: str | None = None,
    source_name: str | None = None,
) -> CanonicalBatch:
    """Read and validate ``source`` as ``kind``; raise one InputError listing every problem."""
    table = source if isinstance(source, SourceTable) else read_source(source, name=source_name)
    if mapping is None:
        mapping = exposure_mapping() if kind == "exposures" else event_mapping()
    return to_canonical(table, mapping, timezone=timezone)


def validated_chunks(
    source: Any,
    kind: Kind,
    mapping: ColumnMapping | None = None,
    *,
    timezone: str | None = None,
    source_name: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[CanonicalBatch | InputError]:
    """Each chunk of ``source``, validated: a batch, or the InputError locating its problems.

    Keeps going after a bad chunk so the caller can report every problem of the
    file; stops after structural problems (missing columns, unreadable file),
    which would repeat in every chunk. Column-level warnings (an unmapped look-alike
    column) are the same in every chunk and said once, with the first.
    """
    if mapping is None:
        mapping = exposure_mapping() if kind == "exposures" else event_mapping()
    chunks = iter_source(source, name=source_name, chunk_rows=chunk_rows)
    said: set[Problem] = set()
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except InputError as error:
            yield error
            return
        try:
            batch = to_canonical(chunk, mapping, timezone=timezone)
            fresh = tuple(w for w in batch.warnings if w.code not in _COLUMN_LEVEL or w not in said)
            said.update(w for w in batch.warnings if w.code in _COLUMN_LEVEL)
            yield batch if fresh == batch.warnings else replace(batch, warnings=fresh)
        except InputError as error:
            yield error
            if any(p.code in _STRUCTURAL for p in error.problems):
                return


MAX_ATTRIBUTE_COLUMNS = 64
"""Attribute columns one source may bring into the store when they are not listed
(``--attribute`` / ``exposure_columns.attributes``): every attribute becomes a
permanent column, so a file with 1,500 stray columns must not add 1,500."""

_COLUMN_LEVEL = frozenset({"unmapped_column"})
"""Warning codes about the source's columns (the same in every chunk)."""

_STRUCTURAL = frozenset(
    {"missing_column", "unmapped_column", "bad_attribute", "bad_timezone", "bad_header"}
)


def to_canonical(
    table: SourceTable, mapping: ColumnMapping, *, timezone: str | None = None
) -> CanonicalBatch:
    """Map, parse and check one table; every problem of the table in one InputError."""
    import numpy as np
    import pandas as pd

    tz = resolve_timezone(timezone)
    frame = table.frame
    present = {str(c) for c in frame.columns}
    problems = _missing_columns(table, mapping, present)
    warnings = _unmapped_lookalikes(table, mapping, present, problems)
    attributes = _attributes(table, mapping, present, problems)
    if problems:
        raise InputError(problems)

    report = _Reporter(table)
    out: dict[str, Any] = {}
    n = len(frame)
    defaulted: list[str] = []
    required = mapping.required
    for canonical, source_col in mapping.columns.items():
        if canonical in mapping.constants:
            out[canonical] = _constant(mapping.constants[canonical], n)
            continue
        if source_col not in present:
            defaulted.append(canonical)
            continue
        column = frame[source_col]
        if canonical == "timestamp":
            parsed = parse_timestamps(column, tz)
            for reason, mask, hint in parsed.problems:
                report.add(mask, column, source_col, reason, hint, "bad_timestamp")
            out[canonical] = parsed.values
        elif canonical in NUMERIC_DEFAULTS:
            out[canonical] = _numbers(column, source_col, canonical, report)
        else:
            text = _strings(column)
            if canonical in required:
                report.add(
                    text.isna(),
                    column,
                    source_col,
                    f"empty {canonical}",
                    f"every row needs a {canonical}",
                    "empty_value",
                )
            out[canonical] = text
    for name in attributes:
        out[name] = _strings(frame[name])
    report.raise_if_any()

    result = pd.DataFrame(out, index=pd.RangeIndex(n))
    for canonical in mapping.columns:
        if canonical not in result:
            if canonical in NUMERIC_DEFAULTS:
                result[canonical] = np.full(n, NUMERIC_DEFAULTS[canonical])
            else:
                result[canonical] = pd.Series([None] * n, dtype=pd.ArrowDtype(_pa_string()))
    ordered = [*mapping.columns, *attributes]
    result = result[ordered]
    if mapping.bounds is not None and mapping.kind == "events":
        warnings.extend(_implausible(table, mapping, result))
    result["_row"] = (
        np.arange(1, n + 1, dtype=np.int64)
        if table.row_numbers is None
        else np.asarray(table.row_numbers, dtype=np.int64)
    )
    return CanonicalBatch(
        kind=mapping.kind,
        frame=result,
        attributes=attributes,
        source=table.name,
        sha256=table.sha256,
        defaulted=tuple(d for d in defaulted if d not in ("event_id", "order_id")),
        warnings=tuple(warnings),
    )


def _unmapped_lookalikes(
    table: SourceTable, mapping: ColumnMapping, present: set[str], problems: list[Problem]
) -> list[Problem]:
    """Absent optional columns that the source seems to hold under another name.

    A measured column (value, discount, quantity) refuses the source, because its
    default would enter every metric (``--allow-default`` accepts it); an
    identifying column (order_id, event_id) is a warning. Returns the warnings;
    appends the refusals to ``problems``.
    """
    warnings: list[Problem] = []
    used = {source for source in mapping.columns.values() if source in present}
    ordered = [str(c) for c in table.frame.columns]
    line = 1 if table.has_lines else None
    prefix = "events." if mapping.kind == "events" else "exposures."
    for canonical, source_col in mapping.columns.items():
        if source_col in present or canonical in mapping.required:
            continue
        if canonical in mapping.constants:
            continue  # the spec fixes it on purpose
        if canonical in mapping.explicit or _did_you_mean(source_col, present):
            continue  # already refused as a missing column
        candidate = lookalike(canonical, ordered, used)
        if candidate is None:
            continue
        where = Location(file=table.name, line=line, field=candidate)
        if canonical in MEASURED:
            if canonical in mapping.allow_default:
                continue
            default = NUMERIC_DEFAULTS[canonical]
            problems.append(
                Problem(
                    where,
                    f"no {canonical!r} column, so every {canonical} would be {default:g}; "
                    f"did you mean {candidate!r}?",
                    f"add --map {prefix}{canonical}={candidate} (or --allow-default "
                    f"{canonical} to ingest every {canonical} as {default:g})",
                    "unmapped_column",
                )
            )
        else:
            what = "an order id" if canonical == "order_id" else "an event id"
            warnings.append(
                Problem(
                    where,
                    f"column {candidate!r} looks like {what} but is not mapped",
                    f"add --map {prefix}{canonical}={candidate} so re-ingests of corrected "
                    "exports recognise the same rows",
                    "unmapped_column",
                )
            )
    return warnings


def _implausible(table: SourceTable, mapping: ColumnMapping, frame: pd.DataFrame) -> list[Problem]:
    """Values outside the mapping's plausible ranges: warnings, or a refusal when the
    bounds say so."""
    assert mapping.bounds is not None
    report = _Reporter(table)
    for column, event_type, low, high, mask in mapping.bounds.outside(frame):
        source_col = mapping.columns[column]
        shown = frame[column] if source_col not in table.frame else table.frame[source_col]
        report.add(
            mask,
            shown,
            source_col,
            describe(column, event_type, low, high),
            "check the export; set the range with --bound "
            f"{'' if event_type == ANY_TYPE else event_type + '.'}{column}=LOW:HIGH",
            "implausible_value",
        )
    if mapping.bounds.refuse:
        report.raise_if_any()
    return report.problems


def _constant(value: str | float, n: int) -> Any:
    """A spec's constant mapping as a whole column (text, or a float)."""
    import numpy as np
    import pandas as pd

    if isinstance(value, str):
        return pd.Series([value] * n, dtype=pd.ArrowDtype(_pa_string()))
    return np.full(n, float(value))


def _pa_string() -> Any:
    import pyarrow as pa

    return pa.string()


def _missing_columns(
    table: SourceTable, mapping: ColumnMapping, present: set[str]
) -> list[Problem]:
    problems: list[Problem] = []
    for canonical, source_col in mapping.columns.items():
        needed = canonical in mapping.required or canonical in mapping.explicit
        if source_col in present or canonical in mapping.constants:
            continue
        close = _did_you_mean(source_col, present)
        if needed or close:
            label = canonical if canonical == source_col else f"{source_col} (for {canonical})"
            hint = f"did you mean {close!r}? " if close else ""
            if canonical in mapping.explicit and canonical not in mapping.required:
                # an unprefixed --map of an optional column reaches both tables
                hint += (
                    f"a --map without a table prefix applies to exposures and events "
                    f"alike; for one table write --map events.{canonical}={source_col} "
                    f"(or exposures.{canonical}=...)"
                )
            else:
                hint += f"map it with --map {canonical}=<column>"
            hint += "" if not present else f"; columns found: {', '.join(sorted(present))}"
            line = 1 if table.has_lines else None
            problems.append(
                Problem(
                    Location(file=table.name, line=line, field=source_col),
                    f"missing column {label}",
                    hint,
                    "missing_column",
                )
            )
    return problems


def _did_you_mean(name: str, present: set[str]) -> str | None:
    lowered = {p.lower(): p for p in present}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.75)
    return lowered[close[0]] if close else None


def _attributes(
    table: SourceTable, mapping: ColumnMapping, present: set[str], problems: list[Problem]
) -> tuple[str, ...]:
    if mapping.kind != "exposures":
        return ()
    line = 1 if table.has_lines else None
    if mapping.attributes is None:
        used = set(mapping.columns.values())
        chosen = [str(c) for c in table.frame.columns if str(c) not in used]
    else:
        chosen = list(mapping.attributes)
        for name in chosen:
            if name not in present:
                close = _did_you_mean(name, present)
                problems.append(
                    Problem(
                        Location(file=table.name, line=line, field=name),
                        f"missing attribute column {name}",
                        f"did you mean {close!r}?" if close else "check the attribute list",
                        "missing_column",
                    )
                )
    if len(chosen) > MAX_ATTRIBUTE_COLUMNS:
        problems.append(
            Problem(
                Location(file=table.name, line=line),
                f"{len(chosen):,} attribute columns; at most {MAX_ATTRIBUTE_COLUMNS} are kept "
                "(each becomes a permanent store column)",
                "list the attributes to keep with --attribute NAME (repeat) or the spec's "
                "exposure_columns.attributes; the other columns are then ignored",
                "bad_attribute",
            )
        )
        return ()
    for name in chosen:
        problem = attribute_problem(name, Location(file=table.name, line=line, field=name))
        if problem is not None:
            problems.append(problem)
    return tuple(chosen)


def _strings(column: pd.Series) -> pd.Series:
    """Identifier-like text: surrounding blanks stripped, empty -> null. Integral floats
    (ids that went through a float column) print without '.0'."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if pd.api.types.is_float_dtype(column.dtype):
        values = column.to_numpy(dtype=float, na_value=np.nan)
        finite = np.isfinite(values)
        if finite.any() and np.all(values[finite] == np.round(values[finite])):
            column = column.astype("Int64")
    text = column.astype(pd.ArrowDtype(pa.string())).str.strip()
    return text.mask(text == "", None)


def _numbers(column: pd.Series, source_col: str, canonical: str, report: _Reporter) -> Any:
    """Float64 array; empty -> the default; unparsable/non-finite/negative -> problems."""
    import numpy as np
    import pandas as pd

    default = NUMERIC_DEFAULTS[canonical]
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        values = column.to_numpy(dtype=float, na_value=np.nan)
        empty = np.isnan(values)
        bad = np.zeros(len(values), dtype=bool)
    else:
        text = _strings(column)
        empty = text.isna().to_numpy()
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = np.isnan(values) & ~empty
    report.add(
        bad,
        column,
        source_col,
        f"unparsable number in {canonical}",
        "use digits with '.' as decimal point, no currency signs or thousands separators",
        "bad_number",
    )
    values = np.where(empty, default, values)
    report.add(
        ~np.isfinite(values) & ~bad,
        column,
        source_col,
        f"{canonical} is not finite",
        "give a finite number",
        "bad_number",
    )
    with np.errstate(invalid="ignore"):
        report.add(
            values < 0,
            column,
            source_col,
            f"negative {canonical}",
            _NEGATIVE_HINTS[canonical],
            f"negative_{canonical}",
        )
    return values


_NEGATIVE_HINTS = {
    "value": "values are amounts >= 0; record a refund as event_type 'refund' with the "
    "positive amount returned",
    "discount": "discount is the money given away by the offer, >= 0",
    "quantity": "quantity counts items, >= 0; record returns as 'refund' events",
}


class _Reporter:
    """Collects located problems: the first few rows per (column, problem), then a count."""

    def __init__(self, table: SourceTable) -> None:
        self.table = table
        self.problems: list[Problem] = []

    def add(
        self,
        mask: Any,
        column: pd.Series,
        source_col: str,
        message: str,
        hint: str | None,
        code: str,
    ) -> None:
        import numpy as np

        flags = np.asarray(mask, dtype=bool)
        if not flags.any():
            return
        positions = np.flatnonzero(flags)
        for position in positions[:MAX_PROBLEMS_PER_KIND]:
            row = self.table.row_number(int(position))
            value = column.iloc[int(position)]
            shown = "" if _is_missing(value) or not str(value).strip() else f": {str(value)[:60]!r}"
            self.problems.append(
                Problem(
                    Location(
                        file=self.table.name,
                        line=row + 1 if self.table.has_lines else None,
                        row=row,
                        field=source_col,
                    ),
                    message + shown,
                    hint,
                    code,
                )
            )
        extra = len(positions) - MAX_PROBLEMS_PER_KIND
        if extra > 0:
            self.problems.append(
                Problem(
                    Location(file=self.table.name, field=source_col),
                    f"... and {extra:,} more rows with: {message}",
                    None,
                    code,
                )
            )

    def raise_if_any(self) -> None:
        if self.problems:
            raise InputError(self.problems)


def _is_missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
