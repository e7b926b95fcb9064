"""Assignment of simulated customers in a switchback design: by the slot they arrive in.

Why. A switchback spec (``randomization.unit: time_slot``) is run by a till that asks
for the arm of the current hour (or day), not of a customer; the simulator must do the
same so ``demo`` and the tests analyse data shaped like the real thing: every customer
of one slot in one arm. Arrivals are naive UTC (:mod:`.traffic`); the slot clock reads
them in the shop's time zone, and the arm of each distinct slot key comes from the real
bulk :class:`~upsell_ab.assignment.Assigner`, so it equals ``upsell-ab assign --at``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from upsell_ab.spec.models import Experiment


def slot_assignment(experiment: Experiment, arrivals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(slot key, arm) per arrival (naive UTC ``datetime64``), the arm by hashing the slot
    key with the experiment's seed (:mod:`upsell_ab.assignment.switchback`)."""
    import numpy as np

    from upsell_ab.assignment import Assigner

    clock = experiment.randomization.clock()
    moments: list[datetime] = arrivals.astype("datetime64[us]").astype(datetime).tolist()
    keys = np.asarray(clock.keys(m.replace(tzinfo=UTC) for m in moments), dtype=object)
    distinct, inverse = np.unique(keys, return_inverse=True)
    arms = np.asarray(Assigner(experiment).assign_many(list(distinct)), dtype=object)
    return keys, arms[inverse]
