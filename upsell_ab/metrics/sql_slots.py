"""Slot-level sufficient statistics of a switchback experiment, inside DuckDB.

Why. In a switchback design the slot is the unit of randomisation
(:mod:`upsell_ab.assignment.switchback`), so the statistics reduce to one row per slot:
its arm, the customers (visits) first exposed in it and their outcome total
(:class:`upsell_ab.stats.switchback.SlotTotals`). The reduction runs in SQL on the
store's ``exposures`` and ``events`` tables (timestamps stored as UTC); raw rows never
reach the statistics. A visit whose first exposure falls in the slot's burn-in
(carry-over from the previous slot's arm) is left out, with its events.

Outcome: ``binary`` counts a visit once if it has any event of ``event_type`` at or
after its exposure (a take rate); otherwise the sum of ``value`` of those events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from upsell_ab.assignment.switchback import SlotClock, SlotLength
from upsell_ab.stats.switchback import SlotTotals

if TYPE_CHECKING:
    import duckdb

_KEY = {
    SlotLength.hour: "strftime(local_ts, '%Y-%m-%dT%H')",
    SlotLength.day: "strftime(local_ts, '%Y-%m-%d')",
    SlotLength.day_of_week: "'dow-' || CAST(isodow(local_ts) AS VARCHAR)",
}
_START = {
    SlotLength.hour: "date_trunc('hour', local_ts)",
    SlotLength.day: "date_trunc('day', local_ts)",
    SlotLength.day_of_week: "date_trunc('day', local_ts)",
}


def slot_totals_sql(clock: SlotClock, *, binary: bool) -> str:
    """The query (parameters: experiment, time zone, burn-in minutes, event type)."""
    slot = SlotLength(clock.slot)
    outcome = "CAST(count(e.unit_id) > 0 AS DOUBLE)" if binary else "coalesce(sum(e.value), 0)"
    return f"""
WITH first_exposure AS (
    SELECT unit_id, min(variant) AS variant, min("timestamp") AS ts,
           count(DISTINCT variant) AS arms
    FROM exposures WHERE experiment = $1 GROUP BY unit_id
), located AS (
    SELECT *, (ts AT TIME ZONE 'UTC') AT TIME ZONE $2 AS local_ts FROM first_exposure
), visits AS (
    SELECT unit_id, variant, ts, {_KEY[slot]} AS slot
    FROM located
    WHERE arms = 1 AND local_ts - {_START[slot]} >= to_minutes(CAST($3 AS BIGINT))
), outcomes AS (
    SELECT v.unit_id, v.variant, v.slot, {outcome} AS y
    FROM visits v LEFT JOIN events e
      ON e.unit_id = v.unit_id AND e.event_type = $4 AND e."timestamp" >= v.ts
    GROUP BY v.unit_id, v.variant, v.slot
)
SELECT slot, min(variant) AS variant, count(DISTINCT variant) AS arms,
       count(*) AS n, sum(y) AS total
FROM outcomes GROUP BY slot ORDER BY slot"""


def slot_totals(
    con: duckdb.DuckDBPyConnection,
    experiment: str,
    clock: SlotClock,
    event_type: str,
    *,
    binary: bool = True,
) -> list[SlotTotals]:
    """One :class:`SlotTotals` per slot with exposures. A slot showing two arms means the
    exposures were not assigned by slot: refused (ValueError naming the slot), never
    analysed. Visits exposed to two arms are left out as elsewhere."""
    rows = con.execute(
        slot_totals_sql(clock, binary=binary),
        [experiment, clock.timezone, clock.burn_in_minutes, event_type],
    ).fetchall()
    mixed = [slot for slot, _, arms, _, _ in rows if arms > 1]
    if mixed:
        raise ValueError(
            f"slot {mixed[0]!r} of {experiment!r} has exposures in more than one arm "
            f"({len(mixed)} such slot(s)): the exposures were not assigned by "
            f"{SlotLength(clock.slot).value} slot in {clock.timezone}; "
            "check the spec's slot and time zone"
        )
    return [
        SlotTotals(slot, variant, float(n), float(total)) for slot, variant, _, n, total in rows
    ]
