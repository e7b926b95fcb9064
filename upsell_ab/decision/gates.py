"""Data-quality gates between the data and the verdict.

An A/B tool earns trust by refusing to decide on bad data (Kohavi, Tang & Xu
2020, "Trustworthy Online Controlled Experiments", ch. 21: guardrail metrics
for trustworthiness; Fabijan et al. 2019, "Diagnosing Sample Ratio Mismatch").
Two levels:

*Blocking* (the experiment is ``invalid``, with the reason):

- the control and a treatment were exposed in periods that do not overlap
  (their first exposures lie in disjoint date ranges): any difference may be
  a change over time, not the variant;
- exposures outside the spec's dates left an arm without units;
- the decision metric is constant in every arm (e.g. every order worth 0
  because the value column was not mapped at ingest): no data can decide;
- the decision metric's events all have an empty measured column (``value``,
  ``discount`` or ``quantity`` 0 or missing on every event): the column was
  very likely not mapped at ingest;
- the decision metric counts an event type the source never holds while it holds a
  look-alike (``upsell_purchse`` beside ``upsell_purchase``): a misspelt event;
- not one of the metrics' events belongs to an exposed unit and the two sides' ids are
  of different kinds (``8`` against ``C000008``: :mod:`upsell_ab.decision.unit_ids`);
- a summary CSV's daily tallies look like running totals (every series grows every
  day for a week or more: :func:`upsell_ab.metrics.summary_csv.running_totals`);
- over ``NEAR_MISS_SHARE`` of the metrics' events belong to no exposed unit but name one
  in another spelling (case, end blanks, leading zeros: an export rewrote the ids);
- the events are dates without times (nearly all at midnight) and that put events of
  the exposure day before their exposure;
- the time-zone warning's share is passed in a test whose arms' offers come at
  different times (the dropped conversions are the soonest arm's).
- over 1 % of the metrics' events are the exposed units' events of a type that is a
  metric's type in another spelling (``Upsell_Purchase``:
  :mod:`upsell_ab.decision.lookalike_events`);
- one arm's customers repeat their events (same amount within 2 seconds: a tracker
  firing twice) far more than the control's, on a type the decision metric sums
  (:mod:`upsell_ab.decision.repeated_events`).

*Warnings* (shown in the headline of every report format, the verdict stands):

- events from 14 hours to 30 minutes before the unit's first exposure above
  ``BEFORE_EXPOSURE_SHARE`` of the metrics' events (a time-zone mistake shifts
  events just before their exposure; orders days earlier are history), orphan
  events above ``ORPHAN_SHARE`` (events of units exposed to no experiment of the
  source: a unit-id mismatch; other experiments' customers are not orphans),
  duplicates above ``DUPLICATE_SHARE``; orphan events under another spelling of an
  exposed unit's id up to ``NEAR_MISS_SHARE``; negative amounts in a source read in place;
- units exposed outside the spec's dates (ignored), percentile caps computed
  from few positive values;
- a guardrail metric constant in every arm (it cannot be proven; the shipping
  rule already requires proof, so this explains why);
- a metric whose event type the source never holds (any row, any unit, any time), with
  the types it does hold; a guardrail on such a type cannot pass
  (:func:`upsell_ab.decision.rules.guardrail_checks`);
- a score among respondents (satisfaction) whose response rate differs between
  arms (:mod:`upsell_ab.decision.response_bias`; blocking when it is the decision
  metric);
- a measured column (an order's amount) 0 or missing for a different share of one
  arm's customers than of the control's (:mod:`upsell_ab.decision.empty_values`: a
  tracking break in one arm).
- repeated events far more in one arm on a type only other metrics sum, or in every
  arm alike above 10 % (:mod:`upsell_ab.decision.repeated_events`).

The thresholds are documented in docs/decision.md and the README. None of the
gates looks at the treatment effect, so they cannot bias the test: an A/A
simulation with the gates on keeps the false-positive rate (tests/test_guard_aa.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from upsell_ab.decision.empty_values import empty_value_warnings
from upsell_ab.decision.lookalike_events import (
    lookalike_event_problems,
    lookalike_event_warnings,
)
from upsell_ab.decision.model import Action, Outcome
from upsell_ab.decision.reasons import metric_label, p_clause
from upsell_ab.decision.repeated_events import (
    repeated_event_problems,
    repeated_event_warnings,
)
from upsell_ab.decision.response_bias import response_bias_problems, response_bias_warnings
from upsell_ab.decision.stale_data import stale_data, stale_warning
from upsell_ab.decision.unit_ids import kinds_differ, shown
from upsell_ab.metrics.aggregates import ORPHAN_SHARE
from upsell_ab.metrics.sufficient import CupedStats, SampleStats
from upsell_ab.stats.results import ExperimentAnalysis, MetricResult

if TYPE_CHECKING:
    from collections.abc import Sequence

    from upsell_ab.metrics.aggregates import ExperimentData, NearMissUnits, QualitySummary
    from upsell_ab.spec.resolve import ResolvedExperiment

BEFORE_EXPOSURE_SHARE = 0.20
"""Warn when more than this share of the metrics' events precede the unit's exposure."""
DUPLICATE_SHARE = 0.05
"""Warn when more than this share of event rows were duplicates (same event id)."""
UNTIMED_EVENT_SHARE = 0.01
"""Above this share of the metrics' events without a timestamp, no verdict is given (they
count in no metric, and a logging change in one arm would bias it); below, a warning."""
FEW_POSITIVE_UNITS = 20
"""Warn when a percentile cap rests on fewer positive unit values than this."""
SMALL_ARM = 1000
"""A "ship" on a 0/1 metric with an arm below this many units gets a fragility note."""


NEAR_MISS_SHARE = 0.01
"""Events of the metrics' types whose unit id matches an exposed unit only in another
spelling (case, end blanks, leading zeros): above this share of the metrics' events no
verdict is given. Such a match between a real orphan and an exposed unit happens by
chance about never (8-character ids, 1M exposed units: ~4e-7 per event), so even this
share means an export changed the ids; below it, a warning."""


DATE_ONLY_SHARE = 0.99
"""Events at midnight exactly: above this share of the metrics' events, the events carry
dates without times (a uniform time of day lands on midnight to the microsecond about
never; to the second, once in 86,400). Nearly all, not a half: a billing system may stamp
one event type at midnight for real (a nightly renewal batch) while the others carry
their times; an export of dates has every event at midnight."""

LOST_SAME_DAY_SHARE = 0.01
"""With date-only events, the events in the 14 hours before the first exposure (those of
the exposure day, read as before it): above this share of the metrics' events, no verdict."""


