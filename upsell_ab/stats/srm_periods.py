"""Sample-ratio mismatch when the weights changed during the experiment.

With adaptive allocation the configured weights are not constant. Given the
units N_t first exposed in each allocation period t and that period's weights
p_t (normalised), the arm counts O = sum_t O_t are a sum of independent
multinomials, so when assignment works

    E = sum_t N_t p_t,      Sigma = sum_t N_t (diag(p_t) - p_t p_t'),

and the test statistic is the quadratic form

    X^2 = (O - E)' Sigma^- (O - E)  ~  chi2 with K - 1 df  (K arms with E_k > 0),

with Sigma^- the inverse of Sigma with one arm dropped (O - E sums to 0, so
Sigma has rank K - 1 and the choice of arm does not matter). For constant
weights this IS Pearson's X^2 = sum_k (O_k - E_k)^2 / E_k (the quadratic form
of a multinomial in its inverse covariance; e.g. Agresti 2013, "Categorical
Data Analysis", 3rd ed., sec. 1.5), so a fixed-weight experiment gets the same
p-value as :mod:`.srm`.

Why not Pearson's sum on E alone (GrowthBook's bandit SRM, gbstats
``Bandits.compute_srm``)? Its variance assumes one multinomial with the average
weights, but a sum of multinomials with different p_t varies LESS
(sum_t N_t p_kt (1 - p_kt) <= N pbar_k (1 - pbar_k)), so with weights that moved
it is conservative: its p-values pile up above uniform and a real mismatch is
flagged later (shown in the tests). A test against the *final* (or the spec's)
weights would instead flag nearly every bandit whose weights moved.

Flagged at ``alpha`` (0.001, as :mod:`.srm`); a flagged experiment is never
declared a winner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from upsell_ab.errors import StatsError
from upsell_ab.stats.results import SrmResult
from upsell_ab.stats.srm import DEFAULT_SRM_ALPHA


def expected_counts(
    units: Sequence[Mapping[str, int]], weights: Sequence[Mapping[str, float]]
) -> dict[str, float]:
    """E_k summed over periods (``units[t]``: arm -> units of period t; ``weights[t]``:
    that period's allocation weights, any positive scale)."""
    if len(units) != len(weights):
        raise StatsError(f"{len(units)} periods of counts but {len(weights)} of weights")
    variants = list(weights[0]) if weights else []
    expected = dict.fromkeys(variants, 0.0)
    for counts, period_weights in zip(units, weights, strict=True):
        if list(period_weights) != variants:
            raise StatsError("every period must give weights for the same variants, in order")
        if any(not w >= 0 for w in period_weights.values()):
            raise StatsError(f"weights must be >= 0, got {dict(period_weights)}")
        total_weight = sum(period_weights.values())
        if not total_weight > 0:
            raise StatsError("a period's weights sum to 0")
        unknown = set(counts) - set(variants)
        if unknown:
            raise StatsError(f"counts for variants without weights: {sorted(unknown)}")
        n = sum(counts.values())
        for variant, w in period_weights.items():
            expected[variant] += n * w / total_weight
    return expected


def srm_test_periods(
    units: Sequence[Mapping[str, int]],
    weights: Sequence[Mapping[str, float]],
    *,
    alpha: float = DEFAULT_SRM_ALPHA,
) -> SrmResult:
    """The quadratic-form chi-square of the arms' total units against
    :func:`expected_counts` (module docstring).

    An arm whose expected count is 0 (weight 0 in every period with units) is left
    out of the statistic when it has no units, and makes the test flag when it has
    some (units in an arm that could not be assigned). Fewer than two arms with
    positive expectation, or no units: statistic and p-value None, not flagged."""
    expected = expected_counts(units, weights)
    observed = dict.fromkeys(expected, 0)
    for counts in units:
        for variant, n in counts.items():
            observed[variant] += int(n)
    live = [v for v in expected if expected[v] > 0]
    impossible = [v for v in expected if expected[v] == 0 and observed[v] > 0]
    df = max(len(live) - 1, 0)
    if impossible:
        return SrmResult(observed, expected, statistic=None, df=df, p_value=0.0, flagged=True)
    if len(live) < 2 or sum(observed.values()) == 0:
        return SrmResult(observed, expected, statistic=None, df=df, p_value=None, flagged=False)
    import numpy as np
    from scipy.special import chdtrc

    kept = live[:-1]  # one arm dropped: Sigma restricted to the others is invertible
    sigma = np.zeros((len(kept), len(kept)))
    for counts, period_weights in zip(units, weights, strict=True):
        n = sum(counts.values())
        total = sum(period_weights.values())
        p = np.array([period_weights[v] / total for v in kept])
        sigma += n * (np.diag(p) - np.outer(p, p))
    residual = np.array([observed[v] - expected[v] for v in kept], dtype=float)
    try:
        statistic = float(residual @ np.linalg.solve(sigma, residual))
    except np.linalg.LinAlgError:
        # degenerate periods (an arm's weight 1 in all of them): Pearson on E instead
        statistic = sum((observed[v] - expected[v]) ** 2 / expected[v] for v in live)
    p_value = float(chdtrc(df, statistic))
    return SrmResult(
        observed=observed,
        expected=expected,
        statistic=statistic,
        df=df,
        p_value=p_value,
        flagged=p_value < alpha,
    )


__all__ = ["expected_counts", "srm_test_periods"]
