"""Conformance: the GrowthBook SDK itself must pick the same variant for every id.

Oracle: growthbook's Python SDK (``GrowthBook.run`` and its hashing core). The
SDK hashes UTF-16 code units like the JavaScript SDK, so agreeing with it on
Japanese and emoji ids is what a shop's front end relies on.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from growthbook import Experiment as GbExperiment
from growthbook import GrowthBook
from growthbook import core as gb

from upsell_ab.assignment import Assigner
from upsell_ab.spec.models import Experiment

ALPHABET = "abcdefXYZ0123456789-_@ ケーキもいかがですか😀🎂é"


def ids(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = [f"cust-{rng.randrange(10**9)}" for _ in range(count // 2)]
    out += [
        "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 14)))
        for _ in range(count - len(out))
    ]
    return out


SETTINGS: list[dict[str, Any]] = [
    {"seed": None, "weights": [0.5, 0.5], "coverage": 1.0, "namespace": None},
    {"seed": "cake-2024", "weights": [0.2, 0.3, 0.5], "coverage": 0.2, "namespace": None},
    {"seed": "ケーキ", "weights": [0.34, 0.33, 0.33], "coverage": 0.75, "namespace": None},
    {"seed": "s", "weights": [0.25] * 4, "coverage": 1.0, "namespace": ("checkout", 0.3, 0.8)},
]


def spec(setting: dict[str, Any]) -> Experiment:
    population: dict[str, Any] = {"coverage": setting["coverage"]}
    if setting["seed"] is not None:
        population["seed"] = setting["seed"]
    if setting["namespace"]:
        name, start, end = setting["namespace"]
        population["namespace"] = {"name": name, "range": [start, end]}
    return Experiment.model_validate(
        {
            "id": "exp-key",
            "name": "conformance",
            "status": "running",
            "population": population,
            "variants": [
                {"id": f"v{i}", "weight": w, "control": i == 0}
                for i, w in enumerate(setting["weights"])
            ],
            "metrics": {"primary": "take_rate"},
        }
    )


def sdk_core(setting: dict[str, Any], unit: str) -> int:
    """The SDK's own run() steps for an experiment: namespace, hash v2, ranges."""
    if setting["namespace"] and not gb.inNamespace(unit, setting["namespace"]):
        return -1
    n = gb.gbhash(setting["seed"] or "exp-key", unit, 2)
    ranges = gb.getBucketRanges(len(setting["weights"]), setting["coverage"], setting["weights"])
    return gb.chooseVariation(n, ranges)


def sdk_experiment(setting: dict[str, Any]) -> GbExperiment:
    """The setting as the SDK's own Experiment, for ``GrowthBook.run``."""
    return GbExperiment(
        key="exp-key",
        variations=list(range(len(setting["weights"]))),
        weights=setting["weights"],
        coverage=setting["coverage"],
        seed=setting["seed"],
        hashVersion=2,
        namespace=setting["namespace"],
    )


@pytest.mark.parametrize("setting", SETTINGS)
def test_100k_ids_same_variant_as_sdk_core(setting: dict[str, Any]) -> None:
    units = ids(100_000, 11)
    expected = np.array(
        [None if (i := sdk_core(setting, u)) < 0 else f"v{i}" for u in units], dtype=object
    )
    got = Assigner(spec(setting)).assign_many(units)
    assert (got == expected).all()


@pytest.mark.parametrize("setting", SETTINGS)
def test_sdk_run_agrees_with_scalar_assign(setting: dict[str, Any]) -> None:
    assigner = Assigner(spec(setting))
    experiment = sdk_experiment(setting)
    client = GrowthBook(attributes={})
    for unit in ids(2000, 12):
        client.set_attributes({"id": unit})
        result = client.run(experiment)
        ours = assigner.assign(unit)
        assert ours.in_experiment == result.inExperiment, unit
        if result.inExperiment:
            assert ours.variant == f"v{result.variationId}", unit


@pytest.mark.parametrize("setting", SETTINGS[:2])
def test_integer_ids_are_assigned_as_the_sdk_assigns_them(setting: dict[str, Any]) -> None:
    """A shop's customer ids are often integers. GrowthBook's SDK given ``{"id": 123}``
    picks a variant for the number; ``assign(123)`` raised TypeError while
    ``assign_many([123])`` worked. All of them now agree with the SDK's run()."""
    import numpy as np

    assigner = Assigner(spec(setting))
    experiment = sdk_experiment(setting)
    client = GrowthBook(attributes={})
    numbers = random.Random(13).sample(range(10**12), 500)
    bulk = assigner.assign_many([np.int64(n) for n in numbers])
    for number, many in zip(numbers, bulk, strict=True):
        client.set_attributes({"id": number})
        result = client.run(experiment)
        for unit in (number, np.int64(number), str(number)):
            ours = assigner.assign(unit)  # type: ignore[arg-type]
            assert ours.in_experiment == result.inExperiment, unit
            assert ours.variant == (f"v{result.variationId}" if result.inExperiment else None)
        assert many == ours.variant
    for bad in (1.0, True, np.float64(2.0)):
        with pytest.raises(TypeError, match="strings or integers"):
            assigner.assign(bad)  # type: ignore[arg-type]
