"""Assigner: reasons, overrides, status, and bulk == scalar on 1M+ ids."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd
import pytest

from upsell_ab.assignment import REASON_CODES, Assigner, Assignment, Reason
from upsell_ab.assignment.hashing import hash_v1_bucket, hash_v2_bucket
from upsell_ab.spec.models import Experiment


def make(**population: Any) -> Experiment:
    extra = population.pop("extra", {})
    return Experiment.model_validate(
        {
            "id": "cake-wording",
            "name": "Cake wording",
            "status": population.pop("status", "running"),
            "population": population,
            "variants": [
                {"id": "control", "weight": 0.5, "control": True},
                {"id": "pairing", "weight": 0.5},
            ],
            "metrics": {"primary": "take_rate"},
            **extra,
        }
    )


def test_assigned_variant_follows_the_hash() -> None:
    assigner = Assigner(make())
    for unit in ("a", "cust-1", "ケーキ", "😀"):
        expected = "control" if hash_v2_bucket("cake-wording", unit) < 5000 else "pairing"
        assert assigner.assign(unit) == Assignment(True, expected, Reason.assigned)


@pytest.mark.parametrize("status", ["draft", "stopped", "concluded"])
def test_not_running(status: str) -> None:
    result = Assigner(make(status=status)).assign("cust-1")
    assert (result.in_experiment, result.variant, result.reason) == (
        False,
        None,
        Reason.not_running,
    )
    assert result.detail == f"status is {status}"


def test_missing_unit() -> None:
    assert Assigner(make()).assign("").reason is Reason.missing_unit


def test_targeting_reason_names_condition() -> None:
    assigner = Assigner(make(targeting=[{"attribute": "past_orders", "op": "gte", "value": 1}]))
    result = assigner.assign("cust-1", {"past_orders": 0})
    assert result.reason is Reason.targeting and not result.in_experiment
    assert result.detail == "past_orders gte 1 (got 0)"
    assert assigner.assign("cust-1", {"past_orders": 3}).in_experiment


def test_coverage_reason_and_rate() -> None:
    assigner = Assigner(make(coverage=0.1))
    units = [f"u{i}" for i in range(20000)]
    results = [assigner.assign(u) for u in units]
    inside = sum(r.in_experiment for r in results)
    # binomial(20000, 0.1): sd = 42; 5 sd band.
    assert abs(inside - 2000) < 5 * 42.5
    assert {r.reason for r in results if not r.in_experiment} == {Reason.coverage}


def test_namespace_reason() -> None:
    assigner = Assigner(make(namespace={"name": "checkout", "range": [0.0, 0.5]}))
    for unit in (f"u{i}" for i in range(500)):
        inside = hash_v1_bucket("__checkout", unit) < 500
        result = assigner.assign(unit)
        assert result.in_experiment is inside
        if not inside:
            assert result.reason is Reason.namespace


def test_override_wins_even_before_launch() -> None:
    experiment = make(status="draft", extra={"overrides": {"qa-1": "pairing"}})
    assigner = Assigner(experiment)
    assert assigner.assign("qa-1") == Assignment(True, "pairing", Reason.override)
    assert assigner.assign("qa-2").reason is Reason.not_running
    bulk = assigner.assign_many_with_reasons(["qa-2", "qa-1"])
    assert bulk.variants.tolist() == [None, "pairing"]
    assert bulk.reason_names().tolist() == ["not_running", "override"]


def test_seed_defaults_to_id() -> None:
    assert Assigner(make()).seed == "cake-wording"
    assert Assigner(make(seed="other")).seed == "other"


def test_to_dict() -> None:
    assert Assignment(False, None, Reason.coverage).to_dict() == {
        "in_experiment": False,
        "variant": None,
        "reason": "coverage",
        "detail": None,
    }


def million_ids() -> list[str]:
    rng = random.Random(3)
    ids = [f"cust-{i}" for i in range(1_000_000)]
    letters = "abcケーキ😀é-0123"
    for i in range(0, len(ids), 37):
        ids[i] = "".join(rng.choice(letters) for _ in range(rng.randint(1, 9)))
    return ids


def test_bulk_identical_to_scalar_on_a_million_ids() -> None:
    experiment = make(coverage=0.6, namespace={"name": "checkout", "range": [0.1, 0.9]})
    assigner = Assigner(experiment)
    ids = million_ids()
    bulk = assigner.assign_many_with_reasons(ids)
    scalar = [assigner.assign(u) for u in ids]
    assert bulk.variants.tolist() == [a.variant for a in scalar]
    assert [REASON_CODES[c] for c in bulk.reasons.tolist()] == [a.reason for a in scalar]


def test_bulk_with_attributes_identical_to_scalar() -> None:
    experiment = make(
        targeting=[
            {"attribute": "segment", "op": "in", "values": ["new", "returning"]},
            {"attribute": "past_orders", "op": "gte", "value": 1},
        ],
        extra={"overrides": {"u7": "control"}},
    )
    rng = np.random.default_rng(4)
    size = 20000
    frame = pd.DataFrame(
        {
            "segment": rng.choice(np.array(["new", "returning", "vip", None], dtype=object), size),
            "past_orders": rng.integers(0, 4, size).astype(float),
        }
    )
    frame.loc[::11, "past_orders"] = np.nan
    ids = pd.Series([f"u{i}" for i in range(size)])
    ids[::97] = None
    assigner = Assigner(experiment)
    bulk = assigner.assign_many_with_reasons(ids, frame)
    records = frame.to_dict("records")
    scalar = [
        assigner.assign("" if pd.isna(u) else u, r) for u, r in zip(ids, records, strict=True)
    ]
    assert bulk.variants.tolist() == [a.variant for a in scalar]
    assert [REASON_CODES[c] for c in bulk.reasons.tolist()] == [a.reason for a in scalar]
    assert {a.reason for a in scalar} >= {
        Reason.assigned,
        Reason.targeting,
        Reason.missing_unit,
        Reason.override,
    }


def test_bulk_accepts_arrays_and_integers() -> None:
    assigner = Assigner(make())
    as_list = assigner.assign_many(["1", "22", "333"]).tolist()
    assert assigner.assign_many(np.array([1, 22, 333])).tolist() == as_list
    assert assigner.assign_many(np.array(["1", "22", "333"])).tolist() == as_list
    assert assigner.assign_many(pd.Series(["1", "22", "333"], dtype="string")).tolist() == as_list
    with pytest.raises(TypeError):
        assigner.assign_many(np.array([1.0, 2.0]))
