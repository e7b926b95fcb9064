"""What each arm shows: variants and their offer (tactic, timing, wording,
discount, items, cadence), with the YAML shorthands ``timing: at_checkout`` and
``discount: none``.

Re-exported by :mod:`upsell_ab.spec.models`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from upsell_ab.spec.base import Duration, Identifier, Model, Switch
from upsell_ab.spec.findings import Finding, check

__all__ = ["Discount", "Item", "Moment", "Offer", "Tactic", "Timing", "Variant"]


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


class WordingStyle(StrEnum):
    """A descriptive tag of an offer's wording (issue 15: lessons by lever)."""

    generic = "generic"
    """A plain question: "Would you like a cake too?"."""
    specific = "specific"
    """A concrete benefit or pairing: "A cheesecake made to go with this coffee"."""
    social_proof = "social_proof"
    """What others do: "Often bought together", "our most popular add-on"."""
    personalised = "personalised"
    """Based on the customer: purchase history, age group, usage."""


class Offer(Model):
    """What a variant shows: tactic, timing, wording, discount and the items offered.

    Every field is optional: a counts-only test can describe the offer in words
    (``offer: {wording: ...}``); the simulator then assumes an upsell at checkout."""

    tactic: Tactic | None = None
    timing: Annotated[
        Timing | None,
        BeforeValidator(_timing_shorthand, json_schema_input_type=Moment | Timing | None),
    ] = None
    """A moment (``at_checkout``) or ``{moment: follow_up_email, delay: 3d}``."""
    wording: str | None = None
    """What the customer reads, any UTF-8 text."""
    wording_style: WordingStyle | None = None
    """What kind of wording it is, so lessons pool across experiments whose texts differ
    (``learn`` compares styles, not texts, when both offers are tagged)."""
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


def _weight_optional(schema: dict[str, Any]) -> None:
    """Editors: ``weight`` may be left out on every variant (equal split)."""
    required = schema.get("required", [])
    if "weight" in required:
        required.remove("weight")


class Variant(Model):
    model_config = ConfigDict(json_schema_extra=_weight_optional)

    id: Identifier
    weight: Annotated[float, Field(gt=0.0, le=1.0)]
    """Share of the experiment's traffic; leave it out on every variant for an equal
    split (filled in by :class:`~upsell_ab.spec.models.Experiment`)."""
    control: Switch = False
    name: str | None = None
    offer: Offer | None = None
    """None for a 'no offer' control."""
