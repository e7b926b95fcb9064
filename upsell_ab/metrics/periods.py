"""Allocation periods as the data layer sees them: where the weights changed.

An adaptive (bandit) experiment changes its weights at recorded times. The
metric query then also groups the units by the period in which they were first
exposed (:mod:`.sql_periods`), so the statistics layer can weight every arm's
periods the same way (:mod:`upsell_ab.stats.period_weighted`) and test the
sample ratio against each period's weights (:mod:`upsell_ab.stats.srm_periods`).
The weights are data (read from the allocation history by whoever calls the
data layer); this module only holds them beside the statistics they explain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from upsell_ab.errors import StoreError
from upsell_ab.metrics.sufficient import MetricStats


class PeriodLike(Protocol):
    """What an allocation-history record offers (``upsell_ab.allocation.history``)."""

    @property
    def period_start(self) -> datetime: ...

    @property
    def weights(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class AllocationWindow:
    """Weights in force from ``start`` (UTC, inclusive) to the next window's start;
    ``start`` None: from the beginning (the spec's weights before the first update)."""

    start: datetime | None
    weights: dict[str, float]

    def __post_init__(self) -> None:
        if self.start is not None and self.start.tzinfo is not None:
            object.__setattr__(self, "start", self.start.astimezone(UTC).replace(tzinfo=None))


def allocation_windows(
    spec_weights: Mapping[str, float], periods: Iterable[PeriodLike]
) -> tuple[AllocationWindow, ...]:
    """The spec's weights from the beginning, then every recorded period in time order.
    Periods must start at distinct times; their weights name the spec's variants."""
    windows = [AllocationWindow(None, dict(spec_weights))]
    ordered = sorted(periods, key=lambda p: _naive(p.period_start))
    for period in ordered:
        missing = set(spec_weights) - set(period.weights)
        extra = set(period.weights) - set(spec_weights)
        if missing or extra:
            raise StoreError(
                f"allocation period starting {period.period_start.isoformat()} has weights for "
                f"{sorted(period.weights)}, the spec has variants {sorted(spec_weights)}"
            )
        window = AllocationWindow(
            _naive(period.period_start), {v: float(period.weights[v]) for v in spec_weights}
        )
        if len(windows) > 1 and windows[-1].start == window.start:
            raise StoreError(f"two allocation periods start at {period.period_start.isoformat()}")
        windows.append(window)
    return tuple(windows)


def _naive(moment: datetime) -> datetime:
    """UTC without tzinfo (the stores keep naive UTC timestamps)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


@dataclass(frozen=True)
class PeriodSplit:
    """Sufficient statistics per allocation window (index = position in ``windows``)."""

    windows: tuple[AllocationWindow, ...]
    units: tuple[dict[str, int], ...]
    """Per window: variant -> units first exposed in it (after exclusions)."""
    by_metric: dict[str, tuple[dict[str, MetricStats], ...]] = field(default_factory=dict)
    """Metric -> per window: variant -> statistics (empty arms present with n = 0)."""

    def weights(self) -> list[dict[str, float]]:
        return [dict(w.weights) for w in self.windows]

    def series(self, metric: str) -> Sequence[dict[str, MetricStats]]:
        return self.by_metric[metric]


__all__ = ["AllocationWindow", "PeriodLike", "PeriodSplit", "allocation_windows"]
