"""Frequentist comparison of a treatment arm with the control arm.

Every test works on sufficient statistics (or on :class:`ArmEstimate` s built
from them by :mod:`upsell_ab.stats.estimates`) and returns a
:class:`FrequentistComparison`. Cases without a defined answer (an empty arm,
one unit, both arms constant) return a status and ``None``, never NaN.

Conventions (``shared/design.md``):

- Proportions: pooled two-proportion z statistic
  ``z = (p_T - p_C) / sqrt(p (1 - p) (1/n_T + 1/n_C))`` with the pooled ``p``
  (as statsmodels ``proportions_ztest``), unpooled Wald interval
  ``(p_T - p_C) +- z_{1-a/2} sqrt(p_T q_T / n_T + p_C q_C / n_C)``. When any
  expected cell of the 2x2 table is under 10 the p-value is Fisher's exact test
  (:mod:`upsell_ab.stats.fisher`) and the interval Newcombe's hybrid score
  interval (Newcombe 1998), which keeps its coverage where Wald's collapses,
  stays within [-1, 1] and contains the difference the report shows (the
  Agresti-Caffo interval used before was centred on (x+1)/(n+2) differences,
  not on the lift shown beside it). One unit in an arm: ``too_few_units``, as
  for every metric type.
- Means: Welch's t, ``t = (m_T - m_C) / sqrt(s_T^2/n_T + s_C^2/n_C)`` with the
  Welch-Satterthwaite ``df = (v_T + v_C)^2 / (v_T^2/(n_T-1) + v_C^2/(n_C-1))``
  (Welch 1947); Student's pooled-variance t on request (``equal_var=True``).
- Ratios and CUPED: the same t on the arms' delta-method / adjusted estimates
  (as gbstats does), see :func:`compare_estimates`.
- Relative lift: delta method (:mod:`upsell_ab.stats.lift`), same critical value;
  where it would reach below -100 % (small samples), the log-ratio interval
  (Katz for proportions, always with few events), named in
  ``relative_interval_method``.
- One-sided alternatives give one-sided intervals (the open end is ``None``).
- p-values use survival functions (``2 * sf(|t|)``), never ``1 - cdf``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Any, Literal

from upsell_ab.metrics.sufficient import RatioStats, SampleStats
from upsell_ab.stats.estimates import arm_estimate, arm_status
from upsell_ab.stats.lift import relative_lift
from upsell_ab.stats.results import (
    ArmEstimate,
    FrequentistComparison,
    Interval,
    NonInferiority,
    Status,
    difference,
)

AlternativeName = Literal["two_sided", "greater", "less"]
"""``greater``: the treatment is higher than the control under H1."""

EXACT_CELL_THRESHOLD = 10.0
"""Use the exact test when any expected 2x2 cell count is below this."""


def _alternative(value: object) -> AlternativeName:
    name = str(getattr(value, "value", value))
    if name not in ("two_sided", "greater", "less"):
        raise ValueError(f"alternative must be two_sided, greater or less, got {value!r}")
    return name  # type: ignore[return-value]


@functools.cache
def _special() -> Any:
    """``scipy.special``, imported on first use (``validate``/``assign`` never need it).

    Cached here because ``from scipy import special`` inside a function goes through
    scipy's lazy module ``__getattr__`` on every call (~0.2 ms; the daily series makes
    about a thousand p-value calls)."""
    from scipy import special

    return special


@dataclass(frozen=True)
class Reference:
    """The reference distribution of a test statistic: normal (df None) or Student t.

    Uses the ``scipy.special`` ufuncs (``ndtr``/``ndtri``, ``stdtr``/``stdtrit``)
    that ``scipy.stats.norm``/``t`` wrap, at a fraction of the call overhead."""

    df: float | None = None

    def sf(self, x: float) -> float:
        special = _special()
        if self.df is None:
            return float(special.ndtr(-x))
        return float(special.stdtr(self.df, -x))

    def ppf_upper(self, tail: float) -> float:
        """Critical value c with P(X > c) = tail (computed from the lower tail, exact far out)."""
        special = _special()
        if self.df is None:
            return float(-special.ndtri(tail))
        return float(-special.stdtrit(self.df, tail))

    def p_value(self, statistic: float, alternative: AlternativeName) -> float:
        if alternative == "two_sided":
            return min(1.0, 2.0 * self.sf(abs(statistic)))
        if alternative == "greater":
            return self.sf(statistic)
        return self.sf(-statistic)

    def interval(
        self, estimate: float, se: float, alpha: float, alternative: AlternativeName
    ) -> Interval:
        level = 1.0 - alpha
        if alternative == "two_sided":
            c = self.ppf_upper(alpha / 2.0)
            return Interval(float(estimate - c * se), float(estimate + c * se), level)
        c = self.ppf_upper(alpha)
        if alternative == "greater":
            return Interval(float(estimate - c * se), None, level)
        return Interval(None, float(estimate + c * se), level)


def empty_comparison(
    method: str, status: Status, alternative: str, alpha: float
) -> FrequentistComparison:
    """A comparison with no numbers, only the reason why."""
    none = Interval(None, None, 1.0 - alpha)
    return FrequentistComparison(
        method=method,
        status=status,
        alternative=alternative,
        absolute_lift=None,
        relative_lift=None,
        absolute_ci=none,
        relative_ci=none,
    )


def welch_df(control: ArmEstimate, treatment: ArmEstimate) -> float | None:
    """Welch-Satterthwaite degrees of freedom from variances of the means,
    ``(v_T + v_C)^2 / (v_T^2/(n_T-1) + v_C^2/(n_C-1))``, computed on variances divided
    by their sum (the ratio is scale-free), so huge or tiny variances neither overflow
    nor underflow; None when it is undefined."""
    total = control.variance + treatment.variance
    if not (total > 0 and math.isfinite(total)):
        return None
    denominator = 0.0
    for arm in (control, treatment):
        if arm.n > 1:
            share = arm.variance / total
            denominator += share * share / (arm.n - 1)
    return 1.0 / denominator if denominator > 0 else None


def compare_estimates(
    control: ArmEstimate,
    treatment: ArmEstimate,
    *,
    method: str,
    alpha: float = 0.05,
    alternative: object = "two_sided",
    df: float | None = None,
    welch: bool = True,
) -> FrequentistComparison:
    """t test (Welch df unless ``df`` is given or ``welch`` is False: then normal) of
    the difference of two independent arm estimates, with absolute and relative
    (delta-method) intervals. The core of the Welch, ratio and CUPED tests."""
    alt = _alternative(alternative)
    if control.n == 0 or treatment.n == 0:
        return empty_comparison(method, Status.no_data, alt, alpha)
    if control.n < 2 or treatment.n < 2:
        return empty_comparison(method, Status.too_few_units, alt, alpha)
    variance = control.variance + treatment.variance
    diff = difference(control, treatment)
    if not (math.isfinite(variance) and math.isfinite(diff)):
        return empty_comparison(method, Status.out_of_range, alt, alpha)
    if not variance > 0:
        none = Interval(None, None, 1.0 - alpha)
        return FrequentistComparison(
            method=method,
            status=Status.zero_variance,
            alternative=alt,
            absolute_lift=diff,
            relative_lift=(_lift_or_none(control, treatment)),
            absolute_ci=none,
            relative_ci=none,
        )
    if df is None and welch:
        df = welch_df(control, treatment)
    reference = Reference(df)
    se = math.sqrt(variance)
    statistic = diff / se
    return _finish(
        method=method,
        alt=alt,
        alpha=alpha,
        reference=reference,
        diff=diff,
        se=se,
        statistic=statistic,
        p_value=reference.p_value(statistic, alt),
        control=control,
        treatment=treatment,
    )


def _finish(
    *,
    method: str,
    alt: AlternativeName,
    alpha: float,
    reference: Reference,
    diff: float,
    se: float,
    statistic: float | None,
    p_value: float | None,
    control: ArmEstimate,
    treatment: ArmEstimate,
    absolute_ci: Interval | None = None,
    interval_method: str = "Wald",
    log_ratio: tuple[float, float] | None = None,
) -> FrequentistComparison:
    """Assemble a comparison. The relative interval is the delta method's unless it
    would reach below -100 % with both means positive (or ``log_ratio`` = (log ratio,
    its SE) is given): then the log-ratio interval ``exp(log r +- c SE) - 1``, which
    never does (Katz et al. 1978 for proportions; the delta method on log means,
    Kohavi, Tang & Xu 2020 ch. 18, otherwise)."""
    if absolute_ci is None:
        absolute_ci = reference.interval(diff, se, alpha, alt)
    lift = relative_lift(control, treatment)
    relative_method: str | None = None
    if lift is None:
        status = Status.zero_baseline
        relative_ci = Interval(None, None, 1.0 - alpha)
    else:
        status = Status.ok
        relative_ci = reference.interval(lift.lift, lift.standard_error, alpha, alt)
        relative_method = "delta method"
        broken = relative_ci.low is not None and relative_ci.low < -1.0
        if log_ratio is None and broken and control.mean > 0 and treatment.mean > 0:
            log_ratio = (
                math.log(treatment.mean / control.mean),
                math.sqrt(
                    treatment.variance / (treatment.mean * treatment.mean)
                    + control.variance / (control.mean * control.mean)
                ),
            )
        if log_ratio is not None:
            relative_ci = _exp_interval(reference.interval(*log_ratio, alpha, alt))
            relative_method = "log ratio"
    return FrequentistComparison(
        method=method,
        status=status,
        alternative=alt,
        absolute_lift=float(diff),
        relative_lift=None if lift is None else float(lift.lift),
        absolute_ci=absolute_ci,
        relative_ci=relative_ci,
        statistic=None if statistic is None else float(statistic),
        p_value=None if p_value is None else float(p_value),
        interval_method=interval_method,
        relative_interval_method=relative_method,
    )


_LARGEST_LOG_RATIO = math.log(1.0e300)


def _exp_interval(interval: Interval) -> Interval:
    """A log-ratio interval as a relative change: exp(bound) - 1 (always > -1).

    A bound beyond exp(709) overflows a double; it is reported as None (unbounded),
    as for a one-sided interval, rather than as a huge or infinite number.
    """

    def back(x: float | None) -> float | None:
        if x is None or x > _LARGEST_LOG_RATIO:
            return None
        return math.expm1(x)

    return Interval(back(interval.low), back(interval.high), interval.level)


def newcombe_interval(
    control: SampleStats, treatment: SampleStats, alpha: float, alt: AlternativeName
) -> Interval:
    """Newcombe's hybrid score interval for p_T - p_C (Newcombe 1998, Stat. Med.
    17:873, method 10): with Wilson score bounds (l, u) of each arm at level 1 - alpha
    (two-sided) or 1 - 2 alpha (one-sided bound),

        low  = d - sqrt((p_T - l_T)^2 + (u_C - p_C)^2)
        high = d + sqrt((u_T - p_T)^2 + (p_C - l_C)^2),   d = p_T - p_C.

    It always contains the observed difference, stays within [-1, 1] and keeps its
    coverage with few events (statsmodels ``confint_proportions_2indep(method=
    'newcomb')``)."""
    z = Reference(None).ppf_upper(alpha / 2.0 if alt == "two_sided" else alpha)

    def wilson(stats: SampleStats) -> tuple[float, float, float]:
        n, p = stats.n, stats.sum / stats.n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return p, max(centre - half, 0.0), min(centre + half, 1.0)

    p_t, l_t, u_t = wilson(treatment)
    p_c, l_c, u_c = wilson(control)
    d = p_t - p_c
    low = max(d - math.sqrt((p_t - l_t) ** 2 + (u_c - p_c) ** 2), -1.0)
    high = min(d + math.sqrt((u_t - p_t) ** 2 + (p_c - l_c) ** 2), 1.0)
    level = 1.0 - alpha
    if alt == "greater":
        return Interval(low, None, level)
    if alt == "less":
        return Interval(None, high, level)
    return Interval(low, high, level)


def katz_log_ratio(control: SampleStats, treatment: SampleStats) -> tuple[float, float]:
    """log(p_T / p_C) and its SE, sqrt(1/x_T - 1/n_T + 1/x_C - 1/n_C) (Katz, Baptista,
    Azen & Pike 1978, Biometrics 34:469); with a zero count 0.5 is added to every
    cell (x + 0.5 of n + 1), so the interval exists and stays above -100 %."""
    x_t, n_t = float(treatment.sum), float(treatment.n)
    x_c, n_c = float(control.sum), float(control.n)
    if x_t == 0 or x_c == 0:
        x_t, n_t, x_c, n_c = x_t + 0.5, n_t + 1.0, x_c + 0.5, n_c + 1.0
    estimate = math.log((x_t / n_t) / (x_c / n_c))
    return estimate, math.sqrt(1 / x_t - 1 / n_t + 1 / x_c - 1 / n_c)


# ------------------------------------------------------------------ proportions
def proportion_estimate(stats: SampleStats) -> ArmEstimate:
    """A rate p = x / n with the binomial variance p (1 - p) / n (the Wald variance)."""
    p = stats.sum / stats.n
    unit_variance = p * (1.0 - p)
    return ArmEstimate(
        n=stats.n, mean=p, variance=unit_variance / stats.n, unit_variance=unit_variance
    )


def needs_exact(control: SampleStats, treatment: SampleStats) -> bool:
    """True when an expected cell of the 2x2 table is under ``EXACT_CELL_THRESHOLD``."""
    total = control.n + treatment.n
    successes = control.sum + treatment.sum
    failures = total - successes
    return any(
        n * outcome / total < EXACT_CELL_THRESHOLD
        for n in (control.n, treatment.n)
        for outcome in (successes, failures)
    )


def proportion_test(
    control: SampleStats,
    treatment: SampleStats,
    *,
    alpha: float = 0.05,
    alternative: object = "two_sided",
    exact: bool | None = None,
) -> FrequentistComparison:
    """Two-proportion test of conversion counts (``sum`` = converted units).

    ``exact=None`` picks Fisher's exact test when an expected cell is under 10
    (see the module docstring), ``True``/``False`` forces the choice.
    """
    alt = _alternative(alternative)
    if control.n == 0 or treatment.n == 0:
        return empty_comparison("pooled z-test", Status.no_data, alt, alpha)
    use_exact = needs_exact(control, treatment) if exact is None else exact
    if control.n < 2 or treatment.n < 2:  # the same rule as for every other metric type
        method = "fisher exact" if use_exact else "pooled z-test"
        return empty_comparison(method, Status.too_few_units, alt, alpha)
    c_est, t_est = proportion_estimate(control), proportion_estimate(treatment)
    diff = t_est.mean - c_est.mean
    pooled = (control.sum + treatment.sum) / (control.n + treatment.n)
    if pooled in (0.0, 1.0):
        # Nobody (or everybody) converted in both arms: no statistic exists.
        none = Interval(None, None, 1.0 - alpha)
        return FrequentistComparison(
            method="fisher exact" if use_exact else "pooled z-test",
            status=Status.zero_variance,
            alternative=alt,
            absolute_lift=diff,
            relative_lift=(_lift_or_none(c_est, t_est)),
            absolute_ci=none,
            relative_ci=none,
        )
    reference = Reference(None)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n))
    statistic = diff / pooled_se
    se = math.sqrt(c_est.variance + t_est.variance)
    if use_exact:
        # few events: Fisher's p, Newcombe's score interval (within [-1, 1], contains the
        # shown difference) and the log-ratio relative interval (never below -100 %)
        return _finish(
            method="fisher exact",
            alt=alt,
            alpha=alpha,
            reference=reference,
            diff=diff,
            se=se,
            statistic=statistic,
            p_value=fisher_p_value(control, treatment, alt),
            control=c_est,
            treatment=t_est,
            absolute_ci=newcombe_interval(control, treatment, alpha, alt),
            interval_method="Newcombe hybrid score",
            log_ratio=katz_log_ratio(control, treatment) if control.sum > 0 else None,
        )
    return _finish(
        method="pooled z-test",
        alt=alt,
        alpha=alpha,
        reference=reference,
        diff=diff,
        se=se,
        statistic=statistic,
        p_value=reference.p_value(statistic, alt),
        control=c_est,
        treatment=t_est,
        log_ratio=katz_log_ratio(control, treatment) if _delta_breaks(c_est, t_est) else None,
    )


def _delta_breaks(control: ArmEstimate, treatment: ArmEstimate) -> bool:
    """The delta-method relative interval at 95 % would reach below -100 %."""
    lift = relative_lift(control, treatment)
    return lift is not None and lift.lift - 1.96 * lift.standard_error < -1.0


def fisher_p_value(control: SampleStats, treatment: SampleStats, alternative: object) -> float:
    """Fisher's exact p-value; ``greater`` means the treatment converts more."""
    from upsell_ab.stats.fisher import fisher_exact_p

    alt = _alternative(alternative)
    table = [
        [round(treatment.sum), treatment.n - round(treatment.sum)],
        [round(control.sum), control.n - round(control.sum)],
    ]
    return fisher_exact_p(table, alt)


