"""What the data layer hands to the statistics layer for one experiment.

Only aggregates: per-variant sufficient statistics per metric (overall, per
segment, and cumulative per day for sequential looks and time-series charts)
plus a data-quality summary. No raw rows, no DataFrames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from upsell_ab.metrics.periods import PeriodSplit
from upsell_ab.metrics.sufficient import MetricStats

if TYPE_CHECKING:
    from upsell_ab.metrics.sql_slots import SlotSplit


@dataclass(frozen=True)
class DailyStats:
    """Cumulative statistics of units first exposed on or before ``day``
    (events counted as of the end of that day)."""

    day: date
    by_variant: dict[str, MetricStats]


@dataclass(frozen=True)
class MetricData:
    """Sufficient statistics of one metric, keyed by variant id."""

    metric: str
    by_variant: dict[str, MetricStats]
    by_segment: dict[tuple[str, str], dict[str, MetricStats]] = field(default_factory=dict)
    """(attribute, value) -> variant -> statistics."""
    daily: list[DailyStats] = field(default_factory=list)
    """Cumulative per day, in date order (empty unless asked for)."""

    def units_by(self, day: date) -> int:
        """Units first exposed on or before ``day``, every arm, from the cumulative daily
        series (0 before its first day or without one)."""
        through = [d for d in self.daily if d.day <= day]
        return int(sum(s.n for s in through[-1].by_variant.values())) if through else 0


ORPHAN_SHARE = 0.20
"""Warn when more than this share of the metrics' events belong to never-exposed units."""

NEAR_MISS_CHECK_SHARE = ORPHAN_SHARE
"""Above this orphan share, look for orphan events whose unit id names an exposed unit in
another spelling (:func:`upsell_ab.metrics.sql_values.near_miss_units_sql`): where the
orphan warning fires. That query repeats the main query's join (2M units: ~0.9 s; 10M:
~2.5 s), so it does not run for the orphans a healthy export has (measured: with 5 % of
orphans in each of five experiments it added 4.7 s to a 12.4 s ``report`` at 10M). An
export that misspelt one arm's ids, or every id, is above it (a third to a half of the
events); a misspelling of a smaller share is found only where true orphans (a shop's
orders from customers outside the experiment) already pass it."""


@dataclass(frozen=True)
class QualitySummary:
    """Data-quality counts; the SRM test itself is run by ``stats.srm``."""

    exposures_by_variant: dict[str, int]
    """Units (first exposures, after exclusions) per configured variant."""
    configured_weights: dict[str, float]
    multiple_exposure_units: int = 0
    """Units exposed to more than one variant: excluded from every metric."""
    orphan_events: int = 0
    """Events of units never exposed to this experiment (nor, when counted, to another
    experiment of the source: see ``other_experiment_events``)."""
    events_before_exposure: int = 0
    """Events of exposed units before their first exposure (not counted; may feed CUPED)."""
    events_just_before_exposure: int = 0
    """Of those, the events from 14 hours to 30 minutes before the first exposure: what a
    clock or time-zone mistake produces (orders days before a customer's first offer are
    history, and the order a post-purchase offer follows is seconds before it: neither is
    a mistake). The time-zone warning reads this count."""
    events_outside_window: int = 0
    """Events after first exposure but outside every metric's attribution window."""
    duplicates_dropped: int = 0
    unknown_variants: dict[str, int] = field(default_factory=dict)
    """Exposure rows naming a variant the spec does not have: variant -> units."""
    units_exposed_outside_dates: int = 0
    """Units with exposure rows outside the spec's [start, end] (those rows are ignored;
    a unit with no exposure inside the dates is not in the experiment)."""
    exposure_rows_without_time: int = 0
    """Exposure rows of the experiment (configured variants) with no timestamp: no date can
    admit them, so they count nowhere; reported so that they are not lost silently
    (counted when the spec has dates)."""
    exposure_rows_without_unit: int = 0
    """Exposure rows of the experiment with no unit id (NULL): no unit can be counted from
    them (an app logging before it knows the customer); reported so that they are not
    lost silently."""
    event_rows_without_time: int = 0
    """Events of the metrics' types (after de-duplication) with no timestamp: no window can
    admit them, so they count in no metric; reported so that they are not lost silently."""
    event_rows_at_midnight: int = 0
    """Events of the metrics' types (after de-duplication) at midnight exactly: nearly all
    of them means an export of dates without times, which puts every event of a unit's
    exposure day before its exposure (not counted)."""
    negative_values: dict[tuple[str, str], int] = field(default_factory=dict)
    """(event type, column) -> events of the metrics' types (after de-duplication) whose
    summed amount is negative. Ingest refuses such rows; a source read in place (files,
    frames, a warehouse table) may hold them, e.g. refunds exported as negative orders,
    which then lower revenue and count as orders in a conversion metric."""
    exposure_periods: dict[str, tuple[date, date]] = field(default_factory=dict)
    """Variant -> (first, last) day on which its units were first exposed."""
    metric_events: int = 0
    """Events of the metrics' types after de-duplication (orphans and excluded units
    included): the denominator of the before-exposure and orphan shares."""
    other_experiment_events: int | None = None
    """Events of units exposed only to OTHER experiments of the same source: taken out of
    ``orphan_events`` and ``metric_events``. Counted only when the orphan share would
    otherwise be above :data:`ORPHAN_SHARE` (:mod:`upsell_ab.metrics.sql_orphans`);
    None when not counted."""

    @property
    def orphan_share(self) -> float:
        return self.orphan_events / self.metric_events if self.metric_events else 0.0

    @property
    def total_units(self) -> int:
        return sum(self.exposures_by_variant.values())

    @property
    def multiple_exposure_share(self) -> float:
        denominator = self.total_units + self.multiple_exposure_units
        return self.multiple_exposure_units / denominator if denominator else 0.0


