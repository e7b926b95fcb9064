"""Fit the spec's column mapping to the raw data a script passes to ``analyze()``.

A DataFrame of orders without an ``event_id`` (or ``discount``, ``quantity``)
column used to end in DuckDB's ``Referenced column "event_id" not found``. The
optional columns are now read as absent (no de-duplication by id; discount 0,
quantity 1, as ``event_columns: {discount: null}`` says in a spec), and a
missing required column is an :class:`~upsell_ab.errors.InputError` naming the
side, the column and the likely candidate (``revenue`` for ``value``), before
any query runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import InputError, Location, Problem

if TYPE_CHECKING:
    from upsell_ab.spec.models import DataSource

OPTIONAL = {"exposures": ("event_id",), "events": ("discount", "quantity", "order_id", "event_id")}
"""Mapped columns the analysis can do without (read as absent when the data lacks them)."""
_CANONICAL = {"type": "event_type"}


def columns_of(value: Any) -> tuple[str, ...] | None:
    """Column names of a DataFrame, Arrow table, DuckDB relation or CSV/Parquet path;
    None when they cannot be known cheaply (the query then reports what is wrong)."""
    if hasattr(value, "column_names") and not isinstance(value, str | Path):
        return tuple(str(c) for c in value.column_names)  # pyarrow Table
    columns = getattr(value, "columns", None)
    if columns is not None and not isinstance(value, str | Path):
        return tuple(str(c) for c in columns)  # pandas DataFrame, DuckDB relation
    if isinstance(value, str | Path):
        from upsell_ab.events.file_header import read_file_header

        text = str(value)
        fmt = "parquet" if text.lower().endswith((".parquet", ".pq")) else "csv"
        header = read_file_header(text, fmt)
        return header.columns if not header.missing and header.error is None else None
    return None


def fitted_source(
    data: DataSource,
    exposures: Any,
    events: Any,
    segments: tuple[str, ...] = (),
    unit: str | None = None,
) -> DataSource:
    """``data`` with optional columns the raw inputs lack set to absent; raises
    :class:`InputError` for every required column that is missing (``segments``: the
    attribute columns a segment breakdown will read; ``unit``: the spec's
    ``population.unit``, the first guess for a missing ``unit_id``, since people name
    the id column after what they hash, ``customer_id``)."""
    from upsell_ab.events.column_hints import MEASURED, lookalike
    from upsell_ab.spec.suggest import did_you_mean

    problems: list[Problem] = []
    updates: dict[str, Any] = {}
    for side, value, mapping in (
        ("exposures", exposures, data.exposure_columns),
        ("events", events, data.event_columns),
    ):
        present = columns_of(value)
        if present is None:
            continue
        absent: dict[str, None] = {}
        used = {v for v in mapping.model_dump().values() if isinstance(v, str)}
        for field, name in mapping.model_dump().items():
            if not isinstance(name, str) or name in present:
                continue
            free = [c for c in present if c not in used]
            if field in OPTIONAL[side]:
                similar = lookalike(field, free) if field in MEASURED and name == field else None
                if similar is None:
                    absent[field] = None
                    continue
                # read as absent, every discount would be 0: a profit decision on gross
                # margin (as ingest refuses, events.column_hints)
                fix = _fix(value, "event_columns", field, similar, field)
                problems.append(
                    Problem(
                        Location(file=side, field=field),
                        f"{side} has no column '{field}', and '{similar}' looks like it",
                        f"{fix}; or set data.event_columns.{field}: null in the spec if "
                        f"'{similar}' is something else (then {field} is "
                        f"{'0' if field == 'discount' else '1'} on every row)",
                        code="missing_column",
                    )
                )
                continue
            named_unit = unit if field == "unit_id" and unit in free else None
            guess = (
                named_unit
                or lookalike(_CANONICAL.get(field, field), free)
                or did_you_mean(name, free)
            )
            key = "exposure_columns" if side == "exposures" else "event_columns"
            fix = _fix(value, key, field, guess, name)
            problems.append(
                Problem(
                    Location(file=side, field=name),
                    f"{side} has no column '{name}' (the spec's {side} column for {field})",
                    f"did you mean '{guess}'? {fix}"
                    if guess
                    else f"its columns are {', '.join(present[:15])}",
                    code="missing_column",
                )
            )
        for attribute in segments if side == "exposures" else ():
            if attribute not in present:
                problems.append(
                    Problem(
                        Location(file=side, field=attribute),
                        f"{side} has no column '{attribute}' for the segment breakdown",
                        "add the column, or analyse without segments",
                        code="missing_column",
                    )
                )
        if absent:
            key = "exposure_columns" if side == "exposures" else "event_columns"
            updates[key] = mapping.model_copy(update=absent)
    if problems:
        swapped = _swapped(data, columns_of(exposures), columns_of(events))
        raise InputError([swapped, *problems] if swapped else problems)
    return data.model_copy(update=updates) if updates else data


def _swapped(
    data: DataSource, exposures: tuple[str, ...] | None, events: tuple[str, ...] | None
) -> Problem | None:
    """One problem first when the two inputs fit each other's columns: every missing
    column above then has one cause, the order of the arguments."""
    if exposures is None or events is None:
        return None
    wanted_exposures = {data.exposure_columns.experiment, data.exposure_columns.variant}
    wanted_events = {data.event_columns.type}
    names = {n for n in (*wanted_exposures, *wanted_events) if isinstance(n, str)}
    if len(names) < 3:
        return None
    fits_swapped = wanted_exposures <= set(events) and wanted_events <= set(exposures)
    fits = wanted_exposures <= set(exposures) and wanted_events <= set(events)
    if not fits_swapped or fits:
        return None
    return Problem(
        Location(field="data"),
        "the exposures and events look swapped: the table given as events has the "
        "exposures' columns and the one given as exposures has the events'",
        "pass them the other way round: analyze(exposures=..., events=...)",
        code="missing_column",
    )


def _fix(value: Any, key: str, field: str, column: str | None, name: str) -> str:
    """How to point ``field`` at ``column``: the spec's mapping for a file path, a rename
    for an in-memory frame (whose columns the spec names)."""
    if isinstance(value, str | Path):
        return f"map it in the spec: data.{key}.{field}: {column}"
    return f"rename it: df.rename(columns={{'{column}': '{name}'}})"
