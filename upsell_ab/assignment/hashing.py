"""GrowthBook's hash, scalar: FNV-1a 32-bit over UTF-16 code units.

Why UTF-16 code units and not UTF-8 bytes: the GrowthBook SDKs hash what
JavaScript's ``str.charCodeAt(i)`` returns (``hashFnv32a`` in the JS SDK's
``util.ts``; the Python SDK >= 4 reproduces it with ``utf-16-le``). For ASCII
ids the two agree; for Japanese or emoji ids only code units give the variant
a shop's front end sees. Hash versions (GrowthBook ``gbhash``):

* v2: ``fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000``
* v1: ``fnv1a32(value + seed) % 1000 / 1000`` (namespaces: seed ``"__" + name``)

FNV-1a: ``h0 = 0x811C9DC5``; per code unit ``h = (h ^ c) * 0x01000193 mod 2**32``
(Fowler, Noll, Vo; http://www.isthe.com/chongo/tech/comp/fnv/).

Speed: xor with ``c`` only touches the low bits that ``c`` occupies, so for
code units below ``2**b`` the state after ``k`` units is
``(h - (h mod 2**b)) * P**k + G(h mod 2**b, units)`` (mod 2**32), where ``G``
is FNV from the small state ``h mod 2**b``. Decimal digits are below ``2**6``,
so the second pass of v2 (ten digits) takes three table look-ups instead of
ten multiplications (:func:`fnv1a32_decimal`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import TypeVar

OFFSET_BASIS = 0x811C9DC5
PRIME = 0x01000193
MASK = 0xFFFFFFFF
UTF16 = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"
"""Native-order UTF-16, so ``memoryview(...).cast('H')`` yields code units."""

T = TypeVar("T")

V2_BUCKETS = 10_000
V1_BUCKETS = 1_000

DIGIT_BITS = 6
"""'0'..'9' are 0x30..0x39 < 2**6: xor with a digit changes only the low 6 bits."""
LOW = (1 << DIGIT_BITS) - 1
HIGH = MASK ^ LOW
PRIME_3 = pow(PRIME, 3, 1 << 32)
SPLIT = 1_000_000
"""``h >= SPLIT``: decimal string = str(h // 10**6) + 3 digits + 3 digits (zero-padded)."""


def code_units(text: str) -> Iterable[int]:
    """UTF-16 code units of ``text`` (surrogate pairs for characters above U+FFFF),
    as JavaScript's ``charCodeAt`` sees them."""
    if text.isascii():
        return text.encode("ascii")
    return memoryview(text.encode(UTF16, "surrogatepass")).cast("H")


def fnv1a32(text: str, state: int = OFFSET_BASIS) -> int:
    """FNV-1a 32-bit of ``text`` starting from ``state`` (default: the offset basis).

    The state is masked once at the end: multiplication and a xor on the low
    bits commute with reduction mod 2**32, and skipping the mask per unit is
    about 30 % faster in CPython."""
    for unit in code_units(text):
        state = (state ^ unit) * PRIME
    return state & MASK


@cache
def decimal_tables() -> tuple[list[int], list[int]]:
    """``(heads, tails)``: ``heads[q] = fnv1a32(str(q))`` for ``q < 2**32 // SPLIT + 1``;
    ``tails[lo * 1000 + r] = fnv1a32(f"{r:03d}", state=lo)`` for ``lo < 64``."""
    heads = [fnv1a32(str(q)) for q in range(MASK // SPLIT + 1)]
    tails = [fnv1a32(f"{r:03d}", lo) for lo in range(LOW + 1) for r in range(1000)]
    return heads, tails


def fnv1a32_decimal(value: int) -> int:
    """``fnv1a32(str(value))`` for ``0 <= value < 2**32`` via :func:`decimal_tables`."""
    if value < SPLIT:
        return fnv1a32(str(value))
    heads, tails = decimal_tables()
    head, rest = divmod(value, SPLIT)
    middle, last = divmod(rest, 1000)
    state = heads[head]
    state = ((state & HIGH) * PRIME_3 + tails[(state & LOW) * 1000 + middle]) & MASK
    return ((state & HIGH) * PRIME_3 + tails[(state & LOW) * 1000 + last]) & MASK


def hash_v2_bucket(seed: str, value: str) -> int:
    """Version-2 bucket in [0, 10000): ``fnv1a32(str(fnv1a32(seed + value))) % 10000``."""
    return fnv1a32_decimal(fnv1a32(value, fnv1a32(seed))) % V2_BUCKETS


def hash_v1_bucket(seed: str, value: str) -> int:
    """Version-1 bucket in [0, 1000): ``fnv1a32(value + seed) % 1000``."""
    return fnv1a32(seed, fnv1a32(value)) % V1_BUCKETS


def gb_hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook's ``hash(seed, value, version)`` in [0, 1); None for an unknown version."""
    if version == 2:
        return hash_v2_bucket(seed, value) / V2_BUCKETS
    if version == 1:
        return hash_v1_bucket(seed, value) / V1_BUCKETS
    return None


def v2_bucketer(seed: str) -> Callable[[str], int]:
    """A fast ``value -> hash_v2_bucket(seed, value)`` with the seed prefix pre-hashed."""
    return v2_picker(seed, range(V2_BUCKETS))


def v2_picker(seed: str, items: Sequence[T]) -> Callable[[str], T]:
    """``value -> items[hash_v2_bucket(seed, value)]`` (``len(items) == 10000``).

    The pure-Python twin of the C ``_fnv.Picker``. Everything the hot path needs
    is bound to local names of the closure; ASCII ids (the common case) skip the
    UTF-16 encode."""
    if len(items) != V2_BUCKETS:
        raise ValueError(f"v2_picker needs {V2_BUCKETS} items, got {len(items)}")
    seed_state = fnv1a32(seed)
    heads, tails = decimal_tables()
    prime, mask, prime_3, high, low, split = PRIME, MASK, PRIME_3, HIGH, LOW, SPLIT
    utf16 = UTF16

    def pick(value: str) -> T:
        state = seed_state
        try:
            units: Iterable[int] = value.encode("ascii")
        except UnicodeEncodeError:
            units = memoryview(value.encode(utf16, "surrogatepass")).cast("H")
        for unit in units:
            state = (state ^ unit) * prime
        state &= mask
        if state < split:
            return items[fnv1a32(str(state)) % V2_BUCKETS]
        head, rest = divmod(state, split)
        middle, last = divmod(rest, 1000)
        state = heads[head]
        state = ((state & high) * prime_3 + tails[(state & low) * 1000 + middle]) & mask
        state = ((state & high) * prime_3 + tails[(state & low) * 1000 + last]) & mask
        return items[state % V2_BUCKETS]

    return pick


def v1_bucketer(seed: str) -> Callable[[str], int]:
    """A fast ``value -> hash_v1_bucket(seed, value)`` (the seed is a suffix here,
    so only its code units are precomputed)."""
    suffix = tuple(code_units(seed))
    prime, mask, utf16 = PRIME, MASK, UTF16

    def bucket(value: str) -> int:
        state = OFFSET_BASIS
        try:
            units: Iterable[int] = value.encode("ascii")
        except UnicodeEncodeError:
            units = memoryview(value.encode(utf16, "surrogatepass")).cast("H")
        for unit in units:
            state = (state ^ unit) * prime
        for unit in suffix:
            state = (state ^ unit) * prime
        return (state & mask) % V1_BUCKETS

    return bucket
