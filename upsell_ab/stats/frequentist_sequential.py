"""Frequentist comparisons made valid under daily peeking: confidence sequences.

When ``analysis.sequential.enabled`` the fixed-horizon intervals of a
:class:`FrequentistComparison` are replaced by anytime-valid confidence
sequences from :mod:`upsell_ab.stats.sequential` (Waudby-Smith et al. 2021,
"Time-uniform central limit theory and asymptotic confidence sequences";
GrowthBook's form with tuning N*), for the absolute difference and for the
delta-method relative lift, and the p-value by the matching anytime-valid
p-value: the smallest alpha whose sequence excludes 0 (Howard, Ramdas,
McAuliffe & Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic
confidence sequences", sec. 1: p_t = inf{alpha : 0 not in CS_t(alpha)}),
found by root finding on the engine's own interval function, so the p-value
and the interval can never disagree. Sequences are two-sided; for a one-sided
alternative they are conservative (each side holds at alpha / 2).

The sequential engine is another module; when it is missing the fixed-horizon
results are returned unchanged with a note, never a made-up interval.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from types import ModuleType

from upsell_ab.stats.lift import relative_lift
from upsell_ab.stats.results import ArmEstimate, FrequentistComparison, Interval, Status

_LOG_ALPHA_FLOOR = -700.0
"""exp(-700) ~ 1e-304: p-values are reported down to this floor."""
_LOG_ALPHA_CEILING = -1e-9

IntervalFunction = Callable[[float, float, float, float, float], Interval]
"""``sequential_interval(estimate, variance, n_total, alpha, tuning_n) -> Interval``."""


@functools.cache
def sequential_module() -> ModuleType | None:
    """The sequential engine, imported once (None while it does not exist)."""
    try:
        return importlib.import_module("upsell_ab.stats.sequential")
    except ImportError:
        return None


def interval_function() -> IntervalFunction | None:
    module = sequential_module()
    function = getattr(module, "sequential_interval", None) if module is not None else None
    return function if callable(function) else None


def _halfwidth(
    function: IntervalFunction, variance: float, n_total: float, alpha: float, tuning: float
) -> float:
    interval = function(0.0, variance, n_total, alpha, tuning)
    if interval.low is None or interval.high is None:
        raise ValueError("the sequential interval has an open end")
    return (interval.high - interval.low) / 2.0


def anytime_p_value(
    function: IntervalFunction, estimate: float, variance: float, n_total: float, tuning: float
) -> float:
    """Smallest alpha whose confidence sequence excludes 0: the root in log alpha of
    ``halfwidth(alpha) = |estimate|`` (Brent's method; the half-width falls as alpha grows).
    1 when even the alpha -> 1 sequence contains 0 (mixture boundaries have a positive
    width at alpha = 1, where some forms divide by zero, so the bracket stops just short)."""
    from scipy import optimize

    target = abs(estimate)

    def gap(log_alpha: float) -> float:
        return _halfwidth(function, variance, n_total, math.exp(log_alpha), tuning) - target

    if gap(_LOG_ALPHA_CEILING) >= 0.0:
        return 1.0
    if gap(_LOG_ALPHA_FLOOR) < 0.0:
        return math.exp(_LOG_ALPHA_FLOOR)
    root = optimize.brentq(gap, _LOG_ALPHA_FLOOR, _LOG_ALPHA_CEILING, xtol=1e-12, rtol=1e-12)
    return math.exp(float(root))


def sequential_comparisons(
    frequentist: Mapping[str, FrequentistComparison],
    estimates: Mapping[str, ArmEstimate],
    control: str,
    *,
    alpha: float,
    tuning_n: float,
    notes: list[str],
) -> dict[str, FrequentistComparison]:
    """Replace each computable comparison's intervals and p-value by anytime-valid ones.

    ``estimates`` are the arm estimates the fixed-horizon test used (proportions:
    p and p(1-p)/n; others: :func:`.estimates.arm_estimates`)."""
    function = interval_function()
    if function is None:
        notes.append(
            "sequential engine not available: intervals are fixed-horizon, "
            "not valid under daily peeking"
        )
        return dict(frequentist)
    out: dict[str, FrequentistComparison] = {}
    for variant, result in frequentist.items():
        c_est, t_est = estimates.get(control), estimates.get(variant)
        usable = result.status in (Status.ok, Status.zero_baseline)
        if not usable or c_est is None or t_est is None or result.absolute_lift is None:
            out[variant] = result
            continue
        n_total = float(c_est.n + t_est.n)
        variance = c_est.variance + t_est.variance
        diff = t_est.mean - c_est.mean
        absolute = function(diff, variance, n_total, alpha, tuning_n)
        lift = relative_lift(c_est, t_est)
        relative = (
            function(lift.lift, lift.variance, n_total, alpha, tuning_n)
            if lift is not None
            else Interval(None, None, 1.0 - alpha)
        )
        out[variant] = replace(
            result,
            method=f"{result.method}, confidence sequence",
            absolute_ci=absolute,
            relative_ci=relative,
            p_value=anytime_p_value(function, diff, variance, n_total, tuning_n),
            sequential=True,
        )
    return out
