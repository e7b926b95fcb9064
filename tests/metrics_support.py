"""Test support for the metrics tests: tables on every engine, and an independent oracle.

The oracle recomputes every metric with plain pandas/Python loops straight
from the definitions in docs/metrics.md (it shares no code with the SQL
builder), so the SQL results are checked against a second implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from upsell_ab.spec.models import (
    Analysis,
    DataSource,
    Experiment,
    ExposureColumns,
    MetricDefinition,
    MetricRoles,
    MetricType,
    Variant,
)
from upsell_ab.spec.resolve import ResolvedExperiment

EXPOSURE_COLUMNS = ["experiment", "variant", "unit_id", "timestamp", "event_id"]
EVENT_COLUMNS = [
    "unit_id",
    "timestamp",
    "event_type",
    "value",
    "discount",
    "quantity",
    "order_id",
    "event_id",
]


def resolved(
    metrics: dict[str, MetricDefinition],
    *,
    variants: tuple[str, ...] = ("control", "treatment"),
    experiment_id: str = "exp1",
    segments: tuple[str, ...] = (),
    data: DataSource | None = None,
) -> ResolvedExperiment:
    """A ResolvedExperiment built directly (equal weights, first variant is control)."""
    weight = 1.0 / len(variants)
    experiment = Experiment(
        id=experiment_id,
        name="test",
        variants=[Variant(id=v, weight=weight, control=(i == 0)) for i, v in enumerate(variants)],
        metrics=MetricRoles(primary=next(iter(metrics))),
        analysis=Analysis(segments=list(segments)),
        data=data or DataSource(exposure_columns=ExposureColumns(attributes=list(segments))),
    )
    roles = {name: ("primary" if i == 0 else "secondary") for i, name in enumerate(metrics)}
    return ResolvedExperiment(experiment=experiment, metrics=dict(metrics), roles=roles)


def exposures_frame(rows: list[tuple[Any, ...]], attributes: tuple[str, ...] = ()) -> pd.DataFrame:
    """(experiment, variant, unit, 'YYYY-mm-dd HH:MM[:SS]', [attributes...]) rows."""
    columns = ["experiment", "variant", "unit_id", "timestamp", *attributes]
    frame = pd.DataFrame(rows, columns=columns)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601").astype(
        "datetime64[us]"
    )
    frame.insert(4, "event_id", [f"x{i}" for i in range(len(frame))])
    for name in attributes:
        frame[name] = frame[name].astype(object)
    return frame


def events_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """(unit, ts, type, value, discount, quantity, event_id) rows."""
    frame = pd.DataFrame(
        rows,
        columns=["unit_id", "timestamp", "event_type", "value", "discount", "quantity", "event_id"],
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601").astype(
        "datetime64[us]"
    )
    for name in ("value", "discount", "quantity"):
        frame[name] = frame[name].astype("float64")
    frame.insert(6, "order_id", None)
    frame["order_id"] = frame["order_id"].astype(object)
    return frame[EVENT_COLUMNS]


# --------------------------------------------------------------------- engines
def load_duckdb(con: Any, exposures: pd.DataFrame, events: pd.DataFrame, **names: str) -> None:
    """Create the two tables (names overridable: ``exposures_table``, ``events_table``)."""
    for frame, key, default in (
        (exposures, "exposures_table", "exposures"),
        (events, "events_table", "events"),
    ):
        name = names.get(key, default)
        quoted = '"' + name.replace('"', '""') + '"'
        con.register("frame_view", frame)
        con.execute(f"CREATE OR REPLACE TABLE {quoted} AS SELECT * FROM frame_view")
        con.unregister("frame_view")


_PG_TYPES = {"float64": "DOUBLE PRECISION", "datetime64[us]": "TIMESTAMP"}


def load_postgres(dsn: str, exposures: pd.DataFrame, events: pd.DataFrame, **names: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        for frame, key, default in (
            (exposures, "exposures_table", "exposures"),
            (events, "events_table", "events"),
        ):
            name = names.get(key, default)
            columns = [
                sql.SQL("{} {}").format(
                    sql.Identifier(c), sql.SQL(_PG_TYPES.get(str(frame[c].dtype), "TEXT"))
                )
                for c in frame.columns
            ]
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
            conn.execute(
                sql.SQL("CREATE TABLE {} ({})").format(
                    sql.Identifier(name), sql.SQL(", ").join(columns)
                )
            )
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, frame.columns))
            )
            with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
                for record in frame.itertuples(index=False):
                    copy.write_row([_plain(v) for v in record])


def _plain(value: Any) -> Any:
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def load_spark(spark: Any, exposures: pd.DataFrame, events: pd.DataFrame, **names: str) -> None:
    """Temp views from pandas (no Hive metastore needed); names quoted with backticks."""
    for frame, key, default in (
        (exposures, "exposures_table", "exposures"),
        (events, "events_table", "events"),
    ):
        name = names.get(key, default)
        records = [tuple(_plain(v) for v in r) for r in frame.itertuples(index=False)]
        schema = ", ".join(
            f"`{c.replace('`', '``')}` "
            + {"float64": "DOUBLE", "datetime64[us]": "TIMESTAMP"}.get(
                str(frame[c].dtype), "STRING"
            )
            for c in frame.columns
        )
        staging = f"upsell_ab_loading_{abs(hash(name))}"
        spark.createDataFrame(records, schema=schema).createOrReplaceTempView(staging)
        quoted = "`" + name.replace("`", "``") + "`"
        spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {quoted} AS SELECT * FROM {staging}")


# ---------------------------------------------------------------------- oracle
@dataclass(frozen=True)
class OracleResult:
    stats: dict[str, dict[str, dict[str, float]]]
    """metric -> variant -> {n, sum, sum_squares, ...} (field names of the stats classes)."""
    units: dict[str, int]
    multi: int
    orphans: int
    before: int
    outside: int
    duplicates: int
    unknown: dict[str, int]


@dataclass(frozen=True)
class Ev:
    """One kept event as plain Python values (fast loops in the oracle)."""

    unit_id: str
    timestamp: datetime
    event_type: str
    value: float
    discount: float
    quantity: float


def _unit_sum(
    events: list[Ev],
    first: datetime,
    event: str,
    summand: Any,
    lo: timedelta,
    hi: timedelta,
    lookback: timedelta | None,
) -> tuple[float, int]:
    total, count = 0.0, 0
    for ev in events:
        if ev.event_type != event:
            continue
        delta = ev.timestamp - first
        inside = (-lookback <= delta < timedelta(0)) if lookback is not None else (lo <= delta < hi)
        if inside:
            total += summand(ev)
            count += 1
    return total, count


def _summand(metric: MetricDefinition, value: str) -> Any:
    if (
        metric.type in (MetricType.proportion, MetricType.retention, MetricType.count_)
        or value == "count"
    ):
        return lambda ev: 1.0
    if metric.type is MetricType.profit:
        assert metric.margin is not None
        return lambda ev: ev.value * metric.margin - ev.discount
    return lambda ev: float(getattr(ev, value))


def unit_values(
    metric: MetricDefinition, events: list[Ev], first: datetime, cutoff: datetime | None = None
) -> dict[str, float]:
    """Per-unit y, d, x, w (uncapped) from the unit's events, straight from the definitions."""
    if cutoff is not None:
        events = [ev for ev in events if ev.timestamp < cutoff]
    lo, hi = metric.window.start, metric.window.end
    lookback = metric.cuped.lookback if metric.cuped else None
    out: dict[str, float] = {}
    if metric.type is MetricType.ratio:
        assert metric.numerator and metric.denominator
        sides = [
            ("y", "x", metric.numerator.event, metric.numerator.value),
            ("d", "w", metric.denominator.event, metric.denominator.value),
        ]
    else:
        assert metric.event
        sides = [("y", "x", metric.event, metric.value)]
    indicator = metric.type in (MetricType.proportion, MetricType.retention)
    for var, cov, event, value in sides:
        summand = _summand(metric, value)
        total, count = _unit_sum(events, first, event, summand, lo, hi, None)
        out[var] = float(count > 0) if indicator else total
        if lookback is not None:
            total, count = _unit_sum(events, first, event, summand, lo, hi, lookback)
            out[cov] = float(count > 0) if indicator else total
    return out


