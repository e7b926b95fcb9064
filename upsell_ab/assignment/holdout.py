"""Membership of the long-term holdout, one id at a time or for millions at once.

``held_out(id) = hash_v2(seed, id) < share`` with GrowthBook's v2 hash
(``fnv1a32(str(fnv1a32(seed + id))) % 10000 / 10000``; see
:mod:`upsell_ab.assignment.hashing`), the same test the GrowthBook SDKs apply
to an experiment ``filters`` entry ``{seed, ranges: [[share, 1]], hashVersion: 2}``
(a unit passes the filter when its hash is in a range). The holdout's seed
differs from every experiment seed, so membership is a second, independent
hash of the id. An empty or missing id counts as held out: the SDK filters
such a unit out too (``isFilteredOut`` returns true without a hash value).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from upsell_ab.assignment.accel import resolve
from upsell_ab.assignment.hashing import V2_BUCKETS, fnv1a32, v2_picker
from upsell_ab.assignment.outcomes import CODE_MISSING, BulkPlan, outcome_codes
from upsell_ab.spec.holdout_models import Holdout

if TYPE_CHECKING:
    import numpy as np

    from upsell_ab.assignment.outcomes import UnitIds

HELD, OPEN = 1, 0


def bucket_table(share: float) -> tuple[bool, ...]:
    """``table[k] = k / 10000 < share`` (the float division the JS SDK does)."""
    return tuple(k / V2_BUCKETS < share for k in range(V2_BUCKETS))


class HoldoutGate:
    """Answers "is this customer in the long-term holdout?" for one :class:`Holdout`."""

    def __init__(self, holdout: Holdout, *, accelerated: bool | None = None) -> None:
        self.holdout = holdout
        self.seed = holdout.hash_seed
        self.table = bucket_table(holdout.share)
        self._extension = resolve(accelerated)
        self._pick = (
            self._extension.Picker(fnv1a32(self.seed), self.table)
            if self._extension is not None
            else v2_picker(self.seed, self.table)
        )

    def held_out(self, unit_id: object) -> bool:
        """True when ``unit_id`` is held out (or missing)."""
        if unit_id is None or unit_id == "" or (isinstance(unit_id, float) and unit_id != unit_id):
            return True
        if isinstance(unit_id, bool) or not isinstance(unit_id, str | int):
            raise TypeError(f"holdout ids must be strings or integers, got {unit_id!r}")
        return bool(self._pick(str(unit_id)))

    @cached_property
    def _plan(self) -> BulkPlan:
        return BulkPlan(
            seed=self.seed,
            table=bytes(HELD if held else OPEN for held in self.table),
            ns_seed=None,
            ns_table=None,
            overrides={},
        )

    def held_out_many(self, unit_ids: UnitIds) -> np.ndarray:
        """Boolean array, identical to :meth:`held_out` per id (no Python code per id)."""
        codes = outcome_codes(unit_ids, self._plan, self._extension).codes
        return (codes == HELD) | (codes == CODE_MISSING)

    def group(self, unit_id: object) -> str:
        """The variant to log for the programme exposure of ``unit_id``: ``holdout`` or
        ``programme`` (:mod:`upsell_ab.spec.holdout_analysis`)."""
        return "holdout" if self.held_out(unit_id) else "programme"

    def describe(self) -> str:
        h = self.holdout
        return f"holdout {h.id}: {h.share:.1%} of {h.unit} held out (seed {self.seed!r}, hash v2)"
