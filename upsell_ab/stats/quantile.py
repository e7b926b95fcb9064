"""Quantile metrics (median, p90 order value): the variance of an arm's sample quantile
from order statistics, with a clustering adjustment, and the test of a difference.

Method (GrowthBook's quantile test, gbstats ``QuantileStatistic``): the 95 %
distribution-free interval ``[x_(l), x_(u)]`` of the nu-quantile (ranks
``ceil((nu -+ z s) n)``, ``s = sqrt(nu(1-nu)/n)``) has half-width ``z SE``, so

    Var(q_hat) = ((x_(u) - x_(l)) / (2 z))^2 .

This is the Woodruff (1952) / Sitter & Wu (2001) interval-inversion estimate of the
quantile's standard error; it needs no density estimate. When the observations are
orders and one customer places several, the share of orders below the quantile is a
ratio of per-customer sums, whose delta-method variance (Deng et al. 2018) replaces
the binomial ``nu (1 - nu) / n``:

    Var(q_hat)_clustered = Var(q_hat)_iid x V_cluster / (nu (1 - nu) / n),
    V_cluster = (s_b^2 - 2 r s_bc + r^2 s_c^2) / (K cbar^2),  r = bbar / cbar

over K customers (b = orders at or below q_hat, c = orders). Two arms are independent,
so the difference ``q_T - q_C`` has variance ``Var_C + Var_T`` and is tested with the
normal reference (:func:`upsell_ab.stats.frequentist.compare_estimates`); the
Bayesian engine takes the same :class:`ArmEstimate` as a Gaussian
(:func:`upsell_ab.stats.bayesian_gaussian.gaussian`). Checked against the bootstrap
and by coverage simulations in ``tests/test_stats_quantile.py``.
"""

from __future__ import annotations

from upsell_ab.metrics.quantile import Z_95, QuantileStats
from upsell_ab.stats.results import ArmEstimate, FrequentistComparison


def cluster_share_variance(stats: QuantileStats) -> float | None:
    """Delta-method variance of sum(b) / sum(c) over customers (None without clusters)."""
    k = stats.n_clusters
    if k is None or k < 2 or stats.count_sum <= 0:
        return None
    b_bar, c_bar = stats.below_sum / k, stats.count_sum / k
    s_bb = (stats.below_sum_squares - k * b_bar**2) / (k - 1)
    s_cc = (stats.count_sum_squares - k * c_bar**2) / (k - 1)
    s_bc = (stats.cross_sum - k * b_bar * c_bar) / (k - 1)
    r = b_bar / c_bar
    return max(0.0, (s_bb - 2 * r * s_bc + r * r * s_cc) / (k * c_bar**2))


def quantile_variance(stats: QuantileStats) -> float | None:
    """Var(q_hat) of one arm (module docstring); None when it cannot be estimated
    (fewer than 2 observations, or the interval's ranks fall outside the sample)."""
    if stats.n < 2 or not 0.0 < stats.nu < 1.0:
        return None
    iid = ((stats.upper - stats.lower) / (2.0 * Z_95)) ** 2
    share = cluster_share_variance(stats)
    if share is None:
        return iid
    return iid * share / (stats.nu * (1.0 - stats.nu) / stats.n)


def quantile_estimate(stats: QuantileStats) -> ArmEstimate | None:
    variance = quantile_variance(stats)
    if variance is None:
        return None
    return ArmEstimate(n=stats.n, mean=stats.quantile, variance=variance)


def quantile_test(
    control: QuantileStats,
    treatment: QuantileStats,
    *,
    alpha: float = 0.05,
    alternative: object = "two_sided",
) -> FrequentistComparison | None:
    """Normal test and interval of ``q_T - q_C`` (None when an arm has no variance)."""
    from upsell_ab.stats.frequentist import compare_estimates

    c, t = quantile_estimate(control), quantile_estimate(treatment)
    if c is None or t is None:
        return None
    return compare_estimates(
        c, t, method="quantile (order statistics)", alpha=alpha, alternative=alternative,
        welch=False,
    )  # fmt: skip
