"""Hashing against GrowthBook's published vectors and the GrowthBook SDK's own code."""

from __future__ import annotations

import random

import numpy as np
import pytest
from growthbook import core as gb

from upsell_ab.assignment.allocate import bucket_ranges, choose_variation
from upsell_ab.assignment.hashing import (
    fnv1a32,
    fnv1a32_decimal,
    gb_hash,
    hash_v1_bucket,
    hash_v2_bucket,
    v1_bucketer,
    v2_bucketer,
)
from upsell_ab.assignment.hashing_bulk import (
    CodeUnits,
    fnv1a32_decimal_many,
    hash_v1_buckets,
    hash_v2_buckets,
)

ALPHABET = "abcXYZ0189-_.@ ケーキもいかがですか😀🎂é\u00ff\u0100\uffff"


def random_ids(count: int, seed: int, max_len: int = 16) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, max_len))) for _ in range(count)
    ]


def test_published_growthbook_vectors() -> None:
    # /work/shared/design.md: GrowthBook's cross-SDK test cases.
    assert gb_hash("", "a", 1) == 0.22
    assert gb_hash("seed", "a", 2) == 0.0505
    assert gb_hash("89123klj", "8952klfjas09ujkasdf", 2) == 0.124
    assert gb_hash("seed", "a", 3) is None
    ranges = bucket_ranges([0.2, 0.3, 0.5], 0.2)
    assert [tuple(round(x, 6) for x in r) for r in ranges] == [(0, 0.04), (0.2, 0.26), (0.5, 0.6)]


def test_fnv_known_values() -> None:
    # FNV-1a 32 reference values (isthe.com FNV test suite).
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


def test_fnv_matches_sdk_on_unicode() -> None:
    for text in random_ids(3000, 1):
        assert fnv1a32(text) == gb.fnv1a32(text), text


def test_fnv_uses_utf16_code_units_like_javascript() -> None:
    # JS: "😀".charCodeAt -> 0xD83D, 0xDE00 (surrogates), not UTF-8 bytes.
    expected = 0x811C9DC5
    for unit in (0xD83D, 0xDE00):
        expected = ((expected ^ unit) * 0x01000193) % 2**32
    assert fnv1a32("😀") == expected


def test_decimal_tables_equal_plain_fnv() -> None:
    rng = np.random.default_rng(5)
    values = [
        *rng.integers(0, 2**32, 5000, dtype=np.uint64).tolist(),
        0,
        9,
        10,
        999_999,
        1_000_000,
        1_000_999,
        4_294_967_295,
    ]
    for value in values:
        assert fnv1a32_decimal(value) == fnv1a32(str(value))
    many = fnv1a32_decimal_many(np.asarray(values, dtype=np.uint32))
    assert many.tolist() == [fnv1a32(str(v)) for v in values]


@pytest.mark.parametrize("seed", ["", "seed", "cake-wording", "ケーキ", "😀x"])
def test_scalar_hash_matches_sdk(seed: str) -> None:
    fast_v2, fast_v1 = v2_bucketer(seed), v1_bucketer(seed)
    for text in random_ids(2000, hash(seed) % 1000):
        assert gb.gbhash(seed, text, 2) == hash_v2_bucket(seed, text) / 10000
        assert gb.gbhash(seed, text, 2) == fast_v2(text) / 10000
        assert gb.gbhash(seed, text, 1) == hash_v1_bucket(seed, text) / 1000
        assert gb.gbhash(seed, text, 1) == fast_v1(text) / 1000


@pytest.mark.parametrize(
    "ids",
    [
        [f"cust-{i:06d}" for i in range(3000)],  # one length: strided path
        [str(i) for i in range(3000)],  # several lengths, ASCII
        random_ids(3000, 7),  # Japanese, emoji (surrogates), mixed lengths
        ["x"],
        ["a\x00b", "\x00", "c"],  # NUL inside ids: slow path
        ["", "a", ""],
    ],
)
def test_bulk_hash_identical_to_scalar(ids: list[str]) -> None:
    units = CodeUnits.from_strings(ids)
    assert hash_v2_buckets("s-1", units).tolist() == [hash_v2_bucket("s-1", s) for s in ids]
    assert hash_v1_buckets("__ns", units).tolist() == [hash_v1_bucket("__ns", s) for s in ids]


def test_bulk_hash_empty() -> None:
    assert hash_v2_buckets("s", CodeUnits.from_strings([])).tolist() == []


def test_choose_variation_matches_sdk() -> None:
    for weights, coverage in [([0.5, 0.5], 1.0), ([0.2, 0.3, 0.5], 0.37), ([0.1] * 10, 0.9)]:
        ours = bucket_ranges(weights, coverage)
        theirs = gb.getBucketRanges(len(weights), coverage, weights)
        assert list(ours) == [tuple(r) for r in theirs]
        for k in range(0, 10000, 7):
            assert choose_variation(k / 10000, ours) == gb.chooseVariation(k / 10000, theirs)
