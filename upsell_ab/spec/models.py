"""Typed, frozen models of an experiment spec and of the metric catalogue.

Raw YAML is checked against these models (pydantic v2, ``extra='forbid'`` so a
misspelt key is an error, never silently dropped). Cross-field rules that need
the whole spec (weights sum to 1, one control, dates in order ...) are model
validators here; rules that need the catalogue live in ``spec.resolve``.
Field names are the YAML keys. Durations are written ``"7d"``, ``"48h"``,
``"30m"`` and become :class:`datetime.timedelta`.

The spec's parts live in sibling modules (``base``, ``analysis_models``,
``data_models``, ``catalogue_models``) and are re-exported here, so
``from upsell_ab.spec.models import X`` works for every model.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from upsell_ab.spec.analysis_models import (
    Alternative,
    Analysis,
    BetaPrior,
    Correction,
    Decision,
    DecisionRule,
    Engine,
    LiftPrior,
    Priors,
    Sequential,
)
from upsell_ab.spec.base import (
    IDENTIFIER_PATTERN,
    Direction,
    Duration,
    Identifier,
    MarginKind,
    Model,
    Share,
    Switch,
    format_duration,
    parse_duration,
)
from upsell_ab.spec.catalogue_models import (
    Aggregate,
    Capping,
    Catalogue,
    Cuped,
    MetricDefinition,
    MetricType,
    ValueSource,
    Window,
)
from upsell_ab.spec.data_models import (
    DataSource,
    EventColumns,
    ExposureColumns,
    SourceKind,
    Table,
)
from upsell_ab.spec.findings import Finding, check
from upsell_ab.spec.rules import WEIGHT_TOLERANCE, experiment_findings

__all__ = [
    "IDENTIFIER_PATTERN",
    "WEIGHT_TOLERANCE",
    "Aggregate",
    "Alternative",
    "Analysis",
    "BetaPrior",
    "Capping",
    "Catalogue",
    "Condition",
    "Correction",
    "Cuped",
    "DataSource",
    "Decision",
    "DecisionRule",
    "Direction",
    "Discount",
    "Duration",
    "Engine",
    "EventColumns",
    "Experiment",
    "ExposureColumns",
    "Guardrail",
    "Identifier",
    "Item",
    "LiftPrior",
    "MarginKind",
    "MetricDefinition",
    "MetricRoles",
    "MetricType",
    "Model",
    "Moment",
    "Namespace",
    "Offer",
    "Operator",
    "Population",
    "Priors",
    "Scalar",
    "Sequential",
    "Share",
    "SourceKind",
    "Status",
    "Switch",
    "Table",
    "Tactic",
    "Timing",
    "ValueSource",
    "Variant",
    "Window",
    "format_duration",
    "parse_duration",
]


# --------------------------------------------------------------------- identity
class Status(StrEnum):
    draft = "draft"
    running = "running"
    stopped = "stopped"
    concluded = "concluded"


# ------------------------------------------------------------------- population
class Operator(StrEnum):
    """Targeting operators on one customer attribute."""

    eq = "eq"
    ne = "ne"
    in_ = "in"
    not_in = "not_in"
    gt = "gt"
    gte = "gte"
    lt = "lt"
    lte = "lte"
    exists = "exists"


Scalar = str | int | float | bool


class Condition(Model):
    """``segment in [new, returning]``, ``past_orders gte 1``, ``channel eq web``.

    ``in``/``not_in`` take ``values``; ``exists`` takes neither; the others take
    ``value``. Comparisons ``gt``..``lte`` need a number.
    """

    attribute: Annotated[str, Field(min_length=1)]
    op: Operator
    value: Scalar | None = None
    values: list[Scalar] | None = None

    @model_validator(mode="after")
    def _operands(self) -> Condition:
        op = self.op.value
        found: list[Finding] = []
        if self.op in (Operator.in_, Operator.not_in):
            if not self.values:
                found.append(
                    Finding(
                        ("values",),
                        f"operator '{op}' needs a non-empty list",
                        "write values: [a, b]",
                    )
                )
            if self.value is not None:
                found.append(
                    Finding(
                        ("value",),
                        f"operator '{op}' takes 'values', not 'value'",
                        "write values: [a, b]",
                    )
                )
        elif self.op is Operator.exists:
            if self.value is not None or self.values is not None:
                found.append(
                    Finding(("op",), "operator 'exists' takes no value", "remove 'value'/'values'")
                )
        else:
            if self.values is not None:
                found.append(
                    Finding(
                        ("values",),
                        f"operator '{op}' takes 'value', not 'values'",
                        "use op: in for a list",
                    )
                )
            elif self.value is None:
                found.append(Finding(("op",), f"operator '{op}' needs a 'value'", "add value: ..."))
            if self.op in (Operator.gt, Operator.gte, Operator.lt, Operator.lte) and (
                self.value is not None
                and (isinstance(self.value, bool) or not isinstance(self.value, int | float))
            ):
                found.append(
                    Finding(
                        ("value",),
                        f"operator '{op}' compares numbers; got {self.value!r}",
                        "write a number without quotes",
                    )
                )
        check(found)
        return self


class Namespace(Model):
    """Experiments sharing a namespace ``name`` with disjoint ``range`` s never
    see the same unit (GrowthBook namespaces: hash of unit with the namespace
    name as seed, version 1, must fall in [start, end))."""

    name: Identifier
    range: tuple[Share, Share]

    @model_validator(mode="after")
    def _ordered(self) -> Namespace:
        if not self.range[0] < self.range[1]:
            check(
                [
                    Finding(
                        ("range",),
                        f"namespace range must have start < end, got {list(self.range)}",
                        "write range: [start, end] inside [0, 1], e.g. [0, 0.5]",
                    )
                ]
            )
        return self


class Population(Model):
    unit: Annotated[str, Field(min_length=1)] = "customer_id"
    """Which customer attribute is hashed (the unit of randomisation)."""
    seed: str | None = None
    """Hash seed; defaults to the experiment id."""
    coverage: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    """Share of eligible traffic in the experiment, in (0, 1]."""
    targeting: list[Condition] = Field(default_factory=list)
    """All conditions must hold (AND)."""
    namespace: Namespace | None = None


# --------------------------------------------------------------------- variants
class Tactic(StrEnum):
    upsell = "upsell"
    cross_sell = "cross_sell"
    subscription_upgrade = "subscription_upgrade"
    bundle = "bundle"


class Moment(StrEnum):
    """When the offer is shown."""

    product_page = "product_page"
    cart = "cart"
    at_checkout = "at_checkout"
    post_purchase = "post_purchase"
    follow_up_email = "follow_up_email"
    follow_up_call = "follow_up_call"
    renewal = "renewal"
    usage_threshold = "usage_threshold"
    none = "none"
    """The control of a 'no offer' test."""


class Timing(Model):
    moment: Moment
    delay: Duration | None = None
    """For follow-ups: how long after the purchase (``3d``)."""

    @model_validator(mode="after")
    def _delay(self) -> Timing:
        delayed = (Moment.follow_up_email, Moment.follow_up_call)
        if self.delay is not None and self.moment not in delayed:
            check(
                [
                    Finding(
                        ("delay",),
                        f"'delay' applies to follow-ups, not '{self.moment.value}'",
                        "remove 'delay' or use moment follow_up_email / follow_up_call",
                    )
                ]
            )
        return self


def _timing_shorthand(value: Any) -> Any:
    return {"moment": value} if isinstance(value, str) else value


class Discount(Model):
    """``none``, ``{percent: 10}``, ``{amount: 200}``, ``{percent: 20, free_shipping: true}``."""

    percent: Annotated[float, Field(gt=0.0, lt=100.0)] | None = None
    amount: Annotated[float, Field(gt=0.0)] | None = None
    free_shipping: Switch = False
    limited_time: Duration | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Discount:
        if self.percent is not None and self.amount is not None:
            check(
                [
                    Finding(
                        ("amount",),
                        "give either 'percent' or 'amount', not both",
                        "remove one of them",
                    )
                ]
            )
        return self

    @property
    def is_none(self) -> bool:
        return self.percent is None and self.amount is None and not self.free_shipping


def _discount_shorthand(value: Any) -> Any:
    return {} if value == "none" else value


class Item(Model):
    """A product offered (one for upsell/cross-sell, several for a bundle)."""

    sku: Annotated[str, Field(min_length=1)]
    name: str | None = None
    price: Annotated[float, Field(ge=0.0)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None


class Offer(Model):
    """What a variant shows: tactic, timing, wording, discount and the items offered."""

    tactic: Tactic
    timing: Annotated[
        Timing, BeforeValidator(_timing_shorthand, json_schema_input_type=Moment | Timing)
    ]
    """A moment (``at_checkout``) or ``{moment: follow_up_email, delay: 3d}``."""
    wording: str | None = None
    """What the customer reads, any UTF-8 text."""
    discount: Annotated[
        Discount,
        BeforeValidator(_discount_shorthand, json_schema_input_type=Literal["none"] | Discount),
    ] = Discount()
    """``none`` or ``{percent: 10}`` / ``{amount: 200}`` / ``{free_shipping: true}``."""
    items: list[Item] = Field(default_factory=list)
    """Products offered (several for a bundle)."""
    cadence: Duration | None = None
    """Subscription upgrades: the delivery interval offered (``2w``)."""

    @model_validator(mode="after")
    def _discount_in_range(self) -> Offer:
        amount = self.discount.amount
        prices = [i.price for i in self.items]
        if amount is not None and prices and all(p is not None for p in prices):
            total = sum(p for p in prices if p is not None)
            if amount >= total:
                check(
                    [
                        Finding(
                            ("discount", "amount"),
                            f"discount {amount:g} is not below the items' total price {total:g}",
                            "a discount must leave a positive price; lower the amount",
                        )
                    ]
                )
        if self.cadence is not None and self.tactic is not Tactic.subscription_upgrade:
            check(
                [
                    Finding(
                        ("cadence",),
                        "'cadence' is for subscription_upgrade offers",
                        "remove 'cadence' or set tactic: subscription_upgrade",
                    )
                ]
            )
        return self


class Variant(Model):
    id: Identifier
    weight: Annotated[float, Field(gt=0.0, le=1.0)]
    control: Switch = False
    name: str | None = None
    offer: Offer | None = None
    """None for a 'no offer' control."""


# ---------------------------------------------------------------------- metrics
class Guardrail(Model):
    """A metric that must not get worse by more than ``margin`` (one-sided
    non-inferiority test). Direction defaults to the catalogue's."""

    metric: Identifier
    margin: Annotated[float, Field(ge=0.0)]
    margin_kind: MarginKind = MarginKind.relative
    direction: Direction | None = None


