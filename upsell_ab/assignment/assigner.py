"""Assign units to variants: one call per request, or millions at once.

Order of checks (GrowthBook's ``run`` order where it has one): QA override ->
status -> unit id present -> targeting -> namespace -> hash into the bucket
ranges (coverage). Everything that does not depend on the unit (seed state,
ranges, per-bucket decisions, the very ``Assignment`` objects returned) is
built once in ``Assigner.__init__`` so :meth:`Assigner.assign` is a few
look-ups plus one hash of the id (one C call when the ``_fnv`` accelerator is
built, else the Python FNV loop: same result). Bulk assignment gets one outcome
byte per id (:mod:`upsell_ab.assignment.outcomes`) and applies status,
targeting and overrides to those bytes with numpy: no Python code per id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from upsell_ab.assignment.accel import resolve
from upsell_ab.assignment.allocate import (
    NOT_ASSIGNED,
    bucket_ranges,
    namespace_seed,
    namespace_table,
    variation_table,
)
from upsell_ab.assignment.hashing import fnv1a32, v1_bucketer, v2_picker
from upsell_ab.assignment.outcomes import (
    CODE_COVERAGE,
    CODE_MISSING,
    CODE_NAMESPACE,
    MAX_VARIANTS,
    BulkPlan,
    outcome_codes,
    unit_text,
)
from upsell_ab.assignment.targeting import condition_mask, describe_condition, first_failure
from upsell_ab.assignment.targeting_compiled import compile_conditions
from upsell_ab.spec.models import Experiment, Status

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from upsell_ab.assignment.holdout import HoldoutGate
    from upsell_ab.assignment.outcomes import UnitIds
    from upsell_ab.spec.holdout_models import Holdout


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
    holdout = "holdout"
    """In the programme's long-term holdout (``program.yaml``): no experiment, no offer."""


