"""Canonical tables of the embedded event store, and how source columns map onto them.

Every engine (DuckDB store, PostgreSQL, Spark, the simulator) uses the same
table and column names, so the metric SQL is written once. Timestamps are UTC
stored as naive ``TIMESTAMP`` (no session time zone can shift them).
Identifiers that come from users (attribute columns) are validated against
:data:`ATTRIBUTE_PATTERN` *and* double-quoted whenever they reach SQL; values
only ever travel as bound parameters or Arrow data, never as SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any, Literal

from upsell_ab.errors import InputError, Location, Problem
from upsell_ab.events.column_hints import MEASURED
from upsell_ab.events.plausibility import ValueBounds
from upsell_ab.spec.models import Constant, EventColumns, ExposureColumns

Kind = Literal["exposures", "events"]

EXPOSURE_COLUMNS: tuple[str, ...] = ("experiment", "variant", "unit_id", "timestamp", "event_id")
"""Fixed columns of ``exposures``; attribute columns (VARCHAR) follow, added on demand."""

EVENT_COLUMNS: tuple[str, ...] = (
    "unit_id",
    "timestamp",
    "event_type",
    "value",
    "discount",
    "quantity",
    "order_id",
    "event_id",
)
"""Columns of ``events``, in table order."""

EXPOSURES_DDL = """
CREATE TABLE IF NOT EXISTS exposures (
    experiment VARCHAR NOT NULL,
    variant VARCHAR NOT NULL,
    unit_id VARCHAR NOT NULL,
    "timestamp" TIMESTAMP NOT NULL,
    event_id VARCHAR,
    ingest_id BIGINT
)"""

EVENTS_DDL = """
CREATE TABLE IF NOT EXISTS events (
    unit_id VARCHAR NOT NULL,
    "timestamp" TIMESTAMP NOT NULL,
    event_type VARCHAR NOT NULL,
    value DOUBLE NOT NULL DEFAULT 0,
    discount DOUBLE NOT NULL DEFAULT 0,
    quantity DOUBLE NOT NULL DEFAULT 1,
    order_id VARCHAR,
    event_id VARCHAR,
    ingest_id BIGINT
)"""

INGESTS_DDL = """
CREATE TABLE IF NOT EXISTS ingests (
    kind VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    content_sha256 VARCHAR,
    rows_read BIGINT NOT NULL,
    rows_added BIGINT NOT NULL,
    duplicates BIGINT NOT NULL,
    ingested_at TIMESTAMP NOT NULL,
    ingest_id BIGINT,
    conflicts BIGINT DEFAULT 0,
    replaced BIGINT DEFAULT 0,
    implausible BIGINT DEFAULT 0,
    defaulted VARCHAR DEFAULT '',
    removed_at TIMESTAMP
)"""
"""One row per ingest batch (one file, frame or spool kind): the audit trail. The
first seven columns are the original layout; ``ingest_id`` and the rest were added
later (older store files are migrated by :mod:`upsell_ab.events.store_admin`).
``defaulted`` lists the optional canonical columns the source did not have
(comma-separated, e.g. ``value,discount``); ``removed_at`` is set when the batch's
rows were removed with ``upsell-ab store remove``."""

STORE_COLUMNS: tuple[str, ...] = ("ingest_id",)
"""Bookkeeping columns of ``exposures`` and ``events`` (which ingest batch wrote the
row); never attributes, never read by the metric SQL."""

ATTRIBUTE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
"""Attribute column names: a letter or '_', then letters, digits, '_' (at most 63)."""

RESERVED_NAMES = (
    frozenset(EXPOSURE_COLUMNS) | frozenset(EVENT_COLUMNS) | frozenset(STORE_COLUMNS) | {"_row"}
)

_DEFAULT_EXPOSURES = ExposureColumns()
_DEFAULT_EVENTS = EventColumns()


def create_schema(connection: Any) -> None:
    """Create ``exposures``, ``events`` and ``ingests`` if missing (DuckDB or any
    DB-API connection whose SQL accepts these types; PostgreSQL does)."""
    for ddl in (EXPOSURES_DDL, EVENTS_DDL, INGESTS_DDL):
        connection.execute(ddl)


def quote_identifier(name: str) -> str:
    """SQL-standard double-quoted identifier; embedded quotes are doubled, so the
    name can never close the quote and inject SQL."""
    return '"' + name.replace('"', '""') + '"'


def attribute_problem(name: str, where: Location) -> Problem | None:
    """Why ``name`` cannot be an attribute column, or None if it can."""
    if name in RESERVED_NAMES:
        return Problem(
            where,
            f"attribute name {name!r} clashes with a canonical column",
            hint="rename the column or map it to its canonical role",
            code="bad_attribute",
        )
    if not ATTRIBUTE_PATTERN.match(name):
        return Problem(
            where,
            f"attribute column name {name!r} is not a plain identifier",
            hint="use letters, digits and '_' only (start with a letter), or leave the "
            "column out by listing the attributes you want in exposure_columns.attributes",
            code="bad_attribute",
        )
    return None


@dataclass(frozen=True)
class ColumnMapping:
    """canonical column -> source column for one ingest, plus the attribute columns.

    ``required`` canonical columns must exist in the source; the others fall back
    to defaults (event_id: identity hash; value/discount: 0; quantity: 1;
    order_id: NULL). ``explicit`` lists canonical columns the user mapped on
    purpose: those must exist even when optional. ``attributes`` None means
    "every unmapped source column" (exposures only). ``allow_default`` lists
    measured columns (value, discount, quantity) the user accepts as defaulted
    even when a look-alike source column exists (``--allow-default value``);
    ``bounds`` are the plausible ranges of measured values (events only).
    """

    kind: Kind
    columns: Mapping[str, str]
    required: frozenset[str]
    explicit: frozenset[str]
    attributes: tuple[str, ...] | None = None
    allow_default: frozenset[str] = frozenset()
    bounds: ValueBounds | None = None
    constants: Mapping[str, str | float] = field(default_factory=dict)
    """canonical column -> the value every row gets (a spec's ``{value: ...}`` mapping);
    such columns are not read from the source."""


def exposure_mapping(
    spec: ExposureColumns | None = None,
    overrides: Mapping[str, str] | None = None,
    attributes: tuple[str, ...] | None = None,
) -> ColumnMapping:
    """Combine the spec's ``exposure_columns`` with ``--map canonical=source`` overrides."""
    spec = spec or _DEFAULT_EXPOSURES
    constants = _constants({"experiment": spec.experiment})
    columns: dict[str, str] = {
        "experiment": _column(spec.experiment, "experiment"),
        "variant": spec.variant,
        "unit_id": spec.unit_id,
        "timestamp": spec.timestamp,
        "event_id": spec.event_id or "event_id",
    }
    explicit = {k for k in columns if k != "event_id" and columns[k] != k}
    if spec.event_id is not None:
        explicit.add("event_id")
    _apply_overrides("exposures", columns, explicit, overrides)
    _drop_overridden(constants, overrides)
    chosen = attributes if attributes is not None else (tuple(spec.attributes) or None)
    return ColumnMapping(
        kind="exposures",
        columns=columns,
        required=frozenset({"experiment", "variant", "unit_id", "timestamp"}),
        explicit=frozenset(explicit),
        attributes=chosen,
        constants=constants,
    )


def event_mapping(
    spec: EventColumns | None = None,
    overrides: Mapping[str, str] | None = None,
    *,
    allow_default: Iterable[str] = (),
    bounds: ValueBounds | None = None,
) -> ColumnMapping:
    """Combine the spec's ``event_columns`` with ``--map canonical=source`` overrides."""
    spec = spec or _DEFAULT_EVENTS
    given = {
        "event_type": spec.type,
        "value": spec.value,
        "discount": spec.discount,
        "quantity": spec.quantity,
    }
    constants = _constants(given)
    columns: dict[str, str] = {
        "unit_id": spec.unit_id,
        "timestamp": spec.timestamp,
        **{canonical: _column(value, canonical) for canonical, value in given.items()},
        "order_id": spec.order_id or "order_id",
        "event_id": spec.event_id or "event_id",
    }
    defaults = {field: getattr(_DEFAULT_EVENTS, attr) for field, attr in _EVENT_ATTRS.items()}
    explicit = {k for k, v in columns.items() if v != defaults[k] and k not in constants}
    _apply_overrides("events", columns, explicit, overrides)
    _drop_overridden(constants, overrides)
    return ColumnMapping(
        kind="events",
        columns=columns,
        required=frozenset({"unit_id", "timestamp", "event_type"}) - set(constants),
        explicit=frozenset(explicit),
        allow_default=_allowed_defaults(allow_default),
        bounds=bounds if bounds is not None else ValueBounds(),
        constants=constants,
    )


def _allowed_defaults(names: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(names)
    unknown = sorted(chosen - MEASURED)
    if unknown:
        raise InputError(
            [
                Problem(
                    Location(field=f"--allow-default {name}"),
                    f"{name!r} is not a measured event column",
                    f"choose from {', '.join(sorted(MEASURED))}",
                    "bad_mapping",
                )
                for name in unknown
            ]
        )
    return chosen


def _constants(given: Mapping[str, Any]) -> dict[str, str | float]:
    """Canonical columns the spec fixes to a value (``{value: ...}``); a ``null`` optional
    column (discount, quantity) is left to the ingest defaults instead."""
    return {k: v.value for k, v in given.items() if isinstance(v, Constant)}


def _column(given: Any, canonical: str) -> str:
    """The source column name of a mapping (a constant's canonical name, never read)."""
    return given if isinstance(given, str) else canonical


def _drop_overridden(
    constants: dict[str, str | float], overrides: Mapping[str, str] | None
) -> None:
    """``--map canonical=column`` on the command line wins over a spec's constant."""
    for canonical in overrides or {}:
        constants.pop(canonical, None)


_EVENT_ATTRS = {
    "unit_id": "unit_id",
    "timestamp": "timestamp",
    "event_type": "type",
    "value": "value",
    "discount": "discount",
    "quantity": "quantity",
    "order_id": "order_id",
    "event_id": "event_id",
}


def _apply_overrides(
    kind: Kind,
    columns: dict[str, str],
    explicit: set[str],
    overrides: Mapping[str, str] | None,
) -> None:
    problems: list[Problem] = []
    for canonical, source in (overrides or {}).items():
        if canonical not in columns:
            close = get_close_matches(canonical, list(columns), n=1)
            problems.append(
                Problem(
                    Location(field=f"--map {canonical}={source}"),
                    f"{kind} have no canonical column {canonical!r}",
                    hint=(f"did you mean {close[0]!r}? " if close else "")
                    + f"canonical columns: {', '.join(columns)}",
                    code="bad_mapping",
                )
            )
            continue
        columns[canonical] = source
        explicit.add(canonical)
    if problems:
        raise InputError(problems)


def split_map_flags(flags: list[str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """``--map`` flags -> (exposure overrides, event overrides).

    ``unit_id=customer`` applies to every kind having a ``unit_id`` column;
    ``events.value=revenue`` or ``exposures.timestamp=seen_at`` to one kind only.
    """
    exposures: dict[str, str] = {}
    events: dict[str, str] = {}
    problems: list[Problem] = []
    for flag in flags or []:
        target, sep, source = flag.partition("=")
        target, source = target.strip(), source.strip()
        where = Location(field=f"--map {flag}")
        if not sep or not target or not source:
            problems.append(
                Problem(
                    where,
                    "expected canonical=source",
                    "e.g. --map unit_id=customer_id",
                    "bad_mapping",
                )
            )
            continue
        kind, dot, canonical = target.rpartition(".")
        if dot and kind not in ("exposures", "events"):
            problems.append(
                Problem(
                    where,
                    f"unknown table {kind!r}",
                    "prefix with 'exposures.' or 'events.', or give no prefix",
                    "bad_mapping",
                )
            )
            continue
        matched = False
        if kind in ("", "exposures") and canonical in EXPOSURE_COLUMNS:
            exposures[canonical] = source
            matched = True
        if kind in ("", "events") and canonical in EVENT_COLUMNS:
            events[canonical] = source
            matched = True
        if not matched:
            names = sorted(set(EXPOSURE_COLUMNS) | set(EVENT_COLUMNS))
            close = get_close_matches(canonical, names, n=1)
            problems.append(
                Problem(
                    where,
                    f"no canonical column {canonical!r}" + (f" in {kind}" if kind else ""),
                    (f"did you mean {close[0]!r}? " if close else "")
                    + f"canonical columns: {', '.join(names)}",
                    "bad_mapping",
                )
            )
    if problems:
        raise InputError(problems)
    return exposures, events
