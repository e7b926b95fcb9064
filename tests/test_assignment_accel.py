"""The C accelerator ``_fnv`` against the Python/numpy fallback and the GrowthBook SDK.

Oracles: the GrowthBook Python SDK's ``gbhash`` (which hashes UTF-16 code
units like the JavaScript SDK), the pure-Python reference hash in
``hashing.py``, and the numpy fallback path (``accelerated=False``), which
predates the extension. Every comparison is element-wise and exact.
"""

from __future__ import annotations

import enum
import hashlib
import importlib.util
import json
import os
import random
import subprocess
import sys
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from growthbook import core as gb
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell_ab.assignment import REASON_CODES, Assigner, Reason
from upsell_ab.assignment.accel import NO_EXT_ENV, load_extension, resolve
from upsell_ab.assignment.hashing import fnv1a32, hash_v1_bucket, hash_v2_bucket
from upsell_ab.spec.models import Experiment

EXT = load_extension()
needs_ext = pytest.mark.skipif(EXT is None, reason="C extension not built or disabled")
ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
LETTERS = "abcXYZ0189-_.@ ケーキもいかがですか😀🎂é\u00ff\u0100\uffff"


def make(weights: tuple[float, ...] = (0.5, 0.5), **population: Any) -> Experiment:
    extra = population.pop("extra", {})
    return Experiment.model_validate(
        {
            "id": "cake-wording",
            "name": "Cake wording",
            "status": population.pop("status", "running"),
            "population": population,
            "variants": [
                {"id": f"v{i}", "weight": w, "control": i == 0} for i, w in enumerate(weights)
            ],
            "metrics": {"primary": "take_rate"},
            **extra,
        }
    )


def mixed_ids(count: int, seed: int) -> list[str]:
    """ASCII customer ids with Japanese / emoji / Latin-1 ids every 7th, and some empty."""
    rng = random.Random(seed)
    ids = [f"cust-{i}" for i in range(count)]
    for i in range(0, count, 7):
        ids[i] = "".join(rng.choice(LETTERS) for _ in range(rng.randint(1, 12)))
    for i in range(3, count, 1001):
        ids[i] = ""
    return ids


def both(experiment: Experiment, ids: Any, attributes: Any = None) -> tuple[Any, Any]:
    fast = Assigner(experiment, accelerated=True).assign_many_with_reasons(ids, attributes)
    slow = Assigner(experiment, accelerated=False).assign_many_with_reasons(ids, attributes)
    return fast, slow


def assert_same(fast: Any, slow: Any) -> None:
    assert fast.variants.tolist() == slow.variants.tolist()
    assert fast.reasons.tolist() == slow.reasons.tolist()
    assert fast.reasons.dtype == slow.reasons.dtype == np.uint8


# ------------------------------------------------------------------ the build


@pytest.mark.skipif(
    os.environ.get(NO_EXT_ENV, "") not in ("", "0"), reason=f"{NO_EXT_ENV} forces the fallback"
)
def test_extension_is_built_here() -> None:
    # A silent fallback would pass every other test at a 10x slower speed: fail loudly.
    assert EXT is not None, "upsell_ab.assignment._fnv missing: pip install -e . with a compiler"
    assert Assigner(make()).accelerated


def test_env_var_forces_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NO_EXT_ENV, "1")
    assert load_extension() is None
    assert not Assigner(make()).accelerated
    with pytest.raises(ImportError, match=NO_EXT_ENV):
        resolve(True)
    monkeypatch.setenv(NO_EXT_ENV, "0")
    built = importlib.util.find_spec("upsell_ab.assignment._fnv") is not None
    assert (load_extension() is not None) == built


DIGEST_CODE = """
import hashlib, json, sys
from upsell_ab.assignment import Assigner
from upsell_ab.spec.models import Experiment
spec, ids = json.loads(sys.stdin.read())
a = Assigner(Experiment.model_validate(spec))
v = a.assign_many_with_reasons(ids)
digest = hashlib.sha256(repr(v.variants.tolist()).encode() + v.reasons.tobytes())
print(a.accelerated, digest.hexdigest())
"""