def date_only_events(quality: QualitySummary) -> bool:
    """The events are dates without times and that hid events of the exposure day."""
    events = max(quality.metric_events, 1)
    return (
        quality.event_rows_at_midnight > DATE_ONLY_SHARE * events
        and quality.events_just_before_exposure > LOST_SAME_DAY_SHARE * events
    )


def clock_slip_blocks(resolved: ResolvedExperiment, quality: QualitySummary) -> bool:
    """Over :data:`BEFORE_EXPOSURE_SHARE` of the metrics' events in the 14 hours before
    their unit's first exposure (the time-zone warning), in a test whose arms' offers
    come at different times: those events are dropped, and the arm that converts soonest
    after its offer loses the most, so the slip biases the comparison, not only the
    level (``offer_timing`` with events in JST and exposures in UTC read "email_3d beat
    control" on equal take rates). With one timing for every arm it stays a warning: an
    order seconds before a post-purchase offer is legitimate there."""
    from upsell_ab.decision.windows import timing_differs

    events = quality.metric_events
    return (
        events > 0
        and quality.events_just_before_exposure / events > BEFORE_EXPOSURE_SHARE
        and not date_only_events(quality)
        and timing_differs(resolved)
    )


def near_miss_blocks(near: NearMissUnits, quality: QualitySummary) -> bool:
    """Enough events lost to another spelling of the ids to stop a verdict."""
    return near.rows > NEAR_MISS_SHARE * max(quality.metric_events, 1)


