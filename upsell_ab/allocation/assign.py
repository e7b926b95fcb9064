"""Assignment for a bandit: the latest recorded weights, sticky when they changed.

:func:`bandit_assigner` is what an app (or ``upsell-ab assign``) uses for a spec with
``allocation: bandit``: the weights of the allocation period in force now, from the
store's history. Once the weights differ from the first period's, a unit's variant
would move with the bucket boundaries, so a sticky store is required and its absence is
refused, never a silent reshuffle.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from upsell_ab.errors import InputError, Location, Problem

if TYPE_CHECKING:
    from upsell_ab.assignment.assigner import Assigner
    from upsell_ab.assignment.sticky import StickyAssigner, StickyStore
    from upsell_ab.spec.holdout_models import Holdout
    from upsell_ab.spec.models import Experiment


def bandit_assigner(
    experiment: Experiment,
    *,
    store: str | Path | None = None,
    sticky: StickyStore | None = None,
    at: datetime | None = None,
    holdout: Holdout | None = None,
) -> Assigner | StickyAssigner:
    """The assigner with the weights in force at ``at`` (now by default). Fixed specs get
    the spec's weights (and ``sticky`` when given); ``holdout``: the programme's."""
    from upsell_ab.allocation.history import as_utc, load_allocation_periods, weights_at
    from upsell_ab.assignment.assigner import Assigner
    from upsell_ab.assignment.sticky import StickyAssigner

    periods = load_allocation_periods(store, experiment)
    moment = as_utc(at) if at is not None else datetime.now(UTC)
    current = (
        weights_at(periods, moment).weights
        if moment >= periods[0].period_start
        else (periods[0].weights)
    )
    changed = any(
        abs(float(p.weights[v]) - float(periods[0].weights[v])) > 1e-12
        for p in periods
        if p.period_start <= moment
        for v in p.weights
    )
    if changed and sticky is None:
        raise InputError(
            [
                Problem(
                    Location(field="allocation"),
                    f"{experiment.id}: the bandit's weights changed since its first period; "
                    "assigning without a sticky store would move customers between offers",
                    "keep first assignments: `upsell-ab assign --sticky`, "
                    "sticky=StoreSticky(store) in Python, or your own StickyStore (a cookie, "
                    "Redis, your database), so every customer keeps the first offer they saw",
                    code="not_sticky",
                )
            ]
        )
    assigner = Assigner(experiment, weights=dict(current), holdout=holdout)
    return StickyAssigner(assigner, sticky) if sticky is not None else assigner
