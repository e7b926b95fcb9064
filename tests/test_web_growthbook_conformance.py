"""The exported GrowthBook payload, evaluated by the real GrowthBook SDKs, assigns
every customer exactly as :class:`Assigner` (one by one) and ``assign_many`` (bulk).

Oracles: the GrowthBook JavaScript SDK (``@growthbook/growthbook``, pinned in
``tests/js/package-lock.json``, run in Node: the code a shop's web page runs)
and the GrowthBook Python SDK (``growthbook`` package). 100,000 customers with
ASCII, Japanese and emoji ids, attributes of every JSON type (missing, null,
numbers as strings, booleans), across every example spec plus a spec that
uses every targeting operator, a namespace, partial coverage, a Japanese
seed and QA overrides. Compared: the in-experiment flag and the variant.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from growthbook import GrowthBook

from tests.js_support import JS_DIR, ensure_js_packages, node
from upsell_ab.assignment import Assigner
from upsell_ab.spec.load import discover, load_spec
from upsell_ab.spec.models import Experiment, Status
from upsell_ab.web.growthbook import features_payload

EXAMPLES = Path(__file__).parent.parent / "experiments"
MISSING = object()
"""An attribute key left out of the customer's attributes."""

OPERATORS_SPEC: dict[str, Any] = {
    "id": "every_operator",
    "name": "Every targeting operator",
    "status": "running",
    "population": {
        "unit": "customer_id",
        "seed": "ケーキ🎂",
        "coverage": 0.63,
        "namespace": {"name": "checkout_offers", "range": [0.2, 0.9]},
        "targeting": [
            {"attribute": "plan", "op": "eq", "value": "gold"},
            {"attribute": "vip", "op": "ne", "value": False},
            {"attribute": "age", "op": "gt", "value": 17},
            {"attribute": "age", "op": "lte", "value": 65.5},
            {"attribute": "country", "op": "not_in", "values": ["JP", 81]},
            {"attribute": "email", "op": "exists"},
            {"attribute": "score", "op": "lt", "value": 0.5},
            {"attribute": "tier", "op": "in", "values": [1, "one", True]},
        ],
    },
    "variants": [
        {"id": "a", "control": True, "weight": 0.1},
        {"id": "b", "weight": 0.2},
        {"id": "c", "weight": 0.3},
        {"id": "d", "weight": 0.4},
    ],
    "metrics": {"primary": "take_rate"},
    "overrides": {"qa-1": "c", "顧客-qa": "d", "🎂qa": "b"},
}

CHOICES: dict[str, list[Any]] = {
    "channel": ["web", "app", "in_store", "phone", None, MISSING, 1, True, "WEB"],
    "past_orders": [0, 1, 2, 5, -1, "3", None, MISSING, 1.5, True, 0.0],
    "segment": ["new", "returning", "one_off", "lapsed", "business", None, MISSING, 0],
    "plan": ["gold", "gold", "silver", "Gold", None, MISSING, 1],
    "vip": [True, False, MISSING, None, 0, 1, "false"],
    "age": [16, 17, 18, 30, 65, 65.5, 66, "30", None, MISSING, True],
    "country": ["JP", "US", "DE", 81, "81", None, MISSING],
    "email": ["a@example.jp", "", MISSING, None, 0, False],
    "score": [0.1, 0.49, 0.5, 0.9, -2, "0.1", None, MISSING],
    "tier": [1, 1.0, "one", True, "1", 2, False, None, MISSING],
}
QA_IDS = ["qa-tester-1", "qa-tester-2", "qa-1", "顧客-qa", "🎂qa"]


def customer_id(rng: random.Random, index: int) -> str:
    style = index % 10
    if style < 4:
        return f"cust-{rng.randrange(10**9)}"
    if style < 7:
        kana = "顧客ケーキもいかがですか注文番号"
        return "".join(rng.choice(kana) for _ in range(3)) + str(index)
    if style < 9:
        return "".join(rng.choice("🎂😀🍰☕️👍🏽") for _ in range(2)) + f"u{index}"
    # lone surrogates: legal in a JavaScript string (and in a JSON \\u escape), hashed
    # as the single code unit they are
    lone = rng.choice(["\ud83c", "\udf82", "\udbff"]) + f"-{index}"
    return rng.choice(["", *QA_IDS, "é-ü", "\u3042" * 20, f"mixed-ケ-🎂-{index}", lone])


