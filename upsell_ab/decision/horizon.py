"""A fixed-horizon test is read once: at its horizon, not at every daily look.

A frequentist fixed-horizon p-value is valid at ONE look, made at a sample fixed in
advance. A CI job reads every running experiment every day, so without a rule every
day is one more chance of a false win (Armitage, McPherson & Rowe 1969, J. R. Stat.
Soc. A 132:235; Johari et al. 2017, "Peeking at A/B tests", KDD). The horizon is:

- the spec's ``end`` date when it has one and the data's days are known: the
  experiment is read at its end (exposures reaching ``end``) or when concluded;
- otherwise the planned sample: the units per arm the spec's MDE needs at its power
  (:mod:`upsell_ab.decision.sample`, from the current variance estimates).

Before the horizon a "ship" stands only on overwhelming evidence, p <
:data:`EARLY_STOP_P` (Haybittle 1971, Br. J. Radiol. 44:793; Peto et al. 1976, Br. J.
Cancer 34:585): the interim looks then cost almost no type I error.
"Keep control" for futility (the planned sample reached, no winner) may be said
earlier: it never ships anything.

After the planned sample, without an end date, the data keep growing while the
experiment runs. The planned look is the first day of the cumulative daily series at
which every arm had its planned sample (:func:`planned_look_day`); a later "ship"
stands only when the same variant also beat control at that look
(:func:`judged_at_planned_look`). The ship rule is then "win at the planned look AND
win now", whose false-win rate is at most the planned look's alone, alpha. Without a
daily series (``--no-daily``, summary totals without days) the day cannot be located
and the reasons say so. tests/test_guard_peeking.py measures all of it by A/A
simulation through the real decision (numpy/statsmodels oracle for naive peeking).
The Bayesian rule is held to the same horizon, its evidence read as a p-value
(:func:`evidence_p`). Sequential monitoring (confidence sequences, group-sequential
bounds) is valid at every look and is not gated; a bandit or a switchback has its
own reading.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, overload

from upsell_ab.decision.sample import Need, extra_sample
from upsell_ab.spec.models import DecisionRule
from upsell_ab.spec.models import Status as SpecStatus

if TYPE_CHECKING:
    from upsell_ab.metrics.aggregates import ExperimentData
    from upsell_ab.spec.resolve import ResolvedExperiment
    from upsell_ab.stats.results import ExperimentAnalysis, MetricResult

EARLY_STOP_P = 0.001
"""Before the horizon a fixed-horizon "ship" needs p below this (Haybittle 1971;
Peto et al. 1976): overwhelming evidence may stop early at almost no cost in type I
error."""


@dataclass(frozen=True)
class EarlyLook:
    """A ship read before the horizon: what is still to come, and which horizon."""

    need: Need
    """Extra units (0 when only the end date is ahead) and days."""
    horizon: str
    """In words, for the reason: "the planned sample for the MDE" or "its end date (...)"."""


def final_look(resolved: ResolvedExperiment) -> ResolvedExperiment:
    """``resolved`` analysed as its final look (``conclude``): status ``stopped``, so a
    fixed-horizon result is read as the one planned look (:func:`before_horizon`)."""
    running = resolved.experiment.status is SpecStatus.running
    experiment = resolved.experiment.model_copy(update={"status": SpecStatus.stopped})
    return dataclasses.replace(
        resolved,
        experiment=experiment,
        concluding_a_running_spec=running or resolved.concluding_a_running_spec,
    )


def held_to_planned_look(resolved: ResolvedExperiment, analysis: ExperimentAnalysis) -> bool:
    """Whether a verdict past the planned sample is held to the planned look: a running
    fixed-horizon test without an end date (with one, the end date is the horizon)."""
    experiment = resolved.experiment
    return (
        experiment.status is SpecStatus.running
        and experiment.end is None
        and fixed_horizon(resolved, analysis)
    )


def fixed_horizon(resolved: ResolvedExperiment, analysis: ExperimentAnalysis) -> bool:
    """Whether the decision is a fixed-horizon frequentist one (the looks matter)."""
    experiment = resolved.experiment
    return not (
        analysis.sequential is not None
        or experiment.allocation.is_bandit
        or experiment.randomization.is_switchback  # slots: planned with the slot analysis
    )


def evidence_p(resolved: ResolvedExperiment, result: MetricResult, variant: str) -> float | None:
    """The decision's evidence for ``variant`` as a two-sided p-value: the (adjusted)
    p-value of the frequentist comparison, or under the Bayesian rule
    ``2 (1 - P(treatment better))``. With the engine's flat priors the posterior
    probability of the better side is one minus the one-sided p-value (Casella & Berger
    1987, JASA 82:106), so one bound serves both rules, and a Bayesian "ship" read
    daily is as exposed to peeking as a p-value (tests/test_guard_planned_look.py
    measures 22 % A/A ships over 21 daily looks at P >= 95 % without the horizon)."""
    comparison = next((c for c in result.comparisons if c.variant == variant), None)
    if comparison is None:
        return None
    if resolved.experiment.analysis.decision.rule is DecisionRule.bayesian:
        bayes = comparison.bayesian
        if bayes is None or bayes.prob_beat_baseline is None:
            return None
        return min(1.0, 2.0 * (1.0 - bayes.prob_beat_baseline))
    if comparison.frequentist is None:
        return None
    adjusted = comparison.p_value_adjusted
    return comparison.frequentist.p_value if adjusted is None else adjusted


def evidence_words(resolved: ResolvedExperiment) -> str:
    """The early-stop bound in the rule's own terms, for the reasons."""
    if resolved.experiment.analysis.decision.rule is DecisionRule.bayesian:
        return f"the chance it is better is not above {100 * (1 - EARLY_STOP_P / 2):g} %"
    return f"p is not below {EARLY_STOP_P:g}"


