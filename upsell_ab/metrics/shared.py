"""What the experiments of one ``report`` share: the store's connection and one count of
other experiments' events for all of them (issue 17: "one scan per experiment at most").

``upsell-ab report`` analyses every running experiment of a folder, usually all in one
embedded store. Analysed one by one, each experiment opened the store again (a cold
buffer pool each time) and, in a store shared by several experiments (the orphan share
is then far above :data:`~upsell_ab.metrics.aggregates.ORPHAN_SHARE`), ran a second
query over every exposure and event to tell other experiments' customers from true
orphans (:mod:`upsell_ab.metrics.sql_orphans`). Inside :func:`sharing`,
:func:`~upsell_ab.metrics.compute.compute_experiment_data`

- reads every experiment of one store through one read-only connection (closed, with its
  spill directory, when the block ends), and
- answers that second question for *every* experiment of the block that reads the same
  exposures and events with ONE query (:func:`orphans_elsewhere_all_sql`: the exposures of
  units with events, grouped by unit into one integer of flags, joined to the events)
  instead of one per experiment.

Only the embedded store takes part (it holds one row per event id, so counts need no
de-duplication); files, PostgreSQL and Spark sources and a caller's connection keep the
per-experiment path. The numbers are the same either way (tested against the
per-experiment query and against counts made in Python on small stores).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from upsell_ab.spec.models import SourceKind

if TYPE_CHECKING:
    from sqlglot import exp

    from upsell_ab.events.engines import DuckDBEngine
    from upsell_ab.events.sources import Relation
    from upsell_ab.metrics.sql import QueryPlan
    from upsell_ab.spec.resolve import ResolvedExperiment


@dataclass(frozen=True)
class OrphanQuestion:
    """One experiment's part of the shared count: its id, configured variants and the
    event types its metrics read (the same three inputs as the per-experiment query)."""

    experiment_id: str
    variants: tuple[str, ...]
    event_types: tuple[str, ...]


SourceKey = tuple[str, "Relation", "Relation"]
"""(store path, exposures, events): experiments with equal keys read the same rows."""


@dataclass
class SharedStore:
    """Open connections and computed counts of one :func:`sharing` block."""

    experiments: tuple[ResolvedExperiment, ...]
    store: str | Path | None = None
    """The store every experiment is read from (``report --store``), else each spec's."""
    engines: dict[str, DuckDBEngine] = field(default_factory=dict)
    orphans: dict[SourceKey, dict[OrphanQuestion, int]] = field(default_factory=dict)

    def engine(self, path: str | Path) -> DuckDBEngine:
        """The block's read-only connection to the store at ``path`` (opened on first use)."""
        from upsell_ab.events.engines import DuckDBEngine

        key = str(Path(path))
        if key not in self.engines:
            self.engines[key] = DuckDBEngine(path=path)
        return self.engines[key]

    def orphans_elsewhere(
        self, path: str | Path, plan: QueryPlan, event_types: tuple[str, ...]
    ) -> int:
        """The per-experiment query's answer for ``plan``, from one query run for every
        experiment of the block that reads the same store tables (run on first need)."""
        key: SourceKey = (str(Path(path)), plan.source.exposures, plan.source.events)
        if key not in self.orphans:
            questions = {question(plan.experiment_id, plan.variants, event_types)}
            questions.update(self._questions(key))
            ordered = tuple(
                sorted(questions, key=lambda q: (q.experiment_id, q.variants, q.event_types))
            )
            sql = orphans_elsewhere_all_sql(plan.source.exposures, plan.source.events, ordered)
            (row,) = self.engine(path).execute(sql)
            self.orphans[key] = {q: int(n or 0) for q, n in zip(ordered, row, strict=True)}
        return self.orphans[key][question(plan.experiment_id, plan.variants, event_types)]

    def _questions(self, key: SourceKey) -> list[OrphanQuestion]:
        """The questions of the block's other experiments that read the tables of ``key``."""
        from upsell_ab.metrics.compute import build_plan, store_path

        out = []
        for resolved in self.experiments:
            if resolved.experiment.data.kind is not SourceKind.embedded or not resolved.metrics:
                continue
            plan = build_plan(resolved, unique_event_ids=True)
            where = str(Path(store_path(plan.source, self.store)))
            if (where, plan.source.exposures, plan.source.events) != key:
                continue
            out.append(question(plan.experiment_id, plan.variants, metric_event_types(plan)))
        return out

    def close(self) -> None:
        engines, self.engines = list(self.engines.values()), {}
        for engine in engines:
            engine.close()


def question(experiment_id: str, variants: Sequence[str], types: Sequence[str]) -> OrphanQuestion:
    return OrphanQuestion(experiment_id, tuple(variants), tuple(sorted(set(types))))


def metric_event_types(plan: QueryPlan) -> tuple[str, ...]:
    """The event types the metrics of ``plan`` read (as the experiment query's channels)."""
    from upsell_ab.metrics.capping import metric_channels
    from upsell_ab.metrics.sql_layout import build_slots

    slots = build_slots(plan.metrics)
    return tuple(sorted({ch.event for slot in slots for ch in metric_channels(slot.definition)}))


_ACTIVE: ContextVar[SharedStore | None] = ContextVar("upsell_ab_shared_store", default=None)


def active() -> SharedStore | None:
    """The innermost :func:`sharing` block's state (None outside any)."""
    return _ACTIVE.get()


@contextmanager
def sharing(
    experiments: Sequence[ResolvedExperiment], store: str | Path | None = None
) -> Iterator[SharedStore]:
    """Analyses of ``experiments`` (read from ``store``, else each spec's store) inside
    this block share store connections and the other-experiment event count (module
    docstring); everything is closed on exit."""
    state = SharedStore(tuple(experiments), store)
    token = _ACTIVE.set(state)
    try:
        yield state
    finally:
        _ACTIVE.reset(token)
        state.close()


