"""Switchback assignment: randomise time slots, not customers (issue 14).

Why. A cafe's walk-in customers have no id to hash. A switchback design gives every
time slot (an hour, a day, a day of the week) one arm, and every customer served in
that slot sees it. The slot's arm comes from the same deterministic GrowthBook hashing
as a customer's: the slot key (``2026-12-04T10`` for an hour, ``2026-12-04`` for a
day, ``dow-1`` for every Monday) is hashed with the experiment's seed as the unit id
would be, so :meth:`Assigner.assign` and :meth:`Assigner.assign_many` on slot keys
give the same arms by construction. Bojinov, Simchi-Levi & Zhao (2023), "Design and
analysis of switchback experiments", Management Science 69(7).

Carry-over: an offer shown just before a switch can still act after it (a poster left
on the counter, a queue formed under the old wording). ``burn_in_minutes`` marks the
first minutes of each slot; their events are left out of the analysis.

Times: an aware datetime is converted to the slot clock's time zone; a naive one is
read as local time in that zone (a till's clock).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from upsell_ab.spec.randomization_models import SlotLength

if TYPE_CHECKING:
    from upsell_ab.assignment.assigner import Assigner, Assignment


@dataclass(frozen=True)
class SlotClock:
    """Maps a time to its slot key, slot start and burn-in flag."""

    slot: SlotLength | str = SlotLength.hour
    timezone: str = "UTC"
    burn_in_minutes: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "slot", SlotLength(self.slot))
        ZoneInfo(self.timezone)  # raises ZoneInfoNotFoundError for an unknown zone
        if self.burn_in_minutes < 0:
            raise ValueError(f"burn_in_minutes must be >= 0, got {self.burn_in_minutes}")

    def local(self, at: datetime) -> datetime:
        """``at`` as naive local time in the clock's zone."""
        if at.tzinfo is None:
            return at
        return at.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)

    def start(self, at: datetime) -> datetime:
        """Local start of the slot containing ``at``."""
        local = self.local(at)
        if self.slot is SlotLength.hour:
            return local.replace(minute=0, second=0, microsecond=0)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    def key(self, at: datetime) -> str:
        """The hashed slot key: ``YYYY-MM-DDTHH``, ``YYYY-MM-DD`` or ``dow-N`` (1 = Monday)."""
        start = self.start(at)
        if self.slot is SlotLength.hour:
            return start.strftime("%Y-%m-%dT%H")
        if self.slot is SlotLength.day:
            return start.strftime("%Y-%m-%d")
        return f"dow-{start.isoweekday()}"

    def keys(self, times: Iterable[datetime]) -> list[str]:
        """Slot key per time (bulk twin of :meth:`key`)."""
        return [self.key(t) for t in times]

    def in_burn_in(self, at: datetime) -> bool:
        """True when ``at`` falls in the first ``burn_in_minutes`` of its slot."""
        if not self.burn_in_minutes:
            return False
        return self.local(at) - self.start(at) < timedelta(minutes=self.burn_in_minutes)


def assign_at(assigner: Assigner, clock: SlotClock, at: datetime) -> Assignment:
    """The arm of the slot containing ``at`` (the slot key hashed as a unit id)."""
    return assigner.assign(clock.key(at))


def assign_many_at(
    assigner: Assigner, clock: SlotClock, times: Sequence[datetime]
) -> list[str | None]:
    """Arm per time, by the bulk assigner on the slot keys (identical to :func:`assign_at`)."""
    return list(assigner.assign_many(clock.keys(times)))