def evidence_then(resolved: ResolvedExperiment, p_value: float | None) -> str:
    """ " (p = ... there)" for the planned look's reason, in the rule's own terms."""
    if p_value is None:
        return ""
    if resolved.experiment.analysis.decision.rule is DecisionRule.bayesian:
        return f" (chance it was better there: {100 * (1 - p_value / 2):.3g} %)"
    return f" (p = {p_value:.3g} there)"


@overload
def as_day(value: date | datetime) -> date: ...
@overload
def as_day(value: None) -> None: ...
@overload
def as_day(value: date | datetime | None) -> date | None: ...
def as_day(value: date | datetime | None) -> date | None:
    """The calendar day of a date or timestamp (exposure bounds may be either)."""
    return value.date() if isinstance(value, datetime) else value


TODAY_VARIABLE = "UPSELL_AB_TODAY"
"""An ISO date read as today by :func:`analysis_day` (reproducible reports and tests)."""

_PINNED_DAY: ContextVar[date | None] = ContextVar("upsell_ab_pinned_day", default=None)


@contextmanager
def pinned_day(day: date) -> Iterator[None]:
    """Inside this block :func:`analysis_day` is ``day``: data simulated for fixed dates
    (``upsell-ab demo``) are read on the morning after their last day, not months later,
    when every end date would have passed and every experiment would read as finished."""
    token = _PINNED_DAY.set(day)
    try:
        yield
    finally:
        _PINNED_DAY.reset(token)


def analysis_day() -> date:
    """The day of the analysis: the :func:`pinned_day` when one is set, else
    ``UPSELL_AB_TODAY`` when set, else today in UTC."""
    import os

    pinned = _PINNED_DAY.get()
    if pinned is not None:
        return pinned
    fixed = os.environ.get(TODAY_VARIABLE, "").strip()
    if fixed:
        try:
            return date.fromisoformat(fixed)
        except ValueError as error:
            from upsell_ab.errors import InputError, Location, Problem

            problem = Problem(
                Location(field=TODAY_VARIABLE),
                f"{TODAY_VARIABLE}={fixed!r} is not a date",
                "write it as YYYY-MM-DD, or unset it to use today's date",
            )
            raise InputError([problem]) from error
    return datetime.now(UTC).date()


def reaches_end(resolved: ResolvedExperiment, data: ExperimentData | None) -> bool:
    """The final look by date: exposures reach the spec's end date, or the end date has
    passed (:func:`analysis_day`), so no exposure can be added (exposures after ``end``
    are outside the dates) even when the last days had no traffic (a shop closed on the
    end day would otherwise wait for ever)."""
    end = resolved.experiment.end
    if end is None:
        return False
    last = as_day(data.last_exposure) if data is not None else None
    return (last is not None and last >= end) or analysis_day() > end


def final_look_reason(resolved: ResolvedExperiment, data: ExperimentData | None) -> str | None:
    """Why this look is the experiment's last ("status stopped", "its end date ... has
    been reached"), or None while more data can come. At the last look "keep running"
    is no answer: the decision says keep control, and why."""
    experiment = resolved.experiment
    if reaches_end(resolved, data) and experiment.end is not None:
        return f"its end date {experiment.end.isoformat()} has been reached"
    if experiment.status is not SpecStatus.running:
        return f"status {experiment.status.value}"
    return None


