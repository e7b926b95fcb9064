"""Daily traffic with a weekday pattern and a time-of-day curve.

Why: sequential looks and daily charts are only tested honestly when units
arrive unevenly (weekends busier in e-commerce, evenings busier than nights),
and the ``plan``/keep-running statements convert units into days using the
observed daily traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

WEEKDAY_WEIGHTS: tuple[float, ...] = (0.95, 0.92, 0.93, 0.97, 1.05, 1.12, 1.06)
"""Relative traffic Monday..Sunday (Saturday busiest), normalised when drawn."""

HOUR_WEIGHTS: tuple[float, ...] = (
    0.6, 0.4, 0.3, 0.2, 0.2, 0.3, 0.6, 1.0, 1.3, 1.4, 1.5, 1.6,
    1.8, 1.6, 1.5, 1.5, 1.6, 1.8, 2.0, 2.4, 2.6, 2.4, 1.8, 1.1,
)  # fmt: skip
"""Relative traffic per hour of day (evening peak)."""

DEFAULT_START = date(2025, 3, 3)
"""A Monday; used when neither the call nor the spec gives a start (keeps runs reproducible)."""


@dataclass(frozen=True)
class TrafficPlan:
    """When units arrive: the first day and how many days."""

    start: date
    days: int

    def day_weights(self) -> np.ndarray:
        """Share of the period's traffic falling on each day (sums to 1)."""
        import numpy as np

        weights = np.array(
            [WEEKDAY_WEIGHTS[(self.start + timedelta(days=d)).weekday()] for d in range(self.days)]
        )
        return np.asarray(weights / weights.sum())


def arrival_times(
    plan: TrafficPlan, units: int, rng: np.random.Generator
) -> npt.NDArray[np.datetime64]:
    """One arrival timestamp per unit (sorted), day by the weekday pattern,
    hour by ``HOUR_WEIGHTS``, uniform within the hour; naive UTC, microseconds."""
    import numpy as np

    if plan.days < 1:
        raise ValueError("days must be >= 1")
    day = rng.choice(plan.days, size=units, p=plan.day_weights())
    hours = np.asarray(HOUR_WEIGHTS) / sum(HOUR_WEIGHTS)
    hour = rng.choice(24, size=units, p=hours)
    seconds = day * 86400 + hour * 3600 + rng.uniform(0, 3600, size=units)
    base = np.datetime64(datetime.combine(plan.start, datetime.min.time()), "us")
    stamps = base + (seconds * 1e6).astype("int64").astype("timedelta64[us]")
    return np.sort(stamps)


def daily_counts(stamps: npt.NDArray[np.datetime64], plan: TrafficPlan) -> list[int]:
    """Units per day of the plan (for tests and the daily-traffic estimate)."""
    import numpy as np

    base = np.datetime64(plan.start, "D")
    index = (stamps.astype("datetime64[D]") - base).astype(int)
    return [int(c) for c in np.bincount(index, minlength=plan.days)[: plan.days]]
