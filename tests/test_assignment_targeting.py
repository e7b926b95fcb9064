"""Targeting semantics, and the vectorised mask agreeing with the scalar rule."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from upsell_ab.assignment.targeting import condition_mask, first_failure, holds
from upsell_ab.spec.models import Condition


def cond(**kwargs: Any) -> Condition:
    return Condition.model_validate(kwargs)


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        (cond(attribute="a", op="eq", value="web"), "web", True),
        (cond(attribute="a", op="eq", value="web"), "app", False),
        (cond(attribute="a", op="eq", value=3), 3.0, True),
        (cond(attribute="a", op="eq", value=1), True, False),  # bool is not a number
        (cond(attribute="a", op="eq", value=True), 1, False),
        (cond(attribute="a", op="eq", value=3), "3", False),  # strict types
        (cond(attribute="a", op="ne", value="web"), "app", True),
        (cond(attribute="a", op="ne", value="web"), None, False),  # missing fails
        (cond(attribute="a", op="in", values=["new", "returning"]), "new", True),
        (cond(attribute="a", op="in", values=["new", "returning"]), "vip", False),
        (cond(attribute="a", op="not_in", values=["vip"]), "new", True),
        (cond(attribute="a", op="not_in", values=["vip"]), "vip", False),
        (cond(attribute="a", op="gte", value=1), 1, True),
        (cond(attribute="a", op="gte", value=1), 0, False),
        (cond(attribute="a", op="gt", value=1), 1.5, True),
        (cond(attribute="a", op="lt", value=1), 1, False),
        (cond(attribute="a", op="lte", value=1), np.int64(1), True),
        (cond(attribute="a", op="gte", value=1), "5", False),  # text is not a number
        (cond(attribute="a", op="gte", value=1), float("nan"), False),
        (cond(attribute="a", op="exists"), "x", True),
        (cond(attribute="a", op="exists"), None, False),
        (cond(attribute="a", op="exists"), pd.NA, False),
    ],
)
def test_holds(condition: Condition, value: object, expected: bool) -> None:
    assert holds(condition, value) is expected


def test_first_failure_names_the_condition() -> None:
    conditions = [
        cond(attribute="channel", op="eq", value="web"),
        cond(attribute="past_orders", op="gte", value=1),
    ]
    assert first_failure(conditions, {"channel": "web", "past_orders": 2}) is None
    failure = first_failure(conditions, {"channel": "web", "past_orders": 0})
    assert failure is not None
    assert failure.condition is conditions[1]
    assert failure.describe() == "past_orders gte 1 (got 0)"
    missing = first_failure(conditions, None)
    assert missing is not None and missing.missing
    assert missing.describe() == "channel eq 'web' (missing)"


COLUMNS = {
    "str": pd.Series(["web", "app", None, "web", "ケーキ"]),
    "int": pd.Series([0, 1, 2, 3, 5]),
    "float_nan": pd.Series([0.5, np.nan, 2.0, 3.0, 1.0]),
    "nullable_int": pd.Series([1, None, 3, 0, 2], dtype="Int64"),
    "bool": pd.Series([True, False, True, True, False]),
    "mixed": pd.Series(["3", 3, None, True, 2.5], dtype=object),
    "arrow_str": pd.Series(["web", None, "app", "web", "x"], dtype="string[pyarrow]"),
}
CONDITIONS = [
    cond(attribute="c", op="eq", value="web"),
    cond(attribute="c", op="eq", value=3),
    cond(attribute="c", op="eq", value=True),
    cond(attribute="c", op="ne", value="web"),
    cond(attribute="c", op="ne", value=1),
    cond(attribute="c", op="in", values=["web", "app", 2]),
    cond(attribute="c", op="not_in", values=["web", 0, False]),
    cond(attribute="c", op="gt", value=1),
    cond(attribute="c", op="gte", value=2),
    cond(attribute="c", op="lt", value=2.5),
    cond(attribute="c", op="lte", value=0),
    cond(attribute="c", op="exists"),
]


@pytest.mark.parametrize("name", sorted(COLUMNS))
@pytest.mark.parametrize("condition", CONDITIONS, ids=str)
def test_mask_equals_scalar(name: str, condition: Condition) -> None:
    column = COLUMNS[name]
    expected = [holds(condition, v) for v in column.astype(object).tolist()]
    assert condition_mask(condition, column, len(column)).tolist() == expected


def test_mask_absent_column_is_all_false() -> None:
    assert condition_mask(cond(attribute="c", op="exists"), None, 3).tolist() == [False] * 3