# ------------------------------------------------------------------------ means
def mean_test(
    control: SampleStats,
    treatment: SampleStats,
    *,
    alpha: float = 0.05,
    alternative: object = "two_sided",
    equal_var: bool = False,
) -> FrequentistComparison:
    """Welch's t-test (default) or Student's pooled-variance t-test from sums."""
    alt = _alternative(alternative)
    method = "student t-test" if equal_var else "welch t-test"
    c_est = _mean_estimate(control)
    t_est = _mean_estimate(treatment)
    if not equal_var or c_est.n < 2 or t_est.n < 2:
        return compare_estimates(c_est, t_est, method=method, alpha=alpha, alternative=alt)
    df = control.n + treatment.n - 2
    pooled_var = ((control.n - 1) * control.variance + (treatment.n - 1) * treatment.variance) / df
    pooled = replace(c_est, variance=pooled_var / control.n, unit_variance=None)
    pooled_t = replace(t_est, variance=pooled_var / treatment.n, unit_variance=None)
    result = compare_estimates(pooled, pooled_t, method=method, alpha=alpha, alternative=alt, df=df)
    if result.relative_lift is None or result.status is not Status.ok:
        return result
    # The relative interval uses each arm's own variance (delta method), not the pooled one.
    lift = relative_lift(c_est, t_est)
    assert lift is not None
    return _replace_relative(
        result, Reference(df).interval(lift.lift, lift.standard_error, alpha, alt)
    )


