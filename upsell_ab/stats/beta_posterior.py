"""One arm's Beta posterior of a conversion rate.

With a Beta(alpha, beta) prior and s conversions out of n units the posterior
is Beta(alpha + s, beta + n - s) (conjugacy; Gelman et al., "Bayesian Data
Analysis", 3rd ed., sec. 2.4). Shared by the exact/quadrature integrals in
:mod:`upsell_ab.stats.beta_integrals` and the engine in
:mod:`upsell_ab.stats.bayesian`.
"""

from __future__ import annotations

from dataclasses import dataclass

from upsell_ab.errors import StatsError
from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.spec.models import BetaPrior

__all__ = ["BetaPosterior"]

_COUNT_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class BetaPosterior:
    """Beta(a, b) posterior of one arm's conversion rate (a, b > 0)."""

    a: float
    b: float

    def __post_init__(self) -> None:
        if not (self.a > 0.0 and self.b > 0.0):
            raise StatsError(f"Beta parameters must be > 0, got a={self.a}, b={self.b}")

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)

    @property
    def variance(self) -> float:
        total = self.a + self.b
        return self.a * self.b / (total * total * (total + 1.0))

    def shifted(self) -> BetaPosterior:
        """Beta(a + 1, b): the size-biased law used by the expected-loss formula."""
        return BetaPosterior(self.a + 1.0, self.b)

    def mirrored(self) -> BetaPosterior:
        """The law of 1 - p."""
        return BetaPosterior(self.b, self.a)

    @classmethod
    def from_stats(
        cls, stats: SampleStats, prior: BetaPrior, field: str = "stats"
    ) -> BetaPosterior:
        """Posterior from a 0/1 metric's sufficient statistics; refuses non-0/1 data."""
        successes = stats.sum
        if successes < -_COUNT_TOLERANCE or successes > stats.n + _COUNT_TOLERANCE:
            raise StatsError(
                f"{field}: conversions must lie in [0, n], got {successes} of {stats.n} "
                "(hint: the Beta-Binomial engine needs a 0/1 metric)"
            )
        if abs(stats.sum_squares - successes) > _COUNT_TOLERANCE * max(1.0, successes):
            raise StatsError(
                f"{field}: sum_squares ({stats.sum_squares}) != sum ({successes}), so the values "
                "are not 0/1 (hint: use the Gaussian engine for means)"
            )
        successes = min(max(successes, 0.0), float(stats.n))
        return cls(float(prior.alpha + successes), float(prior.beta + stats.n - successes))