def near_miss_sentence(near: NearMissUnits, quality: QualitySummary) -> str:
    """'612 of the metrics' 1,307 events (47 %) belong to no exposed unit, but ...'."""
    share = near.rows / max(quality.metric_events, 1)
    example = ""
    if near.example is not None:
        example = f" (the events' '{near.example[0]}' for the exposures' '{near.example[1]}')"
    arms = ", ".join(f"{rows:,} in {variant}" for variant, rows in near.rows_by_variant.items())
    return (
        f"{near.rows:,} of the metrics' {quality.metric_events:,} events ({share:.1%}) "
        "belong to no exposed unit, but their unit ids match units of this experiment once "
        f"letter case, blanks at either end and leading zeros are ignored{example}: "
        f"{arms}."
    )


def _period(quality: QualitySummary, variant: str) -> str:
    first, last = quality.exposure_periods[variant]
    return first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"


def blocking_problems(
    resolved: ResolvedExperiment, analysis: ExperimentAnalysis, data: ExperimentData | None
) -> list[str]:
    """Reasons no verdict may be given (see the module docstring); empty when none."""
    problems: list[str] = []
    experiment = resolved.experiment
    control = experiment.control.id
    if experiment.randomization.is_switchback and (data is None or data.slots is None):
        source = data.origin if data is not None and data.origin else "this input"
        problems.append(
            "This is a switchback design (time slots were randomised, "
            f"randomization.unit: time_slot), but {source} has no statistics per slot, so "
            "the analysis treats customers as independent; customers of one slot are "
            "correlated, so its intervals are too narrow. Analyse the event store (or "
            "files) the exposures are in, where the slot totals are computed "
            "(docs/switchback.md)."
        )
    if data is not None:
        quality = data.quality
        periods = quality.exposure_periods
        for treatment in (v.id for v in experiment.treatments):
            if control not in periods or treatment not in periods:
                continue
            (c_first, c_last), (t_first, t_last) = periods[control], periods[treatment]
            if c_last < t_first or t_last < c_first:
                problems.append(
                    f"The arms were not exposed at the same time: {control} from "
                    f"{_period(quality, control)}, {treatment} from {_period(quality, treatment)}. "
                    "A difference between them may be a change over time, not the variant; "
                    "check the exposure timestamps (time zone, a late rollout) and the "
                    "spec's start/end."
                )
        unexposed = [v for v, n in quality.exposures_by_variant.items() if n == 0]
        if unexposed and quality.units_exposed_outside_dates:
            start = experiment.start.isoformat() if experiment.start else "the start"
            end = experiment.end.isoformat() if experiment.end else "the end"
            problems.append(
                f"{quality.units_exposed_outside_dates:,} units were exposed outside the "
                f"experiment's dates ({start} to {end}) and ignored, leaving "
                f"{', '.join(unexposed)} without units. Fix the spec's start/end or the exposure "
                "timestamps (set analysis.outside_dates: keep to use them anyway)."
            )
    if data is not None:
        untimed = data.quality.event_rows_without_time
        share = untimed / max(data.quality.metric_events, 1)
        if share > UNTIMED_EVENT_SHARE:
            problems.append(
                f"{untimed:,} of the metrics' {data.quality.metric_events:,} events "
                f"({share:.0%}) have no timestamp: no attribution window admits them, so "
                "every metric misses them, and if they come more from one arm (a logging "
                "change in a variant) the comparison is biased. Fix the export's time column "
                "(an empty cell, or a value the loader could not read)."
            )
    if data is not None and data.running_totals:
        problems.append(
            f"The {data.origin or 'summary'} cannot be added up: {data.running_totals}. "
            "Give only the last day's row per variant and metric (or the day-to-day "
            "differences); if each row really is that day's own tally, this clears as soon "
            "as one day has fewer units than the day before."
        )
    samples = data.unit_id_samples if data is not None else None
    if data is not None and samples is not None and kinds_differ(samples):
        problems.append(
            f"Not one of the {data.quality.metric_events:,} events the metrics count "
            f"belongs to an exposed unit, and the ids are not the same kind: {shown(samples)}. "
            "Every metric reads 0 in every arm. Use the same unit id on both sides (map the "
            "events' column that holds the exposures' id: data.event_columns.unit_id)."
        )
    if data is not None and date_only_events(data.quality):
        quality = data.quality
        midnight = quality.event_rows_at_midnight / max(quality.metric_events, 1)
        problems.append(
            f"{midnight:.0%} of the metrics' events are at midnight exactly: the events carry "
            "dates without times, so an event on a unit's exposure day reads as before the "
            f"exposure and is not counted ({quality.events_just_before_exposure:,} events "
            "fell in the 14 hours before their unit's exposure). An arm whose customers "
            "buy on the day of the offer (at checkout, after purchase) loses those "
            "conversions, and one that converts days later does not, so the comparison is "
            "biased. Export the events with their times; if "
            "only dates are known, set each event to the end of its day (pandas: "
            "df['timestamp'] + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)), which "
            "counts the exposure day's events."
        )
    if data is not None and clock_slip_blocks(resolved, data.quality):
        quality = data.quality
        share = quality.events_just_before_exposure / quality.metric_events
        problems.append(
            f"{share:.0%} of the metrics' events happened in the 14 hours before their "
            f"unit's first exposure (over {BEFORE_EXPOSURE_SHARE:.0%}): the events and the "
            "exposures are very likely in different time zones (one in local time, the "
            "other in UTC). Those events are not counted, and the arms' offers come at "
            "different times, so the arm that converts soonest after its offer loses the "
            "most and the comparison is biased. Give both sides the same zone (timestamps "
            "without a zone are read as UTC) and analyse again."
        )
    near = data.near_miss_units if data is not None else None
    if data is not None and near is not None and near_miss_blocks(near, data.quality):
        problems.append(
            f"{near_miss_sentence(near, data.quality)} The arms are compared without these "
            "events, so an arm that lost more of them reads worse. Write the unit ids the "
            "same way on both sides (no blanks at either end, one letter case, leading "
            "zeros kept: read id columns as text) and analyse again."
        )
    name = resolved.decision_metric
    misspelt = [(e, c) for e, c in absent_events(resolved, name, data) if c is not None]
    if misspelt and data is not None:
        problems.append(
            f"The decision metric {absent_sentence(name, misspelt, data)} Until then every "
            "arm reads 0 and no variant can be judged."
        )
    empty = empty_columns(resolved, name, data)
    if empty:
        problems.append(
            f"The decision metric {metric_label(name, None)} sums {empty}, but every such "
            "event has 0 or no value there: the column was very likely not mapped at ingest "
            "(e.g. --map events.value=revenue); re-ingest with the mapping."
        )
    result = _result(analysis, name)
    if result is not None and any(
        c.frequentist is not None and c.frequentist.status.value == "out_of_range"
        for c in result.comparisons
    ):
        problems.append(
            f"The decision metric {metric_label(name, None)} has values beyond double "
            "precision (too large to square, or so small their squares vanish), so no test "
            "could be run. Express it in another unit or remove the absurd values."
        )
    binary = _is_binary(resolved, name)
    if result is not None and not binary and not empty and constant_in_every_arm(result, data):
        value = _constant_value(result)
        problems.append(
            f"The decision metric {metric_label(name, None)} is {value} for every unit in "
            "every arm, so it cannot tell the variants apart. If its events carry values, "
            "check that the value column was mapped at ingest (e.g. --map events.value=revenue)."
        )
    problems.extend(response_bias_problems(resolved, analysis))
    problems.extend(repeated_event_problems(resolved, data))
    problems.extend(lookalike_event_problems(resolved, data))
    return problems


