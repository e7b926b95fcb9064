"""The programme's long-term holdout in simulated data (issue 15 part 3).

With a ``program.yaml`` holdout, the shop logs one *programme exposure* per customer
(experiment = the holdout's id, variant ``holdout`` or ``programme``,
:mod:`upsell_ab.spec.holdout_analysis`), so ``upsell-ab holdout`` and the report can
compare the whole upsell programme with doing nothing. The simulator does the same for
every customer who arrives for an experiment:

- a programme exposure at the customer's arrival (the experiment's exposure moment):
  ``holdout`` when the production assigner kept the customer out for the holdout,
  ``programme`` otherwise (offered or not: the comparison is intention-to-treat, as a
  real holdout is);
- customers who see no offer of the experiment (held out, or outside its targeting,
  coverage or namespace) behave as the world does without any offer: the order at the
  touchpoint, repeat purchases, refunds, unsubscribes, complaints, late repeats and
  survey answers, with pressure 0 (:class:`~upsell_ab.simulate.journey.EventBuilder`
  with a no-offer truth at the experiment's touchpoint). Customers in the experiment
  keep the events their variant gave them, so the programme's stated effect is the
  variants' stated effects weighted by how many programme customers saw each.

Everything here is drawn from its own Generator, seeded ``[seed, crc32(experiment id),
PROGRAMME_STREAM]``: the experiment's own data for a seed stay exactly as without a
holdout (customers held out are only removed from it).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from upsell_ab.simulate.journey import EventBuilder, Units
from upsell_ab.simulate.truth import VariantTruth
from upsell_ab.simulate.world import World, touchpoint
from upsell_ab.spec.holdout_analysis import HOLDOUT_VARIANT, PROGRAMME_VARIANT
from upsell_ab.spec.models import Experiment

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from upsell_ab.simulate.generate import Population
    from upsell_ab.spec.holdout_models import Holdout

PROGRAMME_STREAM = 0x15_0003
"""Third word of the programme generator's seed (issue 15, part 3): a stream apart from
the experiment's own."""
NO_OFFER = "no_offer"
"""The variant id the no-offer behaviour is drawn under (never written to the store)."""
NO_OFFER_TRUTH = VariantTruth(take_rate=0.0, addon_price=0.0, discount_value=0.0)
"""No offer: nothing to take, no side effect, no pressure."""


def held_out(holdout: Holdout, population: Population) -> np.ndarray:
    """Membership of every arriving customer, by the holdout's unit (the customer id
    column, or the experiment's unit id when the population has no such column)."""
    from upsell_ab.assignment.holdout import HoldoutGate

    attributes = population.attributes
    ids = (
        attributes[holdout.unit].to_numpy(dtype=object)
        if holdout.unit in attributes.columns
        else population.unit_ids
    )
    return HoldoutGate(holdout).held_out_many(ids)


def drop_units(frame: pd.DataFrame, units: np.ndarray) -> pd.DataFrame:
    """``frame`` without the rows of ``units`` (customers the holdout took out)."""
    if not len(units):
        return frame
    return frame[~frame["unit_id"].isin(set(units))].reset_index(drop=True)


def programme_data(
    experiment: Experiment,
    population: Population,
    assigned: np.ndarray,
    holdout: Holdout,
    *,
    seed: int,
    world: World,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(programme exposures of every arriving customer, events of those who saw no offer
    of ``experiment``); ``assigned`` is the production assigner's variant per customer
    (None: not in the experiment)."""
    import numpy as np
    import pandas as pd

    from upsell_ab.spec.offer_models import Variant

    offered = np.array([v is not None for v in assigned], dtype=bool)
    # a QA override puts a held-out customer in a variant: that customer saw offers
    group = np.where(
        held_out(holdout, population) & ~offered, HOLDOUT_VARIANT, PROGRAMME_VARIANT
    ).astype(object)
    attributes = population.attributes
    order = np.argsort(population.arrivals, kind="stable")
    exposures = pd.DataFrame(
        {
            "experiment": holdout.id,
            "variant": group[order],
            "unit_id": population.unit_ids[order],
            "timestamp": population.arrivals[order],
            "event_id": [f"x-{holdout.id}-{experiment.id}-{i}" for i in range(len(order))],
            "segment": attributes["segment"].to_numpy()[order],
            "channel": attributes["channel"].to_numpy()[order],
            "past_orders": attributes["past_orders"].astype(str).to_numpy()[order],
        }
    )
    rng = np.random.default_rng(
        [int(seed) & 0xFFFFFFFF, zlib.crc32(experiment.id.encode("utf-8")), PROGRAMME_STREAM]
    )
    idx = np.flatnonzero(~offered)
    units = Units(
        ids=population.unit_ids[idx],
        variant=np.full(len(idx), NO_OFFER, dtype=object),
        exposed_at=population.arrivals[idx],
        segment=population.segment[idx],
        channel=population.channel[idx],
        logged=np.ones(len(idx), dtype=bool),
    )
    # the same customers at the same touchpoint, offered nothing
    twin = experiment.model_copy(
        update={"variants": [Variant(id=NO_OFFER, weight=1.0, control=True)]}
    )
    events = EventBuilder(
        twin, units, {NO_OFFER: NO_OFFER_TRUTH}, world, rng, moment=touchpoint(experiment)
    ).build()
    events["event_id"] = [f"e-{holdout.id}-{experiment.id}-{i}" for i in range(len(events))]
    return exposures, events
