"""Work shared by the experiments of one report (:mod:`upsell_ab.metrics.shared`).

The one-query count of other experiments' events is checked against counts made in
plain Python from the rows written in the test, and against the per-experiment query;
a report's analyses inside :func:`sharing` against the same analyses one by one."""

from __future__ import annotations

import random
from typing import Any

import duckdb
import pytest
from metrics_support import events_frame, exposures_frame, load_duckdb, resolved

from tests.ci_support import Workspace, demo_workspace
from upsell_ab.events import engines
from upsell_ab.metrics import shared as shared_module
from upsell_ab.metrics.compute import build_plan, compute_experiment_data
from upsell_ab.metrics.shared import (
    OrphanQuestion,
    orphans_elsewhere_all_sql,
    question,
    sharing,
)
from upsell_ab.metrics.sql_orphans import orphans_elsewhere_sql
from upsell_ab.spec.models import MetricDefinition, MetricType
from upsell_ab.workflow import running_specs

EXPOSURES = [
    ("a", "control", "u1", "2024-01-01 10:00"),
    ("a", "treatment", "u2", "2024-01-01 10:00"),
    ("a", "ghost", "u3", "2024-01-01 10:00"),  # unknown variant of a: not a's unit
    ("b", "control", "u3", "2024-01-01 10:00"),
    ("b", "control", "u4", "2024-01-01 10:00"),
    ("b", "control", "u1", "2024-01-01 10:00"),  # u1 in a and b
    ("c", "on", "u5", "2024-01-01 10:00"),
    ("c", None, "u6", "2024-01-01 10:00"),  # no variant: exposed to c, known to nobody
    (None, "control", "u7", "2024-01-01 10:00"),  # no experiment: exposed to nothing
    ("b", "control", None, "2024-01-01 10:00"),  # no unit: ignored
]
EVENTS = [
    ("u1", "order", "e1"),
    ("u2", "order", "e2"),
    ("u3", "order", "e3"),
    ("u3", "refund", "e4"),
    ("u4", "order", "e5"),
    ("u4", "order", "e6"),
    ("u5", "refund", "e7"),
    ("u6", "order", "e8"),
    ("u7", "order", "e9"),
    ("u8", "order", "e10"),  # never exposed: a true orphan for everyone
    (None, "order", "e11"),
]
QUESTIONS = (
    OrphanQuestion("a", ("control", "treatment"), ("order",)),
    OrphanQuestion("b", ("control", "treatment"), ("order", "refund")),
    OrphanQuestion("c", ("on", "off"), ("refund",)),
)


def expected_count(
    q: OrphanQuestion,
    exposures: list[tuple[Any, ...]] = EXPOSURES,
    events: list[tuple[Any, ...]] = EVENTS,
) -> int:
    """Events of q's types whose unit has no exposure to q's experiment with one of its
    variants, and some exposure to another (non-NULL, different) experiment."""
    rows = [r for r in exposures if r[2] is not None]
    mine = {r[2] for r in rows if r[0] == q.experiment_id and r[1] in q.variants}
    elsewhere = {r[2] for r in rows if r[0] is not None and r[0] != q.experiment_id}
    return sum(
        1
        for unit, kind, _ in events
        if kind in q.event_types and unit not in mine and unit in elsewhere
    )


def _connection(
    exposures: list[tuple[Any, ...]] = EXPOSURES, events: list[tuple[Any, ...]] = EVENTS
) -> Any:
    con = duckdb.connect()
    rows = [(u, "2024-01-02 10:00", k, 1.0, 0.0, 1.0, e) for u, k, e in events]
    load_duckdb(con, exposures_frame(exposures), events_frame(rows))
    return con


def test_one_query_counts_every_experiment_as_python_does() -> None:
    # worked out by hand: a -> u3 (order), u4 (2 orders), u6 (order) = 4;
    # b -> u2 (order), u6 (order), u5 (refund) = 3 (u3/u4/u1 are b's own units);
    # c -> u3 (refund) = 1 (u5 is c's; u6 has no known variant of c but no other experiment)
    assert [expected_count(q) for q in QUESTIONS] == [4, 3, 1]
    con = _connection()
    plan = build_plan(resolved({"m": MetricDefinition(type=MetricType.count_, event="order")}))
    sql = orphans_elsewhere_all_sql(plan.source.exposures, plan.source.events, QUESTIONS)
    (row,) = con.execute(sql).fetchall()
    assert list(row) == [4, 3, 1]