def warnings(
    resolved: ResolvedExperiment, analysis: ExperimentAnalysis, data: ExperimentData | None
) -> list[str]:
    """Data-quality warnings for the headline (see the module docstring)."""
    out: list[str] = []
    if data is not None:
        quality = data.quality
        events = quality.metric_events
        if events:
            before = quality.events_just_before_exposure / events
            blocked = date_only_events(quality) or clock_slip_blocks(resolved, quality)
            if before > BEFORE_EXPOSURE_SHARE and not blocked:
                out.append(
                    f"{before:.0%} of the metrics' events happened in the 14 hours before the "
                    f"unit's first exposure (over {BEFORE_EXPOSURE_SHARE:.0%}): a time-zone "
                    "mistake in the events or exposures is likely; those events are not counted."
                )
            near = data.near_miss_units
            if near is not None and not near_miss_blocks(near, quality):
                out.append(
                    f"{near_miss_sentence(near, quality)} They are not counted; check how "
                    "the ids are written on each side."
                )
            orphans = quality.orphan_share
            if orphans > ORPHAN_SHARE:
                elsewhere = (
                    "" if quality.other_experiment_events is None else " nor to any other one"
                )
                samples = data.unit_id_samples
                ids = f" ({shown(samples)})" if samples is not None else ""
                out.append(
                    f"{orphans:.0%} of the metrics' events belong to units never exposed to "
                    f"this experiment{elsewhere} (over {ORPHAN_SHARE:.0%}): check that events "
                    f"and exposures use the same unit id{ids}."
                )
            rows = events + quality.duplicates_dropped
            duplicates = quality.duplicates_dropped / rows
            if duplicates > DUPLICATE_SHARE:
                out.append(
                    f"{duplicates:.0%} of the event rows were duplicates (over "
                    f"{DUPLICATE_SHARE:.0%}), dropped by event id: check the export for "
                    "repeated rows."
                )
        for item in data.covariate_imbalances:
            out.append(
                f"CUPED was not applied to {metric_label(item.metric, None)}: its covariate "
                f"averages {item.variant_mean:,.6g} in {item.variant} against "
                f"{item.control_mean:,.6g} in control ({p_clause(item.p_value)}), a "
                "difference a measure taken before exposure cannot have. It likely includes "
                "the experiment period (or assignment is broken), so it would remove part of "
                "the effect; the metric is analysed without it. Use a covariate measured "
                "before each unit's first exposure."
            )
        untimed = quality.event_rows_without_time
        if untimed and untimed / max(quality.metric_events, 1) <= UNTIMED_EVENT_SHARE:
            out.append(
                f"{untimed:,} of the metrics' {quality.metric_events:,} events have no "
                "timestamp, so no attribution window admits them and they count in no "
                "metric: fix the export's time column (an empty cell, or a value the loader "
                "could not read)."
            )
        for (event_type, column), rows in sorted(quality.negative_values.items()):
            out.append(
                f"{rows:,} '{event_type}' events have a negative {column}: they are counted "
                f"as they are, so they lower every sum of {column} and count as "
                f"'{event_type}' events in conversion metrics. If they are refunds or "
                "returns, give them their own event type (e.g. 'refund', with a guardrail "
                "metric); upsell-ab ingest refuses negative amounts."
            )
        if quality.exposure_rows_without_unit and quality.total_units:
            out.append(
                f"{quality.exposure_rows_without_unit:,} exposure rows of this experiment have "
                "no unit id, so no unit could be counted from them (an app that logs the "
                "exposure before it knows the customer): log the unit id with every "
                "exposure, or expose only identified customers."
            )
        if quality.exposure_rows_without_time:
            out.append(
                f"{quality.exposure_rows_without_time:,} exposure rows of this experiment have "
                "no timestamp, so no unit could be counted from them: fix the export's time "
                "column (an empty cell, or a value the loader could not read)."
            )
        if quality.units_exposed_outside_dates:
            out.append(
                f"{quality.units_exposed_outside_dates:,} units had exposures outside the "
                "experiment's dates; those exposures were ignored."
            )
        for cap in data.caps:
            if cap.value is None or cap.positive_units >= FEW_POSITIVE_UNITS:
                continue
            out.append(
                f"{metric_label(cap.metric, None)}: the {cap.level:.0%} cap rests on only "
                f"{cap.positive_units} units with a positive value ({cap.value:,.6g})."
            )
    if data is not None:
        decision_metric = resolved.decision_metric
        for name in resolved.metrics:
            absent = absent_events(resolved, name, data)
            if name == decision_metric:
                absent = [(e, c) for e, c in absent if c is None]  # misspelt ones block
            if absent:
                out.append(absent_sentence(name, absent, data))
    for guardrail in resolved.experiment.metrics.guardrails:
        empty = empty_columns(resolved, guardrail.metric, data)
        if empty:
            out.append(
                f"Guardrail {metric_label(guardrail.metric, None)} sums {empty}, but every "
                "such event has 0 or no value there (column not mapped at ingest?): it "
                "cannot be shown to hold."
            )
            continue
        result = _result(analysis, guardrail.metric)
        if (
            result is not None
            and not _is_binary(resolved, guardrail.metric)
            and constant_in_every_arm(result, data)
        ):
            out.append(
                f"Guardrail {metric_label(guardrail.metric, None)} is "
                f"{_constant_value(result)} for every unit in every arm: it cannot be shown "
                "to hold; check that its events are ingested."
            )
    out.extend(response_bias_warnings(resolved, analysis))
    out.extend(empty_value_warnings(resolved, data))
    out.extend(repeated_event_warnings(resolved, data))
    out.extend(lookalike_event_warnings(resolved, data))
    stale = stale_data(resolved, data)
    if stale is not None:
        out.append(stale_warning(stale))
    return out


