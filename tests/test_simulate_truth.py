"""Default truths from offers (closed forms from the documented table) and effects files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from upsell_ab.errors import InputError
from upsell_ab.simulate.truth import (
    FREE_SHIPPING_COST,
    MAX_TAKE_RATE,
    Truth,
    default_variant_truth,
    load_effects,
    offer_discount_value,
)
from upsell_ab.spec.models import Experiment, Offer, Variant


def offer(**kwargs: object) -> Offer:
    base: dict[str, object] = {
        "tactic": "bundle",
        "timing": "cart",
        "items": [{"sku": "a", "price": 2800}, {"sku": "b", "price": 3200}],
    }
    base.update(kwargs)
    return Offer.model_validate(base)


@pytest.mark.parametrize(
    ("discount", "expected"),
    [
        ("none", 0.0),
        ({"percent": 10}, 600.0),
        ({"percent": 20, "free_shipping": True}, 1200.0 + FREE_SHIPPING_COST),
        ({"amount": 1000}, 1000.0),
    ],
)
def test_discount_value(discount: object, expected: float) -> None:
    assert offer_discount_value(offer(discount=discount), 6000.0) == pytest.approx(expected)


def test_default_take_rate_closed_form() -> None:
    # bundle 10 % x cart 1.0; "set" wording is specific x1.25; 20 % + free shipping on
    # 6,000 yen = 1,700 yen -> discount factor 1 + 2 x 1700/6000
    truth = default_variant_truth(
        Variant(
            id="b",
            weight=0.5,
            offer=offer(
                wording="20 % off as a set", discount={"percent": 20, "free_shipping": True}
            ),
        )
    )
    assert truth.take_rate == pytest.approx(0.10 * 1.25 * (1 + 2 * 1700 / 6000))
    assert truth.addon_price == 6000.0
    assert truth.discount_value == pytest.approx(1700.0)
    assert truth.multiplier("refund") == pytest.approx(1 + 1700 / 6000 / 2)


def test_take_rate_is_capped_and_no_offer_takes_nothing() -> None:
    generous = default_variant_truth(
        Variant(
            id="x",
            weight=0.5,
            offer=offer(
                tactic="cross_sell",
                timing="post_purchase",
                wording="often bought together",
                discount={"percent": 90},
            ),
        )
    )
    assert generous.take_rate == MAX_TAKE_RATE
    assert default_variant_truth(Variant(id="c", weight=0.5, control=True)).take_rate == 0.0


def _experiment() -> Experiment:
    return Experiment.model_validate(
        {
            "id": "exp",
            "name": "n",
            "variants": [
                {"id": "a", "weight": 0.5, "control": True, "offer": offer().model_dump()},
                {"id": "b", "weight": 0.5, "offer": offer(discount={"percent": 10}).model_dump()},
            ],
            "metrics": {"primary": "m"},
        }
    )


def test_effects_file_variant_level_and_scoped(tmp_path: Path) -> None:
    flat = tmp_path / "flat.yaml"
    flat.write_text("b:\n  upsell_purchase: 2.0\n  refund: 1.5\n", encoding="utf-8")
    scoped = tmp_path / "scoped.json"
    scoped.write_text(
        json.dumps({"exp": {"b": {"take_rate": 0.3}}, "other": {"b": {"take_rate": 0.01}}})
    )
    base = Truth().resolve(_experiment())["b"]
    first = load_effects(flat).resolve(_experiment())["b"]
    assert first.take_rate == pytest.approx(2 * base.take_rate)
    assert first.multiplier("refund") == pytest.approx(1.5 * base.multiplier("refund"))
    assert load_effects(scoped).resolve(_experiment())["b"].take_rate == 0.3


def test_effects_file_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("b:\n  refnd: 2\n  order: -1\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_effects(bad)
    fields = [p.location.field for p in caught.value.problems]
    assert fields == ["b.refnd", "b.order"]
    assert "unknown effect" in str(caught.value)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "take_rate: 5",
            "bad.yaml: b.take_rate: take_rate is a share of 0..1, got 5 (read as 500%) "
            "(write 0.05 for 5 %)",
        ),
        ("take_rate: 5%", "bad.yaml: b.take_rate: '5%' is not a number (write 0.05 (a share))"),
        ("order: 10%", "bad.yaml: b.order: '10%' is not a number (write a multiplier such as 1.1)"),
    ],
)
def test_effects_file_refuses_percentages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text(f"b:\n  {line}\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_effects("bad.yaml")
    assert str(caught.value) == expected
