"""Exposures and events with known true effects, for demos, tests and benchmarks.

Per experiment: units arrive by the traffic pattern (``traffic.py``), carry
customer attributes (segment new/returning/vip, channel web/app/email/in_store,
past_orders), are assigned by the real :class:`~upsell_ab.assignment.Assigner`
(so weights, targeting and coverage hold exactly as in production), and then
behave according to the world's baseline rates times their variant's truth
(``truth.py``). Everything is drawn from one numpy Generator seeded with
``[seed, crc32(experiment id)]``: deterministic per seed, independent of
Python's randomised ``hash()`` and of the order experiments are listed in.

World model (``World``; the figures follow shared/domain.md): order values are
lognormal around 2,400 yen times a per-customer spend level (shared with the
pre-exposure history, so CUPED has a correlated covariate); 30-day repeat
purchase 35/50/65 % for new/returning/vip (about 47 % overall); 3 % of orders
refunded; 2 % unsubscribe (x2 on the e-mail channel); 0.4 % complain;
subscription offers start a subscription whose deliveries recur at the
offer's cadence, 20 % cancelled within 30 days.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from upsell_ab.simulate.journey import EventBuilder, Units
from upsell_ab.simulate.traffic import DEFAULT_START, TrafficPlan, arrival_times
from upsell_ab.simulate.truth import Truth, VariantTruth
from upsell_ab.simulate.world import CHANNELS, SEGMENTS, World
from upsell_ab.spec.holdout_analysis import HOLDOUT_VARIANT
from upsell_ab.spec.models import Experiment, Status

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from upsell_ab.spec.holdout_models import Holdout
    from upsell_ab.spec.resolve import ResolvedExperiment


@dataclass(frozen=True)
class SimulatedExperiment:
    """What was simulated for one experiment (for tests and the CLI summary)."""

    experiment_id: str
    units_arrived: int
    units_exposed: int
    truths: dict[str, VariantTruth]
    holdout: str | None = None
    """The programme holdout's id when a ``program.yaml`` holds customers out."""
    held_out: int = 0
    """Arriving customers in that holdout (programme exposure ``holdout``, no offer)."""


def stable_seed(seed: int, experiment_id: str) -> list[int]:
    """Seed material for numpy: the user's seed and a CRC-32 of the experiment
    id (stable across processes, unlike ``hash()``)."""
    return [int(seed) & 0xFFFFFFFF, zlib.crc32(experiment_id.encode("utf-8"))]


def _as_experiment(item: Experiment | ResolvedExperiment) -> Experiment:
    return item if isinstance(item, Experiment) else item.experiment


