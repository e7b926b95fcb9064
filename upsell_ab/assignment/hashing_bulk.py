"""GrowthBook's hash over millions of ids at once (numpy), bit-identical to
:mod:`upsell_ab.assignment.hashing`.

How: all ids are joined with a NUL separator and encoded once (ASCII -> one
byte per code unit; otherwise native UTF-16 -> uint16 code units, surrogate
pairs included, exactly JavaScript's ``charCodeAt``). Separator positions give
each id's start and length. Ids are grouped by length so each group is a
dense ``(n, L)`` matrix (a strided view when every id has the same length, no
copy); FNV-1a then runs column by column on a uint32 state vector (numpy
wraps uint32 multiplication mod 2**32, as FNV needs). The second v2 pass
(decimal string of the first hash) uses the same three-table decomposition
as the scalar code, as numpy gathers.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from upsell_ab.assignment.hashing import (
    HIGH,
    LOW,
    OFFSET_BASIS,
    PRIME,
    PRIME_3,
    SPLIT,
    UTF16,
    V1_BUCKETS,
    V2_BUCKETS,
    code_units,
    decimal_tables,
    fnv1a32,
    fnv1a32_decimal,
)

if TYPE_CHECKING:
    import numpy as np


class CodeUnits:
    """Ids as one flat code-unit buffer plus per-id ``starts`` and ``lengths``."""

    def __init__(self, buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> None:
        self.buffer = buffer
        self.starts = starts
        self.lengths = lengths

    def __len__(self) -> int:
        return len(self.starts)

    @classmethod
    def from_strings(cls, ids: Sequence[str]) -> CodeUnits:
        """Encode once; fall back to per-id lengths only if an id contains NUL."""
        import numpy as np

        count = len(ids)
        if count == 0:
            empty = np.zeros(0, dtype=np.int64)
            return cls(np.zeros(0, dtype=np.uint8), empty, empty)
        joined = "\x00".join(ids)
        buffer = _encode(joined)
        ends = np.flatnonzero(buffer == 0)
        if len(ends) == count - 1:
            starts = np.empty(count, dtype=np.int64)
            starts[0] = 0
            starts[1:] = ends + 1
            stops = np.empty(count, dtype=np.int64)
            stops[:-1] = ends
            stops[-1] = len(buffer)
            return cls(buffer, starts, stops - starts)
        # Some id contains NUL itself: measure every id (slow, never in practice).
        buffer = _encode("".join(ids), wide=not joined.isascii())
        lengths = np.fromiter((len(list(code_units(s))) for s in ids), np.int64, count)
        starts = np.zeros(count, dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        return cls(buffer, starts, lengths)


def _encode(text: str, *, wide: bool | None = None) -> np.ndarray:
    import numpy as np

    if wide is None:
        wide = not text.isascii()
    if not wide:
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode(UTF16, "surrogatepass"), dtype=np.uint16)


def fnv1a32_many(units: CodeUnits, state: int = OFFSET_BASIS, suffix: str = "") -> np.ndarray:
    """uint32 ``fnv1a32(prefix + id + suffix)`` per id, ``state`` = hash of the prefix."""
    import numpy as np
    from numpy.lib.stride_tricks import as_strided

    prime = np.uint32(PRIME)
    hashes = np.full(len(units), state, dtype=np.uint32)
    if len(units):
        counts = np.bincount(units.lengths)
        lengths = np.flatnonzero(counts)
        buffer = units.buffer
        item = buffer.itemsize
        for length in lengths.tolist():
            if len(lengths) == 1:
                rows = None
                starts = units.starts
            else:
                rows = np.flatnonzero(units.lengths == length)
                starts = units.starts[rows]
            group = hashes if rows is None else hashes[rows]
            step = length + 1
            regular = (
                rows is None
                and bool(starts[0] == 0)
                and (len(starts) == 1 or bool(starts[-1] == (len(starts) - 1) * step))
            )
            if regular and len(buffer) >= (len(starts) - 1) * step + length:
                shape = (len(starts), length)
                matrix = as_strided(buffer, shape=shape, strides=(step * item, item))
                for column in range(length):
                    group ^= matrix[:, column]
                    group *= prime
            else:
                for column in range(length):
                    group ^= buffer.take(starts + column)
                    group *= prime
            if rows is not None:
                hashes[rows] = group
    for unit in code_units(suffix):
        hashes ^= np.uint32(unit)
        hashes *= prime
    return hashes


@cache
def _decimal_arrays() -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    heads, tails = decimal_tables()
    return np.asarray(heads, dtype=np.uint32), np.asarray(tails, dtype=np.uint32)


def fnv1a32_decimal_many(values: np.ndarray) -> np.ndarray:
    """uint32 ``fnv1a32(str(v))`` per uint32 ``v`` (see ``hashing.fnv1a32_decimal``)."""
    import numpy as np

    heads, tails = _decimal_arrays()
    split, thousand = np.uint32(SPLIT), np.uint32(1000)
    high, low, prime_3 = np.uint32(HIGH), np.uint32(LOW), np.uint32(PRIME_3)
    head = values // split
    rest = values - head * split
    middle = rest // thousand
    last = rest - middle * thousand
    state = heads.take(head)
    for chunk in (middle, last):
        index = (state & low).astype(np.intp) * 1000 + chunk
        state = (state & high) * prime_3 + tails.take(index)
    small = np.flatnonzero(values < split)
    if len(small):
        state[small] = [fnv1a32_decimal(int(v)) for v in values[small]]
    return state


def hash_v2_buckets(seed: str, units: CodeUnits) -> np.ndarray:
    """Version-2 buckets in [0, 10000) (uint32), one per id."""
    first = fnv1a32_many(units, fnv1a32(seed))
    return fnv1a32_decimal_many(first) % V2_BUCKETS


def hash_v1_buckets(seed: str, units: CodeUnits) -> np.ndarray:
    """Version-1 buckets in [0, 1000) (uint32): ``fnv1a32(id + seed) % 1000``."""
    return fnv1a32_many(units, OFFSET_BASIS, suffix=seed) % V1_BUCKETS