def customers(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for index in range(count):
        attributes: dict[str, Any] = {"customer_id": customer_id(rng, index)}
        for name, values in CHOICES.items():
            value = rng.choice(values)
            if value is not MISSING:
                attributes[name] = value
        out.append(attributes)
    return out


def experiments() -> list[Experiment]:
    """The example specs, a running copy of each that is not running (so its targeting
    and coverage are exercised too), and the operators spec."""
    # a switchback hashes time slots, not customers: test_python_sdk_matches_slot_keys
    specs = [
        s for s in (load_spec(p) for p in discover([EXAMPLES])) if not s.randomization.is_switchback
    ]
    live = [
        s.model_copy(update={"id": f"{s.id}_live", "status": Status.running})
        for s in specs
        if s.status is not Status.running
    ]
    return [*specs, *live, Experiment.model_validate(OPERATORS_SPEC)]


@pytest.fixture(scope="module")
def population() -> list[dict[str, Any]]:
    return customers(100_000, 2026)


@pytest.fixture(scope="module")
def specs() -> list[Experiment]:
    """Every example spec (a stopped one must be absent from the payload: the SDK then
    answers 'unknownFeature', and Assigner 'not_running') plus the operators spec."""
    found = experiments()
    assert len(found) >= 7 and any(e.status is not Status.running for e in found)
    return found


@pytest.fixture(scope="module")
def expected(
    specs: list[Experiment], population: list[dict[str, Any]]
) -> dict[str, list[str | None]]:
    """Assigner.assign per customer; checked equal to assign_many on the same frame."""
    # unit ids go to assign_many as a list: pandas' Arrow-backed strings cannot hold the
    # lone surrogates some ids contain; the attributes go as an object-typed frame
    attributes = [{k: v for k, v in c.items() if k != "customer_id"} for c in population]
    frame = pd.DataFrame(attributes, dtype=object)
    frame = frame.where(frame.notna(), None)
    out: dict[str, list[str | None]] = {}
    for spec in specs:
        assigner = Assigner(spec)
        unit = spec.population.unit
        single = [assigner.assign(c[unit], c).variant for c in population]
        bulk = assigner.assign_many([c[unit] for c in population], frame)
        assert list(bulk) == single, spec.id
        out[spec.id] = single
    return out


def test_example_population_reaches_every_branch(
    specs: list[Experiment], expected: dict[str, list[str | None]]
) -> None:
    """The sample is not trivial: every experiment has units in and out, every variant
    is reached, and overrides fire (else agreement would prove little)."""
    for spec in specs:
        got = expected[spec.id]
        if spec.status is not Status.running:
            assert all(v is None for v in got)
            continue
        assert any(v is None for v in got) and any(v is not None for v in got), spec.id
        assert {v for v in got if v is not None} == {v.id for v in spec.variants}, spec.id
    population = customers(100_000, 2026)
    every = next(s for s in specs if s.id == "every_operator")
    forced = [c["customer_id"] in every.overrides for c in population]
    assert sum(forced) > 100


def js_results(payload: dict[str, Any], keys: list[str], people: list[dict[str, Any]], tmp: Path):
    ensure_js_packages()
    source = tmp / "input.json"
    source.write_text(
        # ASCII JSON: lone surrogates travel as \\u escapes, which JSON.parse restores
        json.dumps({"payload": payload, "keys": keys, "customers": people}),
        encoding="utf-8",
    )
    done = subprocess.run(
        [node(), str(JS_DIR / "evaluate.mjs"), str(source)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
        timeout=600,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def check_sdk_row(spec: Experiment, ours: str | None, source: str, variant: Any, index: Any):
    """One SDK answer against ours: same flag, same variant, and the experiment's own
    variationId agrees with the variant carried in the feature value."""
    if spec.status is not Status.running:
        assert source == "unknownFeature"
    in_experiment = source in ("experiment", "force")
    assert in_experiment == (ours is not None), (spec.id, source, ours)
    if source == "experiment":
        assert spec.variants[index].id == variant
    if in_experiment:
        assert variant == ours


def test_javascript_sdk_matches_assigner(
    specs: list[Experiment],
    population: list[dict[str, Any]],
    expected: dict[str, list[str | None]],
    tmp_path: Path,
) -> None:
    payload = features_payload(specs)
    keys = [s.id for s in specs]
    rows = js_results(payload, keys, population, tmp_path)
    assert len(rows) == len(population)
    mismatches = []
    for row_index, row in enumerate(rows):
        for spec, (source, variant, index, _in) in zip(specs, row, strict=True):
            ours = expected[spec.id][row_index]
            try:
                check_sdk_row(spec, ours, source, variant, index)
            except AssertionError:
                mismatches.append((spec.id, population[row_index], ours, source, variant))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:3]}"


PYTHON_SDK_CUSTOMERS = 100_000 if os.environ.get("UPSELL_AB_SLOW") else 20_000
"""The Python SDK evaluates about 10 features per ms: all 100,000 customers in CI
(``UPSELL_AB_SLOW=1``), the first 20,000 in a quick local run."""


def test_python_sdk_matches_assigner(
    specs: list[Experiment],
    population: list[dict[str, Any]],
    expected: dict[str, list[str | None]],
) -> None:
    payload = features_payload(specs)
    client = GrowthBook(features=payload["features"])
    mismatches = []
    for row_index, attributes in enumerate(population[:PYTHON_SDK_CUSTOMERS]):
        client.set_attributes(attributes)
        for spec in specs:
            result = client.eval_feature(spec.id)
            value = result.value
            variant = None if value is None else value["variant"]
            index = result.experimentResult.variationId if result.experimentResult else None
            ours = expected[spec.id][row_index]
            try:
                check_sdk_row(spec, ours, result.source, variant, index)
            except AssertionError:
                mismatches.append((spec.id, attributes, ours, result.source, variant))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:3]}"


