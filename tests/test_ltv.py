"""LTV as practitioners define it, and the decomposition of its lift (issue 15).

Oracles: the domain note's closed form (5,000 yen x 3 purchases x 20 % = 3,000 yen);
numpy sums for every part of the identity LTV = (n/N) x (r/n) x (m/r); the product of the
parts' lifts equals the total lift (exact algebra); and a simulation with known true
parts in which each part's 95 % interval covers its truth at the nominal rate.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import upsell_ab
from upsell_ab.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "experiments" / "metrics.yaml"
MARGIN = 0.2


def _experiment() -> upsell_ab.Experiment:
    return upsell_ab.define(
        id="bundle_discount",
        name="Bundle discount",
        status="running",
        population={"unit": "customer_id"},
        variants=[
            {"id": "plain", "weight": 0.5, "control": True},
            {"id": "bundle", "weight": 0.5},
        ],
        metrics={"primary": "upsell_take_rate", "secondary": ["customer_ltv_90d"]},
        catalogue=CATALOGUE,
    )


def _frames(
    variant: np.ndarray, orders: list[np.ndarray], discounts: list[np.ndarray]
) -> dict[str, Any]:
    """Exposures and order events: customer i has orders[i] values and discounts[i]."""
    n = len(variant)
    ids = np.array([f"c{i}" for i in range(n)], dtype=object)
    seen = np.datetime64("2026-04-01T09:00:00", "us") + (np.arange(n) % 20).astype("timedelta64[D]")
    exposures = pd.DataFrame(
        {"experiment": "bundle_discount", "variant": variant, "unit_id": ids, "timestamp": seen}
    )
    rows: list[tuple[str, np.datetime64, float, float]] = []
    for i in range(n):
        for k, (value, discount) in enumerate(zip(orders[i], discounts[i], strict=True)):
            rows.append((ids[i], seen[i] + np.timedelta64(k * 10 + 1, "D"), value, discount))
    events = pd.DataFrame(rows, columns=["unit_id", "timestamp", "value", "discount"])
    events["event_type"] = "order"
    events["event_id"] = [f"o{i}" for i in range(len(events))]
    return {"exposures": exposures, "events": events}


def test_the_domain_notes_closed_form() -> None:
    """Control: 3 orders of 5,000 yen at 20 % margin = 3,000 yen per customer. Bundle:
    4 orders of 5,000 yen with 250 yen off each = 0.2 x 20,000 - 1,000 = 3,000 yen: the
    same LTV, made of +33.3 % purchases, 0 % order value and -25 % margin rate."""
    rng = np.random.default_rng(0)
    n = 400
    variant = np.where(np.arange(n) % 2 == 0, "plain", "bundle")
    # a little spread so every test has a variance: half the customers buy one order
    # more (and keep the same shape)
    extra = rng.random(n) < 0.5
    orders, discounts = [], []
    for v, more in zip(variant, extra, strict=True):
        k = (3 if v == "plain" else 4) + int(more) * (3 if v == "plain" else 4)
        orders.append(np.full(k, 5000.0))
        discounts.append(np.full(k, 0.0 if v == "plain" else 250.0))
    frames = _frames(variant, orders, discounts)
    result = _experiment().analyze(**frames)
    means = {a.variant: a.mean for a in result.metric("customer_ltv_90d").variants}
    more = {v: extra[variant == v].mean() for v in ("plain", "bundle")}
    assert means["plain"] == pytest.approx(3000.0 * (1 + more["plain"]), rel=1e-12)
    assert means["bundle"] == pytest.approx(3000.0 * (1 + more["bundle"]), rel=1e-12)
    by_name = {m.name: m for m in result.metrics}
    aov = {a.variant: a.mean for a in by_name["customer_ltv_90d_order_value"].variants}
    margin = {a.variant: a.mean for a in by_name["customer_ltv_90d_margin_rate"].variants}
    assert aov == pytest.approx({"plain": 5000.0, "bundle": 5000.0}, rel=1e-12)
    assert margin == pytest.approx({"plain": 0.2, "bundle": 0.15}, rel=1e-12)
    assert by_name["customer_ltv_90d_margin_rate"].role == "check"


@pytest.fixture(scope="module")
def shop() -> dict[str, Any]:
    """3,000 customers per arm over 90 days: the bundle buys more often (Poisson 1.5 vs
    1.2 orders), at a lower order value (gamma mean 4,600 vs 5,000) and with 20 % off half
    of its orders."""
    rng = np.random.default_rng(7)
    n = 6000
    variant = np.where(np.arange(n) % 2 == 0, "plain", "bundle")
    bundle = variant == "bundle"
    counts = rng.poisson(np.where(bundle, 1.5, 1.2))
    orders = [
        rng.gamma(4.0, (4600.0 if b else 5000.0) / 4.0, k)
        for b, k in zip(bundle, counts, strict=True)
    ]
    # the bundle gives 20 % off on half of its orders (a margin rate of 0.1 on average)
    discounts = [
        o * (0.2 * (rng.random(len(o)) < 0.5) if b else 0.0)
        for o, b in zip(orders, bundle, strict=True)
    ]
    frames = _frames(variant, orders, discounts)
    result = _experiment().analyze(**frames)
    return {
        "result": result,
        "variant": variant,
        "n": counts.astype(float),
        "r": np.array([o.sum() for o in orders]),
        "m": np.array([MARGIN * o.sum() - d.sum() for o, d in zip(orders, discounts, strict=True)]),
    }


def test_every_part_matches_numpy_and_multiplies_back(shop: dict[str, Any]) -> None:
    from upsell_ab.stats.ltv import ltv_decompositions

    result = shop["result"]
    v, n, r, m = shop["variant"], shop["n"], shop["r"], shop["m"]

    def parts(arm: str) -> tuple[float, float, float, float]:
        a = v == arm
        return m[a].mean(), n[a].mean(), r[a].sum() / n[a].sum(), m[a].sum() / r[a].sum()

    control, treated = parts("plain"), parts("bundle")
    expected = [t / c - 1.0 for t, c in zip(treated, control, strict=True)]
    run = result.run
    (decomposition,) = ltv_decompositions(run.resolved, run.analysis)
    got = [decomposition.total.relative_lift] + [p.relative_lift for p in decomposition.parts]
    assert got == pytest.approx(expected, rel=1e-9)
    assert decomposition.gap == pytest.approx(0.0, abs=1e-12)
    assert math.prod(1 + x for x in expected[1:]) == pytest.approx(1 + expected[0], rel=1e-12)
    # purchases rose (+25 % true), the margin rate fell (0.1 / 0.2 = -50 % true): both detected
    labels = {p.label: p for p in decomposition.parts}
    assert labels["purchases per customer"].moved
    assert labels["margin rate after discounts"].moved


def test_the_decomposition_is_in_every_format(shop: dict[str, Any]) -> None:
    result = shop["result"]
    note = " ".join(result.metric("customer_ltv_90d").notes)
    assert "LTV by part, bundle vs plain" in note and "purchases per customer" in note
    for fmt in ("text", "markdown", "html", "json"):
        assert "LTV by part" in result.render(fmt)


def test_part_intervals_cover_their_truth() -> None:
    """400 simulated experiments of 800 customers per arm with known true parts:
    purchases Poisson(1.2) vs (1.5), order value gamma mean 5,000 vs 4,600, margin rate 0.2
    vs 0.1 (20 % off on half of the orders: 0.2 - 0.5 x 0.2). Each part's 95 % interval
    (the engines' delta-method relative intervals on the parts' sufficient statistics)
    covers the true relative lift at 0.95 +- 0.033 (3 Monte-Carlo SE)."""
    from upsell_ab.metrics.sufficient import RatioStats, SampleStats
    from upsell_ab.stats.frequentist import mean_test, ratio_test

    truth = {"purchases": 1.5 / 1.2 - 1, "order_value": 4600 / 5000 - 1, "margin": 0.1 / 0.2 - 1}
    rng = np.random.default_rng(11)
    covered = dict.fromkeys(truth, 0)
    runs = 400

    def arm(rate: float, value: float, off: float, size: int) -> tuple[Any, ...]:
        k = rng.poisson(rate, size)
        values = [rng.gamma(4.0, value / 4.0, j) for j in k]
        totals = np.array([o.sum() for o in values])
        given = np.array([(o * off * (rng.random(len(o)) < 0.5)).sum() for o in values])
        profit = MARGIN * totals - given
        n_stats = SampleStats(size, float(k.sum()), float((k * k).sum()))
        aov = RatioStats(
            size,
            float(totals.sum()),
            float((totals**2).sum()),
            float(k.sum()),
            float((k * k).sum()),
            float((totals * k).sum()),
        )
        margin = RatioStats(
            size,
            float(profit.sum()),
            float((profit**2).sum()),
            float(totals.sum()),
            float((totals**2).sum()),
            float((profit * totals).sum()),
        )
        return n_stats, aov, margin

    for _ in range(runs):
        c = arm(1.2, 5000.0, 0.0, 800)
        t = arm(1.5, 4600.0, 0.2, 800)
        tests = {
            "purchases": mean_test(c[0], t[0]),
            "order_value": ratio_test(c[1], t[1]),
            "margin": ratio_test(c[2], t[2]),
        }
        for name, tested in tests.items():
            low, high = tested.relative_ci.low, tested.relative_ci.high
            assert low is not None and high is not None
            covered[name] += low <= truth[name] <= high
    for name, hits in covered.items():
        assert abs(hits / runs - 0.95) < 0.033, (name, hits / runs)


def test_ltv_rules_are_located() -> None:
    def error(metric: dict[str, Any]) -> str:
        with pytest.raises(SpecError) as caught:
            upsell_ab.define(
                id="x",
                name="x",
                status="running",
                population={"unit": "customer_id"},
                variants=[
                    {"id": "a", "weight": 0.5, "control": True},
                    {"id": "b", "weight": 0.5},
                ],
                metrics={"primary": "ltv"},
                catalogue={"ltv": metric},
            )
        return str(caught.value)

    assert "an ltv metric needs 'margin'" in error({"type": "ltv", "event": "order"})
    capped = error(
        {"type": "ltv", "event": "order", "margin": 0.2, "capping": {"kind": "fixed", "value": 9}}
    )
    assert "an ltv metric takes no 'capping'" in capped
    ratio = error(
        {
            "type": "ratio",
            "numerator": {"event": "order", "value": "profit"},
            "denominator": {"event": "order", "value": "value"},
        }
    )
    assert "a ratio side summing profit needs 'margin'" in ratio
