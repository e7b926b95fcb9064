"""The allocation history: every weight update of a bandit, append-only, in the store.

Table ``allocation_history`` in the embedded DuckDB store (the ``--store`` file,
else the spec's ``data.store``, else ``upsell_ab.duckdb``; also when the events
themselves live in PostgreSQL or Spark):

=============  ===========  ===================================================
experiment     VARCHAR      experiment id
period_start   TIMESTAMPTZ  UTC, inclusive; a period ends where the next begins
weights        VARCHAR      JSON ``{variant: weight}`` (spec order, sums to 1)
units          VARCHAR      JSON ``{variant: n}`` behind the update
posterior      VARCHAR      JSON summary (metric, model, per-arm mean, sd,
                            P(best), expected loss)
recorded_at    TIMESTAMPTZ  when the row was written
=============  ===========  ===================================================

``(experiment, period_start)`` is the primary key: one row per period, so a
second ``allocate`` for the same period cannot add a row. Rows are only ever
inserted (never updated or deleted) and only after the latest recorded period;
each insert is its own transaction, so a crash leaves the table as it was.

The first period is implicit: the spec's weights from the experiment's start
(00:00 UTC of ``start``) until the first recorded update.
:func:`load_allocation_periods` returns it together with the recorded ones; it
is what the period-weighted analysis and per-period SRM read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import StoreError

if TYPE_CHECKING:
    from upsell_ab.spec.models import Experiment

TABLE = "allocation_history"
HISTORY_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    experiment   VARCHAR     NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    weights      VARCHAR     NOT NULL,
    units        VARCHAR     NOT NULL,
    posterior    VARCHAR     NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (experiment, period_start)
)
"""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Start of the single period of a spec without a start date (covers all data)."""
WEIGHT_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class AllocationPeriod:
    """Weights in force from ``period_start`` (UTC, inclusive) until the next period."""

    experiment: str
    period_start: datetime
    weights: Mapping[str, float]


@dataclass(frozen=True)
class AllocationRecord:
    """One row of ``allocation_history``."""

    experiment: str
    period_start: datetime
    weights: Mapping[str, float]
    units: Mapping[str, int] = field(default_factory=dict)
    posterior: Mapping[str, Any] = field(default_factory=dict)
    recorded_at: datetime | None = None

    def period(self) -> AllocationPeriod:
        return AllocationPeriod(self.experiment, self.period_start, dict(self.weights))


# ------------------------------------------------------------------ time and spec
def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def spec_start(experiment: Experiment) -> datetime:
    """00:00 UTC of the spec's ``start`` (:data:`EPOCH` without one)."""
    return utc_midnight(experiment.start) if experiment.start is not None else EPOCH


def spec_weights(experiment: Experiment) -> dict[str, float]:
    return {v.id: float(v.weight) for v in experiment.variants}


def spec_period(experiment: Experiment) -> AllocationPeriod:
    return AllocationPeriod(experiment.id, spec_start(experiment), spec_weights(experiment))


def as_utc(moment: datetime) -> datetime:
    """Aware datetimes converted to UTC; a naive one is taken as UTC (the store's rule)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# ----------------------------------------------------------------------- reading
def store_path_for(experiment: Experiment, store: str | Path | None) -> str:
    """The store holding the history: ``store``, else ``data.store``, else the default."""
    from upsell_ab.events.store import DEFAULT_STORE

    return str(store or experiment.data.store or DEFAULT_STORE)


def ensure_table(connection: Any) -> None:
    connection.execute(HISTORY_DDL)


def has_table(connection: Any) -> bool:
    row = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [TABLE]
    ).fetchone()
    return bool(row and row[0])


def _from_epoch_us(value: int) -> datetime:
    return datetime.fromtimestamp(value // 1_000_000, tz=UTC).replace(microsecond=value % 1_000_000)


def read_records(connection: Any, experiment_id: str) -> list[AllocationRecord]:
    """Every recorded update of ``experiment_id``, oldest period first."""
    if not has_table(connection):
        return []
    rows = connection.execute(
        f"SELECT epoch_us(period_start), weights, units, posterior, epoch_us(recorded_at) "
        f"FROM {TABLE} WHERE experiment = ? ORDER BY period_start",
        [experiment_id],
    ).fetchall()
    records: list[AllocationRecord] = []
    for start_us, weights, units, posterior, recorded_us in rows:
        try:
            parsed_weights = {str(k): float(v) for k, v in json.loads(weights).items()}
            parsed_units = {str(k): int(v) for k, v in json.loads(units).items()}
            parsed_posterior = json.loads(posterior)
        except (ValueError, TypeError, AttributeError) as error:
            raise StoreError(
                f"{TABLE} row of {experiment_id} at {_from_epoch_us(start_us).isoformat()} "
                f"is not valid JSON ({error}); the store was edited by hand"
            ) from None
        records.append(
            AllocationRecord(
                experiment=experiment_id,
                period_start=_from_epoch_us(start_us),
                weights=parsed_weights,
                units=parsed_units,
                posterior=parsed_posterior,
                recorded_at=_from_epoch_us(recorded_us),
            )
        )
    return records


def check_weights(experiment: Experiment, weights: Mapping[str, float], where: str) -> None:
    """Recorded weights must name exactly the spec's variants and sum to 1."""
    expected = [v.id for v in experiment.variants]
    if sorted(weights) != sorted(expected):
        raise StoreError(
            f"{where} names variants {', '.join(sorted(weights))} but the spec of "
            f"{experiment.id} has {', '.join(expected)}: variants of a running bandit cannot "
            "change (start a new experiment id)"
        )
    values = list(weights.values())
    if any(not math.isfinite(w) or w < 0 for w in values) or (
        abs(sum(values) - 1.0) > WEIGHT_SUM_TOLERANCE
    ):
        raise StoreError(f"{where} holds weights {dict(weights)} that do not sum to 1")


