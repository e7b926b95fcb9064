"""Stated true effects per variant: what the simulator makes happen.

A simulation is only useful as proof when its truth is written down. Each
variant gets a :class:`VariantTruth`: its absolute take rate for the offer, the
add-on price and the discount money given per purchase, and multipliers on the
world's baseline rates per event type (1.0 = as the control). Defaults are
derived from the offer (tactic, timing, wording, discount; table in
``docs/workflow.md``) within the practitioners' ranges of
``shared/domain.md`` (take rates 2-35 %); an effects file (YAML/JSON) or
keyword arguments override them, so tests can state an A/A truth, a broken
allocation (SRM), a discount that lifts conversion but loses money, or a
variant that raises refunds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from upsell_ab.errors import InputError, Location, Problem
from upsell_ab.simulate.world import offer_moment, tactic_of
from upsell_ab.spec.models import Experiment, Moment, Offer, Tactic, Variant

EVENT_EFFECTS: tuple[str, ...] = (
    "order",
    "order_value",
    "upsell_purchase",
    "repeat",
    "refund",
    "subscription_start",
    "subscription_cancel",
    "unsubscribe",
    "complaint",
    "discount",
    "survey_response",
)
"""Keys of an effects file that multiply a baseline rate (or value) of the variant."""

ABSOLUTE_EFFECTS: tuple[str, ...] = (
    "take_rate",
    "exposure_keep",
    "addon_price",
    "pressure",
)
"""Keys that set a value outright: take rate (0..1), share of exposures that are
logged (< 1 simulates a logging bug, hence an SRM), add-on price in yen, and the
offer's pressure (0..1; see :data:`MOMENT_PRESSURE`)."""

MOMENT_PRESSURE: Mapping[Moment, float] = MappingProxyType(
    {
        Moment.product_page: 0.4,
        Moment.cart: 0.7,
        Moment.at_checkout: 1.0,
        Moment.post_purchase: 0.3,
        Moment.follow_up_email: 0.5,
        Moment.follow_up_call: 1.0,
        Moment.renewal: 0.4,
        Moment.usage_threshold: 0.2,
        Moment.none: 0.0,
    }
)
"""How pushy an offer feels, by timing (domain.md: "too early feels pushy"; a call
interrupts): 1 = an offer that interrupts the purchase itself."""

LONG_RUN_REPEAT_LOSS = 0.4
"""The long view (issue 15): each unit of pressure costs this share of the customer's
late repeat purchases (days 61-90: x (1 - 0.4 x pressure)); the 30-day repeat rate does
not show it, so only long windows (and a holdout) see the trade-off."""
SATISFACTION_LOSS = 0.5
"""Each unit of pressure lowers the survey score by this many points (of 1-5)."""

FREE_SHIPPING_COST = 500.0
"""Yen a free-shipping offer costs the shop per order (domain.md: ~500 yen)."""

MIN_TAKE_RATE, MAX_TAKE_RATE = 0.02, 0.35
"""Offer acceptance range quoted by practitioners (shared/domain.md)."""

TACTIC_TAKE_RATE: Mapping[Tactic, float] = MappingProxyType(
    {
        Tactic.upsell: 0.12,
        Tactic.cross_sell: 0.14,
        Tactic.subscription_upgrade: 0.06,
        Tactic.bundle: 0.10,
    }
)
"""Base acceptance of an offer with generic wording, no discount, at the cart."""

MOMENT_FACTOR: Mapping[Moment, float] = MappingProxyType(
    {
        Moment.product_page: 0.8,
        Moment.cart: 1.0,
        Moment.at_checkout: 1.1,
        Moment.post_purchase: 1.5,
        Moment.follow_up_email: 0.5,
        Moment.follow_up_call: 1.2,
        Moment.renewal: 1.0,
        Moment.usage_threshold: 1.4,
        Moment.none: 0.0,
    }
)
"""Timing: a post-purchase confirmation-page offer lands near 20 % (domain.md)."""

TACTIC_ADDON_PRICE: Mapping[Tactic, float] = MappingProxyType(
    {
        Tactic.upsell: 1500.0,
        Tactic.cross_sell: 800.0,
        Tactic.subscription_upgrade: 3000.0,
        Tactic.bundle: 2500.0,
    }
)
"""Add-on price (yen) when the offer lists no priced items."""

SPECIFIC_WORDING_FACTOR = 1.25
"""Specific wording (a number, "often bought together", "made to go with") vs
generic: the cafe example of domain.md went from ~20 % to ~35 %; we take a
milder 1.25x."""

_SPECIFIC = re.compile(
    r"\d|often|together|made to|with this|一緒|よく|専用|人気|合わせ|セット", re.IGNORECASE
)


