"""What the data layer hands to the statistics layer for one experiment.

Only aggregates: per-variant sufficient statistics per metric (overall, per
segment, and cumulative per day for sequential looks and time-series charts)
plus a data-quality summary. No raw rows, no DataFrames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from upsell_ab.metrics.sufficient import MetricStats


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


@dataclass(frozen=True)
class QualitySummary:
    """Data-quality counts; the SRM test itself is run by ``stats.srm``."""

    exposures_by_variant: dict[str, int]
    """Units (first exposures, after exclusions) per configured variant."""
    configured_weights: dict[str, float]
    multiple_exposure_units: int = 0
    """Units exposed to more than one variant: excluded from every metric."""
    orphan_events: int = 0
    """Events of units never exposed to this experiment."""
    events_before_exposure: int = 0
    """Events of exposed units before their first exposure (not counted; may feed CUPED)."""
    events_outside_window: int = 0
    """Events after first exposure but outside every metric's attribution window."""
    duplicates_dropped: int = 0
    unknown_variants: dict[str, int] = field(default_factory=dict)
    """Exposure rows naming a variant the spec does not have: variant -> units."""

    @property
    def total_units(self) -> int:
        return sum(self.exposures_by_variant.values())

    @property
    def multiple_exposure_share(self) -> float:
        denominator = self.total_units + self.multiple_exposure_units
        return self.multiple_exposure_units / denominator if denominator else 0.0


@dataclass(frozen=True)
class ExperimentData:
    experiment_id: str
    metrics: dict[str, MetricData]
    quality: QualitySummary
    first_exposure: date | None = None
    last_exposure: date | None = None
