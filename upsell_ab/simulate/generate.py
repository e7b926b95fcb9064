"""Exposures and events with known true effects, for demos, tests and benchmarks.

Per experiment: units arrive by the traffic pattern (``traffic.py``), carry
customer attributes (segment new/returning/vip, channel web/app/email,
past_orders), are assigned by the real :class:`~upsell_ab.assignment.Assigner`
(so weights, targeting and coverage hold exactly as in production), and then
behave according to the world's baseline rates times their variant's truth
(``truth.py``). Everything is drawn from one numpy Generator seeded with
``[seed, crc32(experiment id)]``: deterministic per seed, independent of
Python's randomised ``hash()`` and of the order experiments are listed in.

World model (``World``; the figures follow shared/domain.md): order values are
lognormal around 2,400 yen times a per-customer spend level (shared with the
pre-exposure history, so CUPED has a correlated covariate); 30-day repeat
purchase 35/50/65 % for new/returning/vip (about 47 % overall); 3 % of orders
refunded; 2 % unsubscribe (x2 on the e-mail channel); 0.4 % complain;
subscription offers start a subscription whose deliveries recur at the
offer's cadence, 20 % cancelled within 30 days.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from upsell_ab.simulate.traffic import DEFAULT_START, TrafficPlan, arrival_times
from upsell_ab.simulate.truth import Truth, VariantTruth
from upsell_ab.spec.models import Experiment, Moment, Tactic

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from upsell_ab.spec.resolve import ResolvedExperiment

SEGMENTS: tuple[str, ...] = ("new", "returning", "vip")
CHANNELS: tuple[str, ...] = ("web", "app", "email", "in_store")
EXPOSURE_ATTRIBUTES: tuple[str, ...] = ("segment", "channel", "past_orders")

_CHECKOUT_MOMENTS = {Moment.product_page, Moment.cart, Moment.at_checkout}


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


@dataclass(frozen=True)
class SimulatedExperiment:
    """What was simulated for one experiment (for tests and the CLI summary)."""

    experiment_id: str
    units_arrived: int
    units_exposed: int
    truths: dict[str, VariantTruth]


def stable_seed(seed: int, experiment_id: str) -> list[int]:
    """Seed material for numpy: the user's seed and a CRC-32 of the experiment
    id (stable across processes, unlike ``hash()``)."""
    return [int(seed) & 0xFFFFFFFF, zlib.crc32(experiment_id.encode("utf-8"))]


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


def touchpoint(experiment: Experiment) -> Moment:
    """Where exposure happens: the earliest offer moment of any variant (a timing
    test exposes everyone at the common point, e.g. the checkout)."""
    moments = [
        v.offer.timing.moment
        for v in experiment.variants
        if v.offer is not None and v.offer.timing.moment is not Moment.none
    ]
    return min(moments, key=MOMENT_ORDER.index) if moments else Moment.at_checkout


def offer_delay_s(experiment: Experiment, variant_id: str) -> float:
    """Seconds from the order to the moment this variant's offer is seen."""
    offer = experiment.variant(variant_id).offer
    if offer is None:
        return 0.0
    if offer.timing.delay is not None:
        return offer.timing.delay.total_seconds()
    if offer.timing.moment is Moment.post_purchase:
        return 60.0
    return DEFAULT_DELAY_S.get(offer.timing.moment, 0.0)


def _tactic(experiment: Experiment) -> Tactic | None:
    for variant in [*experiment.treatments, experiment.control]:
        if variant.offer is not None:
            return variant.offer.tactic
    return None


def _as_experiment(item: Experiment | ResolvedExperiment) -> Experiment:
    return item if isinstance(item, Experiment) else item.experiment