FIELDS = {
    "sample": {"sum": ("y",), "sum_squares": ("y", "y")},
    "cuped": {
        "sum": ("y",),
        "sum_squares": ("y", "y"),
        "covariate_sum": ("x",),
        "covariate_sum_squares": ("x", "x"),
        "cross_sum": ("y", "x"),
    },
    "ratio": {
        "numerator_sum": ("y",),
        "numerator_sum_squares": ("y", "y"),
        "denominator_sum": ("d",),
        "denominator_sum_squares": ("d", "d"),
        "cross_sum": ("y", "d"),
    },
    "cuped_ratio": {
        "numerator_sum": ("y",),
        "numerator_sum_squares": ("y", "y"),
        "denominator_sum": ("d",),
        "denominator_sum_squares": ("d", "d"),
        "covariate_numerator_sum": ("x",),
        "covariate_numerator_sum_squares": ("x", "x"),
        "covariate_denominator_sum": ("w",),
        "covariate_denominator_sum_squares": ("w", "w"),
        "numerator_denominator_cross": ("y", "d"),
        "numerator_covariate_numerator_cross": ("y", "x"),
        "numerator_covariate_denominator_cross": ("y", "w"),
        "denominator_covariate_numerator_cross": ("d", "x"),
        "denominator_covariate_denominator_cross": ("d", "w"),
        "covariate_numerator_denominator_cross": ("x", "w"),
    },
}