@dataclass(frozen=True)
class PercentileCap:
    """A percentile cap as computed: the ``level`` quantile of the units' POSITIVE
    values of one channel (``y``: the value or ratio numerator, ``x``: its CUPED
    covariate); ``value`` None when no unit had a positive value (nothing capped)."""

    metric: str
    channel: str
    level: float
    value: float | None
    positive_units: int


@dataclass(frozen=True)
class ExperimentData:
    experiment_id: str
    metrics: dict[str, MetricData]
    quality: QualitySummary
    first_exposure: date | None = None
    last_exposure: date | None = None
    origin: str | None = None
    """Where the statistics came from when not the event store (``summary CSV <file>``),
    so messages can speak of it."""
    caps: tuple[PercentileCap, ...] = ()
    """Percentile caps of the metrics that have one (for the quality notes)."""
    measured: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    """(event type, column ``val``/``disc``/``qty``) -> (events, events with a non-zero
    value) for every measured column a metric sums: all zero = column never filled."""
    empty_values: dict[tuple[str, str], dict[str, tuple[int, int]]] = field(default_factory=dict)
    """(event type, measured column as in ``measured``) -> variant -> (units with events
    of that type since their first exposure, units with one whose column is 0 or missing):
    an arm whose amounts went missing (:mod:`upsell_ab.decision.empty_values`)."""
    input_notes: tuple[str, ...] = ()
    """What reading the input assumed (a summary CSV without a metric column), shown
    among the report's notes."""
    periods: PeriodSplit | None = None
    """Statistics per allocation period when the weights changed (adaptive allocation);
    None for a fixed split."""
    slots: SlotSplit | None = None
    """Statistics per randomised time slot of a switchback spec (after the burn-in);
    None for a customer-randomised spec or input without slots (a summary CSV)."""
    event_type_rows: dict[str, int] = field(default_factory=dict)
    """Rows of each of the metrics' event types in the source (all units, all times)."""
    event_types_present: tuple[tuple[str | None, int], ...] = ()
    """Only when one of the metrics' types has no row at all: the types the events do
    hold, with their rows (most frequent first), for a did-you-mean."""
    exposure_ids: tuple[ExposureId, ...] = ()
    """Only when no unit was found: the experiment ids the exposures do hold (the most
    frequent first), so "waiting for data" can say why (an id the app spells otherwise,
    rows without a variant)."""
    running_totals: str | None = None
    """Only for a summary CSV whose daily tallies look cumulative (to date): why, as a
    sentence (:func:`upsell_ab.metrics.summary_csv.running_totals`)."""
    unit_id_samples: UnitIdSamples | None = None
    """Only when not one of the metrics' events belongs to a unit of the experiment: a few
    unit ids from each side, so the report can show how they differ."""
    near_miss_units: NearMissUnits | None = None
    """Only when the orphan share is above :data:`NEAR_MISS_CHECK_SHARE`: the orphan events whose
    unit id matches an exposed unit's once case, end blanks and leading zeros are ignored
    (:func:`upsell_ab.metrics.sql_values.near_miss_units_sql`)."""
    lookalike_events: LookalikeEvents | None = None
    """Only when the source holds an event type that equals a metric's type in another
    spelling (case, blanks, ``-``/``_``): that type's events of the exposed units per arm
    (:func:`upsell_ab.metrics.sql_values.lookalike_events_sql`)."""
    repeated_events: RepeatedEvents | None = None
    """Of the event types a metric sums or counts: per arm, events that repeat the unit's
    previous one of their type within seconds at the same amount (a tracker firing twice;
    :func:`upsell_ab.metrics.sql_values.repeated_events_sql`). None when no metric sums
    events or the query failed."""
    covariate_imbalances: tuple[CovariateImbalance, ...] = ()
    """CUPED covariates that differ between the arms far beyond chance, so they were
    dropped before the analysis (:func:`upsell_ab.stats.cuped.drop_imbalanced_covariates`)."""