_COLUMN_NAMES = {"val": "value", "disc": "discount", "qty": "quantity"}


def empty_columns(resolved: ResolvedExperiment, name: str, data: ExperimentData | None) -> str:
    """'the value of its 312 order events' when a measured column the metric sums has
    events but not one non-zero value; '' otherwise (or without data)."""
    definition = resolved.metrics.get(name)
    if data is None or definition is None:
        return ""
    from upsell_ab.metrics.capping import metric_channels
    from upsell_ab.metrics.sql import MEASURED

    for channel in metric_channels(definition):
        column = MEASURED.get(channel.summand)
        if column is None:
            continue
        events, nonzero = data.measured.get((channel.event, column), (0, 0))
        if events and not nonzero:
            return f"the {_COLUMN_NAMES[column]} of its {events:,} {channel.event} events"
    return ""


def absent_events(
    resolved: ResolvedExperiment, name: str, data: ExperimentData | None
) -> list[tuple[str, str | None]]:
    """(event type, a look-alike type the source holds, or None) for each event type of
    metric ``name`` of which the source holds no row at all (all units, all times): a
    type misspelt in metrics.yaml, or events that are not collected. Empty without raw
    data (a summary CSV has no event types)."""
    definition = resolved.metrics.get(name)
    if data is None or definition is None or not data.event_type_rows:
        return []
    import difflib

    from upsell_ab.metrics.capping import metric_channels

    present = [t for t, rows in data.event_types_present if t is not None and rows > 0]
    absent: list[tuple[str, str | None]] = []
    for event in sorted({channel.event for channel in metric_channels(definition)}):
        if data.event_type_rows.get(event, 1) != 0:
            continue
        close = difflib.get_close_matches(event, present, n=1, cutoff=0.8)
        absent.append((event, close[0] if close else None))
    return absent


