"""Targeting conditions compiled once per spec into plain predicates (the per-call path).

:func:`upsell_ab.assignment.targeting.holds` re-reads the operator, the
expected values and the kinds of both sides on every call, which cost ten
times the hash itself (3.4 us per ``assign`` with one ``in`` condition). Here
each condition becomes a closure built once: the common cases (a ``str``
against string values, an ``int``/``float`` against a numeric bound) are one
type check and one set lookup or comparison; every other value (missing, bool,
numpy scalars, mixed kinds) falls back to :func:`holds`, so the semantics are
identical by construction (and tested against :func:`holds` value by value).
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from upsell_ab.assignment.targeting import holds
from upsell_ab.spec.models import Condition, Operator

Check = Callable[[object], bool]

_ORDER = {
    Operator.gt: operator.gt,
    Operator.gte: operator.ge,
    Operator.lt: operator.lt,
    Operator.lte: operator.le,
}


def compile_condition(condition: Condition) -> Check:
    """A predicate equal to ``holds(condition, value)`` for every value."""
    op = condition.op
    if op is Operator.exists:

        def exists(value: object) -> bool:
            return type(value) is str or holds(condition, value)

        return exists
    if op in _ORDER:
        compare = _ORDER[op]
        bound = float(condition.value)  # type: ignore[arg-type]

        def ordered(value: object) -> bool:
            kind = type(value)
            if kind is float:
                return bool(compare(value, bound))  # type: ignore[arg-type]  # NaN: False
            if kind is int:
                return bool(compare(float(value), bound))  # type: ignore[arg-type]
            return holds(condition, value)

        return ordered
    expected = condition.values if op in (Operator.in_, Operator.not_in) else [condition.value]
    strings = frozenset(v for v in expected or () if type(v) is str)
    negate = op in (Operator.ne, Operator.not_in)

    def member(value: object) -> bool:
        if type(value) is str:
            return (value in strings) is not negate
        return holds(condition, value)

    return member


def compile_conditions(conditions: tuple[Condition, ...]) -> tuple[tuple[str, Check], ...]:
    """(attribute, predicate) per condition, in spec order."""
    return tuple((c.attribute, compile_condition(c)) for c in conditions)