def before_horizon(
    resolved: ResolvedExperiment,
    analysis: ExperimentAnalysis,
    result: MetricResult,
    data: ExperimentData | None,
    p_value: float | None,
    *,
    final_by_status: bool = True,
) -> EarlyLook | None:
    """What is still to come when a fixed-horizon "ship" with ``p_value`` is read before
    its horizon (module docstring); None when shipping may stand: the evidence is
    overwhelming, the test is not fixed-horizon, or this is the final look (status
    stopped/concluded, or exposures up to the end date). ``final_by_status=False``
    ignores the status: a stopped spec's ship then says what it stopped before."""
    experiment = resolved.experiment
    if not fixed_horizon(resolved, analysis):
        return None
    if final_by_status and experiment.status is not SpecStatus.running:
        return None  # stopped or concluded: this is the final look
    if reaches_end(resolved, data):
        return None
    if p_value is not None and p_value < EARLY_STOP_P:
        return None
    need = extra_sample(resolved, result, data)
    if need is not None and need.units > 0:
        return EarlyLook(need, "the planned sample for the MDE")
    last = as_day(data.last_exposure) if data is not None else None
    if experiment.end is None or last is None:
        return None  # the planned sample is reached and no end date can be ahead
    # the planned sample is reached, but the spec fixed its horizon by date
    days = float((experiment.end - last).days)
    reason = (
        f"The spec's end date {experiment.end.isoformat()} is its planned final look "
        f"(exposures so far up to {last.isoformat()}, about {days:g} more days): a "
        "fixed-horizon test is read there, or when concluded (`upsell-ab conclude`, "
        "status: stopped)."
    )
    units = need.planned if need is not None else {}
    return EarlyLook(
        Need(units=0, days=days, reason=reason, planned=units),
        f"its end date ({experiment.end.isoformat()})",
    )


@dataclass(frozen=True)
class PlannedLook:
    """The first day the cumulative series had the planned sample in every arm."""

    day: date
    units: dict[str, int]
    """Units per arm at that day."""
    winners: tuple[str, ...]
    """Variants that beat control on the decision metric at that look."""
    p_values: dict[str, float | None]
    """The decision's evidence per treatment at that look (:func:`evidence_p`)."""


def planned_look_day(
    need: Need | None, result: MetricResult, data: ExperimentData | None
) -> tuple[date, dict[str, int]] | None:
    """(day, units per arm) of the first day of ``result``'s metric's daily series at
    which every arm had its planned units; None without a series or a plan, or when the
    plan is reached only on the series' last day (this look is the planned one)."""
    if need is None or need.units > 0 or not need.planned or data is None:
        return None
    metric = data.metrics.get(result.metric)
    if metric is None or not metric.daily:
        return None
    from upsell_ab.stats.analysis import variant_summary

    for index, day in enumerate(metric.daily):
        units = {k: variant_summary(k, day.by_variant.get(k)).n for k in need.planned}
        if all(units[k] >= n for k, n in need.planned.items()):
            return None if index == len(metric.daily) - 1 else (day.day, units)
    return None


def judged_at_planned_look(
    resolved: ResolvedExperiment,
    analysis: ExperimentAnalysis,
    result: MetricResult,
    data: ExperimentData | None,
) -> PlannedLook | None:
    """The decision metric judged on the cumulative statistics of the planned look's day
    (every metric with a series cut at that day, the same analysis and multiplicity
    correction as the full data); None when there is no earlier planned look to hold
    the verdict to (module docstring)."""
    if data is None or not held_to_planned_look(resolved, analysis):
        return None
    found = planned_look_day(extra_sample(resolved, result, data), result, data)
    if found is None:
        return None
    day, units = found
    from upsell_ab.decision.rules import judge
    from upsell_ab.stats.analysis import analyze

    cut = {
        name: dataclasses.replace(metric, by_variant=dict(at.by_variant), by_segment={}, daily=[])
        for name, metric in data.metrics.items()
        for at in [next((d for d in metric.daily if d.day == day), None)]
        if at is not None
    }
    if result.metric not in cut:
        return None
    then = analyze(resolved, dataclasses.replace(data, metrics=cut))
    at_day = then.metric(result.metric)
    definition = resolved.metrics.get(result.metric)
    verdicts = [judge(resolved, at_day, c, definition) for c in at_day.comparisons]
    p_values = {c.variant: evidence_p(resolved, at_day, c.variant) for c in at_day.comparisons}
    winners = tuple(v.variant for v in verdicts if v.wins)
    return PlannedLook(day=day, units=units, winners=winners, p_values=p_values)


def missing_series_reason(
    resolved: ResolvedExperiment, analysis: ExperimentAnalysis, data: ExperimentData | None
) -> str | None:
    """A running spec without an end date, past its planned sample, read without a daily
    series: the planned look cannot be located, so say what the user can do."""
    if data is None or not held_to_planned_look(resolved, analysis):
        return None
    metric = data.metrics.get(resolved.decision_metric)
    if metric is not None and metric.daily:
        return None
    return (
        "Read without a daily series, so the day the planned sample was reached cannot be "
        "checked: if this experiment is read every day, each later look is one more chance "
        "of a false win. Analyse with the daily series (the default; summary CSVs with a "
        "day column) or set an end date in the spec."
    )