def _mean_estimate(stats: SampleStats) -> ArmEstimate:
    n = stats.n
    if n == 0:
        return ArmEstimate(n=0, mean=0.0, variance=0.0)
    return ArmEstimate(
        n=n,
        mean=stats.mean,
        variance=stats.variance / n,
        unit_variance=stats.variance,
        shift=stats.shift,
        offset=stats.scale * (stats.sum / n),
    )


def _replace_relative(result: FrequentistComparison, interval: Interval) -> FrequentistComparison:
    from dataclasses import replace

    return replace(result, relative_ci=interval)


# -------------------------------------------------------------- non-inferiority
def non_inferiority(
    control: ArmEstimate,
    treatment: ArmEstimate,
    *,
    margin: float,
    margin_kind: object = "relative",
    higher_is_better: bool = True,
    alpha: float = 0.05,
    df: float | None = None,
    welch: bool = True,
) -> NonInferiority:
    """One-sided test that the treatment is not worse than control by more than ``margin``.

    Higher is better: H0 ``delta <= -margin`` vs H1 ``delta > -margin``, statistic
    ``(delta + margin) / se``; lower is better: H0 ``delta >= margin``, statistic
    ``(margin - delta) / se`` (Schuirmann 1987; Kohavi et al. 2020 ch. 21). ``delta``
    is the absolute difference or, for a relative margin, the delta-method
    relative lift. ``bound`` is the worst plausible change at level 1 - alpha.
    ``df`` None uses Welch-Satterthwaite, or the normal when ``welch`` is False
    (proportions).
    """
    kind = str(getattr(margin_kind, "value", margin_kind))
    if control.n < 2 or treatment.n < 2:
        return NonInferiority(margin=margin, margin_kind=kind, p_value=None, passed=None)
    if kind == "relative":
        lift = relative_lift(control, treatment)
        if lift is None:
            return NonInferiority(margin=margin, margin_kind=kind, p_value=None, passed=None)
        delta, se = lift.lift, lift.standard_error
    else:
        delta = difference(control, treatment)
        se = math.sqrt(control.variance + treatment.variance)
    if not se > 0:
        return NonInferiority(margin=margin, margin_kind=kind, p_value=None, passed=None)
    reference = Reference(welch_df(control, treatment) if df is None and welch else df)
    critical = reference.ppf_upper(alpha)
    if higher_is_better:
        statistic = (delta + margin) / se
        bound = delta - critical * se
    else:
        statistic = (margin - delta) / se
        bound = delta + critical * se
    p_value = reference.sf(statistic)
    return NonInferiority(
        margin=margin, margin_kind=kind, p_value=p_value, passed=p_value < alpha, bound=bound
    )


