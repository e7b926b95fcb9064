"""From a hash in [0, 1) to a variant: bucket ranges, coverage, namespaces.

Follows GrowthBook's ``getBucketRanges`` / ``chooseVariation`` /
``inNamespace`` exactly, float arithmetic included, so a GrowthBook SDK with
the same key, seed, weights and coverage picks the same variant:

* variant ``i`` owns ``[c_i, c_i + coverage * w_i)`` with ``c_i = w_0 + ... + w_{i-1}``
  (cumulative weight start). The ranges grow in place when coverage rises, so
  raising coverage only adds units; nobody already assigned moves.
* a unit falls in the first range with ``start <= n < end``; none -> not in the
  experiment (coverage).
* namespace ``(name, start, end)``: ``start <= hash_v1("__" + name, unit) < end``.

Because a v2 hash is ``k / 10000`` for an integer bucket ``k`` (v1: ``k / 1000``),
every decision is precomputed once into a table indexed by the bucket, using
the very same float comparisons; the hot path is then one list look-up.
"""

from __future__ import annotations

from collections.abc import Sequence

from upsell_ab.assignment.hashing import V1_BUCKETS, V2_BUCKETS

Range = tuple[float, float]

NOT_ASSIGNED = -1
"""Variant index meaning "hash outside every range" (coverage)."""


def bucket_ranges(weights: Sequence[float], coverage: float = 1.0) -> tuple[Range, ...]:
    """GrowthBook ``getBucketRanges``: ``[c_i, c_i + coverage * w_i)`` per variant.

    Coverage is clamped to [0, 1] as GrowthBook does. Weights are used as given:
    the spec already guarantees they are positive and sum to 1 (GrowthBook
    would replace a vector summing outside [0.99, 1.01] by equal weights)."""
    coverage = min(max(coverage, 0.0), 1.0)
    cumulative = 0.0
    ranges: list[Range] = []
    for weight in weights:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return tuple(ranges)


def in_range(n: float, bounds: Range) -> bool:
    """Half-open ``start <= n < end``."""
    return bounds[0] <= n < bounds[1]


def choose_variation(n: float, ranges: Sequence[Range]) -> int:
    """Index of the first range holding ``n``, or :data:`NOT_ASSIGNED`."""
    for index, bounds in enumerate(ranges):
        if in_range(n, bounds):
            return index
    return NOT_ASSIGNED


def variation_table(ranges: Sequence[Range]) -> tuple[int, ...]:
    """``table[k] = choose_variation(k / 10000, ranges)`` for every v2 bucket ``k``."""
    return tuple(choose_variation(k / V2_BUCKETS, ranges) for k in range(V2_BUCKETS))


def namespace_table(start: float, end: float) -> tuple[bool, ...]:
    """``table[k] = start <= k / 1000 < end`` for every v1 bucket ``k``."""
    return tuple(start <= k / V1_BUCKETS < end for k in range(V1_BUCKETS))


def namespace_seed(name: str) -> str:
    """GrowthBook hashes namespaces with seed ``"__" + name`` (hash version 1)."""
    return "__" + name
