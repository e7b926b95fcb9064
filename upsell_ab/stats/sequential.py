"""Anytime-valid confidence sequences: read the report every day without
inflating false positives.

Asymptotic confidence sequence of Waudby-Smith, Arnold, Wu, Howard, Ramdas &
Lindon (2021), "Time-uniform central limit theory and asymptotic confidence
sequences" (arXiv:2103.06476, v7), in the two-sided normal-mixture form that
GrowthBook's gbstats uses (``sequential_interval_halfwidth``):

    rho^2 = (-2 ln(alpha) + ln(-2 ln(alpha) + 1)) / N*          (eq. 161)
    halfwidth = sigma sqrt( 2 (n rho^2 + 1) / (n^2 rho^2) ln( sqrt(n rho^2 + 1) / alpha ) )
                                                                  (eq. 9)

where n is the total number of units (both arms), sigma^2 = n SE^2 is the
per-unit variance implied by the estimate's standard error SE, and N* (the
tuning sample size) is where the sequence is tightest. Since sigma / sqrt(n) =
SE, the half-width is SE times a factor that depends only on n, alpha and N*.
The matching always-valid p-value (eq. 155) is min(1, 1 / E) for the
e-value E of :func:`sequential_p_value`; it falls below alpha exactly when
the sequence excludes the null.

For a relative lift, pass its delta-method estimate and variance: the
sequence is asymptotic in the same sense as the fixed-n delta-method interval.
"""

from __future__ import annotations

import math

from upsell_ab.errors import StatsError
from upsell_ab.stats.results import Interval, SequentialStatus


def _check(alpha: float, tuning_n: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise StatsError(f"alpha must be in (0, 1), got {alpha}")
    if not tuning_n > 0.0:
        raise StatsError(f"tuning_n (N*) must be > 0, got {tuning_n} (hint: the spec's tuning_n)")


def mixing_rho(alpha: float, tuning_n: float) -> float:
    """Mixture scale rho that makes the sequence tightest at n = N* (eq. 161)."""
    _check(alpha, tuning_n)
    log_alpha = math.log(alpha)
    return math.sqrt((-2.0 * log_alpha + math.log(-2.0 * log_alpha + 1.0)) / tuning_n)


def halfwidth_factor(n: float, alpha: float, tuning_n: float) -> float:
    """Half-width divided by the estimate's standard error: the anytime-valid
    replacement of the fixed-n z quantile (always larger than z_{1-alpha/2})."""
    rho = mixing_rho(alpha, tuning_n)
    if not n >= 1.0:
        raise StatsError(f"n must be >= 1, got {n}")
    n_rho2 = n * rho * rho
    return math.sqrt(2.0 * (n_rho2 + 1.0) / n_rho2 * math.log(math.sqrt(n_rho2 + 1.0) / alpha))


def confidence_sequence_halfwidth(
    std_error: float, n: float, alpha: float, tuning_n: float
) -> float:
    """Half-width of the two-sided (1 - alpha) confidence sequence at total sample
    size ``n`` for an estimate with standard error ``std_error`` (eq. 9 with
    sigma = std_error sqrt(n))."""
    if std_error < 0.0 or not math.isfinite(std_error):
        raise StatsError(f"std_error must be finite and >= 0, got {std_error}")
    return std_error * halfwidth_factor(n, alpha, tuning_n)


def sequential_interval(
    estimate: float | None,
    variance: float | None,
    n_total: float,
    alpha: float,
    tuning_n: float,
) -> Interval:
    """The confidence sequence around ``estimate`` (absolute or relative lift with
    its variance); bounds None when there is no estimate, no units or no variance."""
    _check(alpha, tuning_n)
    level = 1.0 - alpha
    if (
        estimate is None
        or variance is None
        or not math.isfinite(estimate)
        or not variance > 0.0
        or not math.isfinite(variance)
        or n_total < 1
    ):
        return Interval(None, None, level)
    width = confidence_sequence_halfwidth(math.sqrt(variance), n_total, alpha, tuning_n)
    return Interval(estimate - width, estimate + width, level)


def sequential_p_value(
    estimate: float | None,
    variance: float | None,
    n_total: float,
    alpha: float,
    tuning_n: float,
    null: float = 0.0,
) -> float | None:
    """Always-valid two-sided p-value (eq. 155): p = min(1, 1 / E) with
    E = exp(rho^2 z^2 n / (2 (n rho^2 + 1))) / sqrt(n rho^2 + 1), z = (theta - null) / SE.
    It is below alpha exactly when the sequence excludes ``null``. None without
    an estimate or variance."""
    _check(alpha, tuning_n)
    if estimate is None or variance is None or not variance > 0.0 or n_total < 1:
        return None
    rho = mixing_rho(alpha, tuning_n)
    n_rho2 = n_total * rho * rho
    z2 = (estimate - null) ** 2 / variance
    log_e = rho * rho * z2 * n_total / (2.0 * (n_rho2 + 1.0)) - 0.5 * math.log(n_rho2 + 1.0)
    return 1.0 if log_e <= 0.0 else min(1.0, math.exp(-log_e))


def may_stop(
    interval: Interval,
    n_total: float,
    planned_n: float | None = None,
    null: float = 0.0,
) -> SequentialStatus:
    """Whether monitoring may stop: the confidence sequence excludes ``null``
    (an anytime-valid decision), or the planned sample size is reached."""
    method = "confidence_sequence"
    level = f"{interval.level:.0%}"
    if interval.low is None or interval.high is None:
        return SequentialStatus(method, False, "no interval yet (an arm lacks data or variance)")
    bounds = f"[{interval.low:.4g}, {interval.high:.4g}]"
    if interval.low > null or interval.high < null:
        return SequentialStatus(
            method,
            True,
            f"the {level} confidence sequence {bounds} excludes {null:g}: the result holds "
            "however often the report was read",
        )
    if planned_n is not None and n_total >= planned_n:
        return SequentialStatus(
            method,
            True,
            f"planned sample reached ({n_total:,.0f} of {planned_n:,.0f} units); "
            f"the {level} confidence sequence {bounds} still includes {null:g}",
        )
    remaining = "" if planned_n is None else f" ({n_total:,.0f} of {planned_n:,.0f} units)"
    return SequentialStatus(
        method,
        False,
        f"keep running{remaining}: the {level} confidence sequence {bounds} includes {null:g}",
    )
