"""Typed, frozen models of an experiment spec and of the metric catalogue.

Raw YAML is checked against these models (pydantic v2, ``extra='forbid'`` so a
misspelt key is an error, never silently dropped). Cross-field rules that need
the whole spec (weights sum to 1, one control, dates in order ...) are model
validators here; rules that need the catalogue live in ``spec.resolve``.
Field names are the YAML keys. Durations are written ``"7d"``, ``"48h"``,
``"30m"`` and become :class:`datetime.timedelta`.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    model_validator,
)

from upsell_ab.spec.findings import Finding, check
from upsell_ab.spec.rules import WEIGHT_TOLERANCE, experiment_findings

__all__ = ["WEIGHT_TOLERANCE"]  # re-exported: variant weights sum to 1 within this tolerance

IDENTIFIER_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]*$"
"""Experiment, variant and metric ids: a letter, then letters, digits, '_' or '-'."""

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|h|m|s|w)\s*$")
_DURATION_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: Any) -> timedelta:
    """``"7d"`` -> 7 days. Units: w, d, h, m, s. A bare number is refused (ambiguous unit)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _DURATION_UNITS[match.group(2)])
    raise ValueError(f"expected a duration such as '7d', '48h', '30m' or '2w', got {value!r}")


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = _DURATION_UNITS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _duration_json_schema(schema: dict[str, Any]) -> None:
    """A string like ``7d`` (not JSON Schema's ISO 8601 ``duration`` format)."""
    schema.pop("format", None)
    schema.update(type="string", pattern=_DURATION_RE.pattern, examples=["7d", "48h", "2w"])


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra=_duration_json_schema),
]
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN, min_length=1, max_length=64)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Switch = Annotated[bool, Strict()]
"""A boolean written true/false (never a quoted 'yes' coerced to True)."""