def proportion_estimates(
    control: SampleStats, treatment: SampleStats, *, agresti_caffo: bool | None = None
) -> tuple[ArmEstimate, ArmEstimate]:
    """Arm estimates of two proportions with the binomial variance p (1 - p) / n.

    With ``agresti_caffo`` (default: when :func:`needs_exact`) each arm gets one
    success and one failure added, (x + 1) / (n + 2), so a rare event (0 complaints
    in both arms) still has a finite standard error and a non-inferiority test can
    pass; Agresti & Caffo (2000) show this keeps Wald-type coverage near nominal.
    """
    if agresti_caffo is None:
        agresti_caffo = needs_exact(control, treatment)
    if agresti_caffo:
        control = SampleStats.from_proportion(control.n + 2, round(control.sum) + 1)
        treatment = SampleStats.from_proportion(treatment.n + 2, round(treatment.sum) + 1)
    return proportion_estimate(control), proportion_estimate(treatment)


# ------------------------------------------------------------------------ ratios
def ratio_test(
    control: RatioStats,
    treatment: RatioStats,
    *,
    alpha: float = 0.05,
    alternative: object = "two_sided",
) -> FrequentistComparison:
    """Delta-method test of a ratio metric sum(y)/sum(d) (Deng, Knoblich & Lu 2018):
    Welch-style t on the arms' delta-method estimates from :mod:`.estimates`."""
    alt = _alternative(alternative)
    method = "delta method ratio"
    statuses = (arm_status(control), arm_status(treatment))
    if Status.no_data in statuses:
        return empty_comparison(method, Status.no_data, alt, alpha)
    return compare_estimates(
        arm_estimate(control), arm_estimate(treatment), method=method, alpha=alpha, alternative=alt
    )


def _lift_or_none(control: ArmEstimate, treatment: ArmEstimate) -> float | None:
    lift = relative_lift(control, treatment)
    return None if lift is None else lift.lift
