"""Where a spec's exposures and events live, and how their columns map.

A :class:`SourceTables` names two relations (exposures, events) and, for each
canonical column the metric SQL needs, the column actually present in the
shop's data (``data.exposure_columns`` / ``data.event_columns`` of the spec).
The query builder reads these names and only ever emits them as *quoted
identifiers*; file paths become string literals of DuckDB's ``read_csv`` /
``read_parquet`` (files are read in place, never copied). Nothing here opens
a connection: this module is pure description.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from upsell_ab.errors import Location, Problem, SpecError
from upsell_ab.spec.models import Constant, DataSource, SourceKind, Table

FileFormat = Literal["csv", "parquet"]

EXPOSURE_FIELDS: tuple[str, ...] = ("experiment", "variant", "unit_id", "timestamp")
"""Canonical exposure columns the metric query reads (attributes come on top)."""

EVENT_FIELDS: tuple[str, ...] = (
    "unit_id",
    "timestamp",
    "event_type",
    "value",
    "discount",
    "quantity",
    "event_id",
)
"""Canonical event columns the metric query reads (``event_id`` may be absent)."""


@dataclass(frozen=True)
class Relation:
    """One logical table: a (schema-qualified) table, or files read in place.

    ``columns`` maps each canonical name to the source column name, to a
    :class:`~upsell_ab.spec.models.Constant` (the same value on every row), or to
    None when the source has no such column (only ``event_id`` may be None).
    """

    columns: tuple[tuple[str, str | Constant | None], ...]
    table: str | None = None
    schema: str | None = None
    path: str | None = None
    format: FileFormat | None = None

    def column(self, canonical: str) -> str | Constant | None:
        """The source's name for a canonical column, its constant, or None when absent."""
        for name, actual in self.columns:
            if name == canonical:
                return actual
        raise KeyError(canonical)

    @property
    def is_files(self) -> bool:
        return self.path is not None


@dataclass(frozen=True)
class SourceTables:
    """Exposures + events of one experiment, with the exposure attributes usable as segments."""

    kind: SourceKind
    exposures: Relation
    events: Relation
    attributes: tuple[str, ...] = ()
    store: str | None = None
    dsn_env: str | None = None


def file_format(table: Table, field: str) -> FileFormat:
    """``format`` if given, else guessed from the extension (``.csv``/``.parquet``/``.pq``)."""
    if table.format is not None:
        return table.format
    path = (table.path or "").lower()
    if path.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    if path.endswith((".parquet", ".pq")):
        return "parquet"
    raise SpecError(
        [
            Problem(
                Location(field=f"data.{field}.format"),
                f"cannot tell the format of {table.path!r}",
                hint="add 'format: csv' or 'format: parquet'",
            )
        ]
    )


OPTIONAL_DEFAULTS = {"discount": 0.0, "quantity": 1.0}
"""What a missing optional event column (``discount: null``) means on every row."""


def _or_default(canonical: str, given: str | Constant | None) -> str | Constant:
    return Constant(value=OPTIONAL_DEFAULTS[canonical]) if given is None else given


def _relation(
    table: Table, columns: tuple[tuple[str, str | Constant | None], ...], field: str
) -> Relation:
    if table.path is not None:
        return Relation(columns=columns, path=table.path, format=file_format(table, field))
    return Relation(columns=columns, table=table.table, schema=table.schema_name)


def source_from_spec(data: DataSource, segments: tuple[str, ...] = ()) -> SourceTables:
    """Describe a spec's data source; ``segments`` are exposure attributes to break down by.

    Segment names must be listed in ``exposure_columns.attributes`` when that
    list is given (so a typo is an error, not an empty breakdown).
    """
    exp_cols = data.exposure_columns
    ev_cols = data.event_columns
    declared = tuple(exp_cols.attributes)
    unknown = [s for s in segments if declared and s not in declared]
    if unknown:
        raise SpecError(
            [
                Problem(
                    Location(field="analysis.segments"),
                    f"segment attribute(s) {', '.join(map(repr, unknown))} are not exposure "
                    "attributes of the data source",
                    hint="add them to data.exposure_columns.attributes, or fix the name",
                )
            ]
        )
    exposures = _relation(
        data.exposures,
        (
            ("experiment", exp_cols.experiment),
            ("variant", exp_cols.variant),
            ("unit_id", exp_cols.unit_id),
            ("timestamp", exp_cols.timestamp),
            *((f"attribute:{name}", name) for name in segments),
        ),
        "exposures",
    )
    events = _relation(
        data.events,
        (
            ("unit_id", ev_cols.unit_id),
            ("timestamp", ev_cols.timestamp),
            ("event_type", ev_cols.type),
            ("value", ev_cols.value),
            ("discount", _or_default("discount", ev_cols.discount)),
            ("quantity", _or_default("quantity", ev_cols.quantity)),
            ("event_id", ev_cols.event_id),
        ),
        "events",
    )
    if data.kind in (SourceKind.postgres, SourceKind.spark) and (
        exposures.is_files or events.is_files
    ):
        raise SpecError(
            [
                Problem(
                    Location(field="data"),
                    f"a {data.kind.value} source reads tables, not files",
                    hint="use 'kind: files' to read CSV/Parquet in place",
                )
            ]
        )
    return SourceTables(
        kind=data.kind,
        exposures=exposures,
        events=events,
        attributes=tuple(segments),
        store=data.store,
        dsn_env=data.dsn_env,
    )
