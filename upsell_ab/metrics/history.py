"""Baselines for ``plan`` from the shop's history, with the experiment's own metric definitions.

Before a test starts there are no exposures, so history is read as if every
customer active in the pre-period had been exposed to today's offer:

- the reference time ``T`` is the spec's ``start`` (or the last event in the
  store when the start is later or missing); only events before ``T`` are read;
- a customer's pseudo-exposure is their first event in ``[T - L - days, T - L)``,
  where ``L`` is the longest metric window, so every unit's window is complete;
- the experiment's metric query (:func:`upsell_ab.metrics.compute.compute_experiment_data`)
  then runs unchanged on a one-arm copy of the spec over two temporary views,
  so windows, capping, ratios and quantiles mean what they will mean in the test.

Metrics without CUPED are also computed with a CUPED covariate over a 28-day
lookback, which gives the variance reduction CUPED would bring on that history
(``1 - Var(adjusted) / Var(plain)``). The one-arm result is per-unit sufficient
statistics; the planner turns them into a baseline and a per-unit standard
deviation. Also returned: eligible units a day (pseudo-exposed units / days).
Only DuckDB stores and files are read here (``--store`` / ``kind: files``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from upsell_ab.errors import StoreError
from upsell_ab.metrics.sufficient import MetricStats
from upsell_ab.spec.models import Cuped, MetricType

HISTORY_VARIANT = "history"
EXPOSURE_VIEW = "upsell_ab_history_exposures"
EVENT_VIEW = "upsell_ab_history_events"
CUPED_LOOKBACK = timedelta(days=28)
CUPED_TYPES = (MetricType.mean, MetricType.count_, MetricType.profit, MetricType.ratio)
"""Metric types the query can CUPED-adjust (the covariate is the same metric before)."""


@dataclass(frozen=True)
class History:
    """One-arm statistics of the pre-period: plain, and with a CUPED covariate."""

    reference: datetime
    """``T``: only events before it were read."""
    entry_start: datetime
    entry_end: datetime
    """Pseudo-exposures fall in ``[entry_start, entry_end)``."""
    days: int
    units: int
    plain: dict[str, MetricStats]
    cuped: dict[str, MetricStats]
    """Metric -> CUPED statistics (covariate over the lookback), where computable."""

    @property
    def daily_units(self) -> float | None:
        return self.units / self.days if self.units and self.days else None


def _quoted(name: str) -> str:
    from sqlglot import exp

    return str(exp.to_identifier(name, quoted=True).sql(dialect="duckdb"))


def _literal(value: str) -> str:
    from sqlglot import exp

    return str(exp.Literal.string(value).sql(dialect="duckdb"))


def _timestamp(value: datetime) -> str:
    return f"CAST({_literal(value.isoformat(sep=' '))} AS TIMESTAMP)"


def _relation_sql(table: Any) -> str:
    if table.path is not None:
        parquet = table.format == "parquet" or str(table.path).endswith((".parquet", ".pq"))
        return f"{'read_parquet' if parquet else 'read_csv'}({_literal(table.path)})"
    name = _quoted(table.table)
    return f"{_quoted(table.schema_name)}.{name}" if table.schema_name else name


def _one_arm(resolved: Any, definitions: dict[str, Any]) -> Any:
    """A copy of the resolved spec with one variant reading the two history views."""
    from upsell_ab.spec.models import DataSource, Table, Variant
    from upsell_ab.spec.resolve import ResolvedExperiment

    experiment = resolved.experiment
    data = experiment.data
    one = Variant.model_construct(id=HISTORY_VARIANT, weight=1.0, control=True, offer=None)
    history_data = DataSource.model_construct(
        kind=data.kind.embedded,
        store=None,
        dsn_env=None,
        exposures=Table.model_construct(table=EXPOSURE_VIEW, schema_name=None, path=None),
        events=Table.model_construct(table=EVENT_VIEW, schema_name=None, path=None),
        exposure_columns=data.exposure_columns,
        event_columns=data.event_columns,
    )
    # no dates: the pre-period lies before the spec's start by construction
    copy = experiment.model_copy(
        update={"variants": [one], "data": history_data, "start": None, "end": None}
    )
    return ResolvedExperiment(experiment=copy, metrics=definitions, roles=dict(resolved.roles))


def _name(column: Any, canonical: str) -> str:
    """The view's column for a mapping that may be a constant (then never read)."""
    return column if isinstance(column, str) else canonical


