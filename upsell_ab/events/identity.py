"""Row identity in the store: which incoming row is "the same row" as a stored one.

Every stored row has an id: the ``event_id`` the source gave, else the derived id
``"md5:" + md5(identity key)``. Store format 3 does not store derived ids (the
``event_id`` column is NULL, :func:`stored_id_sql` computes them): storing 36
incompressible characters per row cost more than the rest of an exposure insert
(10M customers: 15M exposures took 9.3 s to insert with the text, 4.1 s
without). Format 2 stored the text, which stays valid (equal ids either way);
format 1 stores, which wrote ``"sha256:" + sha256(...)`` of the same fields with
ISO timestamps, are migrated when opened for writing
(:func:`~upsell_ab.events.store_admin.migrate_ids`). The
identity key is built from the
columns that say WHICH event a row is, never from what was measured, so a
corrected re-export (a value column mapped this time, a fixed discount, order
ids added) produces the same ids as the first export and shows up as a
conflict instead of a second copy:

- events with an ``order_id``: ``'o', event_type, order_id`` (one order has
  one event of each type; the unit and time are not part of it, so a re-export
  that fixes the time zone or the customer mapping still matches);
- events without: ``unit_id, timestamp, event_type``;
- exposures: ``experiment, variant, unit_id, timestamp`` (as before; an
  exposure has no measured values).

The *content* key is everything a row says (events: unit, time, type, value,
discount, quantity, order id; exposures: the identity); two rows with one id
and different content keys conflict. Fields are joined with U+001F; in the
identity key timestamps are written as integer microseconds since 1970-01-01
(``epoch_us``), in the content key as ISO ``%Y-%m-%dT%H:%M:%S.%f``; DuckDB's
``md5`` hashes the UTF-8 text.

Why MD5 in 36 characters, not SHA-256 in 71: the derived id was about 60 % of
an exposure insert's CPU (hash, ISO text, and storing 71 incompressible
characters); MD5 of the shorter key costs about half (benchmarks/results/scale.md,
Stop 24). The id only needs to tell identity keys apart: 128 bits leave an
accidental collision out of reach (about 2^-64 at 2^32 rows), and a crafted one
cannot lose a row silently, because two rows with one id and different contents
are a conflict (refused), never a duplicate.

Restatements the id cannot see are caught by two further matches (see
:mod:`upsell_ab.events.batch_write`): an event without order id that equals a
stored event with one (or the reverse) at the same unit, type and time, and a
whole batch whose rows equal stored rows shifted by one time-zone-like offset.
"""

from __future__ import annotations

from upsell_ab.events.schema import Kind

SEP = "chr(31)"
DERIVED_PREFIX = "md5:"
"""Prefix of derived ids (store format 2)."""
LEGACY_PREFIX = "sha256:"
"""Prefix of derived ids in format 1 stores (:func:`legacy_derived_id_sql`)."""


def _ts(alias: str) -> str:
    return f"strftime({alias}\"timestamp\", '%Y-%m-%dT%H:%M:%S.%f')"


def _epoch(alias: str) -> str:
    return f'CAST(epoch_us({alias}"timestamp") AS VARCHAR)'


def identity_sql(kind: Kind, alias: str = "", *, legacy: bool = False) -> str:
    """SQL expression of the identity key over a row of ``kind`` (columns prefixed by
    ``alias.`` when given); ``legacy``: format 1's key (ISO timestamps)."""
    a = f"{alias}." if alias else ""
    ts = _ts(a) if legacy else _epoch(a)
    if kind == "exposures":
        return f"concat_ws({SEP}, {a}experiment, {a}variant, {a}unit_id, {ts})"
    return (
        f"CASE WHEN {a}order_id IS NOT NULL "
        f"THEN concat_ws({SEP}, 'o', {a}event_type, {a}order_id) "
        f"ELSE concat_ws({SEP}, {a}unit_id, {ts}, {a}event_type) END"
    )


def content_sql(kind: Kind, alias: str = "") -> str:
    """SQL expression of the content key (what the row says) of ``kind``."""
    a = f"{alias}." if alias else ""
    if kind == "exposures":
        return identity_sql(kind, alias, legacy=True)
    return (
        f"concat_ws({SEP}, {a}unit_id, {_ts(a)}, {a}event_type, CAST({a}value AS VARCHAR), "
        f"CAST({a}discount AS VARCHAR), CAST({a}quantity AS VARCHAR), "
        f"COALESCE('o:' || {a}order_id, '-'))"
    )


_CONTENT_FIELDS: dict[str, tuple[str, ...]] = {
    "exposures": ("experiment", "variant", "unit_id", "timestamp"),
    "events": ("unit_id", "timestamp", "event_type", "value", "discount", "quantity", "order_id"),
}
_NUMBERS = frozenset({"value", "discount", "quantity"})


