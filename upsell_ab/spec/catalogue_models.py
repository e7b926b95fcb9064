"""The metric catalogue (``experiments/metrics.yaml``): metric name -> definition."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from upsell_ab.spec.base import Direction, Duration, Identifier, Model
from upsell_ab.spec.findings import Finding, check
from upsell_ab.spec.quantile_models import QuantileSettings, quantile_findings


class MetricType(StrEnum):
    proportion = "proportion"
    """Unit had >= 1 event of ``event`` in the window (take rate)."""
    mean = "mean"
    """Sum of ``value`` per exposed unit, zero-filled (revenue per customer)."""
    count_ = "count"
    """Number of events per exposed unit."""
    ratio = "ratio"
    """sum(numerator) / sum(denominator) over units (revenue per order)."""
    retention = "retention"
    """Any event in [window.start, window.end] after exposure (repeat purchase)."""
    profit = "profit"
    """value x margin minus the discount given, per exposed unit."""
    quantile = "quantile"
    """A quantile (median, p90) of event values or of per-unit totals (``quantile``)."""
    ltv = "ltv"
    """Customer value over the window (the horizon): value x margin minus the discount per
    exposed unit, as ``profit``; its lift is also decomposed into purchases per customer,
    order value and margin rate (:mod:`upsell_ab.spec.ltv`, :mod:`upsell_ab.stats.ltv`)."""


class Window(Model):
    """Events count when ``start <= t - first_exposure < end``."""

    start: Duration = timedelta(0)
    end: Duration = timedelta(days=7)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            check(
                [
                    Finding(
                        ("end",),
                        "window end must be after its start",
                        "e.g. window: {start: 1d, end: 30d}",
                    )
                ]
            )
        return self


class Capping(Model):
    """Winsorise per-unit values: at a fixed ``value`` or at a ``percentile``
    (0 < q < 1) of the pooled per-unit distribution."""

    kind: Literal["fixed", "percentile"]
    value: Annotated[float, Field(gt=0.0)]

    @model_validator(mode="after")
    def _percentile(self) -> Capping:
        if self.kind == "percentile" and not 0.0 < self.value < 1.0:
            check(
                [
                    Finding(
                        ("value",),
                        "a percentile cap needs 0 < value < 1",
                        "0.99 caps at the 99th percentile",
                    )
                ]
            )
        return self


class Cuped(Model):
    """Covariate = the same metric over ``lookback`` before first exposure, or, with
    ``column``, a per-unit value the shop already has on its exposure rows (pre-period
    revenue from a CRM, say)."""

    lookback: Duration = timedelta(days=28)
    column: str | None = None
    """An exposure-table column holding each unit's covariate (used instead of the
    lookback; a unit without a value counts as 0). Usually set per experiment with the
    spec's ``data.covariates`` or ``Experiment.analyze(covariates=...)``."""


ValueSource = Literal["value", "quantity", "discount", "count"]
"""What is summed per event: a column of the event table, or 1 per event."""
AggregateValue = Literal["value", "quantity", "discount", "count", "profit"]
"""A ratio side may also sum ``profit`` (value x the metric's ``margin`` - discount)."""


class Aggregate(Model):
    """One side of a ratio: events of ``event`` type, summing ``value``."""

    event: Annotated[str, Field(min_length=1)]
    value: AggregateValue = "value"