def absent_sentence(
    name: str, absent: Sequence[tuple[str, str | None]], data: ExperimentData
) -> str:
    """ "upsell take rate counts events of type 'upsell_purchse', but the source holds no
    such event at all (did you mean 'upsell_purchase'? 1,221 rows) ..." for the findings
    of :func:`absent_events`."""
    rows = {t: n for t, n in data.event_types_present}
    names = ", ".join(f"'{event}'" for event, _ in absent)
    hints = [f"'{close}' for '{event}'? {rows[close]:,} rows" for event, close in absent if close]
    hint = f" (did you mean {'; '.join(hints)})" if hints else ""
    held = ", ".join(f"'{t}' ({n:,})" for t, n in data.event_types_present[:4] if t is not None)
    shown = f" It holds {held}." if held else ""
    return (
        f"{metric_label(name, None)} counts events of type {names}, but the source holds "
        f"no such event at all{hint}.{shown} Fix the metric's event in metrics.yaml, or "
        "collect these events."
    )


def _is_binary(resolved: ResolvedExperiment, name: str) -> bool:
    from upsell_ab.spec.models import MetricType

    definition = resolved.metrics.get(name)
    return definition is not None and definition.type in (
        MetricType.proportion,
        MetricType.retention,
    )


def _result(analysis: ExperimentAnalysis, name: str) -> MetricResult | None:
    try:
        return analysis.metric(name)
    except KeyError:
        return None