class Model(BaseModel):
    """Base for every spec model: frozen, unknown keys forbidden. YAML 1.1 traps
    (``no`` read as false, ``012`` as octal) are refused by the loader before
    the models see the values; numbers are never turned into strings."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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
class Direction(StrEnum):
    higher_is_better = "higher_is_better"
    lower_is_better = "lower_is_better"


class MarginKind(StrEnum):
    relative = "relative"
    absolute = "absolute"


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


# --------------------------------------------------------------------- analysis
class Engine(StrEnum):
    frequentist = "frequentist"
    bayesian = "bayesian"
    both = "both"


class Correction(StrEnum):
    holm = "holm"
    benjamini_hochberg = "benjamini_hochberg"
    none = "none"


class Alternative(StrEnum):
    two_sided = "two_sided"
    greater = "greater"
    less = "less"


class DecisionRule(StrEnum):
    frequentist = "frequentist"
    bayesian = "bayesian"
    both = "both"
    """Both engines must agree."""


class BetaPrior(Model):
    """Beta(alpha, beta) prior on conversion rates; Beta(1, 1) is flat."""

    alpha: Annotated[float, Field(gt=0.0)] = 1.0
    beta: Annotated[float, Field(gt=0.0)] = 1.0


class LiftPrior(Model):
    """Normal prior on the relative lift (GrowthBook's convention); ``proper:
    false`` means a flat prior."""

    proper: Switch = False
    mean: float = 0.0
    stddev: Annotated[float, Field(gt=0.0)] = 0.3


class Priors(Model):
    conversion: BetaPrior = BetaPrior()
    lift: LiftPrior = LiftPrior()


class Sequential(Model):
    """Anytime-valid confidence sequences (``confidence_sequence``, tuned by
    ``tuning_n`` = N*) or group-sequential boundaries for ``looks`` planned looks."""

    enabled: Switch = False
    method: Literal["confidence_sequence", "obrien_fleming", "pocock"] = "confidence_sequence"
    tuning_n: Annotated[float, Field(gt=0.0)] = 5000.0
    looks: Annotated[int, Field(ge=1)] = 1


class Decision(Model):
    rule: DecisionRule = DecisionRule.frequentist
    metric: Identifier | None = None
    """What decides the winner: None = the primary metric; or a profit metric of
    the catalogue to "decide on profit after discount cost"."""
    prob_best_threshold: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    expected_loss_threshold: Annotated[float, Field(gt=0.0)] | None = None
    """Maximum expected loss (in the decision metric's units) of shipping a variant."""
    min_profit_margin: float = 0.0
    """Profit rule: ship only if the lift in profit per unit exceeds this amount."""


class Analysis(Model):
    alpha: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.05
    power: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.8
    mde: Annotated[float, Field(gt=0.0)] = 0.1
    """Minimum detectable effect on the primary metric."""
    mde_kind: MarginKind = MarginKind.relative
    alternative: Alternative = Alternative.two_sided
    engine: Engine = Engine.both
    correction: Correction = Correction.holm
    sequential: Sequential = Sequential()
    priors: Priors = Priors()
    decision: Decision = Decision()
    srm_alpha: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.001
    max_multiple_exposure_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.01
    daily_units: Annotated[int, Field(gt=0)] | None = None
    """Expected eligible units a day, for ``plan`` durations."""
    segments: list[str] = Field(default_factory=list)
    """Exposure attributes to break results down by."""


# ------------------------------------------------------------------------- data
class SourceKind(StrEnum):
    embedded = "embedded"
    files = "files"
    postgres = "postgres"
    spark = "spark"


class ExposureColumns(Model):
    """Column names of the exposure table (identifiers, quoted in SQL)."""

    experiment: str = "experiment"
    variant: str = "variant"
    unit_id: str = "unit_id"
    timestamp: str = "timestamp"
    event_id: str | None = None
    attributes: list[str] = Field(default_factory=list)


class EventColumns(Model):
    """Column names of the event (conversion) table."""

    unit_id: str = "unit_id"
    timestamp: str = "timestamp"
    type: str = "event_type"
    value: str = "value"
    discount: str = "discount"
    quantity: str = "quantity"
    order_id: str | None = "order_id"
    event_id: str | None = "event_id"


class Table(Model):
    """A table (``table``, optional ``schema``) or files read in place (``path``:
    a file or glob, ``format`` csv or parquet)."""

    table: str | None = None
    schema_name: str | None = Field(default=None, alias="schema")
    path: str | None = None
    format: Literal["csv", "parquet"] | None = None

    @model_validator(mode="after")
    def _one_place(self) -> Table:
        if (self.table is None) == (self.path is None):
            check(
                [
                    Finding(
                        (),
                        "give exactly one of 'table' or 'path'",
                        "a database table (table: exposures) or files (path: data/*.parquet)",
                    )
                ]
            )
        return self


class DataSource(Model):
    kind: SourceKind = SourceKind.embedded
    store: str | None = None
    """Embedded kind: the DuckDB file (default ``upsell_ab.duckdb``)."""
    dsn_env: str | None = None
    """PostgreSQL kind: the environment variable holding the connection string
    (never the password in the spec)."""
    exposures: Table = Table(table="exposures")
    events: Table = Table(table="events")
    exposure_columns: ExposureColumns = ExposureColumns()
    event_columns: EventColumns = EventColumns()

    @model_validator(mode="after")
    def _kind_needs(self) -> DataSource:
        found: list[Finding] = []
        if self.kind is SourceKind.postgres and not self.dsn_env:
            found.append(
                Finding(
                    ("dsn_env",),
                    "a postgres source needs 'dsn_env'",
                    "name the environment variable holding the DSN (never the password)",
                )
            )
        if self.kind is SourceKind.files:
            for side in ("exposures", "events"):
                if getattr(self, side).path is None:
                    found.append(
                        Finding(
                            (side,),
                            f"a files source needs '{side}.path'",
                            f"give a file or glob, e.g. path: data/{side}.parquet",
                        )
                    )
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


# --------------------------------------------------------------- metric catalogue
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
    """Covariate = the same metric over ``lookback`` before first exposure."""

    lookback: Duration = timedelta(days=28)


ValueSource = Literal["value", "quantity", "discount", "count"]
"""What is summed per event: a column of the event table, or 1 per event."""


class Aggregate(Model):
    """One side of a ratio: events of ``event`` type, summing ``value``."""

    event: Annotated[str, Field(min_length=1)]
    value: ValueSource = "value"


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
        if self.type is MetricType.profit and self.margin is None:
            found.append(
                Finding(
                    ("type",),
                    "a profit metric needs 'margin'",
                    "add margin: 0.3 (gross margin on revenue, 0..1)",
                )
            )
        if self.type is not MetricType.profit and self.margin is not None:
            found.append(
                Finding(
                    ("margin",),
                    "'margin' is for profit metrics only",
                    "remove it or set type: profit",
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
        if self.capping is not None and self.type in (MetricType.proportion, MetricType.retention):
            found.append(
                Finding(
                    ("capping",),
                    "capping applies to value metrics, not 0/1 metrics",
                    "remove 'capping'",
                )
            )
        check(found)
        return self


class Catalogue(Model):
    """``experiments/metrics.yaml``: metric name -> definition."""

    metrics: dict[Identifier, MetricDefinition]