class MetricDefinition(Model):
    """A metric of the catalogue (``experiments/metrics.yaml``)."""

    type: MetricType
    description: str | None = None
    event: Annotated[str, Field(min_length=1)] | None = None
    value: ValueSource = "value"
    numerator: Aggregate | None = None
    denominator: Aggregate | None = None
    window: Window = Window()
    margin: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    """Profit metrics: gross margin on revenue."""
    capping: Capping | None = None
    cuped: Cuped | None = None
    direction: Direction = Direction.higher_is_better
    unit: str | None = None
    """Display unit ("JPY", "%") for reports."""
    quantile: QuantileSettings | None = None
    """Quantile metrics: the level and what it is taken over (events or units)."""
    response_rate: Identifier | None = None
    """A score among respondents (satisfaction): the catalogue's 0/1 metric that says
    who responded. The analysis compares it between arms, because an offer that changes
    who answers biases the score (:mod:`upsell_ab.decision.response_bias`)."""

    @model_validator(mode="after")
    def _shape(self) -> MetricDefinition:
        kind = self.type.value
        found: list[Finding] = []
        if self.type is MetricType.ratio:
            for side in ("numerator", "denominator"):
                if getattr(self, side) is None:
                    found.append(
                        Finding(
                            ("type",),
                            f"a ratio metric needs '{side}'",
                            f"add {side}: {{event: order, value: value}}",
                        )
                    )
            if self.event is not None:
                found.append(
                    Finding(
                        ("event",),
                        "a ratio metric takes 'numerator'/'denominator', not 'event'",
                        "move the event into numerator and denominator",
                    )
                )
        else:
            if self.event is None:
                found.append(
                    Finding(
                        ("type",),
                        f"a {kind} metric needs 'event'",
                        "add event: <event type>, e.g. event: order",
                    )
                )
            for side in ("numerator", "denominator"):
                if getattr(self, side) is not None:
                    found.append(
                        Finding(
                            (side,),
                            f"'{side}' is for ratio metrics only",
                            "remove it or set type: ratio",
                        )
                    )
        profit_side = any(
            side is not None and side.value == "profit"
            for side in (self.numerator, self.denominator)
        )
        needs_margin = self.type in (MetricType.profit, MetricType.ltv) or profit_side
        if needs_margin and self.margin is None:
            article = "an" if kind == "ltv" else "a"
            what = f"{article} {kind} metric" if not profit_side else "a ratio side summing profit"
            found.append(
                Finding(
                    ("type",),
                    f"{what} needs 'margin'",
                    "add margin: 0.3 (gross margin on revenue, 0..1)",
                )
            )
        if not needs_margin and self.margin is not None:
            found.append(
                Finding(
                    ("margin",),
                    "'margin' is for profit and ltv metrics (or a ratio side summing profit)",
                    "remove it or set type: profit",
                )
            )
        if self.type is MetricType.ltv:
            for name in ("capping", "cuped"):
                if getattr(self, name) is not None:
                    found.append(
                        Finding(
                            (name,),
                            f"an ltv metric takes no '{name}': its lift is decomposed into "
                            "purchases x order value x margin rate, which must multiply back "
                            "to the same customers' plain sums",
                            f"remove '{name}', or use type: profit for a {name}-adjusted value",
                        )
                    )
        if self.type is MetricType.retention and self.window.start <= timedelta(0):
            found.append(
                Finding(
                    ("window",),
                    "a retention metric needs window.start > 0",
                    "e.g. window: {start: 1d, end: 30d}",
                )
            )
        if self.cuped is not None and self.cuped.column and self.type is MetricType.ratio:
            found.append(
                Finding(
                    ("cuped", "column"),
                    "a covariate column is for non-ratio metrics",
                    "use the lookback covariate (cuped: {lookback: 28d}) for ratio metrics",
                )
            )
        if self.capping is not None and self.type in (MetricType.proportion, MetricType.retention):
            found.append(
                Finding(
                    ("capping",),
                    "capping applies to value metrics, not 0/1 metrics",
                    "remove 'capping'",
                )
            )
        if self.response_rate is not None and self.type not in (MetricType.ratio, MetricType.mean):
            found.append(
                Finding(
                    ("response_rate",),
                    f"'response_rate' is for scores among respondents (ratio or mean), not "
                    f"{kind} metrics",
                    "remove it, or use it on a ratio such as score per survey response",
                )
            )
        found.extend(quantile_findings(self))
        check(found)
        return self


class Catalogue(Model):
    """``experiments/metrics.yaml``: metric name -> definition."""

    metrics: dict[Identifier, MetricDefinition]

    @model_validator(mode="after")
    def _response_rates(self) -> Catalogue:
        """A ``response_rate`` names a 0/1 metric of this catalogue (who responded)."""
        from upsell_ab.spec.suggest import suggestion

        found: list[Finding] = []
        binary = (MetricType.proportion, MetricType.retention)
        for name, definition in self.metrics.items():
            target = definition.response_rate
            if target is None:
                continue
            path = ("metrics", name, "response_rate")
            other = self.metrics.get(target)
            if other is None:
                hint = suggestion(target, sorted(self.metrics), what="metrics")
                found.append(Finding(path, f"'{target}' is not in the catalogue", hint))
            elif other.type not in binary:
                side = definition.numerator
                event = side.event if side is not None else definition.event
                found.append(
                    Finding(
                        path,
                        f"'{target}' is a {other.type.value} metric; a response rate is 0/1",
                        "name a proportion metric on the survey event, e.g. "
                        f"{{type: proportion, event: {event}}}",
                    )
                )
        check(found)
        return self