def simulate(
    experiments: Sequence[Experiment | ResolvedExperiment],
    *,
    units: int,
    days: int = 14,
    seed: int = 0,
    start: date | None = None,
    truth: Truth | None = None,
    world: World | None = None,
    multiple_exposure_share: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exposures and events (canonical store columns) for each experiment.

    ``units`` customers arrive per experiment over ``days`` (from ``start``,
    else the spec's start, else ``DEFAULT_START``); those the Assigner puts in
    the experiment are exposed. ``multiple_exposure_share`` of exposed units
    also get an exposure to another variant (a cookie reset): a data problem.
    """
    exposures, events, _ = simulate_detailed(
        experiments,
        units=units,
        days=days,
        seed=seed,
        start=start,
        truth=truth,
        world=world,
        multiple_exposure_share=multiple_exposure_share,
    )
    return exposures, events


def simulate_detailed(
    experiments: Sequence[Experiment | ResolvedExperiment],
    *,
    units: int,
    days: int = 14,
    seed: int = 0,
    start: date | None = None,
    truth: Truth | None = None,
    world: World | None = None,
    multiple_exposure_share: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame, list[SimulatedExperiment]]:
    """:func:`simulate` plus what was simulated per experiment (units, truths)."""
    import pandas as pd

    if units < 1 or days < 1:
        raise ValueError(f"units and days must be >= 1, got units={units}, days={days}")
    results = [
        simulate_one(
            _as_experiment(item),
            units=units,
            days=days,
            seed=seed,
            start=start,
            truth=truth or Truth(),
            world=world or World(),
            multiple_exposure_share=multiple_exposure_share,
            holdout=_holdout(item),
        )
        for item in experiments
    ]
    exposures = pd.concat([r[0] for r in results], ignore_index=True)
    events = pd.concat([r[1] for r in results], ignore_index=True)
    return exposures, events, [r[2] for r in results]


@dataclass(frozen=True)
class Population:
    """The customers who arrive for one experiment, before assignment."""

    rng: np.random.Generator
    unit_ids: np.ndarray
    arrivals: np.ndarray
    segment: np.ndarray
    channel: np.ndarray
    attributes: pd.DataFrame


def arrive(
    experiment: Experiment, *, units: int, days: int, seed: int, start: date | None, world: World
) -> Population:
    """Arrival times and attributes of ``units`` customers (the first draws of the
    experiment's Generator, so every later draw depends only on the seed)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(stable_seed(seed, experiment.id))
    plan = TrafficPlan(start=start or experiment.start or DEFAULT_START, days=days)
    arrivals = arrival_times(plan, units, rng)
    unit_ids = np.array([f"{experiment.id}-{i:07d}" for i in range(units)], dtype=object)
    segment = rng.choice(len(SEGMENTS), size=units, p=world.segment_shares)
    channel = rng.choice(len(CHANNELS), size=units, p=world.channel_shares)
    past_orders = np.where(
        segment == 0,
        0,
        np.where(segment == 1, 1 + rng.poisson(3, units), 8 + rng.poisson(6, units)),
    )
    attributes = pd.DataFrame(
        {
            experiment.population.unit: unit_ids,
            "segment": np.asarray(SEGMENTS, dtype=object)[segment],
            "channel": np.asarray(CHANNELS, dtype=object)[channel],
            "past_orders": past_orders,
        }
    )
    return Population(rng, unit_ids, arrivals, segment, channel, attributes)


def behave(
    experiment: Experiment,
    population: Population,
    assigned: np.ndarray,
    truths: dict[str, VariantTruth],
    world: World,
    multiple_exposure_share: float = 0.0,
    rows: np.ndarray | None = None,
    slots: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Exposures and events of the assigned customers among ``rows`` (all by default):
    (exposures, events, units logged). ``slots``: each customer's slot key when time
    slots were randomised (a switchback), for the slot shock of the take rate."""
    import numpy as np

    rng = population.rng
    units = len(population.unit_ids)
    keep = np.ones(units, dtype=bool)
    for variant_id, variant_truth in truths.items():
        mask = assigned == variant_id
        if rows is not None:
            mask &= np.isin(np.arange(units), rows)
        if variant_truth.exposure_keep < 1.0:
            keep[mask] = rng.random(int(mask.sum())) < variant_truth.exposure_keep
    in_experiment = np.array([v is not None for v in assigned], dtype=bool)
    if rows is not None:
        in_experiment &= np.isin(np.arange(units), rows)
    idx = np.flatnonzero(in_experiment)
    units_state = Units(
        ids=population.unit_ids[idx],
        variant=assigned[idx],
        exposed_at=population.arrivals[idx],
        segment=population.segment[idx],
        channel=population.channel[idx],
        logged=keep[idx],
        slot=None if slots is None else slots[idx],
    )
    exposures = _exposure_frame(
        experiment,
        units_state,
        population.attributes.iloc[idx],
        rng,
        world,
        multiple_exposure_share,
    )
    events = EventBuilder(experiment, units_state, truths, world, rng).build()
    return exposures, events, int(units_state.logged.sum())


def _holdout(item: Experiment | ResolvedExperiment) -> Holdout | None:
    """The programme holdout of a spec loaded from a file (``program.yaml`` beside it)."""
    from upsell_ab.spec.program import holdout_of

    return holdout_of(getattr(item, "source_file", None))


def simulate_one(
    experiment: Experiment,
    *,
    units: int,
    days: int,
    seed: int,
    start: date | None,
    truth: Truth,
    world: World,
    multiple_exposure_share: float = 0.0,
    holdout: Holdout | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, SimulatedExperiment]:
    """One experiment: (exposures, events, summary); customers in the programme's
    ``holdout`` are never exposed, as the production assigner keeps them out, and every
    arriving customer gets a programme exposure (:mod:`upsell_ab.simulate.programme`)."""
    import numpy as np
    import pandas as pd

    from upsell_ab.assignment import Assigner

    population = arrive(experiment, units=units, days=days, seed=seed, start=start, world=world)
    # a draft is simulated as if it were running (the assigner refuses non-running specs)
    live = experiment.model_copy(update={"status": Status.running})
    slots = None
    if experiment.randomization.is_switchback:
        from upsell_ab.simulate.slots import slot_assignment

        # the till hashes the hour, not the customer; the programme holdout does not
        # apply to slots (docs/switchback.md)
        slots, plain = slot_assignment(live, population.arrivals)
        holdout = None
    else:
        plain = np.asarray(
            Assigner(live).assign_many(population.unit_ids, population.attributes), dtype=object
        )
    truths = truth.resolve(experiment)
    # drawn as without a holdout, so a seed's data for everyone else stay the same
    exposures, events, logged = behave(
        experiment, population, plain, truths, world, multiple_exposure_share, slots=slots
    )
    held_out = 0
    if holdout is not None:
        from upsell_ab.simulate.programme import drop_units, programme_data

        assigned = np.asarray(
            Assigner(live, holdout=holdout).assign_many(population.unit_ids, population.attributes),
            dtype=object,
        )
        held = np.array([a is None and p is not None for a, p in zip(assigned, plain, strict=True)])
        gone = population.unit_ids[held]
        exposures, events = drop_units(exposures, gone), drop_units(events, gone)
        logged = int(exposures["unit_id"].nunique())
        extra_exposures, extra_events = programme_data(
            experiment, population, assigned, holdout, seed=seed, world=world
        )
        held_out = int((extra_exposures["variant"] == HOLDOUT_VARIANT).sum())
        exposures = pd.concat([exposures, extra_exposures], ignore_index=True)
        events = pd.concat([events, extra_events], ignore_index=True)
    summary = SimulatedExperiment(
        experiment_id=experiment.id,
        units_arrived=units,
        units_exposed=logged,
        truths=truths,
        holdout=holdout.id if holdout is not None else None,
        held_out=held_out,
    )
    return exposures, events, summary


def _exposure_frame(
    experiment: Experiment,
    units: Units,
    attributes: pd.DataFrame,
    rng: np.random.Generator,
    world: World,
    multiple_exposure_share: float,
) -> pd.DataFrame:
    """First exposures, some later re-exposures to the same variant, and
    optionally exposures to a second variant; rows of unlogged units dropped."""
    import numpy as np
    import pandas as pd

    n = len(units.ids)
    base = pd.DataFrame(
        {
            "experiment": experiment.id,
            "variant": units.variant,
            "unit_id": units.ids,
            "timestamp": units.exposed_at,
            "segment": attributes["segment"].to_numpy(),
            "channel": attributes["channel"].to_numpy(),
            "past_orders": attributes["past_orders"].astype(str).to_numpy(),
        }
    )
    parts = [base]
    again = rng.random(n) < world.re_exposure_share
    later = base[again].copy()
    later["timestamp"] = later["timestamp"] + pd.to_timedelta(
        rng.uniform(3600, 5 * 86400, int(again.sum())), unit="s"
    )
    parts.append(later)
    if multiple_exposure_share > 0:
        ids = [v.id for v in experiment.variants]
        other = rng.random(n) < multiple_exposure_share
        switched = base[other].copy()
        shift = rng.integers(1, len(ids), int(other.sum()))
        position = np.array([ids.index(v) for v in switched["variant"]], dtype=int)
        switched["variant"] = np.asarray(ids, dtype=object)[(position + shift) % len(ids)]
        switched["timestamp"] = switched["timestamp"] + pd.to_timedelta(
            rng.uniform(600, 3 * 86400, int(other.sum())), unit="s"
        )
        parts.append(switched)
    frame = pd.concat(parts, ignore_index=True)
    lost = set(units.ids[~units.logged])
    if lost:
        frame = frame[~frame["unit_id"].isin(lost)]
    frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
    frame.insert(4, "event_id", [f"x-{experiment.id}-{i}" for i in range(len(frame))])
    return frame
