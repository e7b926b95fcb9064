"""Where a spec's exposures and events live and how their columns map."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from upsell_ab.spec.base import Model
from upsell_ab.spec.findings import Finding, check


class SourceKind(StrEnum):
    embedded = "embedded"
    files = "files"
    postgres = "postgres"
    spark = "spark"


class Constant(Model):
    """A fixed value for every row instead of a column, for exports that lack one:
    ``type: {value: order}`` (an orders export has no event-type column),
    ``discount: {value: 0}``, ``experiment: {value: cake_wording}``."""

    value: str | float


ColumnRef = str | Constant
"""A source column name, or a :class:`Constant`."""


def _constant_findings(model: Model, text: tuple[str, ...], numbers: tuple[str, ...]) -> None:
    found: list[Finding] = []
    for name in text:
        given = getattr(model, name)
        if isinstance(given, Constant) and not isinstance(given.value, str):
            found.append(
                Finding((name, "value"), f"'{name}' needs a text constant", "e.g. {value: order}")
            )
    for name in numbers:
        given = getattr(model, name)
        if isinstance(given, Constant) and isinstance(given.value, str):
            found.append(
                Finding((name, "value"), f"'{name}' needs a number constant", "e.g. {value: 0}")
            )
    check(found)


class ExposureColumns(Model):
    """Column names of the exposure table (identifiers, quoted in SQL); ``experiment``
    may be a constant (an export of one experiment's exposures)."""

    experiment: ColumnRef = "experiment"
    variant: str = "variant"
    unit_id: str = "unit_id"
    timestamp: str = "timestamp"
    event_id: str | None = None
    attributes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _constants(self) -> ExposureColumns:
        _constant_findings(self, ("experiment",), ())
        return self


class EventColumns(Model):
    """Column names of the event (conversion) table. ``type``, ``value``, ``discount``
    and ``quantity`` may be constants (``{value: order}``); ``discount: null`` and
    ``quantity: null`` mean the source has no such column (0 and 1 for every event)."""

    unit_id: str = "unit_id"
    timestamp: str = "timestamp"
    type: ColumnRef = "event_type"
    value: ColumnRef = "value"
    discount: ColumnRef | None = "discount"
    quantity: ColumnRef | None = "quantity"
    order_id: str | None = "order_id"
    event_id: str | None = "event_id"

    @model_validator(mode="after")
    def _constants(self) -> EventColumns:
        _constant_findings(self, ("type",), ("value", "discount", "quantity"))
        return self


class Table(Model):
    """A table (``table``, optional ``schema``) or files read in place (``path``:
    a file or glob, ``format`` csv or parquet)."""

    table: str | None = None
    schema_name: str | None = Field(default=None, alias="schema")
    path: str | None = None
    format: Literal["csv", "parquet"] | None = None

    @model_validator(mode="after")
    def _one_place(self) -> Table:
        if (self.table is None) == (self.path is None):
            check(
                [
                    Finding(
                        (),
                        "give exactly one of 'table' or 'path'",
                        "a database table (table: exposures) or files (path: data/*.parquet)",
                    )
                ]
            )
        return self


def _place_shorthand(schema: dict[str, Any]) -> None:
    """Editors: ``exposures``/``events`` may be a plain string (see ``_shorthand``)."""
    for side in ("exposures", "events"):
        field = schema.get("properties", {}).get(side)
        if field is None or "$ref" not in field:
            continue
        reference = field.pop("$ref")
        field["anyOf"] = [
            {"$ref": reference},
            {
                "type": "string",
                "description": "files: a file or glob (path); other kinds: a table name",
            },
        ]


class DataSource(Model):
    model_config = ConfigDict(json_schema_extra=_place_shorthand)

    kind: SourceKind = SourceKind.embedded
    store: str | None = None
    """Embedded kind: the DuckDB file (default ``upsell_ab.duckdb``)."""
    dsn_env: str | None = None
    """PostgreSQL kind: the environment variable holding the connection string
    (never the password in the spec)."""
    exposures: Table = Table(table="exposures")
    events: Table = Table(table="events")
    exposure_columns: ExposureColumns = ExposureColumns()
    event_columns: EventColumns = EventColumns()
    covariates: dict[str, str] = Field(default_factory=dict)
    """CUPED from a column the shop already has: metric name -> exposure column holding
    each unit's pre-period value (``revenue_per_customer: pre_revenue``)."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """``exposures: exports/exposures.csv`` for a files source, ``exposures:
        shop_exposures`` for a table: the one-line forms of ``{path: ...}`` and
        ``{table: ...}`` (a first spec should not need the mapping)."""
        if not isinstance(data, dict):
            return data
        files = str(data.get("kind", "")) == SourceKind.files.value
        out = dict(data)
        for side in ("exposures", "events"):
            value = out.get(side)
            if isinstance(value, str) and value.strip():
                out[side] = {"path": value} if files else {"table": value}
        return out

    @model_validator(mode="after")
    def _kind_needs(self) -> DataSource:
        found: list[Finding] = []
        if self.kind is SourceKind.postgres and not self.dsn_env:
            found.append(
                Finding(
                    ("dsn_env",),
                    "a postgres source needs 'dsn_env'",
                    "name the environment variable holding the DSN (never the password)",
                )
            )
        if self.store is not None and self.kind is not SourceKind.embedded:
            found.append(
                Finding(
                    ("store",),
                    f"'store' is only for kind: embedded, not {self.kind.value}",
                    (
                        "remove it; a postgres source reads its DSN from the variable named "
                        "by dsn_env, never from the spec"
                        if self.kind is SourceKind.postgres
                        else "remove it; it names the DuckDB file of an embedded source"
                    ),
                )
            )
        elif self.store is not None and "://" in self.store:
            found.append(
                Finding(
                    ("store",),
                    "'store' looks like a connection string, not a DuckDB file path",
                    "never put a DSN in a spec: use kind: postgres with dsn_env",
                )
            )
        if self.kind is SourceKind.files:
            for side in ("exposures", "events"):
                if getattr(self, side).path is None:
                    found.append(
                        Finding(
                            (side,),
                            f"a files source needs '{side}.path'",
                            f"give a file or glob, e.g. path: data/{side}.parquet",
                        )
                    )
        check(found)
        return self
