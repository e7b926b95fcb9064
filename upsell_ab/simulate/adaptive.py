"""A bandit experiment simulated as production runs it (issue 14).

A fixed split is simulated in one go (:func:`upsell_ab.simulate.generate.simulate_one`).
A bandit cannot be: its weights depend on the data so far. So, period by period
(``allocation.update_every`` from the spec's start):

1. the customers arriving in the period are assigned by
   :func:`upsell_ab.allocation.assign.bandit_assigner` (the weights in force, read from
   the store's allocation history) with a sticky store in the same DuckDB file, exactly
   what an app calls;
2. their exposures and events are drawn by the same world and truth as a fixed split,
   and the events are released to the store only once they have happened: an event
   is ingested at the end of the period in which its timestamp falls, so no update
   ever sees the future;
3. at the period's end :func:`upsell_ab.allocation.update.allocate` (the code behind
   ``upsell-ab allocate``) records the next period's weights from the store.

Events after the last period (long metric windows) are ingested at the end, and so
are the programme exposures and the no-offer behaviour of customers the bandit did not
offer anything when a ``program.yaml`` holdout exists
(:mod:`upsell_ab.simulate.programme`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from upsell_ab.simulate.generate import SimulatedExperiment, arrive, behave
from upsell_ab.simulate.traffic import DEFAULT_START
from upsell_ab.simulate.truth import Truth
from upsell_ab.simulate.world import World
from upsell_ab.spec.models import Status

if TYPE_CHECKING:
    import pandas as pd

    from upsell_ab.allocation.update import AllocationUpdate
    from upsell_ab.spec.resolve import ResolvedExperiment


@dataclass(frozen=True)
class AdaptiveRun:
    """What the adaptive simulation did: the summary and every allocation update."""

    summary: SimulatedExperiment
    updates: list[AllocationUpdate] = field(default_factory=list)


def simulate_bandit(
    resolved: ResolvedExperiment,
    store: str | Path,
    *,
    units: int,
    days: int,
    seed: int = 0,
    start: date | None = None,
    truth: Truth | None = None,
    world: World | None = None,
) -> AdaptiveRun:
    """Simulate ``resolved`` (a bandit spec) into ``store``, calling ``allocate`` at the
    end of every update period (see the module docstring)."""
    import numpy as np

    from upsell_ab.allocation.assign import bandit_assigner
    from upsell_ab.allocation.update import UpdateStatus, allocate
    from upsell_ab.assignment.sticky import StoreSticky
    from upsell_ab.events.store import EventStore

    experiment = resolved.experiment
    live = experiment.model_copy(update={"status": Status.running})
    world = world or World()
    first_day = start or experiment.start or DEFAULT_START
    population = arrive(live, units=units, days=days, seed=seed, start=first_day, world=world)
    truths = (truth or Truth()).resolve(experiment)
    step = experiment.allocation.update_every
    begin = datetime(first_day.year, first_day.month, first_day.day)
    finish = begin + timedelta(days=days)
    sticky = StoreSticky(store)
    from upsell_ab.spec.program import holdout_of

    holdout = holdout_of(resolved.source_file)
    arrivals = population.arrivals.astype("datetime64[us]")
    assigned = np.full(len(population.unit_ids), None, dtype=object)
    pending: list[pd.DataFrame] = []
    updates: list[AllocationUpdate] = []
    logged = 0
    period, moment = 0, begin
    while moment < finish:
        end = min(moment + step, finish)
        rows = np.flatnonzero(
            (arrivals >= np.datetime64(moment, "us")) & (arrivals < np.datetime64(end, "us"))
        )
        if len(rows):
            assigner = bandit_assigner(
                live, store=store, sticky=sticky, at=_utc(moment), holdout=holdout
            )
            chosen = np.asarray(
                assigner.assign_many(population.unit_ids[rows], population.attributes.iloc[rows]),
                dtype=object,
            )
            assigned[rows] = chosen
            exposures, events, count = behave(live, population, assigned, truths, world, rows=rows)
            logged += count
            tag = f"p{period}"
            exposures["event_id"] = [f"x-{experiment.id}-{tag}-{i}" for i in range(len(exposures))]
            events["event_id"] = [f"e-{experiment.id}-{tag}-{i}" for i in range(len(events))]
            pending.append(events)
            with EventStore(store) as target:
                target.ingest_exposures(exposures, source_name=f"simulate {tag}")
        pending = _release(store, pending, before=end, tag=f"p{period}")
        if end < finish:
            update = allocate(resolved, store=store, at=_utc(end))
            if update.status is UpdateStatus.recorded:
                updates.append(update)
        period, moment = period + 1, end
    _release(store, pending, before=None, tag="late")
    held_out = 0
    if holdout is not None:
        from upsell_ab.simulate.programme import programme_data
        from upsell_ab.spec.holdout_analysis import HOLDOUT_VARIANT

        programme_exposures, programme_events = programme_data(
            live, population, assigned, holdout, seed=seed, world=world
        )
        held_out = int((programme_exposures["variant"] == HOLDOUT_VARIANT).sum())
        with EventStore(store) as target:
            target.ingest_exposures(programme_exposures, source_name="simulate programme")
            target.ingest_events(programme_events, source_name="simulate programme")
    summary = SimulatedExperiment(
        experiment_id=experiment.id,
        units_arrived=units,
        units_exposed=logged,
        truths=truths,
        holdout=holdout.id if holdout is not None else None,
        held_out=held_out,
    )
    return AdaptiveRun(summary, updates)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)


def _release(
    store: str | Path, pending: list[pd.DataFrame], *, before: datetime | None, tag: str
) -> list[pd.DataFrame]:
    """Ingest the pending events that happened before ``before`` (all when None); return
    the rest."""
    import numpy as np
    import pandas as pd

    from upsell_ab.events.store import EventStore

    if not pending:
        return []
    events = pd.concat(pending, ignore_index=True)
    if before is None:
        due = np.ones(len(events), dtype=bool)
    else:
        due = (events["timestamp"] < np.datetime64(before, "us")).to_numpy()
    if due.any():
        with EventStore(store) as target:
            target.ingest_events(events[due], source_name=f"simulate {tag}")
    rest = events[~due]
    return [rest] if len(rest) else []
