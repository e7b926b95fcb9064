"""Report view of the offers: what each variant shows the customer.

The levers an experiment varies (domain.md: tactic, timing, wording,
discount, items), copied from the spec in plain, JSON-ready form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from upsell_ab.spec.models import Offer, format_duration


@dataclass(frozen=True)
class ItemReport:
    sku: str
    name: str | None
    price: float | None
    currency: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"sku": self.sku, "name": self.name, "price": self.price, "currency": self.currency}


@dataclass(frozen=True)
class OfferReport:
    """What the customer sees: the levers the experiment varies (domain.md)."""

    tactic: str | None
    """None when the spec describes the offer in words only."""
    moment: str | None
    delay: str | None
    wording: str | None
    discount: str
    """Plain words: "none", "10% off", "JPY 200 off + free shipping", "... (limited 48h)"."""
    discount_percent: float | None
    discount_amount: float | None
    free_shipping: bool
    items: list[ItemReport]
    cadence: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "tactic": self.tactic,
            "timing": {"moment": self.moment, "delay": self.delay},
            "wording": self.wording,
            "discount": {
                "text": self.discount,
                "percent": self.discount_percent,
                "amount": self.discount_amount,
                "free_shipping": self.free_shipping,
            },
            "items": [item.to_dict() for item in self.items],
            "cadence": self.cadence,
        }


@dataclass(frozen=True)
class VariantReport:
    id: str
    name: str | None
    control: bool
    weight: float
    offer: OfferReport | None
    """None for a 'no offer' control."""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})" if self.name else self.id

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "control": self.control,
            "weight": self.weight,
            "offer": self.offer.to_dict() if self.offer else None,
        }


def discount_text(offer: Offer) -> str:
    discount = offer.discount
    parts: list[str] = []
    if discount.percent is not None:
        parts.append(f"{discount.percent:g}% off")
    if discount.amount is not None:
        currency = next((i.currency for i in offer.items if i.currency), None) or "JPY"
        parts.append(f"{currency} {discount.amount:,.0f} off")
    if discount.free_shipping:
        parts.append("free shipping")
    text = " + ".join(parts) if parts else "none"
    if discount.limited_time is not None:
        text += f" (limited {format_duration(discount.limited_time)})"
    return text


def offer_report(offer: Offer | None) -> OfferReport | None:
    if offer is None:
        return None
    return OfferReport(
        tactic=offer.tactic.value if offer.tactic is not None else None,
        moment=offer.timing.moment.value if offer.timing is not None else None,
        delay=(
            format_duration(offer.timing.delay)
            if offer.timing is not None and offer.timing.delay is not None
            else None
        ),
        wording=offer.wording,
        discount=discount_text(offer),
        discount_percent=offer.discount.percent,
        discount_amount=offer.discount.amount,
        free_shipping=offer.discount.free_shipping,
        items=[ItemReport(i.sku, i.name, i.price, i.currency) for i in offer.items],
        cadence=format_duration(offer.cadence) if offer.cadence is not None else None,
    )
