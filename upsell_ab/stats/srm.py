"""Sample-ratio mismatch (SRM): are the unit counts what the configured weights promise?

Pearson's chi-square goodness of fit (Fabijan et al. 2019, "Diagnosing Sample
Ratio Mismatch in Online Controlled Experiments", KDD):

    chi2 = sum_k (O_k - E_k)^2 / E_k,   E_k = N w_k / sum(w),   df = K - 1,
    p = P(chi2_{K-1} > chi2)  (survival function).

A flagged experiment (p < ``srm_alpha``, default 0.001 as in GrowthBook and
Kohavi et al. 2020 ch. 21) is never declared a winner: the assignment or the
logging is broken and every metric is suspect.
"""

from __future__ import annotations

from collections.abc import Mapping

from upsell_ab.errors import StatsError
from upsell_ab.stats.results import SrmResult

DEFAULT_SRM_ALPHA = 0.001


def srm_test(
    observed: Mapping[str, int],
    weights: Mapping[str, float],
    *,
    alpha: float = DEFAULT_SRM_ALPHA,
) -> SrmResult:
    """Chi-square test of ``observed`` units per variant against ``weights``.

    Variants are those of ``weights`` (a configured variant with no units counts
    0). With no units at all there is nothing to test: statistic and p-value are
    None and the result is not flagged.
    """
    if len(weights) < 2:
        raise StatsError("an SRM test needs at least two variants")
    if any(w <= 0 for w in weights.values()):
        raise StatsError(f"variant weights must be positive, got {dict(weights)}")
    counts = {variant: int(observed.get(variant, 0)) for variant in weights}
    total = sum(counts.values())
    weight_sum = sum(weights.values())
    expected = {variant: total * w / weight_sum for variant, w in weights.items()}
    df = len(weights) - 1
    if total == 0:
        return SrmResult(
            observed=counts, expected=expected, statistic=None, df=df, p_value=None, flagged=False
        )
    # the chi-square survival function itself (scipy.stats.chi2.sf calls it), without
    # importing scipy.stats (0.8 s of the analysis command's start-up)
    from scipy.special import chdtrc

    statistic = sum((counts[v] - expected[v]) ** 2 / expected[v] for v in weights)
    p_value = float(chdtrc(df, statistic))
    return SrmResult(
        observed=counts,
        expected=expected,
        statistic=float(statistic),
        df=df,
        p_value=p_value,
        flagged=p_value < alpha,
    )