def simulate(
    experiments: Sequence[Experiment | ResolvedExperiment],
    *,
    units: int,
    days: int = 14,
    seed: int = 0,
    start: date | None = None,
    truth: Truth | None = None,
    world: World | None = None,
    multiple_exposure_share: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exposures and events (canonical store columns) for each experiment.

    ``units`` customers arrive per experiment over ``days`` (from ``start``,
    else the spec's start, else ``DEFAULT_START``); those the Assigner puts in
    the experiment are exposed. ``multiple_exposure_share`` of exposed units
    also get an exposure to another variant (a cookie reset): a data problem.
    """
    exposures, events, _ = simulate_detailed(
        experiments,
        units=units,
        days=days,
        seed=seed,
        start=start,
        truth=truth,
        world=world,
        multiple_exposure_share=multiple_exposure_share,
    )
    return exposures, events


def simulate_detailed(
    experiments: Sequence[Experiment | ResolvedExperiment],
    *,
    units: int,
    days: int = 14,
    seed: int = 0,
    start: date | None = None,
    truth: Truth | None = None,
    world: World | None = None,
    multiple_exposure_share: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame, list[SimulatedExperiment]]:
    """:func:`simulate` plus what was simulated per experiment (units, truths)."""
    import pandas as pd

    if units < 1 or days < 1:
        raise ValueError(f"units and days must be >= 1, got units={units}, days={days}")
    results = [
        simulate_one(
            _as_experiment(item),
            units=units,
            days=days,
            seed=seed,
            start=start,
            truth=truth or Truth(),
            world=world or World(),
            multiple_exposure_share=multiple_exposure_share,
        )
        for item in experiments
    ]
    exposures = pd.concat([r[0] for r in results], ignore_index=True)
    events = pd.concat([r[1] for r in results], ignore_index=True)
    return exposures, events, [r[2] for r in results]


def simulate_one(
    experiment: Experiment,
    *,
    units: int,
    days: int,
    seed: int,
    start: date | None,
    truth: Truth,
    world: World,
    multiple_exposure_share: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame, SimulatedExperiment]:
    """One experiment: (exposures, events, summary)."""
    import numpy as np

    from upsell_ab.assignment import Assigner

    rng = np.random.default_rng(stable_seed(seed, experiment.id))
    plan = TrafficPlan(start=start or experiment.start or DEFAULT_START, days=days)
    arrivals = arrival_times(plan, units, rng)
    unit_ids = np.array([f"{experiment.id}-{i:07d}" for i in range(units)], dtype=object)
    segment = rng.choice(len(SEGMENTS), size=units, p=world.segment_shares)
    channel = rng.choice(len(CHANNELS), size=units, p=world.channel_shares)
    past_orders = np.where(
        segment == 0,
        0,
        np.where(segment == 1, 1 + rng.poisson(3, units), 8 + rng.poisson(6, units)),
    )
    import pandas as pd

    attributes = pd.DataFrame(
        {
            experiment.population.unit: unit_ids,
            "segment": np.asarray(SEGMENTS, dtype=object)[segment],
            "channel": np.asarray(CHANNELS, dtype=object)[channel],
            "past_orders": past_orders,
        }
    )
    assigned = np.asarray(Assigner(experiment).assign_many(unit_ids, attributes), dtype=object)
    in_experiment = np.array([v is not None for v in assigned], dtype=bool)
    truths = truth.resolve(experiment)
    keep = np.ones(units, dtype=bool)
    for variant_id, variant_truth in truths.items():
        mask = assigned == variant_id
        if variant_truth.exposure_keep < 1.0:
            keep[mask] = rng.random(int(mask.sum())) < variant_truth.exposure_keep
    idx = np.flatnonzero(in_experiment)
    units_state = _Units(
        ids=unit_ids[idx],
        variant=assigned[idx],
        exposed_at=arrivals[idx],
        segment=segment[idx],
        channel=channel[idx],
        logged=keep[idx],
    )
    exposures = _exposure_frame(
        experiment, units_state, attributes.iloc[idx], rng, world, multiple_exposure_share
    )
    events = _EventBuilder(experiment, units_state, truths, world, rng).build()
    summary = SimulatedExperiment(
        experiment_id=experiment.id,
        units_arrived=units,
        units_exposed=int(units_state.logged.sum()),
        truths=truths,
    )
    return exposures, events, summary


@dataclass(frozen=True)
class _Units:
    ids: np.ndarray
    variant: np.ndarray
    exposed_at: np.ndarray
    segment: np.ndarray
    channel: np.ndarray
    logged: np.ndarray


def _exposure_frame(
    experiment: Experiment,
    units: _Units,
    attributes: pd.DataFrame,
    rng: np.random.Generator,
    world: World,
    multiple_exposure_share: float,
) -> pd.DataFrame:
    """First exposures, some later re-exposures to the same variant, and
    optionally exposures to a second variant; rows of unlogged units dropped."""
    import numpy as np
    import pandas as pd

    n = len(units.ids)
    base = pd.DataFrame(
        {
            "experiment": experiment.id,
            "variant": units.variant,
            "unit_id": units.ids,
            "timestamp": units.exposed_at,
            "segment": attributes["segment"].to_numpy(),
            "channel": attributes["channel"].to_numpy(),
            "past_orders": attributes["past_orders"].astype(str).to_numpy(),
        }
    )
    parts = [base]
    again = rng.random(n) < world.re_exposure_share
    later = base[again].copy()
    later["timestamp"] = later["timestamp"] + pd.to_timedelta(
        rng.uniform(3600, 5 * 86400, int(again.sum())), unit="s"
    )
    parts.append(later)
    if multiple_exposure_share > 0:
        ids = [v.id for v in experiment.variants]
        other = rng.random(n) < multiple_exposure_share
        switched = base[other].copy()
        shift = rng.integers(1, len(ids), int(other.sum()))
        position = np.array([ids.index(v) for v in switched["variant"]], dtype=int)
        switched["variant"] = np.asarray(ids, dtype=object)[(position + shift) % len(ids)]
        switched["timestamp"] = switched["timestamp"] + pd.to_timedelta(
            rng.uniform(600, 3 * 86400, int(other.sum())), unit="s"
        )
        parts.append(switched)
    frame = pd.concat(parts, ignore_index=True)
    lost = set(units.ids[~units.logged])
    if lost:
        frame = frame[~frame["unit_id"].isin(lost)]
    frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
    frame.insert(4, "event_id", [f"x-{experiment.id}-{i}" for i in range(len(frame))])
    return frame


class _EventBuilder:
    """Draws every event of the exposed units, vectorised per event kind."""

    def __init__(
        self,
        experiment: Experiment,
        units: _Units,
        truths: dict[str, VariantTruth],
        world: World,
        rng: np.random.Generator,
    ) -> None:
        import numpy as np

        self.experiment = experiment
        self.units = units
        self.world = world
        self.rng = rng
        self.n = len(units.ids)
        variant_ids = list(truths)
        position = np.array([variant_ids.index(v) for v in units.variant], dtype=int)

        def per_unit(values: list[float]) -> np.ndarray:
            return np.asarray(values, dtype=float)[position] if self.n else np.zeros(0)

        ordered = [truths[v] for v in variant_ids]
        self.take = per_unit([t.take_rate for t in ordered])
        self.price = per_unit([t.addon_price for t in ordered])
        self.discount = per_unit([t.discount_value for t in ordered])
        self.net = per_unit([t.net_price for t in ordered])
        default_cadence = world.subscription_cadence_days * 86400.0
        self.cadence = per_unit(
            [
                offer.cadence.total_seconds()
                if (offer := experiment.variant(v).offer) and offer.cadence
                else default_cadence
                for v in variant_ids
            ]
        )
        self.delay = per_unit([offer_delay_s(experiment, v) for v in variant_ids])
        self.items = per_unit(
            [
                float(max(len(offer.items), 1)) if (offer := experiment.variant(v).offer) else 0.0
                for v in variant_ids
            ]
        )
        self.mult: dict[str, np.ndarray] = {
            key: per_unit([t.multiplier(key) for t in ordered])
            for key in (
                "order",
                "order_value",
                "repeat",
                "refund",
                "subscription_cancel",
                "unsubscribe",
                "complaint",
            )
        }
        self.spend = np.exp(rng.normal(0.0, world.spend_sigma, self.n)) * np.where(
            units.segment == 2, world.vip_spend, 1.0
        )
        self.rows: list[dict[str, Any]] = []
        self.frames: list[pd.DataFrame] = []

    # ---------------------------------------------------------------- helpers
    def _values(self, size: int, spend: np.ndarray) -> np.ndarray:
        import numpy as np

        draws = self.rng.lognormal(
            np.log(self.world.order_value_median), self.world.order_value_sigma, size
        )
        return np.round(draws * spend)

    def _add(
        self,
        idx: np.ndarray,
        when: np.ndarray,
        event_type: str,
        value: np.ndarray,
        discount: np.ndarray | float = 0.0,
        order_id: np.ndarray | None = None,
        quantity: np.ndarray | float = 1.0,
    ) -> None:
        import numpy as np
        import pandas as pd

        if len(idx) == 0:
            return
        self.frames.append(
            pd.DataFrame(
                {
                    "unit_id": self.units.ids[idx],
                    "timestamp": when,
                    "event_type": event_type,
                    "value": np.asarray(value, dtype=float),
                    "discount": np.broadcast_to(np.asarray(discount, dtype=float), len(idx)),
                    "quantity": np.broadcast_to(np.asarray(quantity, dtype=float), len(idx)),
                    "order_id": order_id if order_id is not None else None,
                }
            )
        )

    def _after(self, idx: np.ndarray, low_s: float, high_s: float) -> np.ndarray:
        import pandas as pd

        offset = pd.to_timedelta(self.rng.uniform(low_s, high_s, len(idx)), unit="s")
        return self.units.exposed_at[idx] + offset.to_numpy()

    def _order_ids(self, idx: np.ndarray, tag: str) -> np.ndarray:
        import numpy as np

        return np.array([f"{u}-{tag}" for u in self.units.ids[idx]], dtype=object)

    # ------------------------------------------------------------------ build
    def build(self) -> pd.DataFrame:
        import pandas as pd

        self._history()
        orders: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        orders += self._exposure_orders()
        orders += self._repeats()
        self._refunds(orders)
        self._contact_side_effects()
        if not self.frames:
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _EVENT_DTYPES.items()})
        events = pd.concat(self.frames, ignore_index=True)
        events = events.sort_values("timestamp", kind="stable").reset_index(drop=True)
        events["event_id"] = [f"e-{self.experiment.id}-{i}" for i in range(len(events))]
        events["timestamp"] = events["timestamp"].astype("datetime64[us]")
        return events

    def _history(self) -> None:
        """Orders in the 60 days before exposure: the CUPED covariate."""
        import numpy as np

        rate = np.asarray(self.world.history_orders_60d)[self.units.segment]
        counts = self.rng.poisson(rate * np.clip(self.spend, 0.5, 2.0))
        idx = np.repeat(np.arange(self.n), counts)
        when = self._after(idx, -60 * 86400, -3600)
        ids = np.array([f"{u}-h{k}" for k, u in enumerate(self.units.ids[idx])], dtype=object)
        self._add(idx, when, "order", self._values(len(idx), self.spend[idx]), order_id=ids)

    def _exposure_orders(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """The order at the touchpoint and the offer purchases.

        Checkout touchpoints: the unit orders with P(order); offers at a checkout
        moment fold into that order, later offers (post-purchase, follow-ups) come
        as a separate order after the variant's delay; only purchasers see them,
        with P(take | order) = take / P(order) so the take rate per exposed unit
        is the stated one. Post-purchase or later touchpoints: the triggering
        order precedes the exposure (it cannot be affected, so it is not
        counted) and every unit may take the offer.
        """
        import numpy as np

        moment = touchpoint(self.experiment)
        world = self.world
        # segment factors normalised to average 1, so the stated take rate is the take rate
        factors = np.asarray(world.segment_take) / np.dot(world.segment_shares, world.segment_take)
        seg_take = factors[self.units.segment]
        orders: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        if moment in _CHECKOUT_MOMENTS:
            p_order = (
                world.order_probability[moment]
                * np.asarray(world.segment_conversion)[self.units.segment]
            )
            p_order = np.clip(p_order * self.mult["order"], 0.0, 1.0)
            ordered = self.rng.random(self.n) < p_order
            p_take = np.clip(self.take * seg_take / np.maximum(p_order, 1e-9), 0.0, 1.0)
            took = ordered & (self.rng.random(self.n) < p_take)
            idx = np.flatnonzero(ordered)
            when = self._after(idx, 30, 900)
            base = self._values(len(idx), self.spend[idx] * self.mult["order_value"][idx])
            inside = took[idx] & (self.delay[idx] == 0)
            addon_net = np.where(inside, self.net[idx], 0.0)
            addon_discount = np.where(inside, self.discount[idx], 0.0)
            order_ids = self._order_ids(idx, "o0")
            quantity = 1.0 + self.rng.poisson(0.3, len(idx)) + np.where(inside, self.items[idx], 0)
            self._add(idx, when, "order", base + addon_net, addon_discount, order_ids, quantity)
            orders.append((idx, when, base + addon_net, order_ids))
            t = np.flatnonzero(inside)
            self._offer_bought(idx[t], when[t], order_ids[t])
            order_time = np.full(self.n, np.datetime64("NaT"), dtype="datetime64[us]")
            order_time[idx] = when
            later = np.flatnonzero(took & (self.delay > 0))
            orders += self._later_offer(later, order_time[later])
        else:
            if moment is Moment.post_purchase:
                # the order that triggered the offer happened just before it (not counted)
                idx = np.arange(self.n)
                when = self._after(idx, -900, -30)
                trigger = self._values(self.n, self.spend)
                self._add(idx, when, "order", trigger, 0.0, self._order_ids(idx, "t"))
            took = self.rng.random(self.n) < np.clip(self.take * seg_take, 0.0, 1.0)
            idx = np.flatnonzero(took)
            orders += self._later_offer(idx, self.units.exposed_at[idx])
        orders += self._subscriptions(took)
        return orders

    def _later_offer(
        self, idx: np.ndarray, order_time: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Offers taken after the order: a separate order at the variant's delay."""
        import pandas as pd

        spread = pd.to_timedelta(
            self.delay[idx] + self.rng.uniform(30, 120 + self.delay[idx] / 6), unit="s"
        )
        when = order_time + spread.to_numpy()
        net = self.net[idx]
        order_ids = self._order_ids(idx, "o1")
        self._add(idx, when, "order", net, self.discount[idx], order_ids, self.items[idx])
        self._offer_bought(idx, when, order_ids)
        return [(idx, when, net, order_ids)]

    def _offer_bought(self, idx: np.ndarray, when: np.ndarray, order_ids: np.ndarray) -> None:
        self._add(
            idx,
            when,
            "upsell_purchase",
            self.net[idx],
            self.discount[idx],
            order_ids,
        )

    def _subscriptions(
        self, took: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Subscription offers: start, early cancellations, recurring deliveries (60 days)."""
        import numpy as np
        import pandas as pd

        if _tactic(self.experiment) is not Tactic.subscription_upgrade:
            return []
        idx = np.flatnonzero(took & (self.take > 0))
        when = self._after(idx, 60, 180)
        self._add(idx, when, "subscription_start", self.net[idx])
        p_cancel = np.clip(
            self.world.subscription_cancel_30d * self.mult["subscription_cancel"][idx], 0, 1
        )
        cancelled = self.rng.random(len(idx)) < p_cancel
        cancel_at = (
            when + pd.to_timedelta(self.rng.uniform(1, 30 * 86400, len(idx)), unit="s").to_numpy()
        )
        self._add(
            idx[cancelled],
            cancel_at[cancelled],
            "subscription_cancel",
            np.zeros(int(cancelled.sum())),
        )
        orders = []
        cadence = self.cadence[idx][~cancelled]
        for k in (1, 2):
            active = ~cancelled
            sel = idx[active]
            at = when[active] + (k * cadence * 1e6).astype("int64").astype("timedelta64[us]")
            ids = self._order_ids(sel, f"s{k}")
            value = self.net[sel]
            self._add(sel, at, "order", value, self.discount[sel], ids)
            orders.append((sel, at, value, ids))
        return orders

    def _repeats(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Repeat purchases: within 30 days (F2), and sometimes again in days 31-60."""
        import numpy as np

        p = np.asarray(self.world.repeat_30d)[self.units.segment] * self.mult["repeat"]
        first = np.flatnonzero(self.rng.random(self.n) < np.clip(p, 0.0, 1.0))
        out = []
        when = self._after(first, 1.05 * 86400, 29.9 * 86400)
        value = self._values(len(first), self.spend[first])
        ids = self._order_ids(first, "r1")
        self._add(first, when, "order", value, 0.0, ids)
        out.append((first, when, value, ids))
        second = first[self.rng.random(len(first)) < self.world.second_repeat]
        when2 = self._after(second, 31 * 86400, 60 * 86400)
        value2 = self._values(len(second), self.spend[second])
        ids2 = self._order_ids(second, "r2")
        self._add(second, when2, "order", value2, 0.0, ids2)
        out.append((second, when2, value2, ids2))
        return out

    def _refunds(self, orders: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> None:
        import numpy as np
        import pandas as pd

        for idx, when, value, ids in orders:
            p = np.clip(self.world.refund_rate * self.mult["refund"][idx], 0.0, 1.0)
            hit = self.rng.random(len(idx)) < p
            later = pd.to_timedelta(self.rng.uniform(86400, 14 * 86400, int(hit.sum())), unit="s")
            self._add(idx[hit], when[hit] + later.to_numpy(), "refund", value[hit], 0.0, ids[hit])

    def _contact_side_effects(self) -> None:
        """Unsubscribes (twice as likely on the e-mail channel) and complaints."""
        import numpy as np

        email = np.where(self.units.channel == 2, 2.0, 1.0)
        for event_type, rate in (
            ("unsubscribe", self.world.unsubscribe_rate * email),
            ("complaint", self.world.complaint_rate),
        ):
            p = np.clip(rate * self.mult[event_type], 0.0, 1.0)
            idx = np.flatnonzero(self.rng.random(self.n) < p)
            self._add(idx, self._after(idx, 600, 14 * 86400), event_type, np.zeros(len(idx)))


_EVENT_DTYPES: dict[str, str] = {
    "unit_id": "object",
    "timestamp": "datetime64[us]",
    "event_type": "object",
    "value": "float64",
    "discount": "float64",
    "quantity": "float64",
    "order_id": "object",
    "event_id": "object",
}
