"""The number formatter: each expectation is the conventional way to write
the given input (percent, pp, yen, p-values), not output of our own code."""

from __future__ import annotations

import math

import pytest

from upsell_ab.report import format as fmt


@pytest.mark.parametrize(
    ("value", "sign", "expected"),
    [
        (0.0412, True, "+4.1%"),
        (-0.0412, True, "-4.1%"),
        (0.0412, False, "4.1%"),
        (-0.0004, True, "0.0%"),  # rounds to zero: no "-0.0%"
        (1.5, True, "+150.0%"),
        (None, True, "n/a"),
        (math.nan, True, "n/a"),
        (math.inf, False, "n/a"),
    ],
)
def test_percent(value: float | None, sign: bool, expected: str) -> None:
    assert fmt.percent(value, sign=sign) == expected


def test_points_are_percentage_points_with_a_sign() -> None:
    assert fmt.points(0.0123) == "+1.2 pp"
    assert fmt.points(-0.0123, decimals=2) == "-1.23 pp"
    assert fmt.points(0.00002, decimals=2) == "+<0.01 pp"  # never a misleading 0.00
    assert fmt.points(None) == "n/a"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0000471, "<0.001"),
        (0.001, "0.001"),
        (0.04991, "0.050"),
        (0.5, "0.500"),
        (1.0, "1.000"),
        (None, "n/a"),
    ],
)
def test_p_value(value: float | None, expected: str) -> None:
    assert fmt.p_value(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.99995, "> 99.9%"), (0.00001, "< 0.1%"), (0.6092, "60.9%"), (0.5, "50.0%")],
)
def test_probability_never_prints_certainty(value: float, expected: str) -> None:
    assert fmt.probability(value) == expected


def test_money_yen_has_no_minor_unit_for_large_amounts() -> None:
    assert fmt.money(3000, "JPY") == "¥3,000"
    assert fmt.money(1843.2, "JPY") == "¥1,843"
    assert fmt.money(12.345, "JPY") == "¥12.3"
    assert fmt.money(-58.5, "JPY", sign=True) == "-¥58.5"
    assert fmt.money(58.5, "JPY", sign=True) == "+¥58.5"
    assert fmt.money(1234.0, "CHF") == "1,234 CHF"
    assert fmt.money(12.345, "USD") == "$12.35"  # cents for currencies that have them
    assert fmt.money(0.0571, "JPY") == "¥0.06"
    assert fmt.money(1e-7, "JPY") == "<¥0.01"  # not a misleading ¥0.00
    assert fmt.money(0.0, "JPY", sign=True) == "¥0.00"
    assert fmt.money(None, "JPY") == "n/a"


def test_metric_format_dispatches_on_kind_and_unit() -> None:
    rate = fmt.MetricFormat(is_rate=True, unit=None)
    yen = fmt.MetricFormat(is_rate=False, unit="JPY")
    orders = fmt.MetricFormat(is_rate=False, unit="orders")
    assert rate.value(0.2341) == "23.41%"
    assert rate.change(0.0336) == "+3.36 pp"
    assert yen.value(1901.7) == "¥1,902"
    assert yen.change(-21.4) == "-¥21.4"
    assert yen.loss(3.0) == "¥3.0"
    assert orders.value(1.25) == "1.250 orders"
    assert orders.change(None) == "n/a"


def test_intervals_need_both_bounds() -> None:
    assert fmt.relative_interval(-0.0116, 0.075) == "[-1.2%, +7.5%]"
    assert fmt.relative_interval(None, 0.075) == "n/a"
    assert fmt.level(0.95) == "95%"


def test_days_round_up_because_a_partial_day_still_has_to_be_waited() -> None:
    assert fmt.days(4.5) == "5 days"
    assert fmt.days(1.0) == "1 day"
    assert fmt.days(None) == "n/a"
