"""The allocation of an adaptive (bandit) experiment, period by period, for the report.

Issue 14 asks that the report "say that allocation was adaptive, show the weights over
time as a chart (HTML) and a table (Markdown)". The weights are the recorded allocation
history (what assignment used), the units are those first exposed in each period (what
the data shows), so a reader can see both the bandit's decisions and whether traffic
followed them (the SRM test over periods checks the latter formally).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from upsell_ab.metrics.periods import PeriodSplit


@dataclass(frozen=True)
class AllocationPeriodReport:
    """Weights in force from ``start`` (None: the spec's weights from the beginning) and
    the units first exposed in that period, per variant."""

    start: datetime | None
    weights: dict[str, float]
    units: dict[str, int]

    @property
    def label(self) -> str:
        return "start" if self.start is None else self.start.strftime("%Y-%m-%d %H:%M")

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": None if self.start is None else self.start.isoformat(),
            "weights": dict(self.weights),
            "units": dict(self.units),
        }


def allocation_report(periods: PeriodSplit | None) -> list[AllocationPeriodReport] | None:
    """One row per allocation period when the weights changed; None for a fixed split."""
    if periods is None or len(periods.windows) < 2:
        return None
    return [
        AllocationPeriodReport(window.start, dict(window.weights), dict(units))
        for window, units in zip(periods.windows, periods.units, strict=True)
    ]
