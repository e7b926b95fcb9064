"""The simulated world: who the customers are and how they behave without any offer.

Figures follow shared/domain.md (practitioners' ranges, not measurements) and
are documented in docs/workflow.md. Kept apart from the generator so a test or
benchmark can state a different world (``World(repeat_30d=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from upsell_ab.spec.models import Experiment, Moment, Offer, Tactic

SEGMENTS: tuple[str, ...] = ("new", "returning", "vip")
CHANNELS: tuple[str, ...] = ("web", "app", "email", "in_store")
EXPOSURE_ATTRIBUTES: tuple[str, ...] = ("segment", "channel", "past_orders")

CHECKOUT_MOMENTS = {Moment.product_page, Moment.cart, Moment.at_checkout}


@dataclass(frozen=True)
class World:
    """Baseline behaviour of customers (the control's world)."""

    segment_shares: tuple[float, ...] = (0.45, 0.45, 0.10)
    channel_shares: tuple[float, ...] = (0.45, 0.27, 0.13, 0.15)
    order_value_median: float = 2400.0
    order_value_sigma: float = 0.45
    spend_sigma: float = 0.35
    vip_spend: float = 1.5
    order_probability: dict[Moment, float] = field(
        default_factory=lambda: {
            Moment.product_page: 0.30,
            Moment.cart: 0.55,
            Moment.at_checkout: 0.90,
        }
    )
    """P(order at the exposure) for offers shown before the order is placed;
    other moments expose units after (or apart from) an order."""
    segment_conversion: tuple[float, ...] = (0.9, 1.0, 1.15)
    segment_take: tuple[float, ...] = (0.9, 1.0, 1.2)
    repeat_30d: tuple[float, ...] = (0.35, 0.50, 0.65)
    second_repeat: float = 0.3
    """P(another order in days 31-60 | repeated)."""
    history_orders_60d: tuple[float, ...] = (0.0, 0.9, 2.2)
    """Mean orders in the 60 days before exposure, per segment (CUPED covariate)."""
    refund_rate: float = 0.03
    unsubscribe_rate: float = 0.02
    complaint_rate: float = 0.004
    subscription_cancel_30d: float = 0.20
    subscription_cadence_days: float = 30.0
    re_exposure_share: float = 0.2
    """Units that see their (same) variant again later: first exposure rules."""
    survey_response_rate: float = 0.15
    """P(a customer answers the post-purchase survey), before selective response."""
    unhappy_response_factor: float = 1.6
    """Unhappy customers (score <= 2) answer this much more often: response is selective."""
    satisfaction_mean: float = 4.0
    satisfaction_sd: float = 0.9
    """Scores 1-5: a rounded normal around the mean (minus the offer's pressure)."""
    third_repeat: float = 0.5
    """P(another order in days 61-90 | ordered in days 31-60), before offer pressure."""
    take_drift: tuple[datetime, float] | None = None
    """A change over time shared by every arm (a campaign, the season): customers
    exposed from this moment on (naive UTC) take the offer ``factor`` times as often.
    None: no drift. Used to prove that a bandit's period-weighted analysis is not
    fooled when weights move while the rate drifts (issue 14)."""
    slot_take_sd: float = 0.06
    """Switchback specs only (time slots randomised): the sd of a shock to the take rate
    shared by every customer of one slot (an hour's weather, staff, queue), so outcomes
    are correlated within a slot as in a real shop; a per-customer analysis of such data
    is overconfident (docs/switchback.md). 0: independent customers."""


MOMENT_ORDER: tuple[Moment, ...] = (
    Moment.product_page,
    Moment.cart,
    Moment.at_checkout,
    Moment.post_purchase,
    Moment.follow_up_email,
    Moment.follow_up_call,
    Moment.renewal,
    Moment.usage_threshold,
)
"""The customer journey in time order."""

DEFAULT_DELAY_S: dict[Moment, float] = {
    Moment.follow_up_email: 3 * 86400.0,
    Moment.follow_up_call: 2 * 86400.0,
    Moment.renewal: 25 * 86400.0,
    Moment.usage_threshold: 10 * 86400.0,
}
"""When a later offer reaches the customer, unless the spec's timing gives a delay."""


DEFAULT_TACTIC = Tactic.upsell
DEFAULT_MOMENT = Moment.at_checkout
"""What the simulator assumes when an offer is described in words only."""


def offer_moment(offer: Offer) -> Moment:
    """The offer's moment, or :data:`DEFAULT_MOMENT` when the spec gives no timing."""
    return offer.timing.moment if offer.timing is not None else DEFAULT_MOMENT


def tactic_of(offer: Offer) -> Tactic:
    """The offer's tactic, or :data:`DEFAULT_TACTIC` when the spec gives none."""
    return offer.tactic if offer.tactic is not None else DEFAULT_TACTIC


def touchpoint(experiment: Experiment) -> Moment:
    """Where exposure happens: the earliest offer moment of any variant (a timing
    test exposes everyone at the common point, e.g. the checkout)."""
    moments = [
        offer_moment(v.offer)
        for v in experiment.variants
        if v.offer is not None and offer_moment(v.offer) is not Moment.none
    ]
    return min(moments, key=MOMENT_ORDER.index) if moments else Moment.at_checkout


def offer_delay_s(experiment: Experiment, variant_id: str) -> float:
    """Seconds from the order to the moment this variant's offer is seen."""
    offer = experiment.variant(variant_id).offer
    if offer is None:
        return 0.0
    if offer.timing is not None and offer.timing.delay is not None:
        return offer.timing.delay.total_seconds()
    moment = offer_moment(offer)
    if moment is Moment.post_purchase:
        return 60.0
    return DEFAULT_DELAY_S.get(moment, 0.0)


def offer_tactic(experiment: Experiment) -> Tactic | None:
    for variant in [*experiment.treatments, experiment.control]:
        if variant.offer is not None:
            return tactic_of(variant.offer)
    return None
