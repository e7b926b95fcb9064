"""Assign units to variants: one call per request, or millions at once.

Order of checks (GrowthBook's ``run`` order where it has one): QA override ->
status -> unit id present -> targeting -> namespace -> hash into the bucket
ranges (coverage). Everything that does not depend on the unit (seed state,
ranges, per-bucket decisions, the very ``Assignment`` objects returned) is
built once in ``Assigner.__init__`` so :meth:`Assigner.assign` is a few
look-ups plus the FNV loop over the id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from upsell_ab.assignment.allocate import (
    NOT_ASSIGNED,
    bucket_ranges,
    namespace_seed,
    namespace_table,
    variation_table,
)
from upsell_ab.assignment.hashing import v1_bucketer, v2_bucketer
from upsell_ab.assignment.targeting import condition_mask, describe_condition, first_failure
from upsell_ab.spec.models import Experiment, Status

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


class Reason(StrEnum):
    """Why a unit is (or is not) in the experiment."""

    assigned = "assigned"
    override = "override"
    not_running = "not_running"
    """Status draft, stopped or concluded."""
    targeting = "targeting"
    namespace = "namespace"
    coverage = "coverage"
    missing_unit = "missing_unit"


REASON_CODES: tuple[Reason, ...] = tuple(Reason)
"""Bulk reasons are small integers: ``REASON_CODES[code]``."""
_CODE = {reason: code for code, reason in enumerate(REASON_CODES)}


@dataclass(frozen=True)
class Assignment:
    """The answer for one unit. ``variant`` is None exactly when not in the experiment;
    ``detail`` says which targeting condition failed (or which status)."""

    in_experiment: bool
    variant: str | None
    reason: Reason
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "in_experiment": self.in_experiment,
            "variant": self.variant,
            "reason": self.reason.value,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class BulkAssignment:
    """``variants``: object array (variant id or None); ``reasons``: uint8 codes into
    :data:`REASON_CODES` (``reason_names()`` gives strings)."""

    variants: np.ndarray
    reasons: np.ndarray

    def reason_names(self) -> np.ndarray:
        import numpy as np

        return np.asarray([r.value for r in REASON_CODES], dtype=object)[self.reasons]


class Assigner:
    """Deterministic GrowthBook-compatible assignment for one experiment spec."""

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        population = experiment.population
        self.seed = experiment.seed or experiment.id
        self.variant_ids = tuple(v.id for v in experiment.variants)
        self.ranges = bucket_ranges([v.weight for v in experiment.variants], population.coverage)
        self.conditions = tuple(population.targeting)
        self.running = experiment.status is Status.running
        self._bucket = v2_bucketer(self.seed)
        self._table = variation_table(self.ranges)
        namespace = population.namespace
        self.namespace = namespace
        self._ns_bucket = v1_bucketer(namespace_seed(namespace.name)) if namespace else None
        self._ns_table = namespace_table(*namespace.range) if namespace else None
        coverage = Assignment(False, None, Reason.coverage)
        assigned = [Assignment(True, v, Reason.assigned) for v in self.variant_ids]
        self._by_bucket: tuple[Assignment, ...] = tuple(
            coverage if i == NOT_ASSIGNED else assigned[i] for i in self._table
        )
        self._overrides = {
            unit: Assignment(True, variant, Reason.override)
            for unit, variant in experiment.overrides.items()
        }
        self._not_running = Assignment(
            False, None, Reason.not_running, f"status is {experiment.status.value}"
        )
        self._missing = Assignment(False, None, Reason.missing_unit, "empty unit id")
        self._outside_ns = Assignment(
            False,
            None,
            Reason.namespace,
            f"outside namespace {namespace.name} {list(namespace.range)}" if namespace else None,
        )

    def assign(self, unit_id: str, attributes: Mapping[str, object] | None = None) -> Assignment:
        """Variant for one unit (``attributes`` feed the targeting conditions)."""
        if self._overrides:
            forced = self._overrides.get(unit_id)
            if forced is not None:
                return forced
        if not self.running:
            return self._not_running
        if not unit_id:
            return self._missing
        if self.conditions:
            failure = first_failure(self.conditions, attributes)
            if failure is not None:
                return Assignment(False, None, Reason.targeting, failure.describe())
        if self._ns_bucket is not None and not self._ns_table[self._ns_bucket(unit_id)]:  # type: ignore[index]
            return self._outside_ns
        return self._by_bucket[self._bucket(unit_id)]

    def assign_many(
        self,
        unit_ids: Sequence[str] | np.ndarray | pd.Series,
        attributes: pd.DataFrame | None = None,
    ) -> np.ndarray:
        """Variant id (object array, None where not in the experiment) per unit;
        identical to calling :meth:`assign` on each."""
        return self.assign_many_with_reasons(unit_ids, attributes).variants

    def assign_many_with_reasons(
        self,
        unit_ids: Sequence[str] | np.ndarray | pd.Series,
        attributes: pd.DataFrame | None = None,
    ) -> BulkAssignment:
        """Like :meth:`assign_many`, plus why, as :class:`BulkAssignment`."""
        import numpy as np

        from upsell_ab.assignment.hashing_bulk import CodeUnits, hash_v1_buckets, hash_v2_buckets

        ids, missing = _as_strings(unit_ids)
        size = len(ids)
        if attributes is not None and len(attributes) != size:
            raise ValueError(f"attributes have {len(attributes)} rows for {size} unit ids")
        reasons = np.full(size, _CODE[Reason.assigned], dtype=np.uint8)
        index = np.full(size, NOT_ASSIGNED, dtype=np.int64)
        open_ = ~missing
        if not self.running:
            reasons[:] = _CODE[Reason.not_running]
            open_[:] = False
        else:
            reasons[missing] = _CODE[Reason.missing_unit]
            for condition in self.conditions:
                column = (
                    attributes[condition.attribute]
                    if attributes is not None and condition.attribute in attributes.columns
                    else None
                )
                failed = open_ & ~condition_mask(condition, column, size)
                reasons[failed] = _CODE[Reason.targeting]
                open_ &= ~failed
        if self.running and open_.any():
            units = CodeUnits.from_strings(ids)
            if self.namespace is not None:
                inside = np.asarray(self._ns_table, dtype=bool)[
                    hash_v1_buckets(namespace_seed(self.namespace.name), units)
                ]
                outside = open_ & ~inside
                reasons[outside] = _CODE[Reason.namespace]
                open_ &= inside
            chosen = np.asarray(self._table, dtype=np.int64)[hash_v2_buckets(self.seed, units)]
            index = np.where(open_, chosen, NOT_ASSIGNED)
            reasons[open_ & (chosen == NOT_ASSIGNED)] = _CODE[Reason.coverage]
        if self._overrides:
            forced = {
                unit: self.variant_ids.index(str(a.variant)) for unit, a in self._overrides.items()
            }
            for row, unit in enumerate(ids):
                if unit in forced:
                    index[row] = forced[unit]
                    reasons[row] = _CODE[Reason.override]
        labels = np.asarray([*self.variant_ids, None], dtype=object)
        return BulkAssignment(labels[index], reasons)

    def describe(self) -> str:
        """One line per variant: id, weight, bucket range (for ``validate`` / ``demo``)."""
        lines = [
            f"{self.experiment.id}: seed {self.seed!r}, hash v2, coverage "
            f"{self.experiment.population.coverage:g}"
        ]
        for variant_id, (start, end) in zip(self.variant_ids, self.ranges, strict=True):
            lines.append(f"  {variant_id}: [{start:.4f}, {end:.4f})")
        lines.extend(f"  targeting: {describe_condition(c)}" for c in self.conditions)
        return "\n".join(lines)


def _as_strings(unit_ids: Sequence[str] | np.ndarray | pd.Series) -> tuple[list[str], np.ndarray]:
    """Ids as a list of str ("" where missing) and the missing mask.

    Integers become their decimal string (what JavaScript's ``String(n)`` gives);
    floats are refused because ``1.0`` hashes differently in Python and JS."""
    import numpy as np

    values = getattr(unit_ids, "to_numpy", lambda: unit_ids)()
    array = np.asarray(values) if not isinstance(values, list) else None
    if array is not None and array.dtype.kind in "iu":
        ids = array.astype(str).tolist()
        return ids, np.zeros(len(ids), dtype=bool)
    if array is not None and array.dtype.kind == "f":
        raise TypeError("unit ids must be strings or integers, not floats (1.0 vs '1')")
    items: list[Any] = values if isinstance(values, list) else array.tolist()  # type: ignore[union-attr]
    try:
        joined_ok = all(type(s) is str for s in items)
    except TypeError:
        joined_ok = False
    if joined_ok:
        missing = np.fromiter((not s for s in items), dtype=bool, count=len(items))
        return items, missing
    ids = []
    flags: list[bool] = []
    for value in items:
        if value is None or (isinstance(value, float) and value != value) or value == "":
            ids.append("")
            flags.append(True)
        elif isinstance(value, str):
            ids.append(value)
            flags.append(False)
        elif isinstance(value, int) and not isinstance(value, bool):
            ids.append(str(value))
            flags.append(False)
        else:
            raise TypeError(f"unit ids must be strings or integers, got {value!r}")
    return ids, np.asarray(flags, dtype=bool)
