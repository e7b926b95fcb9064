"""Events of exposed customers: the order at the touchpoint, offer purchases,
subscriptions, repeat purchases, refunds, unsubscribes and complaints, and the
pre-exposure history that CUPED uses. Vectorised per event kind with numpy;
every draw comes from the experiment's own Generator (see ``generate.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from upsell_ab.simulate.truth import VariantTruth
from upsell_ab.simulate.world import (
    CHECKOUT_MOMENTS,
    World,
    offer_delay_s,
    offer_tactic,
    touchpoint,
)
from upsell_ab.spec.models import Experiment, Moment, Tactic

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class Units:
    """The exposed customers of one experiment, one array element per unit
    (segment and channel as indexes into ``world.SEGMENTS`` / ``CHANNELS``;
    ``logged`` False for units whose exposures a simulated bug lost)."""

    ids: np.ndarray
    variant: np.ndarray
    exposed_at: np.ndarray
    segment: np.ndarray
    channel: np.ndarray
    logged: np.ndarray
    slot: np.ndarray | None = None
    """Slot key per unit when time slots were randomised (a switchback), else None."""


class EventBuilder:
    """Draws every event of the exposed units, vectorised per event kind."""

    def __init__(
        self,
        experiment: Experiment,
        units: Units,
        truths: dict[str, VariantTruth],
        world: World,
        rng: np.random.Generator,
        moment: Moment | None = None,
    ) -> None:
        import numpy as np

        self.experiment = experiment
        self.moment = moment if moment is not None else touchpoint(experiment)
        """Where the units are exposed (default: the experiment's touchpoint)."""
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
        if world.take_drift is not None and self.n:
            drift_from, factor = world.take_drift
            after = units.exposed_at >= np.datetime64(drift_from, "us")
            self.take = np.where(after, np.clip(self.take * factor, 0.0, 1.0), self.take)
        if units.slot is not None and world.slot_take_sd > 0 and self.n:
            # a switchback's customers of one slot share its weather, staff and queue:
            # one shock per slot on the take rate (within-slot correlation)
            keys, inverse = np.unique(units.slot, return_inverse=True)
            shock = rng.normal(0.0, world.slot_take_sd, len(keys))[inverse]
            self.take = np.clip(self.take + shock, 0.0, 1.0)
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
                "survey_response",
            )
        }
        self.pressure = per_unit([t.pressure for t in ordered])
        self._late = np.zeros(0, dtype=int)
        """Units with an order in days 31-60 (set by ``_repeats``)."""
        self.spend = np.exp(rng.normal(0.0, world.spend_sigma, self.n)) * np.where(
            units.segment == 2, world.vip_spend, 1.0
        )
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

        if self.units.slot is None:
            # a switchback's unit is a visit (a receipt): it has no order history
            self._history()
        orders: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        orders += self._exposure_orders()
        orders += self._repeats()
        self._refunds(orders)
        self._contact_side_effects()
        self._long_view()
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

        moment = self.moment
        world = self.world
        # segment factors normalised to average 1, so the stated take rate is the take rate
        factors = np.asarray(world.segment_take) / np.dot(world.segment_shares, world.segment_take)
        seg_take = factors[self.units.segment]
        orders: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        if moment in CHECKOUT_MOMENTS:
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

        if offer_tactic(self.experiment) is not Tactic.subscription_upgrade:
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
        self._late = second
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

    def _long_view(self) -> None:
        """What pushy offers do later (issue 15), drawn from a child generator so the
        short-term events of every seed stay as they were:

        - late repeat orders (days 61-90) of customers who ordered again in days 31-60,
          with P = ``third_repeat`` x (1 - LONG_RUN_REPEAT_LOSS x pressure), and their
          refunds: the 90-day LTV sees what the 30-day repeat rate does not;
        - post-purchase survey answers (``survey_response``, value = score 1-5) within
          1-10 days: score = round(N(mean - SATISFACTION_LOSS x pressure, sd)) clipped to
          1-5; unhappy customers (<= 2) answer ``unhappy_response_factor`` times as often,
          so response is selective, as real surveys are.
        """
        import numpy as np

        from upsell_ab.simulate.truth import LONG_RUN_REPEAT_LOSS, SATISFACTION_LOSS

        rng, world = self.rng.spawn(1)[0], self.world
        saved, self.rng = self.rng, rng
        try:
            late = self._late
            keep = 1.0 - LONG_RUN_REPEAT_LOSS * self.pressure[late]
            p3 = np.clip(world.third_repeat * keep * self.mult["repeat"][late], 0.0, 1.0)
            third = late[rng.random(len(late)) < p3]
            when = self._after(third, 61 * 86400, 90 * 86400)
            value = self._values(len(third), self.spend[third])
            ids = self._order_ids(third, "r3")
            self._add(third, when, "order", value, 0.0, ids)
            self._refunds([(third, when, value, ids)])
            mean = world.satisfaction_mean - SATISFACTION_LOSS * self.pressure
            score = np.clip(np.rint(rng.normal(mean, world.satisfaction_sd)), 1.0, 5.0)
            p = world.survey_response_rate * self.mult["survey_response"]
            p = np.where(score <= 2.0, p * world.unhappy_response_factor, p)
            idx = np.flatnonzero(rng.random(self.n) < np.clip(p, 0.0, 1.0))
            self._add(idx, self._after(idx, 86400, 10 * 86400), "survey_response", score[idx])
        finally:
            self.rng = saved


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
