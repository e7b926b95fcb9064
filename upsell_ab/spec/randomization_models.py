"""What is randomised: the population's unit (default) or time slots (a switchback).

``randomization: {unit: time_slot, slot: hour, timezone: Asia/Tokyo, burn_in_minutes: 10}``
gives every hour of the shop's local time one arm, by hashing the slot key with the
experiment's seed (:mod:`upsell_ab.assignment.switchback`); for shops whose walk-in
customers have no id. The analysis then treats the slot as the unit
(:mod:`upsell_ab.stats.switchback`, docs/switchback.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, field_validator, model_validator

from upsell_ab.spec.base import Model
from upsell_ab.spec.findings import Finding, check
from upsell_ab.spec.suggest import did_you_mean

if TYPE_CHECKING:
    from upsell_ab.assignment.switchback import SlotClock


class SlotLength(StrEnum):
    """How long one randomised slot lasts (``day_of_week``: every Monday is one slot)."""

    hour = "hour"
    day = "day"
    day_of_week = "day_of_week"


SLOT_MINUTES = {SlotLength.hour: 60, SlotLength.day: 1440, SlotLength.day_of_week: 1440}


class RandomizationUnit(StrEnum):
    population = "population"
    """Hash ``population.unit`` (a customer id): the default."""
    time_slot = "time_slot"
    """Hash the time slot: a switchback design."""


class Randomization(Model):
    unit: RandomizationUnit = RandomizationUnit.population
    slot: SlotLength = SlotLength.hour
    """Length of one randomised slot: hour, day, or day_of_week (every Monday one slot)."""
    timezone: str = "UTC"
    """IANA time zone of the shop's clock (``Asia/Tokyo``): slots start at local hours."""
    burn_in_minutes: Annotated[int, Field(ge=0, le=1439)] = 0
    """Visits in a slot's first minutes are left out of the analysis (carry-over)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import available_timezones

        zones = available_timezones()
        if value not in zones:
            guess = did_you_mean(value, sorted(zones))
            raise ValueError(
                f"unknown time zone {value!r}"
                + (f"; did you mean '{guess}'?" if guess else "")
                + " (an IANA name such as 'Asia/Tokyo' or 'Europe/Berlin')"
            )
        return value

    @model_validator(mode="after")
    def _burn_in_fits(self) -> Randomization:
        limit = SLOT_MINUTES[self.slot]
        findings = []
        if self.unit is RandomizationUnit.time_slot and self.burn_in_minutes >= limit:
            findings.append(
                Finding(
                    ("burn_in_minutes",),
                    f"a burn-in of {self.burn_in_minutes} minutes leaves nothing of the "
                    f"{limit}-minute slot ({self.slot.value})",
                    f"use fewer than {limit} minutes",
                )
            )
        check(findings)
        return self

    @property
    def is_switchback(self) -> bool:
        return self.unit is RandomizationUnit.time_slot

    def clock(self) -> SlotClock:
        """The slot clock assignment and analysis share."""
        from upsell_ab.assignment.switchback import SlotClock

        return SlotClock(self.slot, self.timezone, self.burn_in_minutes)
