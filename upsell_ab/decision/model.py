"""The outcome of an experiment: what to do, and why in plain words."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Action(StrEnum):
    ship = "ship"
    keep_control = "keep_control"
    keep_running = "keep_running"
    invalid = "invalid"
    """SRM or a data problem: never a winner."""
    waiting_for_data = "waiting_for_data"
    """Running, but no unit has been exposed yet (a new spec, or the store has no data for it)."""


@dataclass(frozen=True)
class Outcome:
    action: Action
    variant: str | None
    """The variant to ship (``ship``), else None."""
    reasons: list[str] = field(default_factory=list)
    additional_units_needed: int | None = None
    """``keep_running``: units per variant still needed for the spec's MDE."""
    additional_days_needed: float | None = None
    guardrails_breached: list[str] = field(default_factory=list)
    """Guardrail metrics that failed non-inferiority for some treatment."""
    metric: str | None = None
    """The decision metric the rule was applied to (the primary unless the spec says so)."""
    warnings: list[str] = field(default_factory=list)
    """Data-quality warnings shown in the headline of every report (the verdict stands);
    see :mod:`upsell_ab.decision.gates`."""
    planned_look: date | None = None
    """A running fixed-horizon test past its planned sample without an end date: the day
    its verdict is held to (:mod:`upsell_ab.decision.horizon`); else None."""
    guardrails_unverifiable: list[str] = field(default_factory=list)
    """Guardrail metrics whose events the source does not hold at all: their test on
    all-zero data proves nothing, so no report may call them held."""
