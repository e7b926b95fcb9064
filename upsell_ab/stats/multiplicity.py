"""Adjusted p-values for a family of tests (primary metric x treatment variants).

- Holm (1979), step-down, controls the family-wise error rate under any
  dependence: with ordered p_(1) <= ... <= p_(m),
  ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``.
- Benjamini & Hochberg (1995), step-up, controls the false discovery rate for
  independent or positively dependent tests:
  ``adj_(i) = min_{j >= i} min(1, m p_(j) / j)``.

Both match ``statsmodels.stats.multitest.multipletests`` ("holm", "fdr_bh").
``None`` entries (tests that could not be computed) are not part of the family
and stay None: an uncomputable test neither costs nor earns alpha.
"""

from __future__ import annotations

from collections.abc import Sequence

from upsell_ab.errors import StatsError

METHODS = ("holm", "benjamini_hochberg", "none")


def adjust_p_values(
    p_values: Sequence[float | None], method: object = "holm"
) -> list[float | None]:
    """Adjusted p-values in the input order; ``method`` is holm, benjamini_hochberg or none."""
    name = str(getattr(method, "value", method))
    if name not in METHODS:
        raise StatsError(f"unknown correction {name!r}; expected one of {', '.join(METHODS)}")
    present = [(i, float(p)) for i, p in enumerate(p_values) if p is not None]
    for _, p in present:
        if not 0.0 <= p <= 1.0:
            raise StatsError(f"p-values must be within [0, 1], got {p}")
    result: list[float | None] = [None] * len(p_values)
    if name == "none":
        for i, p in present:
            result[i] = p
        return result
    ordered = sorted(present, key=lambda item: item[1])
    m = len(ordered)
    if name == "holm":
        running = 0.0
        for rank, (i, p) in enumerate(ordered):
            running = max(running, min(1.0, (m - rank) * p))
            result[i] = running
    else:
        running = 1.0
        for rank in range(m - 1, -1, -1):
            i, p = ordered[rank]
            running = min(running, min(1.0, m * p / (rank + 1)))
            result[i] = running
    return result