@dataclass(frozen=True)
class CovariateImbalance:
    """A metric's pre-exposure covariate whose mean in ``variant`` differs from the
    control's with two-sided p = ``p_value``: a measure taken before assignment cannot
    (it includes the experiment period, or assignment is broken)."""

    metric: str
    variant: str
    control_mean: float
    variant_mean: float
    p_value: float


@dataclass(frozen=True)
class NearMissUnits:
    """Events that belong to no exposed unit but would, were the ids written alike:
    rows per arm of the unit they resemble, and one (event's id, exposure's id) pair."""

    rows_by_variant: dict[str, int]
    example: tuple[str, str] | None

    @property
    def rows(self) -> int:
        return sum(self.rows_by_variant.values())


REPEAT_SAMPLE_EVENTS = 100_000
"""The repeat check windows about this many events at most: above, a hash sample of the
units (1 in ``ceil(events / this)``). Its cost is then the two scans with the hash
filter: 10M customers from the store +0.44 s of 7.0 s (1M: +0.11 s of 1.2 s), where a
1-in-8 sample (a million events) cost +0.85 s and the whole window 5.0 s. A sample of
~100,000 events still holds tens of thousands of buying customers an arm: the gate's
power (tests/test_guard_repeated_events.py) needs hundreds."""


@dataclass(frozen=True)
class LookalikeEvents:
    """Events of the experiment's exposed units whose type is a metric's type in another
    spelling (``Upsell_Purchase`` for ``upsell_purchase``): no metric counts them."""

    meant: dict[str, str]
    """The look-alike type -> the metric's type it resembles."""
    rows: dict[tuple[str, str], int]
    """(variant, look-alike type) -> event rows of that arm's units (any time)."""

    @property
    def total(self) -> int:
        return sum(self.rows.values())


@dataclass(frozen=True)
class RepeatCount:
    """One arm's events of one type: how many, how many repeat the unit's previous one,
    and the same counted in units (units are independent, events of one unit are not)."""

    events: int
    repeats: int
    units: int
    units_repeating: int


@dataclass(frozen=True)
class RepeatedEvents:
    """Events that repeat the unit's previous event of their type within seconds, at the
    same amount, per (variant, event type), counted on 1 in ``sampled_one_in`` units (a
    hash sample)."""

    counts: dict[tuple[str, str], RepeatCount]
    sampled_one_in: int = 1


@dataclass(frozen=True)
class UnitIdSamples:
    """The smallest few unit ids (as text) of the experiment's exposures and of the
    metrics' events: ``C000008`` against ``8`` shows a join that cannot match."""

    exposures: tuple[str, ...]
    events: tuple[str, ...]


@dataclass(frozen=True)
class ExposureId:
    """One experiment id of the exposures: its rows, and how many of them name a variant."""

    experiment: str | None
    rows: int
    with_variant: int