def read_history(resolved: Any, store: str | Path | None, *, days: int = 28) -> History:
    """Pre-period statistics of every metric of ``resolved`` (module docstring)."""
    import duckdb

    from upsell_ab.metrics.compute import DEFAULT_STORE, compute_experiment_data

    experiment = resolved.experiment
    data = experiment.data
    if data.kind.value not in ("embedded", "files"):
        raise StoreError(
            f"history is read from a DuckDB store or files, not a {data.kind.value} source; "
            "give --baseline/--std, or --store with an export of the history"
        )
    path = store or data.store or DEFAULT_STORE
    if data.kind.value == "embedded" and not Path(path).is_file():
        raise StoreError(f"no store at {path} (give --store DB with the shop's history)")
    from upsell_ab.events.store_open import open_store

    connection = (
        open_store(path, read_only=True)  # waits (bounded) while an ingest holds the store
        if data.kind.value == "embedded"
        else duckdb.connect()
    )
    try:
        events = _relation_sql(data.events)
        columns = data.event_columns
        ts, unit = _quoted(columns.timestamp), _quoted(columns.unit_id)
        row = connection.execute(f"SELECT MAX({ts}) FROM {events}").fetchone()
        last = row[0] if row else None
        if last is None:
            raise StoreError("the store has no events to read a history from")
        reference = last + timedelta(microseconds=1)
        if experiment.start is not None:
            reference = min(reference, datetime.combine(experiment.start, datetime.min.time()))
        longest = max((d.window.end for d in resolved.metrics.values()), default=timedelta(0))
        entry_end = reference - longest
        entry_start = entry_end - timedelta(days=days)
        exp_cols = data.exposure_columns
        connection.execute(
            f"CREATE OR REPLACE TEMP VIEW {EVENT_VIEW} AS SELECT * FROM {events} "
            f"WHERE {ts} < {_timestamp(reference)}"
        )
        connection.execute(
            f"CREATE OR REPLACE TEMP VIEW {EXPOSURE_VIEW} AS SELECT "
            f"{_literal(experiment.id)} AS {_quoted(_name(exp_cols.experiment, 'experiment'))}, "
            f"{_literal(HISTORY_VARIANT)} AS {_quoted(exp_cols.variant)}, "
            f"{unit} AS {_quoted(exp_cols.unit_id)}, MIN({ts}) AS {_quoted(exp_cols.timestamp)} "
            f"FROM {EVENT_VIEW} WHERE {ts} >= {_timestamp(entry_start)} "
            f"AND {ts} < {_timestamp(entry_end)} GROUP BY {unit}"
        )
        plain_defs = dict(resolved.metrics)
        plain = compute_experiment_data(_one_arm(resolved, plain_defs), connection=connection)
        cuped_defs = {
            name: d
            if d.cuped is not None
            else d.model_copy(update={"cuped": Cuped(lookback=CUPED_LOOKBACK)})
            for name, d in plain_defs.items()
            if d.type in CUPED_TYPES
        }
        cuped = (
            compute_experiment_data(_one_arm(resolved, cuped_defs), connection=connection)
            if cuped_defs
            else None
        )
    finally:
        connection.close()
    units = plain.quality.exposures_by_variant.get(HISTORY_VARIANT, 0)
    return History(
        reference=reference,
        entry_start=entry_start,
        entry_end=entry_end,
        days=days,
        units=units,
        plain={name: metric.by_variant[HISTORY_VARIANT] for name, metric in plain.metrics.items()},
        cuped=(
            {name: metric.by_variant[HISTORY_VARIANT] for name, metric in cuped.metrics.items()}
            if cuped is not None
            else {}
        ),
    )
