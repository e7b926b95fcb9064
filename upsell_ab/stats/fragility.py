"""Fragility index of a significant difference of two proportions.

Walsh et al. (2014), "The statistical significance of randomized controlled
trial results is frequently fragile: a case for a Fragility Index", J. Clin.
Epidemiol. 67:622-628: the minimum number of units whose outcome would have
to change for a significant result to lose its significance. Walsh adds events
to the arm with fewer events, one unit at a time, recomputing Fisher's exact
p-value until ``p >= alpha``. We move toward the null in either arm (a
treatment success becomes a failure, or a control failure becomes a success,
for a treatment that converts more; mirrored otherwise), take the smaller count
of the two, and use the same test the comparison used (Fisher's exact test or
the pooled z-test), so the index answers "how many outcomes away from not
significant is this verdict". An index of 1 or 2 on a few dozen units means
the result rests on one or two customers.
"""

from __future__ import annotations

from upsell_ab.metrics.sufficient import SampleStats

MAX_STEPS = 10_000
"""Stop searching after this many changes (the result is then not fragile)."""


def _p_value(control: SampleStats, treatment: SampleStats, exact: bool, alternative: str) -> float:
    from upsell_ab.stats.frequentist import proportion_test

    result = proportion_test(control, treatment, exact=exact, alternative=alternative)
    return 1.0 if result.p_value is None else result.p_value


def fragility_index(
    control: SampleStats,
    treatment: SampleStats,
    *,
    alpha: float,
    exact: bool,
    alternative: str = "two_sided",
) -> int | None:
    """Fewest outcome changes that make ``p >= alpha`` (see the module docstring).

    None when the result is not significant to begin with, or when more than
    ``MAX_STEPS`` changes would be needed."""
    if _p_value(control, treatment, exact, alternative) >= alpha:
        return None
    x_c, n_c = round(control.sum), control.n
    x_t, n_t = round(treatment.sum), treatment.n
    higher = x_t / n_t > x_c / n_c
    best: int | None = None
    for arm in ("treatment", "control"):
        a_c, a_t = x_c, x_t
        for step in range(1, MAX_STEPS + 1):
            if arm == "treatment":
                a_t += -1 if higher else 1
            else:
                a_c += 1 if higher else -1
            if not (0 <= a_c <= n_c and 0 <= a_t <= n_t):
                break
            if best is not None and step >= best:
                break
            p = _p_value(
                SampleStats.from_proportion(n_c, a_c),
                SampleStats.from_proportion(n_t, a_t),
                exact,
                alternative,
            )
            if p >= alpha:
                best = step
                break
    return best
