"""The ``quantile`` block of a quantile metric (median or 90th-percentile order value).

A quantile metric compares the ``level`` quantile of the arms (GrowthBook's quantile
test): of every event of the metric's type in the window (``per: event``, e.g. each
order's value; orders of one customer are clustered, see
:mod:`upsell_ab.stats.quantile`) or of each exposed unit's total in the window
(``per: unit``, e.g. a customer's spend, zero for customers without an event unless
``ignore_zeros``). The catalogue's rules for it live in :func:`quantile_findings`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, model_validator

from upsell_ab.spec.base import Model, Switch
from upsell_ab.spec.findings import Finding, check

if TYPE_CHECKING:
    from upsell_ab.spec.catalogue_models import MetricDefinition


class QuantileOf(StrEnum):
    event = "event"
    """Each event of the metric's type in the window is one observation (per order)."""
    unit = "unit"
    """Each exposed unit's sum over its events in the window is one observation (per customer)."""


class QuantileSettings(Model):
    """Which quantile of what: ``{level: 0.5, per: event}`` is the median order value."""

    level: Annotated[float, Field(json_schema_extra={"exclusiveMinimum": 0, "exclusiveMaximum": 1})]
    """The quantile, a share in (0, 1): 0.5 the median, 0.9 the 90th percentile."""
    per: QuantileOf = QuantileOf.event
    """``event``: over events (each order; a customer's orders are clustered);
    ``unit``: over each exposed unit's total in the window."""
    ignore_zeros: Switch = False
    """``per: unit`` only: leave out units whose total is 0 (customers who did not buy)."""

    @model_validator(mode="after")
    def _level(self) -> QuantileSettings:
        found: list[Finding] = []
        if 1.0 < self.level <= 100.0:
            found.append(
                Finding(
                    ("level",),
                    f"a quantile level of {self.level:g} is not a share in (0, 1)",
                    f"write {self.level / 100.0:.10g} for the {self.level:g}th percentile",
                    "scale",
                )
            )
        elif not 0.0 < self.level < 1.0:
            found.append(
                Finding(
                    ("level",),
                    f"a quantile level must be between 0 and 1 (exclusive), got {self.level:g}",
                    "0.5 is the median, 0.9 the 90th percentile",
                    "invalid_value",
                )
            )
        if self.ignore_zeros and self.per is QuantileOf.event:
            found.append(
                Finding(
                    ("ignore_zeros",),
                    "ignore_zeros is for per: unit, where a unit's total of 0 means no event",
                    "remove ignore_zeros, or set per: unit",
                )
            )
        check(found)
        return self


def quantile_findings(metric: MetricDefinition) -> list[Finding]:
    """Rules of the catalogue that involve the ``quantile`` block (paths relative to the
    metric definition)."""
    from upsell_ab.spec.catalogue_models import MetricType

    found: list[Finding] = []
    is_quantile = metric.type is MetricType.quantile
    if is_quantile and metric.quantile is None:
        found.append(
            Finding(
                ("type",),
                "a quantile metric needs 'quantile'",
                "add quantile: {level: 0.5, per: event}, the median over events",
            )
        )
    if not is_quantile and metric.quantile is not None:
        found.append(
            Finding(
                ("quantile",),
                "'quantile' is for quantile metrics only",
                "remove it or set type: quantile",
            )
        )
    if not is_quantile:
        return found
    per_event = metric.quantile is None or metric.quantile.per is QuantileOf.event
    if per_event and metric.value == "count":
        found.append(
            Finding(
                ("value",),
                "a quantile per event of 'count' is 1 for every event",
                "use value: value, quantity or discount; or per: unit to compare counts per unit",
            )
        )
    if metric.capping is not None:
        found.append(
            Finding(
                ("capping",),
                "a quantile is not moved by outliers: capping does not apply to it",
                "remove 'capping'",
            )
        )
    if metric.cuped is not None:
        found.append(
            Finding(
                ("cuped",),
                "CUPED adjusts means, not quantiles",
                "remove 'cuped'",
            )
        )
    return found