QUESTIONS_PER_MASK = 15
"""Questions per flag column: two bits each, so a column stays below 2**30 and every
literal and sum of the flags is a plain INTEGER (no overflow, no type promotion)."""


def orphans_elsewhere_all_sql(
    exposures: Relation, events: Relation, questions: Sequence[OrphanQuestion]
) -> str:
    """One row, one column per question: the events of its types whose unit is exposed to
    no configured variant of its experiment but to some other experiment (the same count
    as :func:`upsell_ab.metrics.sql_orphans.orphans_elsewhere_sql` on a store, where
    event ids are unique).

    Per unit, two flags per question in one integer (``BIT_OR`` of the exposures' bits,
    :func:`_flag_bits`): bit ``2i`` "exposed to question i's experiment with one of its
    variants", bit ``2i+1`` "exposed to another experiment". A CASE whose condition is
    NULL (NULL experiment or variant) sets no bit, as the rows fail the per-experiment
    ``WHERE``. One aggregate per 15 questions instead of two per question: the grouping
    and the join carry one column (about a quarter less CPU at 1M x 5 experiments)."""
    from sqlglot import exp

    from upsell_ab.metrics.sql import _relation, _source_col
    from upsell_ab.metrics.sql_layout import string

    unit = _source_col(exposures, "unit_id")
    columns: list[exp.Expr] = [unit.as_("u")]
    for start in range(0, len(questions), QUESTIONS_PER_MASK):
        chunk = questions[start : start + QUESTIONS_PER_MASK]
        columns.append(
            exp.func("BIT_OR", _flag_bits(exposures, chunk)).as_(_mask(start), copy=False)
        )
    present = exp.Not(this=exp.Is(this=unit.copy(), expression=exp.Null()))
    # only units with an event of some question's types can count (a hash of the event
    # units probed by the exposures is cheaper than grouping every exposed unit)
    every_type = sorted({t for q in questions for t in q.event_types})
    with_events = exp.In(
        this=unit.copy(),
        query=exp.select(_source_col(events, "unit_id"), copy=False)
        .from_(_relation(events, "duckdb"), copy=False)
        .where(
            exp.In(
                this=_source_col(events, "event_type"),
                expressions=[string(t) for t in every_type],
            ),
            copy=False,
        )
        .subquery(copy=False),
    )
    per_unit = (
        exp.select(*columns, copy=False)
        .from_(_relation(exposures, "duckdb"), copy=False)
        .where(exp.and_(present, with_events, copy=False), copy=False)
        .group_by(unit.copy(), copy=False)
    )
    event_type = _qualified(events, "event_type")
    counts: list[exp.Expr] = []
    for i, q in enumerate(questions):
        relevant = exp.In(this=event_type.copy(), expressions=[string(t) for t in q.event_types])
        bit = 2 * (i % QUESTIONS_PER_MASK)
        both = exp.BitwiseAnd(
            this=exp.column(_mask(i - i % QUESTIONS_PER_MASK), "x"),
            expression=exp.Literal.number(3 << bit),
        )
        # not exposed to its own experiment (bit 2i clear), exposed elsewhere (2i+1 set)
        wanted = exp.and_(
            relevant,
            exp.EQ(this=exp.paren(both, copy=False), expression=exp.Literal.number(2 << bit)),
            copy=False,
        )
        counts.append(
            exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=wanted)).as_(
                f"n{i}"
            )
        )
    joined = exp.EQ(this=_qualified(events, "unit_id"), expression=exp.column("u", "x"))
    query = (
        exp.select(*counts, copy=False)
        .from_(_relation(events, "duckdb").as_("e"), copy=False)
        .join(per_unit.subquery("x", copy=False), on=joined, copy=False)
    )
    return query.sql(dialect="duckdb", copy=False)  # built for this text only


def _mask(start: int) -> str:
    """The flag column of the questions from index ``start`` on."""
    return f"flags{start // QUESTIONS_PER_MASK}"


def _flag_bits(exposures: Relation, chunk: Sequence[OrphanQuestion]) -> exp.Expr:
    """One exposure row's bits for the questions of ``chunk``: the sum of one CASE per
    bit (the bits are distinct, so the sum is their bitwise OR)."""
    from sqlglot import exp

    from upsell_ab.metrics.sql import _source_col
    from upsell_ab.metrics.sql_layout import string

    def bit(condition: exp.Expr, value: int) -> exp.Expr:
        case = exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(value))])
        return case.else_(exp.Literal.number(0), copy=False)

    terms: list[exp.Expr] = []
    for i, q in enumerate(chunk):
        same = exp.EQ(this=_source_col(exposures, "experiment"), expression=string(q.experiment_id))
        known = exp.In(
            this=_source_col(exposures, "variant"), expressions=[string(v) for v in q.variants]
        )
        terms.append(bit(exp.and_(same.copy(), known, copy=False), 1 << (2 * i)))
        terms.append(bit(exp.Not(this=same), 2 << (2 * i)))
    total = terms[0]
    for term in terms[1:]:
        total = exp.Add(this=total, expression=term)
    return total


def _qualified(relation: Relation, canonical: str) -> exp.Expr:
    """The events' column qualified by the alias ``e`` (a constant stays a literal)."""
    from sqlglot import exp

    from upsell_ab.metrics.sql import _source_col

    column = _source_col(relation, canonical)
    if isinstance(column, exp.Column):
        return exp.Column(this=column.this, table=exp.to_identifier("e"))
    return column
