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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from upsell_ab.assignment.switchback import SlotClock, SlotLength
from upsell_ab.errors import StoreError
from upsell_ab.metrics.sql_layout import id_, qcol, string
from upsell_ab.metrics.sufficient import MetricStats
from upsell_ab.stats.switchback import SlotTotals

if TYPE_CHECKING:
    import duckdb

    from upsell_ab.metrics.sql_layout import MetricSlot, RowFactory

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


# --------------------------------------------------------------------------------------
# The slot branch of the experiment query (every metric of the spec, every engine)


def local_time(first_ts: exp.Expr, timezone: str) -> exp.Expr:
    """The UTC ``first_ts`` as naive local time in ``timezone`` (``AT TIME ZONE`` twice on
    DuckDB and PostgreSQL, ``from_utc_timestamp`` on Spark). The cast to a naive
    ``TIMESTAMP`` first makes a column WITH time zone naive UTC (the engines run queries
    in a UTC session): ``AT TIME ZONE 'UTC'`` of an aware value would instead drop the
    zone, and the second ``AT TIME ZONE`` would then read UTC as local time."""
    naive = exp.cast(first_ts, "TIMESTAMP")
    utc = exp.AtTimeZone(this=naive, zone=string("UTC"))
    return exp.AtTimeZone(this=utc, zone=string(timezone))


def slot_branch(
    row: RowFactory, table: str, stats: dict[str, exp.Expr], clock: SlotClock
) -> exp.Select:
    """``kind='slot'`` rows: n and every statistic per (variant, local day[, local hour]),
    units first exposed in a slot's burn-in left out. The slot key is formed in Python
    from (day, hour) (:func:`slot_key`), so no dialect's date formatting is involved."""
    slot = SlotLength(clock.slot)
    local = local_time(qcol("first_ts"), clock.timezone)
    day = exp.cast(local.copy(), "DATE")
    hour = exp.Extract(this=exp.var("HOUR"), expression=local.copy())
    minute = exp.Extract(this=exp.var("MINUTE"), expression=local.copy())
    hourly = slot is SlotLength.hour
    select = row(
        "slot",
        variant=qcol("v"),
        day=day,
        seg_index=hour.copy() if hourly else exp.Literal.number(0),
        n=exp.Count(this=exp.Star()),
        **stats,
    ).from_(id_(table), copy=False)
    if clock.burn_in_minutes:
        into_slot: exp.Expr = (
            minute
            if hourly
            else exp.Add(
                this=exp.Mul(this=hour.copy(), expression=exp.Literal.number(60)),
                expression=minute,
            )
        )
        select = select.where(
            exp.GTE(this=into_slot, expression=exp.Literal.number(clock.burn_in_minutes)),
            copy=False,
        )
    keys: list[exp.Expr] = [qcol("v"), day.copy()]
    if hourly:
        keys.append(hour.copy())
    return select.group_by(*keys, copy=False)


def slot_key(slot: SlotLength, day: date, hour: int) -> str:
    """The :meth:`SlotClock.key` of a slot row: ``YYYY-MM-DDTHH``, ``YYYY-MM-DD``, ``dow-N``."""
    if slot is SlotLength.hour:
        return f"{day.isoformat()}T{hour:02d}"
    if slot is SlotLength.day:
        return day.isoformat()
    return f"dow-{day.isoweekday()}"


@dataclass(frozen=True)
class SlotSplit:
    """Sufficient statistics per randomised slot (after the burn-in), for every metric."""

    clock: SlotClock
    arms: dict[str, str]
    """Slot key -> its arm, in time order."""
    units: dict[str, int]
    """Slot key -> customers first exposed in it after the burn-in."""
    by_metric: dict[str, dict[str, MetricStats]]
    """Metric -> slot key -> statistics of that slot's customers."""

    def slots_per_arm(self, variants: Sequence[str]) -> dict[str, int]:
        counts = dict.fromkeys(variants, 0)
        for arm in self.arms.values():
            counts[arm] = counts.get(arm, 0) + 1
        return counts

    def units_per_arm(self, variants: Sequence[str]) -> dict[str, int]:
        counts = dict.fromkeys(variants, 0)
        for key, arm in self.arms.items():
            counts[arm] = counts.get(arm, 0) + self.units[key]
        return counts


def slot_split(
    experiment: str,
    clock: SlotClock,
    slots: Sequence[MetricSlot],
    rows: Sequence[Any],
    make: Callable[[MetricSlot, Any], MetricStats],
) -> SlotSplit:
    """The ``slot`` rows as a :class:`SlotSplit`. Rows of one slot key are added (a
    ``day_of_week`` slot spans many days). A slot with customers in two arms was not
    assigned by this clock: refused (:class:`StoreError` naming the slot), never analysed."""
    from datetime import datetime

    length = SlotLength(clock.slot)
    arms: dict[str, str] = {}
    units: dict[str, int] = {}
    by_metric: dict[str, dict[str, MetricStats]] = {s.name: {} for s in slots}
    mixed: list[str] = []
    for r in sorted(rows, key=lambda r: (str(r.values["day"]), r.count("seg_index"))):
        day = r.values["day"]
        day = day.date() if isinstance(day, datetime) else day
        key = slot_key(length, day, r.count("seg_index"))
        variant = str(r.values["variant"])
        if arms.setdefault(key, variant) != variant:
            mixed.append(key)
            continue
        units[key] = units.get(key, 0) + r.count("n")
        for slot in slots:
            stats = make(slot, r)
            cell = by_metric[slot.name]
            cell[key] = cell[key] + stats if key in cell else stats  # type: ignore[operator]
    if mixed:
        raise StoreError(
            f"slot {mixed[0]!r} of {experiment!r} has customers in more than one arm "
            f"({len(set(mixed))} such slot(s)): the exposures were not assigned by "
            f"{length.value} slot in {clock.timezone}; check the spec's randomization "
            "(slot, timezone) and the exposure timestamps (stored as UTC)"
        )
    return SlotSplit(clock, arms, units, by_metric)