def fields_of(metric: MetricDefinition) -> dict[str, tuple[str, ...]]:
    kind = ("cuped_" if metric.cuped else "") + (
        "ratio" if metric.type is MetricType.ratio else "sample"
    )
    return FIELDS["cuped" if kind == "cuped_sample" else kind]


def oracle(
    exposures: pd.DataFrame,
    events: pd.DataFrame,
    experiment_id: str,
    variants: tuple[str, ...],
    metrics: dict[str, MetricDefinition],
    *,
    segment: tuple[str, str] | None = None,
    day: date | None = None,
    first_between: tuple[datetime | None, datetime | None] | None = None,
) -> OracleResult:
    """Statistics recomputed in plain Python (one segment, or as of the end of ``day``,
    or of the units first exposed in ``[low, high)`` of ``first_between``)."""
    xp = exposures[exposures["experiment"] == experiment_id]
    known = xp[xp["variant"].isin(variants)]
    unknown = xp[~xp["variant"].isin(variants)]
    first_rows = known.sort_values(["timestamp", "variant"]).groupby("unit_id").head(1)
    seen = known.groupby("unit_id")["variant"].nunique()
    multi_units = set(seen[seen > 1].index)
    units = first_rows[~first_rows["unit_id"].isin(multi_units)].set_index("unit_id")
    if segment is not None:
        attribute, wanted = segment
        units = units[units[attribute].fillna("(missing)") == wanted]
    cutoff = datetime.combine(day + timedelta(days=1), datetime.min.time()) if day else None
    if cutoff is not None:
        units = units[units["timestamp"] < cutoff]
    if first_between is not None:
        low, high = first_between
        if low is not None:
            units = units[units["timestamp"] >= low]
        if high is not None:
            units = units[units["timestamp"] < high]
    types = set()
    for m in metrics.values():
        types |= {m.event} if m.event else {m.numerator.event, m.denominator.event}  # type: ignore[union-attr]
    relevant = events[events["event_type"].isin(types)]
    # docs/metrics.md: the first row of an id by these keys (NULLs last) is kept; rows
    # with no id always count
    ordered = relevant.sort_values(
        ["timestamp", "unit_id", "event_type", "value", "discount", "quantity"], kind="stable"
    )
    with_id = ordered["event_id"].notna()
    kept = pd.concat([ordered[with_id].drop_duplicates("event_id"), ordered[~with_id]])
    duplicates = len(relevant) - len(kept)
    grouped: dict[str, list[Ev]] = {}
    for r in kept.itertuples(index=False):
        ev = Ev(
            r.unit_id, r.timestamp.to_pydatetime(), r.event_type, r.value, r.discount, r.quantity
        )
        grouped.setdefault(r.unit_id, []).append(ev)
    empty: list[Ev] = []
    firsts = {u: t.to_pydatetime() for u, t in units["timestamp"].items()}
    eligible_all = first_rows[~first_rows["unit_id"].isin(multi_units)]
    all_firsts = {
        u: t.to_pydatetime()
        for u, t in zip(eligible_all["unit_id"], eligible_all["timestamp"], strict=True)
    }
    per_metric: dict[str, dict[str, dict[str, float]]] = {}
    for name, metric in metrics.items():
        values = {
            u: unit_values(metric, grouped.get(u, empty), t, cutoff) for u, t in firsts.items()
        }
        frame = pd.DataFrame.from_dict(values, orient="index").reindex(units.index)
        if metric.capping is not None:
            all_values = {
                u: unit_values(metric, grouped.get(u, empty), t) for u, t in all_firsts.items()
            }
            pooled = pd.DataFrame.from_dict(all_values, orient="index")
            for var in [c for c in ("y", "x") if c in frame.columns]:
                if metric.capping.kind == "fixed":
                    cap = metric.capping.value
                else:
                    # the quantile of the positive values (docs/metrics.md); none: no cap
                    values = pooled[var].to_numpy()
                    values = values[values > 0]
                    cap = (
                        float(np.quantile(values, metric.capping.value))
                        if len(values)
                        else float("inf")
                    )
                frame[var] = np.minimum(frame[var], cap)
        frame["variant"] = units["variant"]
        per_variant: dict[str, dict[str, float]] = {}
        for variant in variants:
            sub = frame[frame["variant"] == variant]
            stats = {"n": float(len(sub))}
            for field, factors in fields_of(metric).items():
                product = np.ones(len(sub))
                for f in factors:
                    product = product * sub[f].to_numpy(dtype=float)
                stats[field] = float(product.sum())
            per_variant[variant] = stats
        per_metric[name] = per_variant

    whole = segment is None and day is None and first_between is None
    eligible = set(units.index) if whole else None
    before = outside = orphans = 0
    exposed_any = set(known["unit_id"])
    windows = []
    for m in metrics.values():
        for event in [m.event] if m.event else [m.numerator.event, m.denominator.event]:  # type: ignore[union-attr]
            windows.append((event, m.window.start, m.window.end))
    if eligible is not None:
        for ev in kept.itertuples(index=False):
            if ev.unit_id not in exposed_any:
                orphans += 1
                continue
            if ev.unit_id not in eligible:
                continue
            delta = ev.timestamp.to_pydatetime() - firsts[ev.unit_id]
            if delta < timedelta(0):
                before += 1
            elif not any(ev.event_type == e and lo <= delta < hi for e, lo, hi in windows):
                outside += 1
    unknown_units = unknown.groupby("variant")["unit_id"].nunique().to_dict()
    return OracleResult(
        stats=per_metric,
        units={v: int((units["variant"] == v).sum()) for v in variants},
        multi=len(multi_units),
        orphans=orphans,
        before=before,
        outside=outside,
        duplicates=duplicates,
        unknown={str(k): int(v) for k, v in unknown_units.items()},
    )