def periods_from_records(
    experiment: Experiment, records: Sequence[AllocationRecord]
) -> list[AllocationPeriod]:
    """The implicit first period (spec weights from the start) + the recorded ones."""
    periods = [spec_period(experiment)]
    if not experiment.allocation.is_bandit:
        return periods
    for record in records:
        check_weights(experiment, record.weights, f"{TABLE} at {record.period_start.isoformat()}")
        ordered = {v.id: float(record.weights[v.id]) for v in experiment.variants}
        period = AllocationPeriod(experiment.id, record.period_start, ordered)
        if period.period_start <= periods[0].period_start and len(periods) == 1:
            periods[0] = period  # an update recorded for the very first period
        else:
            periods.append(period)
    return periods


def load_allocation_periods(
    store_path: str | Path | None, experiment: Experiment
) -> list[AllocationPeriod]:
    """Allocation periods of ``experiment``, sorted by ``period_start``.

    A fixed spec, a missing store file or no recorded update: one period with the
    spec's weights from the spec's start (:func:`spec_start`). A bandit: that
    period, then one per recorded update. ``store_path`` None: the spec's store."""
    if not experiment.allocation.is_bandit:
        return [spec_period(experiment)]
    path = Path(store_path_for(experiment, store_path))
    if not path.exists():
        return [spec_period(experiment)]
    from upsell_ab.events.store_open import open_store

    connection = open_store(path, read_only=True)
    try:
        records = read_records(connection, experiment.id)
    finally:
        connection.close()
    return periods_from_records(experiment, records)


def weights_at(periods: Sequence[AllocationPeriod], at: datetime) -> AllocationPeriod:
    """The period in force at ``at`` (the last one starting at or before it; the first
    period before the start)."""
    moment = as_utc(at)
    current = periods[0]
    for period in periods:
        if period.period_start <= moment:
            current = period
    return current


# ----------------------------------------------------------------------- writing
def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def insert_record(connection: Any, record: AllocationRecord) -> None:
    """The INSERT of one row (inside the caller's transaction)."""
    recorded = record.recorded_at or datetime.now(UTC)
    connection.execute(
        f"INSERT INTO {TABLE} VALUES "
        "(?, make_timestamptz(?::BIGINT), ?, ?, ?, make_timestamptz(?::BIGINT))",
        [
            record.experiment,
            _epoch_us(record.period_start),
            _json(dict(record.weights)),
            _json(dict(record.units)),
            _json(dict(record.posterior)),
            _epoch_us(recorded),
        ],
    )


def _epoch_us(moment: datetime) -> int:
    delta = as_utc(moment) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def record_update(connection: Any, record: AllocationRecord) -> bool:
    """Append ``record`` in one transaction. False (nothing written) when its period is
    already recorded; :class:`StoreError` when it lies before the latest recorded
    period (the history only grows forward in time)."""
    ensure_table(connection)
    connection.execute("BEGIN TRANSACTION")
    try:
        latest = connection.execute(
            f"SELECT max(epoch_us(period_start)), "
            f"count(*) FILTER (WHERE epoch_us(period_start) = ?) "
            f"FROM {TABLE} WHERE experiment = ?",
            [_epoch_us(record.period_start), record.experiment],
        ).fetchone()
        assert latest is not None
        if latest[1]:
            connection.execute("ROLLBACK")
            return False
        if latest[0] is not None and latest[0] > _epoch_us(record.period_start):
            raise StoreError(
                f"cannot record weights for {record.period_start.isoformat()}: "
                f"{record.experiment} already has weights for the later period "
                f"{_from_epoch_us(latest[0]).isoformat()} (the history is append-only)"
            )
        insert_record(connection, record)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return True