@dataclass(frozen=True)
class VariantTruth:
    """What really happens to customers who see this variant."""

    take_rate: float
    """P(the unit buys the offered item | exposed); 0 for a 'no offer' variant."""
    addon_price: float
    """Yen, before discount."""
    discount_value: float
    """Yen given away per offer purchase (percent x price, amount, free shipping):
    the events' ``discount`` column."""
    multipliers: Mapping[str, float] = field(default_factory=dict)
    """Event type -> multiplier on the world's baseline rate (missing = 1.0)."""
    exposure_keep: float = 1.0
    """Share of this variant's exposures that reach the store."""
    price_reduction: float | None = None
    """Yen off the price the customer pays (percent or amount; not the shipping
    the shop absorbs); None = all of ``discount_value``."""
    pressure: float = 0.0
    """How pushy the offer is (0..1): lowers satisfaction and later repeat purchases
    (:data:`SATISFACTION_LOSS`, :data:`LONG_RUN_REPEAT_LOSS`)."""

    @property
    def net_price(self) -> float:
        """What the customer pays for the offered item: the add-on's revenue."""
        off = self.discount_value if self.price_reduction is None else self.price_reduction
        return max(self.addon_price - off, 0.0)

    def multiplier(self, key: str) -> float:
        return float(self.multipliers.get(key, 1.0))


def offer_discount_value(offer: Offer, price: float) -> float:
    """Money given away per purchase: percent of the price, or the amount (at
    most the price), plus ``FREE_SHIPPING_COST`` for free shipping."""
    discount = offer.discount
    value = 0.0
    if discount.percent is not None:
        value = price * discount.percent / 100.0
    elif discount.amount is not None:
        value = min(discount.amount, price)
    if discount.free_shipping:
        value += FREE_SHIPPING_COST
    return value


def offer_price(offer: Offer) -> float:
    priced = [item.price for item in offer.items if item.price is not None]
    return float(sum(priced)) if priced else TACTIC_ADDON_PRICE[tactic_of(offer)]


def default_variant_truth(variant: Variant) -> VariantTruth:
    """The documented default truth of one variant, derived from its offer.

    take = tactic base x timing factor x wording factor x discount factor,
    clipped to [2 %, 35 %]; discount factor = 1 + 2 x (discount / price)
    (capped at 2), a generous offer sells more. Side effects: follow-up
    e-mails raise unsubscribes (x1.3), calls raise complaints (x1.5), checkout
    interruptions lose a few orders (x0.99), discounts raise refunds a little
    (x1 + discount share / 2). The long view: the timing's pressure
    (:data:`MOMENT_PRESSURE`) lowers late repeat purchases (days 61-90,
    x (1 - 0.4 pressure)) and the survey score (-0.5 pressure); no offer has none.
    """
    offer = variant.offer
    if offer is None or offer_moment(offer) is Moment.none:
        return VariantTruth(take_rate=0.0, addon_price=0.0, discount_value=0.0)
    price = offer_price(offer)
    discount = offer_discount_value(offer, price)
    share = discount / price if price > 0 else 0.0
    take = TACTIC_TAKE_RATE[tactic_of(offer)] * MOMENT_FACTOR[offer_moment(offer)]
    if offer.wording and _SPECIFIC.search(offer.wording):
        take *= SPECIFIC_WORDING_FACTOR
    take *= min(1.0 + 2.0 * share, 2.0)
    take = min(max(take, MIN_TAKE_RATE), MAX_TAKE_RATE)
    multipliers: dict[str, float] = {}
    moment = offer_moment(offer)
    if moment is Moment.follow_up_email:
        multipliers["unsubscribe"] = 1.3
    if moment is Moment.follow_up_call:
        multipliers["complaint"] = 1.5
    if moment in (Moment.at_checkout, Moment.cart):
        multipliers["order"] = 0.99
    if share > 0:
        multipliers["refund"] = 1.0 + share / 2.0
    pressure = MOMENT_PRESSURE[moment]
    reduction = discount - (FREE_SHIPPING_COST if offer.discount.free_shipping else 0.0)
    return VariantTruth(
        take_rate=take,
        addon_price=price,
        discount_value=discount,
        multipliers=multipliers,
        price_reduction=reduction,
        pressure=pressure,
    )