def constant_in_every_arm(result: MetricResult, data: ExperimentData | None) -> bool:
    """Every arm has units, the same mean, and no spread (from the sufficient statistics
    when ``data`` is given, the outcome's for a CUPED metric; else from the comparisons'
    ``zero_variance`` status)."""
    means = [v.mean for v in result.variants]
    if not means or any(v.n < 2 or v.mean is None for v in result.variants):
        return False
    if len({m for m in means}) != 1:
        return False
    metric = data.metrics.get(result.metric) if data is not None else None
    if metric is not None:
        outcomes = [
            s.outcome if isinstance(s, CupedStats) else s for s in metric.by_variant.values()
        ]
        # CUPED sums are not centred, so S^2/n may miss Q by rounding: a relative tolerance
        return all(
            isinstance(o, SampleStats) and o.variance <= 1e-12 * o.mean * o.mean for o in outcomes
        )
    statuses = [c.frequentist.status.value for c in result.comparisons if c.frequentist]
    return bool(statuses) and all(s == "zero_variance" for s in statuses)


def _constant_value(result: MetricResult) -> str:
    mean = result.variants[0].mean
    return f"{mean:g}" if mean is not None else "n/a"


def small_sample(
    resolved: ResolvedExperiment, analysis: ExperimentAnalysis, outcome: Outcome
) -> Outcome:
    """Before "ship": every compared arm needs ``analysis.min_units_per_arm`` units (else
    keep running, with the shortfall), and a 0/1 decision metric on a small sample gets
    its fragility index (:mod:`upsell_ab.stats.fragility`) beside the verdict."""
    if outcome.action is not Action.ship or outcome.variant is None or outcome.metric is None:
        return outcome
    settings = resolved.experiment.analysis
    control = resolved.experiment.control.id
    result = _result(analysis, outcome.metric)
    if result is None:
        return outcome
    counts = {v.variant: v.n for v in result.variants}
    arms = (control, outcome.variant)
    minimum = settings.min_units_per_arm
    short = {a: counts.get(a, 0) for a in arms if counts.get(a, 0) < minimum}
    if short:
        listed = ", ".join(f"{a} has {n:,}" for a, n in short.items())
        lead = (
            f"Keep running: {outcome.variant} leads on "
            f"{metric_label(outcome.metric, None)}, but {listed} units, fewer than the "
            f"spec's minimum of {minimum:,} per arm (analysis.min_units_per_arm) before "
            "shipping."
        )
        return Outcome(
            Action.keep_running,
            None,
            [lead, *outcome.reasons[1:]],
            additional_units_needed=minimum - min(short.values()),
            guardrails_breached=list(outcome.guardrails_breached),
            metric=outcome.metric,
        )
    note = _fragility_note(resolved, result, control, outcome.variant)
    if note is None:
        return outcome
    return Outcome(
        outcome.action,
        outcome.variant,
        [outcome.reasons[0], note, *outcome.reasons[1:]],
        additional_units_needed=outcome.additional_units_needed,
        additional_days_needed=outcome.additional_days_needed,
        guardrails_breached=list(outcome.guardrails_breached),
        metric=outcome.metric,
        warnings=[note],
    )


def _fragility_note(
    resolved: ResolvedExperiment, result: MetricResult, control: str, variant: str
) -> str | None:
    if not _is_binary(resolved, result.metric) or resolved.experiment.randomization.is_switchback:
        return None  # a switchback's customers are not independent: no per-customer index
    arms = {v.variant: v for v in result.variants}
    comparison = next((c for c in result.comparisons if c.variant == variant), None)
    c_arm, t_arm = arms.get(control), arms.get(variant)
    if (
        comparison is None
        or comparison.frequentist is None
        or c_arm is None
        or t_arm is None
        or c_arm.mean is None
        or t_arm.mean is None
        or min(c_arm.n, t_arm.n) >= SMALL_ARM
    ):
        return None
    from upsell_ab.stats.fragility import fragility_index

    settings = resolved.experiment.analysis
    index = fragility_index(
        SampleStats.from_proportion(c_arm.n, round(c_arm.mean * c_arm.n)),
        SampleStats.from_proportion(t_arm.n, round(t_arm.mean * t_arm.n)),
        alpha=settings.alpha,
        exact=comparison.frequentist.method == "fisher exact",
        alternative=comparison.frequentist.alternative,
    )
    if index is None:
        return None
    units = "unit" if index == 1 else "units"
    return (
        f"Fragile: the outcome of {index} {units} changing would make this result "
        f"non-significant (fragility index, Walsh et al. 2014; {c_arm.n:,} and "
        f"{t_arm.n:,} units); confirm with more data before a large rollout."
    )
