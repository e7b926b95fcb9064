"""How traffic is split over time: fixed weights, or a Thompson-sampling bandit.

``allocation: {kind: fixed}`` (the default) keeps the variants' spec weights for
the whole experiment. ``kind: bandit`` starts at the spec weights, waits for the
burn-in, then every ``update_every`` sets each arm's weight to its posterior
probability of being best on ``metric`` (default: the decision metric, so a
profit-after-discount metric works), never below ``floor``. The cross-field
rules (at least two arms, ``floor x arms <= 1``, a start date, a metric the
experiment measures) are in :mod:`upsell_ab.spec.allocation_rules`; the
weights themselves are computed by :mod:`upsell_ab.allocation`.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator

from upsell_ab.spec.base import Duration, Identifier, Model

DEFAULT_FLOOR = 0.05
"""Minimum weight per arm of a bandit unless the spec says otherwise (5 %)."""


class AllocationKind(StrEnum):
    fixed = "fixed"
    bandit = "bandit"


class BurnIn(Model):
    """Traffic at the spec's weights before the first update: both conditions must hold."""

    days: Annotated[int, Field(ge=0, le=3650)] = 0
    """Whole days since the experiment's start."""
    units: Annotated[int, Field(ge=0, le=10**9)] = 0
    """Units every arm must have (the allocation metric's n)."""


class StopRule(Model):
    """Stop moving weights once the leading arm is clear (the Bayesian decision rule's
    two thresholds). With both given, both must hold."""

    prob_best: Annotated[float, Field(gt=0.5, lt=1.0)] | None = None
    """The leading arm's posterior P(best) at or above this."""
    expected_loss: Annotated[float, Field(gt=0.0)] | None = None
    """The leading arm's expected loss (in the metric's units) at or below this."""


class Allocation(Model):
    kind: AllocationKind = AllocationKind.fixed
    metric: Identifier | None = None
    """The metric the bandit optimises; None = the decision metric (or the primary)."""
    update_every: Duration = timedelta(days=1)
    """Length of one allocation period (``1d``, ``12h``, ``1w``); periods start at the
    experiment's start (00:00 UTC)."""
    burn_in: BurnIn = BurnIn()
    floor: Annotated[float, Field(ge=0.0, le=1.0)] = DEFAULT_FLOOR
    """Minimum weight of every arm after an update (0.05 = 5 %)."""
    stop: StopRule | None = None

    @field_validator("update_every")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("update_every must be at least 1m")
        return value

    @property
    def is_bandit(self) -> bool:
        return self.kind is AllocationKind.bandit