def apply_effects(truth: VariantTruth, effects: Mapping[str, float]) -> VariantTruth:
    """Multiply (``EVENT_EFFECTS``) or set (``ABSOLUTE_EFFECTS``) parts of a truth."""
    multipliers = dict(truth.multipliers)
    result = truth
    for key, value in effects.items():
        if key == "take_rate":
            result = replace(result, take_rate=float(value))
        elif key == "exposure_keep":
            result = replace(result, exposure_keep=float(value))
        elif key == "addon_price":
            result = replace(result, addon_price=float(value))
        elif key == "pressure":
            result = replace(result, pressure=float(value))
        elif key == "upsell_purchase":
            result = replace(result, take_rate=min(result.take_rate * float(value), 1.0))
        elif key == "discount":
            reduction = result.price_reduction
            result = replace(
                result,
                discount_value=result.discount_value * float(value),
                price_reduction=None if reduction is None else reduction * float(value),
            )
        else:
            multipliers[key] = multipliers.get(key, 1.0) * float(value)
    return replace(result, multipliers=multipliers)


Effects = Mapping[str, Mapping[str, Mapping[str, float]]]
"""experiment id (or ``*`` for any) -> variant id -> effect key -> value."""


@dataclass(frozen=True)
class Truth:
    """Overrides of the default truths, plus the A/A switch.

    ``null=True`` makes every variant behave exactly like the control (an A/A
    test: any 'winner' is a false positive).
    """

    effects: Effects = field(default_factory=dict)
    null: bool = False

    def resolve(self, experiment: Experiment) -> dict[str, VariantTruth]:
        """Variant id -> its truth for this experiment."""
        control = default_variant_truth(experiment.control)
        truths: dict[str, VariantTruth] = {}
        for variant in experiment.variants:
            truths[variant.id] = control if self.null else default_variant_truth(variant)
        for scope in ("*", experiment.id):
            for variant_id, effects in self.effects.get(scope, {}).items():
                if variant_id in truths:
                    truths[variant_id] = apply_effects(truths[variant_id], effects)
        return truths


SHARE_EFFECTS: tuple[str, ...] = ("take_rate", "exposure_keep", "pressure")
"""Effects that are shares (0..1), not multipliers or prices."""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_effects(raw: Any, source: str) -> dict[str, dict[str, dict[str, float]]]:
    """Validate a parsed effects document; variant-level documents apply to any experiment."""
    problems: list[Problem] = []
    if not isinstance(raw, dict):
        raise InputError(
            [Problem(Location(file=source), "an effects file must be a mapping", "see docs")]
        )
    allowed = set(EVENT_EFFECTS) | set(ABSOLUTE_EFFECTS)

    # {variant: {key: number}} applies to any experiment; {experiment: {variant: {...}}} to one.
    nested = any(
        isinstance(v, dict) and any(isinstance(x, dict) for x in v.values()) for v in raw.values()
    )
    scoped: dict[str, Any] = raw if nested else {"*": raw}
    result: dict[str, dict[str, dict[str, float]]] = {}
    for scope, variants in scoped.items():
        for variant_id, effects in (variants or {}).items():
            path = f"{scope}.{variant_id}" if nested else str(variant_id)
            if not isinstance(effects, dict):
                problems.append(Problem(Location(file=source, field=path), "expected a mapping"))
                continue
            for key, value in effects.items():
                where = Location(file=source, field=f"{path}.{key}")
                if key not in allowed:
                    problems.append(
                        Problem(where, f"unknown effect {key!r}", f"use one of {sorted(allowed)}")
                    )
                elif isinstance(value, str) and value.strip().endswith("%"):
                    number = value.strip().rstrip("%").strip()
                    problems.append(
                        Problem(
                            where,
                            f"{value!r} is not a number",
                            f"write {float(number) / 100:.10g} (a share)"
                            if key in SHARE_EFFECTS and _is_number(number)
                            else "write a multiplier such as 1.1",
                        )
                    )
                elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    problems.append(Problem(where, f"expected a number >= 0, got {value!r}"))
                elif key in SHARE_EFFECTS and value > 1:
                    problems.append(
                        Problem(
                            where,
                            f"{key} is a share of 0..1, got {value:g} (read as {value:.0%})",
                            f"write {value / 100:.10g} for {value:g} %",
                        )
                    )
                else:
                    result.setdefault(str(scope), {}).setdefault(str(variant_id), {})[key] = float(
                        value
                    )
    if problems:
        raise InputError(problems)
    return result


def load_effects(path: str | Path) -> Truth:
    """Read an effects file: ``{variant: {event_type: multiplier}}`` (any
    experiment) or ``{experiment: {variant: {...}}}``; ``.json`` or YAML."""
    import yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError([Problem(Location(file=str(file)), f"cannot read: {error}")]) from error
    try:
        raw = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise InputError([Problem(Location(file=str(file)), f"cannot parse: {error}")]) from error
    return Truth(effects=_check_effects(raw, str(file)))
