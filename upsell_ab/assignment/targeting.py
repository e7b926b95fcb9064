"""Targeting: which units are eligible, from the spec's conditions on attributes.

All conditions must hold (AND). A missing attribute (absent key, None, NaN,
pandas NA) fails every condition except ``exists``, which then is false too:
a unit we know nothing about is not targeted.

Types are compared strictly, so that a typo cannot silently match: numbers
compare with numbers (``3 == 3.0``), strings with strings, booleans with
booleans (``True`` is not ``1``). ``gt``/``gte``/``lt``/``lte`` need a number on
both sides. Callers that read text (the CLI's ``--attr``, CSV files) parse
numbers before they get here.

:func:`first_failure` serves one unit; :func:`condition_mask` evaluates one
condition over a pandas column with identical semantics (vectorised when the
column has a single type, element by element otherwise).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from upsell_ab.spec.models import Condition, Operator

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_MISSING_TYPES = frozenset({"NAType", "NaTType"})
_ORDER_OPS = (Operator.gt, Operator.gte, Operator.lt, Operator.lte)


@dataclass(frozen=True)
class Failure:
    """The first condition a unit failed, and the value it had (None when missing)."""

    condition: Condition
    actual: object
    missing: bool

    def describe(self) -> str:
        got = "missing" if self.missing else f"got {self.actual!r}"
        return f"{describe_condition(self.condition)} ({got})"


def describe_condition(condition: Condition) -> str:
    """``segment in ['new', 'returning']``, ``past_orders gte 1``, ``email exists``."""
    if condition.op is Operator.exists:
        return f"{condition.attribute} exists"
    operand = condition.values if condition.values is not None else condition.value
    return f"{condition.attribute} {condition.op.value} {operand!r}"


def is_missing(value: object) -> bool:
    """None, a float NaN, or pandas' NA / NaT."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in _MISSING_TYPES


def _kind(value: object) -> str:
    """'bool', 'number', 'str' or 'other' (numpy scalars count as their Python kind)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "bool"
    if isinstance(value, numbers.Real):
        return "number"
    if isinstance(value, str):
        return "str"
    return "other"


def _equal(actual: object, expected: object) -> bool:
    kind = _kind(actual)
    return kind != "other" and kind == _kind(expected) and bool(actual == expected)


def holds(condition: Condition, value: object) -> bool:
    """Does a (possibly missing) attribute value satisfy ``condition``?"""
    if is_missing(value):
        return False
    op = condition.op
    if op is Operator.exists:
        return True
    if op is Operator.eq:
        return _equal(value, condition.value)
    if op is Operator.ne:
        return not _equal(value, condition.value)
    if op is Operator.in_:
        return any(_equal(value, v) for v in condition.values or ())
    if op is Operator.not_in:
        return not any(_equal(value, v) for v in condition.values or ())
    if _kind(value) != "number":
        return False
    actual = float(value)  # type: ignore[arg-type]
    expected = float(condition.value)  # type: ignore[arg-type]
    if op is Operator.gt:
        return actual > expected
    if op is Operator.gte:
        return actual >= expected
    if op is Operator.lt:
        return actual < expected
    return actual <= expected


def first_failure(
    conditions: Sequence[Condition], attributes: Mapping[str, object] | None
) -> Failure | None:
    """The first condition (spec order) that ``attributes`` fail, or None if all hold."""
    attrs: Mapping[str, object] = attributes or {}
    for condition in conditions:
        value = attrs.get(condition.attribute)
        if not holds(condition, value):
            return Failure(condition, None if is_missing(value) else value, is_missing(value))
    return None


def condition_mask(condition: Condition, column: pd.Series | None, size: int) -> np.ndarray:
    """Boolean mask: which rows of ``column`` satisfy ``condition`` (all False when absent)."""
    import numpy as np
    import pandas as pd

    if column is None:
        return np.zeros(size, dtype=bool)
    present = column.notna().to_numpy()
    kind = _column_kind(column)
    if kind is None:
        values = column.to_numpy(dtype=object)
        return np.fromiter((holds(condition, v) for v in values), dtype=bool, count=len(values))
    op = condition.op
    if op is Operator.exists:
        return present
    if op in _ORDER_OPS:
        if kind != "number":
            return np.zeros(size, dtype=bool)
        numeric = pd.to_numeric(column).to_numpy(dtype=float, na_value=np.nan)
        bound = float(condition.value)  # type: ignore[arg-type]
        with np.errstate(invalid="ignore"):
            compare = {
                Operator.gt: numeric > bound,
                Operator.gte: numeric >= bound,
                Operator.lt: numeric < bound,
                Operator.lte: numeric <= bound,
            }[op]
        return compare & present
    expected: list[Any] = (
        list(condition.values or ()) if op in (Operator.in_, Operator.not_in) else [condition.value]
    )
    same_kind = [v for v in expected if _kind(v) == kind]
    if same_kind:
        member = column.isin(same_kind).to_numpy(dtype=bool, na_value=False) & present
    else:
        member = np.zeros(size, dtype=bool)
    if op in (Operator.ne, Operator.not_in):
        return present & ~member
    return member


def _column_kind(column: pd.Series) -> str | None:
    """'bool' / 'number' / 'str' when every present value has that kind, else None."""
    import pandas as pd
    from pandas.api import types

    if types.is_bool_dtype(column.dtype):
        return "bool"
    if types.is_numeric_dtype(column.dtype):
        return "number"
    inferred = pd.api.types.infer_dtype(column, skipna=True)
    if inferred in ("string", "empty"):
        return "str"
    return None
