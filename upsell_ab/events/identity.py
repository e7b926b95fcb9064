"""Row identity in the store: which incoming row is "the same row" as a stored one.

Every stored row has an ``event_id``: the id the source gave, else
``"sha256:" + sha256(identity key)``. The identity key is built from the
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
and different content keys conflict. Fields are joined with U+001F and
timestamps written ISO ``%Y-%m-%dT%H:%M:%S.%f``; DuckDB's ``sha256`` hashes the
UTF-8 text.

Restatements the id cannot see are caught by two further matches (see
:mod:`upsell_ab.events.batch_write`): an event without order id that equals a
stored event with one (or the reverse) at the same unit, type and time, and a
whole batch whose rows equal stored rows shifted by one time-zone-like offset.
"""

from __future__ import annotations

from upsell_ab.events.schema import Kind

SEP = "chr(31)"
DERIVED_PREFIX = "sha256:"


def _ts(alias: str) -> str:
    return f"strftime({alias}\"timestamp\", '%Y-%m-%dT%H:%M:%S.%f')"


def identity_sql(kind: Kind, alias: str = "") -> str:
    """SQL expression of the identity key over a row of ``kind`` (columns prefixed by
    ``alias.`` when given)."""
    a = f"{alias}." if alias else ""
    if kind == "exposures":
        return f"concat_ws({SEP}, {a}experiment, {a}variant, {a}unit_id, {_ts(a)})"
    return (
        f"CASE WHEN {a}order_id IS NOT NULL "
        f"THEN concat_ws({SEP}, 'o', {a}event_type, {a}order_id) "
        f"ELSE concat_ws({SEP}, {a}unit_id, {_ts(a)}, {a}event_type) END"
    )


def content_sql(kind: Kind, alias: str = "") -> str:
    """SQL expression of the content key (what the row says) of ``kind``."""
    a = f"{alias}." if alias else ""
    if kind == "exposures":
        return identity_sql(kind, alias)
    return (
        f"concat_ws({SEP}, {a}unit_id, {_ts(a)}, {a}event_type, CAST({a}value AS VARCHAR), "
        f"CAST({a}discount AS VARCHAR), CAST({a}quantity AS VARCHAR), "
        f"COALESCE('o:' || {a}order_id, '-'))"
    )


def derived_id_sql(kind: Kind, alias: str = "") -> str:
    """``'sha256:' || sha256(identity key)``."""
    return f"'{DERIVED_PREFIX}' || sha256({identity_sql(kind, alias)})"


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