def code_point_fnv(text: str) -> int:
    """FNV-1a over Unicode code points (``ord`` per Python character): how an SDK that
    does not hash UTF-16 code units would see an id."""
    state = 0x811C9DC5
    for char in text:
        state = ((state ^ ord(char)) * 0x01000193) & 0xFFFFFFFF
    return state


def test_ids_outside_the_bmp_are_where_hashing_conventions_part() -> None:
    """Why the README names which SDK we follow: hashing code points instead of the
    JavaScript SDK's UTF-16 code units changes nothing for ASCII or Japanese ids (one code
    unit per character) and changes the hash of every emoji id (a surrogate pair)."""
    from upsell_ab.assignment.hashing import fnv1a32

    bmp = ["cust-42", "顧客ケーキ7", "é-ü", "\u3042" * 20]
    assert all(code_point_fnv(t) == fnv1a32(t) for t in bmp)
    emoji = ["🎂u1", "😀", "mixed-ケ-🎂-9", "🍰☕️u77"]
    assert all(code_point_fnv(t) != fnv1a32(t) for t in emoji)


def test_python_sdk_matches_slot_keys() -> None:
    """A switchback spec's rule hashes the ``time_slot`` attribute: given the slot key,
    the GrowthBook SDK picks the arm `upsell-ab assign --at` picks, for two weeks of hours."""
    from datetime import datetime, timedelta

    from upsell_ab.assignment.switchback import assign_at

    switchbacks = [
        s for s in (load_spec(p) for p in discover([EXAMPLES])) if s.randomization.is_switchback
    ]
    assert switchbacks, "the examples include a switchback spec"
    payload = features_payload(switchbacks)
    client = GrowthBook(features=payload["features"])
    for spec in switchbacks:
        clock = spec.randomization.clock()
        assigner = Assigner(spec)
        seen = set()
        for hour in range(14 * 24):
            at = datetime(2026, 6, 1) + timedelta(hours=hour, minutes=30)
            client.set_attributes({"time_slot": clock.key(at), "receipt_id": f"r{hour}"})
            value = client.eval_feature(spec.id).value
            assert value is not None
            assert value["variant"] == assign_at(assigner, clock, at).variant, clock.key(at)
            seen.add(value["variant"])
        assert seen == {v.id for v in spec.variants}
