"""The result layout of the experiment query, and the small node helpers it uses.

Every branch of the query's UNION ALL returns the same typed columns: a
``kind`` tag (metric / segment / quality / dups / multi / unknown / daily),
keys, counts, then one DOUBLE per sufficient-statistic field of every metric
(named ``m<i>__<field>``, e.g. ``m0__sum_squares``). Columns a branch does not
fill are typed NULLs, so PostgreSQL and Spark resolve the UNION types the
same way DuckDB does. Metric *names* never become SQL text: metrics are
addressed by their index.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

from upsell_ab.metrics.sufficient import (
    CupedRatioStats,
    CupedStats,
    RatioStats,
    SampleStats,
    SumVariable,
    sum_terms,
)
from upsell_ab.spec.models import MetricDefinition, MetricType

OUTPUT_COLUMNS: tuple[str, ...] = (
    "kind",
    "variant",
    "seg_index",
    "seg_value",
    "day",
    "last_day",
    "n",
    "orphans",
    "before",
    "near",
    "outside",
    "value",
    "scale",
)
COLUMN_TYPES: dict[str, str] = {
    "kind": "VARCHAR",
    "variant": "VARCHAR",
    "seg_index": "BIGINT",
    "seg_value": "VARCHAR",
    "day": "DATE",
    "last_day": "DATE",
    "n": "BIGINT",
    "orphans": "BIGINT",
    "before": "BIGINT",
    "near": "BIGINT",
    "outside": "BIGINT",
    "value": "DOUBLE",
    "scale": "DOUBLE",
}
Var = SumVariable
"""Per-unit channels: value/numerator, denominator, and their CUPED covariates."""
StatsClass = type[SampleStats] | type[RatioStats] | type[CupedStats] | type[CupedRatioStats]
Term = tuple[str, tuple[Var, Var | None]]
"""(field of the stats class, (a, b)): the field is SUM(a) or SUM(a * b) over units."""


def id_(name: str) -> exp.Identifier:
    """A quoted identifier: names from the spec can never close the quote."""
    return exp.to_identifier(name, quoted=True)


def qcol(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=id_(name), table=id_(table) if table else None)


def string(value: str) -> exp.Literal:
    """A string literal from a typed value; SQLGlot escapes it per dialect."""
    if not isinstance(value, str):  # defensive: only typed text may become a literal
        raise TypeError(f"expected str, got {type(value).__name__}")
    return exp.Literal.string(value)


@functools.cache
def _data_type(name: str) -> exp.DataType:
    """``name`` parsed once into a type node (never handed out: :func:`cast` copies it)."""
    return exp.DataType.build(name)


def cast(value: exp.Expr, type_name: str) -> exp.Expr:
    """``exp.cast(value, type_name, copy=False)`` without re-parsing the type's name for each
    of the query's several hundred casts (SQLGlot's ``DataType.build`` runs its parser on
    every string, about 25 us; a copy of the parsed node takes 3 us). Every cast gets its
    own copy, so no node is shared between two places in a tree (or two trees)."""
    return exp.cast(value, _data_type(type_name).copy(), copy=False)


def num(value: float) -> exp.Expr:
    """A DOUBLE literal (cast, so integer-looking values do not become integers/decimals)."""
    return cast(exp.Literal.number(repr(float(value))), "DOUBLE")


_TERMS: dict[StatsClass, tuple[Term, ...]] = {}


def _terms(stats: StatsClass) -> tuple[Term, ...]:
    """Map each sum field of the stats class to the per-unit product it sums (kept per
    class: the query builder and the result reader ask a few thousand times)."""
    terms = _TERMS.get(stats)
    if terms is None:
        terms = _TERMS[stats] = tuple(sum_terms(stats).items())
    return terms


@dataclass(frozen=True)
class MetricSlot:
    """A metric's position in the query: index, name, definition, statistics class."""

    index: int
    name: str
    definition: MetricDefinition

    @property
    def stats_class(self) -> StatsClass:
        ratio = self.definition.type is MetricType.ratio
        if self.definition.cuped is not None:
            return CupedRatioStats if ratio else CupedStats
        return RatioStats if ratio else SampleStats

    @property
    def terms(self) -> tuple[Term, ...]:
        return _terms(self.stats_class)

    def column(self, var: str) -> str:
        """Per-unit column of a channel (``m0_y``)."""
        return f"m{self.index}_{var}"

    def cap_column(self, var: str) -> str:
        return f"c{self.index}_{var}"

    def positive_column(self, var: str) -> str:
        """Caps CTE column counting units with a positive value (``p0_y``)."""
        return f"p{self.index}_{var}"

    def stat_column(self, field: str) -> str:
        """Result column of a statistics field (``m0__sum``)."""
        return f"m{self.index}__{field}"


def build_slots(metrics: tuple[tuple[str, MetricDefinition], ...]) -> tuple[MetricSlot, ...]:
    return tuple(MetricSlot(i, name, d) for i, (name, d) in enumerate(metrics))


Kind = Literal[
    "metric",
    "segment",
    "quality",
    "dups",
    "multi",
    "unknown",
    "daily",
    "cap",
    "undated",
    "measured",
    "negative",
    "midnight",
    "empty",
    "frame",
    "period",
    "fine",
    "nonfinite",
    "etype",
    "slot",
]


class RowFactory:
    """SELECT lists of one UNION branch: every output column, typed, NULL where unset."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns

    def __call__(self, kind: Kind, **values: exp.Expr) -> exp.Select:
        unknown = set(values) - set(self.columns)
        if unknown:
            raise KeyError(f"not output columns: {sorted(unknown)}")
        select: list[exp.Expr] = [string(kind).as_(id_("kind"), copy=False)]
        for column in self.columns[1:]:
            type_ = COLUMN_TYPES.get(column, "DOUBLE")
            value = values.get(column, exp.Null())
            select.append(cast(value, type_).as_(id_(column), copy=False))
        return exp.select(*select, copy=False)


__all__ = [
    "COLUMN_TYPES",
    "OUTPUT_COLUMNS",
    "MetricSlot",
    "RowFactory",
    "Var",
    "build_slots",
    "cast",
    "id_",
    "num",
    "qcol",
    "string",
]
