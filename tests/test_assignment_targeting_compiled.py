"""Compiled targeting predicates equal ``holds`` value by value, and the assigner's
results (including the rejection detail) are those of the uncompiled path."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from upsell_ab.assignment import Assigner
from upsell_ab.assignment.targeting import first_failure, holds
from upsell_ab.assignment.targeting_compiled import compile_condition
from upsell_ab.spec.models import Condition, Experiment

VALUES: list[object] = [
    None,
    "",
    "app",
    "web",
    "App",
    "1",
    "3",
    0,
    1,
    3,
    2**60,
    -1,
    0.0,
    1.0,
    3.0,
    2.5,
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    np.int64(3),
    np.float64(1.0),
    np.bool_(True),
    np.str_("app"),
    Decimal("3"),
    ["app"],
    {"app": 1},
    object(),
]
CONDITIONS = [
    {"attribute": "a", "op": "exists"},
    {"attribute": "a", "op": "eq", "value": "app"},
    {"attribute": "a", "op": "eq", "value": 3},
    {"attribute": "a", "op": "eq", "value": True},
    {"attribute": "a", "op": "ne", "value": "app"},
    {"attribute": "a", "op": "ne", "value": 1},
    {"attribute": "a", "op": "in", "values": ["app", "web"]},
    {"attribute": "a", "op": "in", "values": ["app", 1, 2.5, False]},
    {"attribute": "a", "op": "not_in", "values": ["web", 3]},
    {"attribute": "a", "op": "gt", "value": 1},
    {"attribute": "a", "op": "gte", "value": 1},
    {"attribute": "a", "op": "lt", "value": 2.5},
    {"attribute": "a", "op": "lte", "value": 0},
]


@pytest.mark.parametrize(
    "spec", CONDITIONS, ids=lambda c: f"{c['op']}-{c.get('value', c.get('values'))}"
)
def test_compiled_equals_holds(spec: dict[str, object]) -> None:
    condition = Condition.model_validate(spec)
    check = compile_condition(condition)
    for value in VALUES:
        assert check(value) is holds(condition, value), (spec, value)


def test_assigner_results_match_the_reference_path() -> None:
    experiment = Experiment.model_validate(
        {
            "id": "x",
            "name": "x",
            "status": "running",
            "population": {
                "targeting": [
                    {"attribute": "channel", "op": "in", "values": ["web", "app"]},
                    {"attribute": "past_orders", "op": "gte", "value": 1},
                ]
            },
            "variants": [{"id": "a", "weight": 0.5, "control": True}, {"id": "b", "weight": 0.5}],
            "metrics": {"primary": "m"},
        }
    )
    assigner = Assigner(experiment)
    for attributes in (
        {"channel": "web", "past_orders": 2},
        {"channel": "fax", "past_orders": 2},
        {"channel": "web", "past_orders": 0},
        {"channel": "web", "past_orders": True},
        {"channel": "web", "past_orders": 1.0},
        {"channel": "web"},
        {},
        None,
    ):
        for _ in range(2):  # second time from the rejection cache
            got = assigner.assign("u-1", attributes)
            failure = first_failure(assigner.conditions, attributes)
            assert got.in_experiment is (failure is None)
            if failure is not None:
                assert got.detail == failure.describe()
    one, true = (
        assigner.assign("u", {"channel": "web", "past_orders": 0}),
        assigner.assign("u", {"channel": "web", "past_orders": False}),
    )
    assert one.detail != true.detail  # 0 and False are different rejections
