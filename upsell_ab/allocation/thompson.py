"""Thompson-sampling weights: each arm's posterior probability of being best, floored.

Thompson sampling (Thompson 1933; Russo et al., "A Tutorial on Thompson
Sampling", 2018, sec. 3) shows each new unit the arm drawn as best from the
posterior, so in expectation arm i gets the share P(arm i is best | data). We
assign by hashing with weights, not by a draw per unit, so the weights ARE those
probabilities (as GrowthBook's bandits do), computed by the existing
deterministic Bayesian engine on the data's sufficient statistics:

- 0/1 metrics (proportion, retention): Beta-Binomial posteriors
  Beta(alpha + s, beta + n - s) with the spec's conversion prior,
  P(best) by quadrature (:func:`upsell_ab.stats.bayesian.prob_best_beta`);
- means, ratios (delta method), profit, CUPED metrics: Gaussian posteriors
  N(mean, Var(mean)) per arm, flat prior
  (:func:`upsell_ab.stats.bayesian_gaussian.prob_best_gaussian`).

The floor keeps every arm learning (Russo et al. warn that pure Thompson
sampling can starve an arm on early noise). :func:`floored_weights` is the
iterative "water-filling" projection: arms whose share would fall below the
floor are pinned at it, the rest share what is left in proportion to their
P(best), and this repeats until no free arm falls below the floor (at most k
rounds). Every arm ends >= floor, the weights sum to 1, arms above the floor
keep the ratios of their P(best), and the order of the arms is preserved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from upsell_ab.errors import StatsError
from upsell_ab.metrics.sufficient import MetricStats, SampleStats
from upsell_ab.spec.models import BetaPrior, Direction, MetricDefinition, MetricType

BINARY_TYPES = (MetricType.proportion, MetricType.retention)


def floored_weights(prob_best: Mapping[str, float], floor: float) -> dict[str, float]:
    """Weights proportional to ``prob_best`` with every weight >= ``floor``, summing to 1.

    Iterative: pin the arms below the floor at it, renormalise the others over
    ``1 - floor * pinned``; repeat until no free arm is below the floor. Free arms
    whose P(best) are all 0 share the rest equally. Raises :class:`StatsError` when
    ``floor * arms > 1`` (no such weights exist)."""
    names = list(prob_best)
    k = len(names)
    if k == 0:
        raise StatsError("no arms to weight")
    if floor < 0.0 or floor * k > 1.0 + 1e-12:
        raise StatsError(f"a floor of {floor:g} cannot be met by {k} arms")
    if any(not math.isfinite(p) or p < 0.0 for p in prob_best.values()):
        raise StatsError(f"P(best) must be finite and >= 0, got {dict(prob_best)}")
    pinned: set[str] = set()
    weights: dict[str, float] = {}
    for _ in range(k + 1):
        free = [n for n in names if n not in pinned]
        left = 1.0 - floor * len(pinned)
        mass = sum(prob_best[n] for n in free)
        for n in free:
            weights[n] = left * prob_best[n] / mass if mass > 0.0 else left / len(free)
        for n in pinned:
            weights[n] = floor
        below = [n for n in free if weights[n] < floor]
        if not below:
            break
        pinned.update(below)
    total = sum(weights.values())
    return {n: weights[n] / total for n in names}


@dataclass(frozen=True)
class ArmPosterior:
    """One arm's posterior on the allocation metric."""

    variant: str
    n: int
    mean: float
    """Posterior mean (Beta) or the arm's estimate (Gaussian)."""
    sd: float
    prob_best: float
    expected_loss: float
    """E[max_j mu_j - mu_i] (metric units; mirrored when lower is better)."""


@dataclass(frozen=True)
class Posterior:
    """What an update is based on; ``to_dict`` is the history's ``posterior`` JSON."""

    metric: str
    model: str
    """``beta-binomial`` or ``gaussian``."""
    direction: Direction
    arms: dict[str, ArmPosterior]

    @property
    def prob_best(self) -> dict[str, float]:
        return {v: a.prob_best for v, a in self.arms.items()}

    @property
    def leader(self) -> ArmPosterior:
        return max(self.arms.values(), key=lambda a: a.prob_best)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "model": self.model,
            "direction": self.direction.value,
            "arms": {
                v: {
                    "n": a.n,
                    "mean": a.mean,
                    "sd": a.sd,
                    "prob_best": a.prob_best,
                    "expected_loss": a.expected_loss,
                }
                for v, a in self.arms.items()
            },
        }


@dataclass(frozen=True)
class NoPosterior:
    """Why no posterior could be formed (an arm without units, or without spread)."""

    reason: str


def is_binary(definition: MetricDefinition, stats: Mapping[str, MetricStats]) -> bool:
    return definition.type in BINARY_TYPES and all(
        isinstance(s, SampleStats) for s in stats.values()
    )


def posterior(
    metric: str,
    definition: MetricDefinition,
    stats_by_variant: Mapping[str, MetricStats],
    prior: BetaPrior,
) -> Posterior | NoPosterior:
    """Per-arm posteriors and P(best) on ``metric`` (every variant must have data)."""
    from upsell_ab.stats import bayesian

    direction = definition.direction
    empty = [v for v, s in stats_by_variant.items() if s.n == 0]
    if empty:
        return NoPosterior(f"no units yet in {', '.join(empty)}")
    if is_binary(definition, stats_by_variant):
        binary = {v: s for v, s in stats_by_variant.items() if isinstance(s, SampleStats)}
        best = bayesian.prob_best_beta(binary, prior, direction)
        loss = bayesian.expected_loss_beta(binary, prior, direction)
        if best is None or loss is None:
            return NoPosterior("an arm has no units")
        arms: dict[str, ArmPosterior] = {}
        for v, s in binary.items():
            post = bayesian.BetaPosterior.from_stats(s, prior, v)
            arms[v] = ArmPosterior(v, s.n, post.mean, math.sqrt(post.variance), best[v], loss[v])
        return Posterior(metric, "beta-binomial", direction, arms)
    from upsell_ab.stats.bayesian_gaussian import expected_loss_gaussian, prob_best_gaussian
    from upsell_ab.stats.estimates import arm_estimates

    estimates = arm_estimates(stats_by_variant)
    complete = len(estimates) == len(stats_by_variant)
    best = prob_best_gaussian(estimates, direction) if complete else None
    loss = expected_loss_gaussian(estimates, direction) if best is not None else None
    if best is None or loss is None:
        thin = [v for v, e in estimates.items() if e.n < 2 or not e.variance > 0.0]
        what = ", ".join(thin) if thin else "some arm"
        return NoPosterior(f"no spread yet in {what} (needs 2+ units with different values)")
    arms = {
        v: ArmPosterior(v, e.n, e.mean, math.sqrt(e.variance), best[v], loss[v])
        for v, e in estimates.items()
    }
    return Posterior(metric, "gaussian", direction, arms)
