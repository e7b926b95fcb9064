"""Statistics per switchback slot inside DuckDB, PostgreSQL and Spark (the slot branch
of the experiment query, :mod:`upsell_ab.metrics.sql_slots`).

Oracle: a plain-Python recount through :class:`SlotClock` (the clock assignment uses)
of every customer's slot, burn-in and outcome. Clocks that stress the local time: an
hour in Kolkata (UTC+5:30, so local hours are not UTC hours), days in Berlin across the
daylight-saving change of 29 March 2026, days of the week in New York.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from metrics_support import load_duckdb, load_postgres, load_spark

from upsell_ab.assignment import Assigner
from upsell_ab.assignment.switchback import SlotClock
from upsell_ab.metrics.aggregates import ExperimentData
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.spec.models import Experiment, MetricDefinition
from upsell_ab.spec.randomization_models import Randomization
from upsell_ab.spec.resolve import ResolvedExperiment

CLOCKS = {
    "hour": Randomization(unit="time_slot", slot="hour", timezone="Asia/Kolkata",
                          burn_in_minutes=10),
    "day": Randomization(unit="time_slot", slot="day", timezone="Europe/Berlin",
                         burn_in_minutes=90),
    "day_of_week": Randomization(unit="time_slot", slot="day_of_week",
                                 timezone="America/New_York"),
}  # fmt: skip
METRICS = {
    "take": MetricDefinition.model_validate(
        {"type": "proportion", "event": "upsell_purchase", "window": {"end": "7d"}}
    ),
    "revenue": MetricDefinition.model_validate(
        {"type": "mean", "event": "upsell_purchase", "value": "value", "window": {"end": "7d"}}
    ),
}


def resolved_for(kind: str) -> ResolvedExperiment:
    experiment = Experiment.model_validate(
        {
            "id": f"slots_{kind}",
            "name": "slots",
            "status": "running",
            "population": {"unit": "receipt_id"},
            "variants": [{"id": "a", "control": True}, {"id": "b"}],
            "metrics": {"primary": "take", "secondary": ["revenue"]},
            "randomization": CLOCKS[kind].model_dump(),
        }
    )
    roles = {"take": "primary", "revenue": "secondary"}
    return ResolvedExperiment(experiment=experiment, metrics=dict(METRICS), roles=roles)


def frames(kind: str) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list[float]], dict[str, str]]:
    """Visits over 9 days around the DST change (UTC instants), each exposed to its slot's
    arm; 35 % buy at a random price. Returns the tables and the oracle per slot key:
    [customers, buyers, revenue] after the burn-in, and the slot's arm."""
    resolved = resolved_for(kind)
    clock: SlotClock = resolved.experiment.randomization.clock()
    assigner = Assigner(resolved.experiment)
    rng = np.random.default_rng(17)
    start = datetime(2026, 3, 24, tzinfo=UTC)
    exposures, events = [], []
    expected: dict[str, list[float]] = {}
    arms: dict[str, str] = {}
    for i in range(3000):
        at = start + timedelta(minutes=float(rng.uniform(0, 9 * 24 * 60)))
        key = clock.key(at)
        arm = assigner.assign(key).variant
        assert arm is not None
        naive = at.replace(tzinfo=None)
        exposures.append((resolved.experiment.id, arm, f"r{i}", naive, f"x{i}"))
        bought = rng.random() < 0.35
        price = float(rng.choice([300.0, 350.0, 420.0]))
        if bought:
            events.append((f"r{i}", naive + timedelta(minutes=3), "upsell_purchase", price,
                           0.0, 1.0, f"o{i}", f"e{i}"))  # fmt: skip
        if clock.in_burn_in(at):
            continue
        cell = expected.setdefault(key, [0.0, 0.0, 0.0])
        cell[0] += 1
        cell[1] += bought
        cell[2] += price if bought else 0.0
        arms[key] = arm
    columns = ["experiment", "variant", "unit_id", "timestamp", "event_id"]
    x = pd.DataFrame(exposures, columns=columns)
    e = pd.DataFrame(
        events,
        columns=["unit_id", "timestamp", "event_type", "value", "discount", "quantity",
                 "order_id", "event_id"],
    )  # fmt: skip
    for frame in (x, e):
        frame["timestamp"] = frame["timestamp"].astype("datetime64[us]")
    return x, e, expected, arms


def check(data: ExperimentData, expected: dict[str, list[float]], arms: dict[str, str]) -> None:
    split = data.slots
    assert split is not None
    assert split.arms == arms
    assert {k: float(n) for k, n in split.units.items()} == {k: v[0] for k, v in expected.items()}
    take, revenue = split.by_metric["take"], split.by_metric["revenue"]
    for key, (n, buyers, money) in expected.items():
        assert take[key].n == n and take[key].mean * n == pytest.approx(buyers, abs=1e-9)
        assert revenue[key].mean * n == pytest.approx(money, rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("kind", sorted(CLOCKS))
def test_duckdb_slots_match_a_python_recount(kind: str) -> None:
    x, e, expected, arms = frames(kind)
    con = duckdb.connect()
    load_duckdb(con, x, e)
    check(compute_experiment_data(resolved_for(kind), connection=con), expected, arms)
    if kind == "day_of_week":
        assert len(arms) == 7
    if kind == "day":  # the DST change: 29 March has 23 hours and is one slot
        assert "2026-03-29" in arms


@pytest.mark.postgres
@pytest.mark.parametrize("kind", sorted(CLOCKS))
def test_postgres_slots_match_a_python_recount(postgres_dsn: str, kind: str) -> None:
    import psycopg

    x, e, expected, arms = frames(kind)
    load_postgres(postgres_dsn, x, e)
    with psycopg.connect(postgres_dsn) as conn:
        check(compute_experiment_data(resolved_for(kind), connection=conn), expected, arms)


@pytest.mark.spark
@pytest.mark.parametrize("kind", sorted(CLOCKS))
def test_spark_slots_match_a_python_recount(spark_session: Any, kind: str) -> None:
    x, e, expected, arms = frames(kind)
    load_spark(spark_session, x, e)
    check(compute_experiment_data(resolved_for(kind), connection=spark_session), expected, arms)


@pytest.mark.parametrize("kind", sorted(CLOCKS))
def test_duckdb_slots_of_timestamps_with_time_zone_in_another_session_zone(kind: str) -> None:
    """TIMESTAMPTZ columns (tz-aware Parquet) in a session set to Los Angeles: the same
    slots as the naive UTC columns' Python recount."""
    x, e, expected, arms = frames(kind)
    con = duckdb.connect()
    load_duckdb(con, x, e)
    for table in ("exposures", "events"):
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * REPLACE "
            f'(timezone(\'UTC\', "timestamp") AS "timestamp") FROM {table}'
        )
    con.execute("SET TimeZone = 'America/Los_Angeles'")
    check(compute_experiment_data(resolved_for(kind), connection=con), expected, arms)