def content_differs_sql(kind: Kind, left: str, right: str) -> str:
    """``content_sql(kind, left) IS DISTINCT FROM content_sql(kind, right)`` without
    building either text: column by column.

    The two agree when no text field of ``left`` contains the separator U+001F (the
    Parquet path leaves such files to the chunked path): then both texts have the same
    number of separators only if every field matches. ``strftime`` to microseconds is
    one-to-one on timestamps; a DOUBLE's text (shortest round trip) is one-to-one on
    non-NaN values except that ``-0.0`` and ``0.0`` print differently while comparing
    equal, hence the sign test (NaN is never stored: it takes the column's default);
    ``COALESCE('o:' || order_id, '-')`` is equal exactly when both are NULL or equal.
    Comparing columns avoids a ``strftime`` and three DOUBLE-to-text casts per row on
    both sides (re-ingest compares every row of the file).
    """
    parts = []
    for field in _CONTENT_FIELDS[kind]:
        a, b = f'{left}."{field}"', f'{right}."{field}"'
        parts.append(f"{a} IS DISTINCT FROM {b}")
        if field in _NUMBERS:
            parts.append(f"signbit({a}) IS DISTINCT FROM signbit({b})")
    return "(" + " OR ".join(parts) + ")"


def derived_id_sql(kind: Kind, alias: str = "") -> str:
    """``'md5:' || md5(identity key)``."""
    return f"'{DERIVED_PREFIX}' || md5({identity_sql(kind, alias)})"


def stored_id_sql(kind: Kind, alias: str = "") -> str:
    """The id of a stored row: its ``event_id``, else (NULL, store format 3) the derived
    id. Joins against the store use :func:`same_identity_sql` instead, which needs no
    hashing of stored rows."""
    a = f"{alias}." if alias else ""
    return f"COALESCE({a}event_id, {derived_id_sql(kind, alias)})"


def derived_stored_sql(alias: str) -> str:
    """A stored row whose id is derived: NULL (format 3) or ``md5:`` text (format 2)."""
    return f"({alias}.event_id IS NULL OR starts_with({alias}.event_id, '{DERIVED_PREFIX}'))"


def same_identity_sql(kind: Kind, new: str, stored: str) -> list[str]:
    """Join conditions, one per hash join, matching a new row to a stored row whose
    derived id is not stored (``event_id`` NULL) and equals the new row's derived id:
    the identity fields are equal (no hashing of the stored rows). The caller adds
    that the new row has no given id. Equal fields give equal derived ids; the
    converse holds unless a text field contains the separator U+001F, which the
    Parquet path leaves to the chunked path and which there could only keep two
    distinct rows apart (never merge them)."""
    n, t = new, stored
    unstored = f"{t}.event_id IS NULL"
    if kind == "exposures":
        fields = ("experiment", "variant", "unit_id", "timestamp")
        return [unstored + "".join(f' AND {t}."{f}" = {n}."{f}"' for f in fields)]
    return [
        f"{unstored} AND {t}.order_id = {n}.order_id AND {t}.event_type = {n}.event_type",
        f"{unstored} AND {n}.order_id IS NULL AND {t}.order_id IS NULL "
        f'AND {t}.unit_id = {n}.unit_id AND {t}."timestamp" = {n}."timestamp" '
        f"AND {t}.event_type = {n}.event_type",
    ]


def legacy_derived_id_sql(kind: Kind, alias: str = "") -> str:
    """Format 1's derived id, ``'sha256:' || sha256(identity key with ISO timestamps)``:
    only to recognise such ids when migrating a store."""
    return f"'{LEGACY_PREFIX}' || sha256({identity_sql(kind, alias, legacy=True)})"


COMPARED: dict[str, tuple[str, ...]] = {
    "exposures": ("experiment", "variant", "unit_id", "timestamp"),
    "events": ("unit_id", "timestamp", "event_type", "value", "discount", "quantity", "order_id"),
}
"""Columns shown when describing how a conflicting row differs from the stored one."""

SHIFT_MATCH: dict[str, tuple[str, ...]] = {
    "exposures": ("experiment", "variant", "unit_id"),
    "events": ("unit_id", "event_type", "value", "discount", "quantity", "order_id"),
}
"""Columns that must be equal for a new row to be the time-shifted copy of a stored one."""

SHIFT_STEP_US = 15 * 60 * 1_000_000
"""Time-zone offsets are whole quarter hours (UTC+05:45 is the finest in use)."""
SHIFT_MAX_US = 14 * 3600 * 1_000_000
"""Offsets between zones in use lie within -12:00..+14:00 of UTC; a re-export in
another zone moves every timestamp by the same amount, at most 14 hours here."""
SHIFT_SHARE = 0.5
"""A batch is a shifted copy when at least this share of its new rows match stored
rows under ONE shift (a genuine append matches under scattered shifts, if any)."""