@pytest.mark.parametrize("index", range(len(QUESTIONS)))
def test_one_query_equals_the_per_experiment_query(index: int) -> None:
    q = QUESTIONS[index]
    metrics = {f"m_{t}": MetricDefinition(type=MetricType.count_, event=t) for t in q.event_types}
    plan = build_plan(
        resolved(metrics, variants=q.variants, experiment_id=q.experiment_id),
        unique_event_ids=True,
    )
    con = _connection()
    (single,) = con.execute(orphans_elsewhere_sql(plan, q.event_types, "duckdb")).fetchall()
    sql = orphans_elsewhere_all_sql(plan.source.exposures, plan.source.events, QUESTIONS)
    (row,) = con.execute(sql).fetchall()
    assert row[index] == single[0] == expected_count(q)


def test_one_query_counts_more_questions_than_one_flag_column_holds() -> None:
    # 40 experiments: three integer flag columns (15 questions each); units exposed to
    # 0-3 experiments, some with an unknown or no variant, or no experiment at all
    assert shared_module.QUESTIONS_PER_MASK == 15
    rng = random.Random(17)
    names = [f"x{k:02d}" for k in range(40)]
    exposures: list[tuple[Any, ...]] = []
    for unit in range(300):
        for _ in range(rng.randrange(4)):
            experiment = rng.choice([*names, None])
            variant = rng.choice(["control", "treatment", "ghost", None])
            exposures.append((experiment, variant, f"u{unit}", "2024-01-01 10:00"))
    events = [
        (f"u{rng.randrange(330)}", rng.choice(["order", "refund"]), f"e{i}") for i in range(900)
    ]
    questions = tuple(
        OrphanQuestion(
            name, ("control", "treatment"), rng.choice([("order",), ("order", "refund")])
        )
        for name in names
    )
    expected = [expected_count(q, exposures, events) for q in questions]
    assert len(set(expected)) > 5 and min(expected) > 0  # the counts tell questions apart
    plan = build_plan(resolved({"m": MetricDefinition(type=MetricType.count_, event="order")}))
    sql = orphans_elsewhere_all_sql(plan.source.exposures, plan.source.events, questions)
    assert "flags2" in sql and "flags3" not in sql
    (row,) = _connection(exposures, events).execute(sql).fetchall()
    assert list(row) == expected


def test_question_sorts_and_dedups_event_types() -> None:
    assert question("x", ["b", "a"], ["refund", "order", "order"]) == OrphanQuestion(
        "x", ("b", "a"), ("order", "refund")
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return demo_workspace(tmp_path_factory)


def test_report_block_opens_the_store_once_and_counts_orphans_once(
    demo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiments = running_specs([demo.specs])
    assert len(experiments) >= 3
    alone = [compute_experiment_data(r, store=demo.store, daily=True) for r in experiments]
    # the demo store holds every experiment's customers: far above the orphan threshold
    assert sum(1 for d in alone if (d.quality.other_experiment_events or 0) > 0) >= 2

    opened: list[Any] = []
    real_init = engines.DuckDBEngine.__init__

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        opened.append(kwargs.get("path"))
        real_init(self, *args, **kwargs)

    asked: list[tuple[OrphanQuestion, ...]] = []
    real_sql = shared_module.orphans_elsewhere_all_sql

    def counting_sql(*args: Any) -> str:
        asked.append(args[2])
        return real_sql(*args)

    monkeypatch.setattr(engines.DuckDBEngine, "__init__", counting_init)
    monkeypatch.setattr(shared_module, "orphans_elsewhere_all_sql", counting_sql)
    with sharing(experiments, demo.store) as state:
        together = [compute_experiment_data(r, store=demo.store, daily=True) for r in experiments]
        assert len(state.engines) == 1
    assert state.engines == {}, "closed at the end of the block"
    assert together == alone
    assert len(opened) == 1
    assert len(asked) == 1
    assert {q.experiment_id for q in asked[0]} == {r.experiment.id for r in experiments}
