"""Data that stop early: an export or tracking that broke is not a quiet shop.

The decision reads time from the analysis day (:func:`~upsell_ab.decision.horizon.analysis_day`):
once the end date has passed the look is final (no exposure can be added), and a timing
test's attribution windows count as closed once their days have passed. Both assume the
data reach that day. An export taken on day 10 and analysed on day 30, a tracking call
that broke, an ingest job that stopped: the data end early, the end date passes, and the
product reads half an experiment as its final look, or windows as closed whose events
were never loaded.

A quiet shop looks the same, so the silence is tested against the traffic. New customers
(first exposures) arrive at a rate ``r`` per day; under a Poisson arrival model the
chance of ``g`` whole days without any is ``exp(-r g)``. ``r`` is the exact (Garwood
1936, Biometrika 28:437) lower 95 % bound of the rate over the last
:data:`RECENT_DAYS` days of first exposures (``gammaincinv(k, 0.025) / days`` for ``k``
arrivals), from the decision metric's cumulative daily series; without one, over all the
exposure days. The lower bound and the recent window keep small shops and saturating
populations (every subscriber already exposed, so new ones dry up) from false alarms.
The data should reach the day before the analysis day, or the end date when it has
passed. A running experiment (or one ``conclude`` reads from ``running``: its data
should still reach the end date; ``status: stopped`` in the spec ends them by intent)
whose data stop :data:`MIN_SILENT_DAYS` or more days before that, with ``exp(-r g)``
below :data:`STALE_P`, gets a headline warning. A warning, not a block: the numbers are
right for the data given; what is wrong is the belief that the data are complete, and
the reader can check the last ingest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from upsell_ab.decision.horizon import analysis_day, as_day, reaches_end
from upsell_ab.spec.models import Status

if TYPE_CHECKING:
    from upsell_ab.metrics.aggregates import ExperimentData
    from upsell_ab.spec.resolve import ResolvedExperiment

STALE_P = 0.001
"""Below this chance of the silence under the recent traffic, the data are called stale."""
MIN_SILENT_DAYS = 2
"""Whole days without a new unit before the check speaks (an export one day late is normal)."""
RECENT_DAYS = 7
"""The traffic that counts is the last week's (a weekly cycle, and a population that
saturates slows down)."""


@dataclass(frozen=True)
class StaleData:
    """Data whose last first exposure is improbably far before the day they should reach."""

    last: date
    """The last day with a first exposure."""
    expected: date
    """The day the data should reach: the end date once passed, else the day before the
    analysis day."""
    silent_days: int
    rate_low: float
    """Lower 95 % bound of the recent daily arrivals."""
    p_value: float
    """``exp(-rate_low * silent_days)``: the chance of the silence at that rate."""
    final: bool
    """Whether the decision reads this look as the final one (the end date has passed)."""


def stale_data(resolved: ResolvedExperiment, data: ExperimentData | None) -> StaleData | None:
    """The early end of the data when it is improbable (module docstring), else None."""
    experiment = resolved.experiment
    running = experiment.status is Status.running or resolved.concluding_a_running_spec
    if not running or data is None:
        return None
    if data.last_exposure is None or data.first_exposure is None:
        return None
    today = analysis_day()
    expected = today - timedelta(days=1)
    if experiment.end is not None and experiment.end < expected:
        expected = experiment.end
    last, first = as_day(data.last_exposure), as_day(data.first_exposure)
    silent = (expected - last).days
    if silent < MIN_SILENT_DAYS:
        return None
    arrivals = _recent_arrivals(data, resolved.decision_metric, first, last)
    if arrivals is None:
        days = (last - first).days + 1
        arrivals = (data.quality.total_units, days)
    count, days = arrivals
    if count <= 0 or days <= 0:
        return None
    from scipy.special import gammaincinv

    rate_low = float(gammaincinv(count, 0.025)) / days
    p_value = math.exp(-rate_low * silent)
    if p_value >= STALE_P:
        return None
    return StaleData(last, expected, silent, rate_low, p_value, reaches_end(resolved, data))


def _recent_arrivals(
    data: ExperimentData, metric: str, first: date, last: date
) -> tuple[int, int] | None:
    """(new units, days) over the last :data:`RECENT_DAYS` days of first exposures, from
    the cumulative daily series of ``metric``; None without one."""
    series = data.metrics.get(metric)
    if series is None or not series.daily:
        return None
    since = max(first, last - timedelta(days=RECENT_DAYS - 1))
    arrived = series.units_by(last) - series.units_by(since - timedelta(days=1))
    return arrived, (last - since).days + 1


def stale_warning(found: StaleData) -> str:
    """The headline sentence."""
    should = (
        f"the end date {found.expected.isoformat()}"
        if found.final
        else f"{found.expected.isoformat()}, the day before the analysis"
    )
    reading = (
        "reads this as the experiment's final look"
        if found.final
        else "counts the attribution windows as closed by the calendar"
    )
    return (
        f"The data end on {found.last.isoformat()}, {found.silent_days} days before "
        f"{should}: at the traffic before it, {found.silent_days} days without a new unit "
        f"have a chance below {STALE_P:g} (Poisson arrivals). The export, the tracking or "
        "the ingest likely stopped (or every customer had already been exposed); the "
        f"verdict rests on the data up to {found.last.isoformat()} and {reading}. Check "
        "the last ingest, or set UPSELL_AB_TODAY to the day the export was taken."
    )