REASON_CODES: tuple[Reason, ...] = tuple(Reason)
"""Bulk reasons are small integers: ``REASON_CODES[code]``."""
_CODE = {reason: code for code, reason in enumerate(REASON_CODES)}
_NO_ATTRIBUTES: Mapping[str, object] = {}
_FAILURE_CACHE = 4096
"""Rejections remembered per assigner (condition, type and value of the attribute)."""


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
    """Deterministic GrowthBook-compatible assignment for one experiment spec.

    ``accelerated``: None uses the C extension when it is built (and
    ``UPSELL_AB_NO_EXT`` is not set), False forces the Python/numpy path, True
    requires the extension. Results are identical either way. ``weights`` replaces the
    spec's weights (a bandit's current ones: :func:`upsell_ab.allocation.assign.bandit_assigner`).

    ``holdout``: the programme's long-term holdout (``program.yaml``,
    :func:`upsell_ab.spec.program.holdout_for`); its customers get
    :attr:`Reason.holdout` after targeting and before the namespace check, as
    GrowthBook checks ``filters`` (QA overrides still win)."""

    def __init__(
        self,
        experiment: Experiment,
        *,
        accelerated: bool | None = None,
        weights: Mapping[str, float] | None = None,
        holdout: Holdout | None = None,
    ) -> None:
        self.experiment = experiment
        population = experiment.population
        self.seed = experiment.seed or experiment.id
        self.variant_ids = tuple(v.id for v in experiment.variants)
        if weights is not None and (
            sorted(weights) != sorted(self.variant_ids)
            or abs(sum(weights.values()) - 1.0) > 1e-9
            or any(not w >= 0 for w in weights.values())
        ):
            raise ValueError(
                f"weights {dict(weights)} must name the variants {list(self.variant_ids)} "
                "and sum to 1"
            )
        self.weights = (
            {v: float(weights[v]) for v in self.variant_ids}
            if weights is not None
            else {v.id: v.weight for v in experiment.variants}
        )
        """The weights in use: the spec's, or a bandit's current ones (``weights=``)."""
        self.ranges = bucket_ranges(
            [self.weights[v] for v in self.variant_ids], population.coverage
        )
        self.conditions = tuple(population.targeting)
        self._checks = compile_conditions(self.conditions)
        self._failures: dict[tuple[int, type, object], Assignment] = {}
        self.running = experiment.status is Status.running
        self._table = variation_table(self.ranges)
        namespace = population.namespace
        self.namespace = namespace
        ns_seed = namespace_seed(namespace.name) if namespace else None
        self._ns_table = namespace_table(*namespace.range) if namespace else None
        coverage = Assignment(False, None, Reason.coverage)
        assigned = [Assignment(True, v, Reason.assigned) for v in self.variant_ids]
        self._by_bucket: tuple[Assignment, ...] = tuple(
            coverage if i == NOT_ASSIGNED else assigned[i] for i in self._table
        )
        extension = resolve(accelerated)
        self._extension = extension if len(self.variant_ids) <= MAX_VARIANTS else None
        self.accelerated = extension is not None
        """True when the C extension serves :meth:`assign` (and bulk, up to 253 variants)."""
        self._pick: Callable[[str], Assignment]
        self._ns_bucket: Callable[[str], int] | None
        if extension is not None:
            self._pick = extension.Picker(fnv1a32(self.seed), self._by_bucket)
            self._ns_bucket = partial(extension.bucket_v1, ns_seed) if ns_seed else None
        else:
            self._pick = v2_picker(self.seed, self._by_bucket)
            self._ns_bucket = v1_bucketer(ns_seed) if ns_seed else None
        self._overrides = {
            unit: Assignment(True, variant, Reason.override)
            for unit, variant in experiment.overrides.items()
        }
        self._not_running = Assignment(
            False, None, Reason.not_running, f"status is {experiment.status.value}"
        )
        self._missing = Assignment(False, None, Reason.missing_unit, "empty unit id")
        self.holdout = holdout
        self._gate: HoldoutGate | None = None
        self._holdout_on_unit = holdout is not None and holdout.unit == population.unit
        if holdout is not None:
            from upsell_ab.assignment.holdout import HoldoutGate

            self._gate = HoldoutGate(holdout, accelerated=accelerated)
        self._held_out = Assignment(
            False,
            None,
            Reason.holdout,
            f"in the long-term holdout {holdout.id} ({holdout.share:g} of {holdout.unit})"
            if holdout
            else None,
        )

        self._outside_ns = Assignment(
            False,
            None,
            Reason.namespace,
            f"outside namespace {namespace.name} {list(namespace.range)}" if namespace else None,
        )

    @classmethod
    def for_spec(cls, path: str, *, accelerated: bool | None = None) -> Assigner:
        """The assigner of the spec at ``path`` with its programme's holdout (if any)."""
        from upsell_ab.spec.load import load_spec
        from upsell_ab.spec.program import holdout_for

        return cls(load_spec(path), accelerated=accelerated, holdout=holdout_for(path))

    def assign(self, unit_id: str, attributes: Mapping[str, object] | None = None) -> Assignment:
        """Variant for one unit (``attributes`` feed the targeting conditions); an integer
        id is read as its digits, like :meth:`assign_many` and GrowthBook's SDKs."""
        if type(unit_id) is not str:
            unit_id = unit_text(unit_id)
        if self._overrides:
            forced = self._overrides.get(unit_id)
            if forced is not None:
                return forced
        if not self.running:
            return self._not_running
        if not unit_id:
            return self._missing
        if self._checks:
            attrs = attributes if attributes is not None else _NO_ATTRIBUTES
            for index, (attribute, check) in enumerate(self._checks):
                value = attrs.get(attribute)
                if not check(value):
                    return self._targeting_failure(index, value)
        if self._gate is not None:
            key = (
                unit_id
                if self._holdout_on_unit
                else (attributes or _NO_ATTRIBUTES).get(self._gate.holdout.unit)
            )
            if self._gate.held_out(key):
                return self._held_out
        if self._ns_bucket is not None and not self._ns_table[self._ns_bucket(unit_id)]:  # type: ignore[index]
            return self._outside_ns
        return self._pick(unit_id)

    def _targeting_failure(self, index: int, value: object) -> Assignment:
        """The result for a unit failing condition ``index`` with ``value``; built once per
        (condition, value) for hashable values (a bounded cache), so a rejected unit costs
        about what an accepted one does."""
        key: tuple[int, type, object] | None = (index, type(value), value)
        try:
            cached = self._failures.get(key)  # type: ignore[arg-type]
        except TypeError:  # unhashable value: describe it every time
            key, cached = None, None
        if cached is not None:
            return cached
        condition = self.conditions[index]
        failure = first_failure((condition,), {condition.attribute: value})
        assert failure is not None
        result = Assignment(False, None, Reason.targeting, failure.describe())
        if key is not None and len(self._failures) < _FAILURE_CACHE:
            self._failures[key] = result
        return result

    def assign_many(
        self,
        unit_ids: UnitIds,
        attributes: pd.DataFrame | None = None,
    ) -> np.ndarray:
        """Variant id (object array, None where not in the experiment) per unit;
        identical to calling :meth:`assign` on each."""
        return self.assign_many_with_reasons(unit_ids, attributes).variants

    def assign_many_with_reasons(
        self,
        unit_ids: UnitIds,
        attributes: pd.DataFrame | None = None,
    ) -> BulkAssignment:
        """Like :meth:`assign_many`, plus why, as :class:`BulkAssignment`.

        Integers hash as their decimal string; floats raise TypeError (``1.0``
        is not ``"1"`` in JavaScript); ``""``, None and NaN are missing units."""
        import numpy as np

        outcomes = outcome_codes(unit_ids, self._bulk_plan, self._extension)
        codes = outcomes.codes
        size = len(codes)
        if attributes is not None and len(attributes) != size:
            raise ValueError(f"attributes have {len(attributes)} rows for {size} unit ids")
        if not self.running:
            reasons = np.full(size, _CODE[Reason.not_running], dtype=np.uint8)
            variants = np.full(size, None, dtype=object)
        else:
            reasons = self._reason_lut[codes]
            if self.conditions:
                open_ = codes != CODE_MISSING
                for condition in self.conditions:
                    column = (
                        attributes[condition.attribute]
                        if attributes is not None and condition.attribute in attributes.columns
                        else None
                    )
                    failed = open_ & ~condition_mask(condition, column, size)
                    reasons[failed] = _CODE[Reason.targeting]
                    open_ &= ~failed
                codes[(codes != CODE_MISSING) & ~open_] = CODE_COVERAGE
            if self._gate is not None:
                self._apply_holdout(unit_ids, attributes, codes, reasons)
            variants = self._label_lut.take(codes)
        if len(outcomes.override_rows):
            variants[outcomes.override_rows] = self._label_lut[outcomes.override_variants]
            reasons[outcomes.override_rows] = _CODE[Reason.override]
        return BulkAssignment(variants, reasons)

    def _apply_holdout(
        self,
        unit_ids: UnitIds,
        attributes: pd.DataFrame | None,
        codes: np.ndarray,
        reasons: np.ndarray,
    ) -> None:
        """Mark held-out rows that targeting let through (as :meth:`assign` orders it)."""
        import numpy as np

        assert self._gate is not None
        column = self._gate.holdout.unit
        if self._holdout_on_unit:
            keys: UnitIds = unit_ids
        elif attributes is not None and column in attributes.columns:
            keys = attributes[column]
        else:
            keys = [None] * len(codes)
        held = self._gate.held_out_many(keys)
        open_ = np.isin(
            reasons, [_CODE[Reason.assigned], _CODE[Reason.coverage], _CODE[Reason.namespace]]
        )
        rows = held & open_
        reasons[rows] = _CODE[Reason.holdout]
        codes[rows] = CODE_COVERAGE

    @cached_property
    def _bulk_plan(self) -> BulkPlan:
        """Per-bucket outcome codes and forced variants, for :func:`outcome_codes`."""
        return BulkPlan(
            seed=self.seed,
            table=bytes(CODE_COVERAGE if i == NOT_ASSIGNED else i for i in self._table),
            ns_seed=namespace_seed(self.namespace.name) if self.namespace else None,
            ns_table=bytes(map(int, self._ns_table)) if self._ns_table is not None else None,
            overrides={
                unit: self.variant_ids.index(str(a.variant)) for unit, a in self._overrides.items()
            },
        )

    @cached_property
    def _label_lut(self) -> np.ndarray:
        """Outcome code -> variant id (None for every non-variant code)."""
        import numpy as np

        labels = np.full(256, None, dtype=object)
        labels[: len(self.variant_ids)] = self.variant_ids
        return labels

    @cached_property
    def _reason_lut(self) -> np.ndarray:
        """Outcome code -> reason code (uint8)."""
        import numpy as np

        lut = np.full(256, _CODE[Reason.assigned], dtype=np.uint8)
        lut[CODE_COVERAGE] = _CODE[Reason.coverage]
        lut[CODE_NAMESPACE] = _CODE[Reason.namespace]
        lut[CODE_MISSING] = _CODE[Reason.missing_unit]
        return lut

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