def test_fallback_process_gives_the_same_digest() -> None:
    # A fresh process with the env var set: the fallback, and the very same bytes.
    experiment = make(coverage=0.7, namespace={"name": "n", "range": [0.2, 0.9]})
    ids = mixed_ids(50_000, 9)
    here = Assigner(experiment).assign_many_with_reasons(ids)
    expected = hashlib.sha256(repr(here.variants.tolist()).encode() + here.reasons.tobytes())
    done = subprocess.run(
        [sys.executable, "-c", DIGEST_CODE],
        input=json.dumps([experiment.model_dump(mode="json", by_alias=True), ids]),
        env={**os.environ, NO_EXT_ENV: "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["False", expected.hexdigest()]


# ------------------------------------------------------------- hash functions


@needs_ext
@pytest.mark.parametrize("seed", ["", "seed", "cake-wording", "ケーキ", "😀x"])
def test_c_hash_matches_growthbook_sdk(seed: str) -> None:
    assert EXT is not None
    rng = random.Random(len(seed))
    state = fnv1a32(seed)
    for _ in range(2000):
        text = "".join(rng.choice(LETTERS) for _ in range(rng.randint(0, 16)))
        assert EXT.bucket_v2(state, text) / 10000 == gb.gbhash(seed, text, 2), text
        assert EXT.bucket_v1(seed, text) / 1000 == gb.gbhash(seed, text, 1), text


@needs_ext
@settings(max_examples=300, deadline=None)
@given(seed=st.text(ANY_CHAR), text=st.text(ANY_CHAR))
def test_c_hash_matches_python_on_any_code_point(seed: str, text: str) -> None:
    # Includes lone surrogates and astral characters (surrogate pairs), all string kinds.
    assert EXT is not None
    assert EXT.bucket_v2(fnv1a32(seed), text) == hash_v2_bucket(seed, text)
    assert EXT.bucket_v1(seed, text) == hash_v1_bucket(seed, text)


@needs_ext
def test_decimal_pass_on_edge_states() -> None:
    # bucket_v2(state, "") = fnv1a32(str(state)) % 10000: every digit count, 0 and 2**32 - 1.
    assert EXT is not None
    edges = [0, 9, 10, 99, 100, 999_999, 1_000_000, 2**31, 2**32 - 1]
    edges += [10**k + d for k in range(1, 10) for d in (-1, 0, 1)]
    rng = random.Random(2)
    for state in edges + [rng.randrange(2**32) for _ in range(20_000)]:
        assert EXT.bucket_v2(state, "") == fnv1a32(str(state)) % 10000, state


@needs_ext
def test_picker_and_argument_errors() -> None:
    assert EXT is not None
    items = tuple(range(10000))
    picker = EXT.Picker(fnv1a32("s"), items)
    assert picker("😀") == hash_v2_bucket("s", "😀")
    with pytest.raises(TypeError):
        picker(42)
    with pytest.raises(ValueError):
        EXT.Picker(1, items[:-1])
    with pytest.raises(TypeError):
        EXT.bucket_v2(1, b"bytes")
    out = np.empty(2, dtype=np.uint8)
    with pytest.raises(ValueError):
        EXT.assign_codes(["a"], 1, bytes(10000), None, None, None, out)
    with pytest.raises(ValueError):
        EXT.assign_codes(["a", "b"], 1, bytes(9), None, None, None, out)


# ------------------------------------------------------------ bulk, both paths


@needs_ext
def test_both_paths_identical_on_a_million_ids() -> None:
    experiment = make(
        (0.2, 0.3, 0.5),
        coverage=0.8,
        namespace={"name": "checkout", "range": [0.1, 0.85]},
        extra={"overrides": {"cust-5": "v2", "cust-999998": "v0"}},
    )
    ids = mixed_ids(1_000_000, 4)
    fast, slow = both(experiment, ids)
    assert_same(fast, slow)
    reasons = {REASON_CODES[c] for c in np.unique(fast.reasons).tolist()}
    assert reasons == {
        Reason.assigned,
        Reason.coverage,
        Reason.namespace,
        Reason.missing_unit,
        Reason.override,
    }
    assert fast.variants[5] == "v2" and fast.variants[999_998] == "v0"


@needs_ext
def test_scalar_c_equals_scalar_python() -> None:
    experiment = make((0.34, 0.33, 0.33), coverage=0.9, seed="ケーキ")
    fast, slow = Assigner(experiment), Assigner(experiment, accelerated=False)
    ns = make(namespace={"name": "checkout", "range": [0.3, 0.6]})
    fast_ns, slow_ns = Assigner(ns), Assigner(ns, accelerated=False)
    for unit in mixed_ids(50_000, 5):
        assert fast.assign(unit) == slow.assign(unit)
        assert fast_ns.assign(unit) == slow_ns.assign(unit)


@needs_ext
def test_both_paths_with_targeting_missing_and_not_running() -> None:
    rng = np.random.default_rng(8)
    size = 30_000
    frame = pd.DataFrame(
        {
            "segment": rng.choice(np.array(["new", "vip", None], dtype=object), size),
            "past_orders": rng.integers(0, 3, size),
        }
    )
    values: list[str | float | None] = list(mixed_ids(size, 6))
    values[::53] = [None] * len(values[::53])
    values[1::59] = [float("nan")] * len(values[1::59])
    ids = pd.Series(values, dtype=object)
    targeting = [
        {"attribute": "segment", "op": "eq", "value": "new"},
        {"attribute": "past_orders", "op": "gte", "value": 1},
    ]
    for status in ("running", "draft"):
        experiment = make(targeting=targeting, status=status, extra={"overrides": {"cust-2": "v1"}})
        fast, slow = both(experiment, ids, frame)
        assert_same(fast, slow)
        assert fast.variants[2] == "v1"
        expected = {"override", "targeting", "missing_unit", "assigned"}
        if status == "draft":
            expected = {"override", "not_running"}
        assert set(fast.reason_names().tolist()) == expected


@needs_ext
@pytest.mark.parametrize(
    "ids",
    [
        ["1", "22", "333", "-4"],
        (1, "22", 333),  # np.asarray -> strings, as before
        np.array([1, 22, 333, -4, 0, np.iinfo(np.int64).min, np.iinfo(np.int64).max]),
        np.array([0, 7, 2**63, 2**64 - 1], dtype=np.uint64),
        np.array([1, 2, 3], dtype=np.int8),
        [1, 22, 2**70, -(2**70), "x", None, float("nan"), ""],  # big ints via str()
        np.array(["1", "ケーキ", "😀"]),  # numpy unicode array
        np.array(["a", None, "b", "c"], dtype=object)[::2],  # non-contiguous object array
        pd.Series(["1", "22", None], dtype="string[python]").fillna(""),
        pd.Series(np.arange(5)),
        [],
    ],
)
def test_input_kinds_identical_on_both_paths(ids: Any) -> None:
    experiment = make(extra={"overrides": {"22": "v1"}})
    fast, slow = both(experiment, ids)
    assert_same(fast, slow)
    plain = [str(i) if isinstance(i, int | np.integer) else i for i in list(ids)]
    scalar = Assigner(experiment)
    for unit, variant in zip(plain, fast.variants.tolist(), strict=True):
        if isinstance(unit, str) and unit:
            assert scalar.assign(unit).variant == variant, unit
    if "22" in plain:
        assert fast.variants[plain.index("22")] == "v1"


@needs_ext
@pytest.mark.parametrize(
    "ids",
    [
        [1.0, 2.0],
        np.array([1.5]),
        [True, False],
        np.array([True]),
        [b"bytes"],
        [["nested"]],
        np.array([["2d"]], dtype=object),
        [pd.NA],
    ],
)
def test_bad_ids_raise_type_error_on_both_paths(ids: Any) -> None:
    for accelerated in (True, False):
        with pytest.raises(TypeError):
            Assigner(make(), accelerated=accelerated).assign_many(ids)


class Level(enum.IntEnum):
    gold = 7


@needs_ext
def test_int_subclass_hashes_as_its_str() -> None:
    ids = [Level.gold, 7, True]
    with pytest.raises(TypeError):  # bool is refused
        Assigner(make()).assign_many(ids)
    fast, slow = both(make(), ids[:2])
    assert_same(fast, slow)
    assert fast.variants[0] == Assigner(make()).assign(str(Level.gold)).variant


class Evil(int):
    """``str()`` mutates the list being assigned: must raise, never crash."""

    target: ClassVar[list[Any]] = []

    def __str__(self) -> str:
        self.target.clear()
        return "1"


@needs_ext
def test_list_mutated_during_assignment_raises() -> None:
    assert EXT is not None
    ids: list[Any] = [Evil(2**70)] + [f"u{i}" for i in range(100)]
    Evil.target = ids
    with pytest.raises(RuntimeError, match="changed size"):
        EXT.assign_codes(ids, fnv1a32("s"), bytes(10000), None, None, None, np.empty(101, np.uint8))


@needs_ext
def test_reference_counts_unchanged() -> None:
    assert EXT is not None
    unit = "".join(["cust-", "refcount"])  # a fresh, unshared str
    ids = [unit] * 1000 + [None, 5]
    before = sys.getrefcount(unit), sys.getrefcount(None)
    for _ in range(20):
        EXT.assign_codes(
            ids, 1, bytes(10000), "__n", bytes(1000), {unit: 1}, np.empty(1002, np.uint8)
        )
    after = sys.getrefcount(unit), sys.getrefcount(None)
    assert after[0] == before[0]
    assert abs(after[1] - before[1]) < 5  # None is shared by the whole process


@needs_ext
@pytest.mark.parametrize("container", [list, lambda ids: np.asarray(ids, dtype=object)])
def test_bulk_buckets_exact_for_every_pairing_of_kinds(container: Any) -> None:
    # The C bulk loop hashes two one-byte ids at a time; odd counts, empty ids and
    # wide strings between them take the single path. Two tables (bucket % 250 and
    # bucket // 250) recover the full v2 bucket of every id from its outcome codes.
    assert EXT is not None
    rng = random.Random(21)
    pool = ["", "a", "é", "ケ", "😀"] + [
        "".join(rng.choice("abcXYZ0189-_") for _ in range(rng.randint(1, 25))) for _ in range(50)
    ]
    ids = [rng.choice(pool) if rng.random() < 0.3 else pool[5 + i % 50] for i in range(20_001)]
    state = fnv1a32("pair-seed")
    low, high = np.empty(len(ids), np.uint8), np.empty(len(ids), np.uint8)
    EXT.assign_codes(
        container(ids), state, bytes(k % 250 for k in range(10000)), None, None, None, low
    )
    EXT.assign_codes(
        container(ids), state, bytes(k // 250 for k in range(10000)), None, None, None, high
    )
    for unit, lo, hi in zip(ids, low.tolist(), high.tolist(), strict=True):
        if unit:
            assert hi * 250 + lo == hash_v2_bucket("pair-seed", unit), unit
        else:
            assert lo == hi == EXT.CODE_MISSING