def stats_dict(stats: Any) -> dict[str, float]:
    """Raw sums (of y, not of the centred and scaled z the query returns) by field."""
    from dataclasses import fields

    from upsell_ab.metrics.sufficient import SampleStats

    if isinstance(stats, SampleStats):
        stats = stats.in_frame(0.0, 1.0)
    return {
        f.name: float(getattr(stats, f.name))
        for f in fields(stats)
        if f.name not in ("shift", "scale")
    }


def assert_close(actual: dict[str, float], expected: dict[str, float], rel: float = 1e-9) -> None:
    assert set(actual) == set(expected), (sorted(actual), sorted(expected))
    for key, value in expected.items():
        got = actual[key]
        assert abs(got - value) <= rel * max(1.0, abs(value)), (key, got, value)


# ------------------------------------------------------------------- synthetic
def synthetic(n_units: int = 2000, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Small data with every quirk: repeat exposures, multi-variant units, an unknown
    variant, orphans, duplicates, pre-exposure orders, events outside windows, segments."""
    rng = np.random.default_rng(seed)
    variants = np.array(["control", "treatment", "bold"])
    start = datetime(2024, 3, 1)
    unit_ids = [f"u{i:05d}" for i in range(n_units)]
    first = [start + timedelta(seconds=int(s)) for s in rng.integers(0, 6 * 86400, n_units)]
    arm = rng.integers(0, 3, n_units)
    rows: list[tuple[Any, ...]] = []
    for u, t, a in zip(unit_ids, first, arm, strict=True):
        channel = str(rng.choice(["web", "app", "store"])) if rng.random() > 0.05 else None
        rows.append(
            ("exp1", str(variants[a]), u, t, channel, str(rng.choice(["new", "returning"])))
        )
        if rng.random() < 0.2:  # re-exposure, same variant, later
            rows.append(("exp1", str(variants[a]), u, t + timedelta(hours=5), channel, "new"))
        if rng.random() < 0.01:  # a second variant: excluded
            rows.append(
                ("exp1", str(variants[(a + 1) % 3]), u, t + timedelta(hours=1), channel, "new")
            )
        if rng.random() < 0.005:
            rows.append(("exp1", "ghost", u, t + timedelta(hours=2), channel, "new"))
    rows.append(("other_exp", "control", "u00001", start, "web", "new"))
    exposures = pd.DataFrame(
        rows, columns=["experiment", "variant", "unit_id", "timestamp", "channel", "tier"]
    )
    exposures["timestamp"] = pd.to_datetime(exposures["timestamp"]).astype("datetime64[us]")
    exposures.insert(4, "event_id", [f"x{i}" for i in range(len(exposures))])
    ev_rows: list[tuple[Any, ...]] = []
    counter = 0
    for u, t, a in zip(unit_ids, first, arm, strict=True):
        for _ in range(rng.poisson(0.6 + 0.15 * a)):
            offset = timedelta(seconds=float(rng.uniform(-20 * 86400, 40 * 86400)))
            kind = str(rng.choice(["order", "order", "upsell_purchase", "refund", "page_view"]))
            value = float(np.round(rng.lognormal(7.5, 0.8), 2))
            discount = float(np.round(value * rng.choice([0.0, 0.1, 0.2]), 2))
            counter += 1
            ev_rows.append(
                (u, t + offset, kind, value, discount, float(rng.integers(1, 4)), f"e{counter}")
            )
            if rng.random() < 0.03:  # duplicate delivery of the same event
                ev_rows.append(ev_rows[-1])
    for i in range(40):  # orphans
        counter += 1
        ev_rows.append(
            (f"stranger{i}", start + timedelta(days=2), "order", 100.0, 0.0, 1.0, f"e{counter}")
        )
    return exposures, events_frame(ev_rows)
