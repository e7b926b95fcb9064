"""A timing experiment is judged on complete attribution windows.

A metric counts a customer's events from first exposure to the window's end (7 days for
the take rate). On the analysis day, customers exposed within the last window are still
counting. For arms that convert at the same pace this costs only precision, but an
offer that comes later (a follow-up e-mail 3 days after the purchase, a post-purchase
page) converts later, so its arm is undercounted until the windows close: at the end
of a 28-day test with a 7-day window a quarter of the customers are still counting,
and the e-mail arm's customers of the last 3 days cannot have seen their offer at all.
Read then, a timing test finds the delayed arm "worse" when it is not: a confident
wrong verdict. (GrowthBook's "exclude in-progress conversions" and Eppo's and Statsig's
cohort metrics leave such customers out; here the verdict waits.)

So when the arms differ in offer timing and more than :data:`IN_PROGRESS_SHARE` of the
customers are still inside the longest window among the decision metric and the
guardrails, "ship" and "keep control" become "keep running" until the day the last
window closes. The share comes from the cumulative daily series (customers per day of
first exposure); without it, traffic is taken as even over the exposure days.

The windows are read on the analysis day, unless the data stopped early
(:mod:`upsell_ab.decision.stale_data`): an export taken on day 20 and analysed weeks
later holds no event after day 20 either, so its windows are read as of the morning
after the data's last day. By the calendar they would all be closed, and the delayed
arm would be judged without its last conversions (tests/test_guard_stale_data.py: a
confident "keep control" on equal take rates before this rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from upsell_ab.decision.horizon import analysis_day, as_day
from upsell_ab.decision.stale_data import stale_data

if TYPE_CHECKING:
    from upsell_ab.metrics.aggregates import ExperimentData
    from upsell_ab.spec.resolve import ResolvedExperiment

IN_PROGRESS_SHARE = 0.05
"""Above this share of customers still inside the window, a timing verdict waits."""


@dataclass(frozen=True)
class OpenWindows:
    """Customers still inside the longest judged window on the analysis day."""

    metric: str
    """The judged metric with the longest window."""
    window_days: int
    share: float
    complete_on: date
    """The first day every exposed customer's window has closed."""
    today: date


def timing_differs(resolved: ResolvedExperiment) -> bool:
    """Whether the arms' offers come at different moments or delays (a timing test)."""
    timings = {
        (t.moment, t.delay) if t is not None else None
        for v in resolved.experiment.variants
        for t in [v.offer.timing if v.offer is not None else None]
    }
    return len(timings) > 1


def open_windows(resolved: ResolvedExperiment, data: ExperimentData | None) -> OpenWindows | None:
    """The share of customers whose window is still open (module docstring), or None
    when every window is closed or nothing is known about the exposure days."""
    if data is None or data.last_exposure is None or data.first_exposure is None:
        return None
    judged = [resolved.decision_metric, *(g.metric for g in resolved.experiment.metrics.guardrails)]
    windows = {
        name: math.ceil(definition.window.end / timedelta(days=1))
        for name in judged
        for definition in [resolved.metrics.get(name)]
        if definition is not None
    }
    if not windows:
        return None
    metric = max(windows, key=lambda name: windows[name])
    days = windows[metric]
    today = analysis_day()
    stale = stale_data(resolved, data)
    if stale is not None:
        # the data stopped on ``stale.last``: no event after it was loaded either, so the
        # windows are as open as on the morning after (not closed by the calendar)
        today = min(today, stale.last + timedelta(days=1))
    last = as_day(data.last_exposure)
    complete_on = last + timedelta(days=days + 1)
    if today >= complete_on:
        return None
    # customers first exposed on or after this day are still counting today
    open_from = today - timedelta(days=days)
    share = _share_since(data, resolved.decision_metric, open_from)
    if share is None:
        first = as_day(data.first_exposure)
        span = (last - first).days + 1
        share = min(1.0, max(0, (last - open_from).days + 1) / span) if span > 0 else 1.0
    return OpenWindows(metric, days, share, complete_on, today)


def _share_since(data: ExperimentData, metric: str, since: date) -> float | None:
    """Share of the customers first exposed on or after ``since``, from the cumulative
    daily series of ``metric``; None without one."""
    series = data.metrics.get(metric)
    if series is None or not series.daily:
        return None
    total = series.units_by(series.daily[-1].day)
    if total <= 0:
        return None
    return (total - series.units_by(since - timedelta(days=1))) / total


def waiting_reason(found: OpenWindows, resolved: ResolvedExperiment) -> str:
    """The keep-running sentence for a timing test read on open windows."""
    return (
        f"Keep running: the arms differ in when the offer comes, and {found.share:.0%} of the "
        f"customers are still inside the {found.window_days}-day window of {found.metric} "
        f"({_as_of(found)}). An offer that comes later converts later, "
        "so its arm is undercounted until the windows close; read before then, a timing test "
        f"calls the delayed arm worse when it is not. {_until(found, resolved)}: the verdict "
        "below is what the data say so far."
    )


def _until(found: OpenWindows, resolved: ResolvedExperiment) -> str:
    """When the wait ends: the day every window closes, or, on data that stopped early,
    the data that must be loaded first."""
    closes = found.complete_on.isoformat()
    if found.today < analysis_day():
        return f"Load the data up to {closes}, when every window has closed"
    if resolved.experiment.end is None:
        return (
            f"Every window closes on {closes} if no one else is exposed (without an end "
            "date exposures go on: set one, or stop the experiment)"
        )
    return f"Every window closes on {closes}"


def _as_of(found: OpenWindows) -> str:
    """The day the windows are read on: the analysis day, or the morning after data that
    stopped early (:mod:`upsell_ab.decision.stale_data`)."""
    if found.today < analysis_day():
        return (
            f"as of {found.today.isoformat()}, the morning after the data stop; the events "
            "after it were not loaded either"
        )
    return f"analysis day {found.today.isoformat()}"