class MetricRoles(Model):
    primary: Identifier
    secondary: list[Identifier] = Field(default_factory=list)
    guardrails: list[Guardrail] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> MetricRoles:
        places: list[tuple[tuple[str | int, ...], str]] = [(("primary",), self.primary)]
        places += [(("secondary", i), name) for i, name in enumerate(self.secondary)]
        places += [(("guardrails", i, "metric"), g.metric) for i, g in enumerate(self.guardrails)]
        seen: set[str] = set()
        found: list[Finding] = []
        for path, name in places:
            if name in seen:
                found.append(
                    Finding(
                        path,
                        f"metric '{name}' already has a role here",
                        "give each metric one role: primary, secondary or guardrail",
                    )
                )
            seen.add(name)
        check(found)
        return self


# ------------------------------------------------------------------- experiment
class Experiment(Model):
    """One experiment spec (``experiments/<id>.yaml``)."""

    id: Identifier
    name: Annotated[str, Field(min_length=1)]
    hypothesis: str | None = None
    owner: str | None = None
    status: Status = Status.draft
    start: date | None = None
    end: date | None = None
    population: Population = Population()
    variants: Annotated[list[Variant], Field(min_length=2)]
    metrics: MetricRoles
    analysis: Analysis = Analysis()
    data: DataSource = DataSource()
    overrides: dict[str, Identifier] = Field(default_factory=dict)
    """QA: unit id -> forced variant id."""

    @model_validator(mode="after")
    def _cross_field(self) -> Experiment:
        """Rules in :mod:`upsell_ab.spec.rules` (shared with the raw-YAML pass)."""
        plain = {
            "variants": [
                {"id": v.id, "weight": v.weight, "control": v.control} for v in self.variants
            ],
            "start": self.start,
            "end": self.end,
            "overrides": dict(self.overrides),
            "analysis": {
                "engine": self.analysis.engine.value,
                # only a rule written in the file, so both passes locate the same key
                "decision": (
                    {"rule": self.analysis.decision.rule.value}
                    if "rule" in self.analysis.decision.model_fields_set
                    else {}
                ),
            },
        }
        check(experiment_findings(plain))
        return self

    @property
    def seed(self) -> str:
        return self.population.seed if self.population.seed is not None else self.id

    @property
    def control(self) -> Variant:
        return next(v for v in self.variants if v.control)

    @property
    def treatments(self) -> list[Variant]:
        return [v for v in self.variants if not v.control]

    def variant(self, variant_id: str) -> Variant:
        for v in self.variants:
            if v.id == variant_id:
                return v
        raise KeyError(variant_id)
