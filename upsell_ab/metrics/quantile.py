"""Sufficient statistics of a quantile metric (median / p90 order value) for one arm.

A quantile is not additive, so its statistics are a handful of order statistics
and, when several orders come from one customer, per-customer sums (GrowthBook's
``QuantileStatistic`` / ``QuantileClusteredStatistic``, gbstats
``models/statistics.py``):

- ``quantile``: the order statistic at rank ``ceil(nu n)`` (``quantile_disc``);
- ``lower`` / ``upper``: the order statistics at ranks ``ceil((nu -+ z s) n)`` with
  ``s = sqrt(nu (1 - nu) / n)`` and ``z = z_{0.975}``, clipped to ``[1, n]``: the
  distribution-free 95 % interval of the quantile (binomial ranks, normal form);
- with clusters (customers): per customer ``b_i`` = orders at or below the arm's
  quantile and ``c_i`` = orders; the sums of ``b, b^2, c, c^2, b c`` and the number
  of customers give the delta-method variance of the share ``sum b / sum c``.

:meth:`QuantileStats.from_values` is the reference computation (numpy) that the
database query must reproduce; the statistics code only reads these fields.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054
"""z_{0.975}: the order-statistic interval is built at 95 % (GrowthBook's choice)."""


def rank(level: float, n: int) -> int:
    """1-based rank of the ``level`` order statistic (``quantile_disc``), within [1, n]."""
    return min(n, max(1, math.ceil(level * n - 1e-12)))


def bound_ranks(nu: float, n: int) -> tuple[int, int]:
    """Ranks of the lower and upper order statistics of the 95 % interval."""
    spread = Z_95 * math.sqrt(nu * (1.0 - nu) / n)
    return rank(nu - spread, n), rank(nu + spread, n)


@dataclass(frozen=True)
class QuantileStats:
    """One arm of a quantile metric (module docstring)."""

    n: int
    """Observations: orders (per-order quantile) or customers (per-customer quantile)."""
    nu: float
    quantile: float
    lower: float
    upper: float
    n_clusters: int | None = None
    """Customers, when observations are orders clustered by customer (None: independent)."""
    below_sum: float = 0.0
    below_sum_squares: float = 0.0
    count_sum: float = 0.0
    count_sum_squares: float = 0.0
    cross_sum: float = 0.0
    units: int | None = None
    """Exposed units of the arm (all of them, with or without an observation); the
    per-unit variance ``Var(q_hat) x units`` makes sample sizes comparable with the
    other metrics'. None: the observations are the units (``n``)."""

    @property
    def exposed(self) -> int:
        """Exposed units of the arm (``units``, else ``n``)."""
        return self.n if self.units is None else self.units

    @classmethod
    def from_values(
        cls,
        values: Sequence[float],
        nu: float,
        clusters: Sequence[object] | None = None,
        units: int | None = None,
    ) -> QuantileStats:
        """The statistics of ``values`` (and their cluster ids), computed in memory."""
        import numpy as np

        data = np.asarray(values, dtype=float)
        n = int(data.size)
        if n == 0:
            return cls(0, nu, math.nan, math.nan, math.nan, units=units)
        ordered = np.sort(data)
        low, high = bound_ranks(nu, n)
        q = float(ordered[rank(nu, n) - 1])
        stats = cls(n, nu, q, float(ordered[low - 1]), float(ordered[high - 1]), units=units)
        if clusters is None:
            return stats
        ids = np.asarray(clusters)
        _, index = np.unique(ids, return_inverse=True)
        below = np.bincount(index, weights=(data <= q).astype(float))
        count = np.bincount(index).astype(float)
        return cls(
            n, nu, q, stats.lower, stats.upper,
            n_clusters=int(count.size),
            below_sum=float(below.sum()),
            below_sum_squares=float((below**2).sum()),
            count_sum=float(count.sum()),
            count_sum_squares=float((count**2).sum()),
            cross_sum=float((below * count).sum()),
            units=units,
        )  # fmt: skip
