"""Who is a unit, and who is counted apart (issue 17: ``units`` without ``v_max``).

The per-unit aggregate is grouped by the unit alone and ``units.v`` is NULL for a unit
exposed to several variants. These tests draw a random exposure log mixing every case
(several variants, unknown variants, exposures before/after the spec's dates, rows of
another experiment, missing unit ids) and work out every count in pandas from the
rows, never from the query: units per variant, units in several variants, units per
unknown variant (distinct units, any date), units exposed outside the dates (distinct,
known variants), orphan events, and the conversion sums.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from metrics_support import (
    events_frame,
    exposures_frame,
    load_duckdb,
    load_postgres,
    load_spark,
    resolved,
)

from upsell_ab.metrics.aggregates import ExperimentData
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.spec.models import MetricDefinition, MetricType
from upsell_ab.spec.resolve import ResolvedExperiment

START, END = date(2026, 3, 1), date(2026, 3, 30)
KNOWN = ("control", "treatment")
TAKE = MetricDefinition(type=MetricType.proportion, event="order")


def _log(seed: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rng = np.random.default_rng(seed)
    variants = ["control", "treatment", "ghost", "phantom"]
    days = [
        "2026-02-27 23:00",  # before the start
        "2026-03-01 00:00",  # the first second inside
        "2026-03-10 12:00",
        "2026-03-30 23:59",  # the last minute inside
        "2026-03-31 00:00",  # after the end
    ]
    exposures: list[tuple[Any, ...]] = []
    for i in range(400):
        for _ in range(int(rng.integers(1, 4))):
            variant = variants[int(rng.choice(4, p=[0.4, 0.4, 0.15, 0.05]))]
            exposures.append(("exp1", variant, f"u{i}", days[int(rng.integers(0, 5))]))
    exposures.append(("exp1", "control", None, "2026-03-10 12:00"))  # no unit: ignored
    exposures.append(("other", "treatment", "u1", "2026-03-10 12:00"))  # another experiment
    exposures.append(("other", "control", "w1", "2026-03-10 12:00"))
    moments = ["2026-02-28 00:00", "2026-03-01 05:00", "2026-03-11 10:00", "2026-03-20 10:00"]
    events = [
        (f"u{int(rng.integers(0, 420))}", moments[k % 4], "order", 10.0, 0.0, 1.0, f"e{k}")
        for k in range(300)
    ]
    return exposures, events


def _expected(exposures: list[tuple[Any, ...]], events: list[tuple[Any, ...]]) -> dict[str, Any]:
    xp = pd.DataFrame(exposures, columns=["experiment", "variant", "unit", "ts"])
    xp = xp[(xp["experiment"] == "exp1") & xp["unit"].notna()]
    xp["ts"] = pd.to_datetime(xp["ts"])
    inside = (xp["ts"] >= pd.Timestamp(START)) & (xp["ts"] < pd.Timestamp("2026-03-31"))
    known = xp["variant"].isin(KNOWN)
    dated = xp[known & inside]
    arms = dated.groupby("unit")["variant"].nunique()
    single = dated[dated["unit"].isin(arms[arms == 1].index)].drop_duplicates("unit")
    first = dated.groupby("unit")["ts"].min()
    ev = pd.DataFrame(events, columns=["unit", "ts", "type", "v", "d", "q", "id"])
    ev["ts"] = pd.to_datetime(ev["ts"])
    week = pd.Timedelta(days=7)  # the metric's default window [0, 7 days)
    buyers = {
        u
        for u, ts in zip(ev["unit"], ev["ts"], strict=True)
        if u in first and first[u] <= ts < first[u] + week
    }
    return {
        "units": single["variant"].value_counts().to_dict(),
        "multi": int((arms > 1).sum()),
        "unknown": xp[~known].groupby("variant")["unit"].nunique().to_dict(),
        "undated": int(xp[known & ~inside]["unit"].nunique()),
        "orphans": int((~ev["unit"].isin(set(dated["unit"]))).sum()),
        "converted": {
            v: sum(1 for u in single[single["variant"] == v]["unit"] if u in buyers) for v in KNOWN
        },
    }


def _spec() -> ResolvedExperiment:
    base = resolved({"take": TAKE})
    experiment = base.experiment.model_copy(update={"start": START, "end": END})
    return replace(base, experiment=experiment)


def _check(data: ExperimentData, expected: dict[str, Any]) -> None:
    quality = data.quality
    # the draw has every case, else the test would not test them
    assert expected["multi"] > 0 and expected["undated"] > 0 and len(expected["unknown"]) == 2
    assert min(expected["converted"].values()) > 0
    assert quality.exposures_by_variant == expected["units"]
    assert quality.multiple_exposure_units == expected["multi"]
    assert quality.unknown_variants == expected["unknown"]
    assert quality.units_exposed_outside_dates == expected["undated"]
    assert quality.orphan_events == expected["orphans"]
    for variant in KNOWN:
        stats = data.metrics["take"].by_variant[variant]
        assert stats.n == expected["units"][variant]
        assert stats.sum == expected["converted"][variant]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("threads", [1, 2])
def test_units_and_units_counted_apart_duckdb(seed: int, threads: int) -> None:
    exposures, events = _log(seed)
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    load_duckdb(con, exposures_frame(exposures), events_frame(events))
    _check(compute_experiment_data(_spec(), connection=con), _expected(exposures, events))


@pytest.mark.postgres
def test_units_and_units_counted_apart_postgres(postgres_dsn: str) -> None:
    import psycopg

    exposures, events = _log(4)
    load_postgres(postgres_dsn, exposures_frame(exposures), events_frame(events))
    with psycopg.connect(postgres_dsn) as conn:
        data = compute_experiment_data(_spec(), connection=conn)
    _check(data, _expected(exposures, events))


@pytest.mark.spark
def test_units_and_units_counted_apart_spark(spark_session: Any) -> None:
    exposures, events = _log(4)
    load_spark(spark_session, exposures_frame(exposures), events_frame(events))
    data = compute_experiment_data(_spec(), connection=spark_session)
    _check(data, _expected(exposures, events))
