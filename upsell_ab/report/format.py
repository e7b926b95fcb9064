"""The one number formatter every renderer uses, so a lift reads the same in
the terminal, the job summary and the HTML page.

Conventions: relative lifts and probabilities as percent with a sign where a
change is meant ("+4.1%"); absolute lifts of 0/1 metrics in percentage
points ("+1.2 pp"); money in the metric's currency (JPY has no minor unit, so
"¥1,234"; small per-customer amounts keep 3 significant digits: "¥12.3");
p-values with 3 decimals, "<0.001" below; a missing value is "n/a", never 0.
Probabilities never print as 100% or 0%: "> 99.9%" / "< 0.1%".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MISSING = "n/a"
"""How every renderer shows a value an engine did not produce."""

_CURRENCY_SYMBOLS = {"JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}


def _decimals_for(value: float, significant: int) -> int:
    """Decimals that keep ``significant`` digits (at least 0, at most 6)."""
    if value == 0 or not math.isfinite(value):
        return 0
    magnitude = math.floor(math.log10(abs(value)))
    return max(0, min(6, significant - 1 - magnitude))


def _valid(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def number(value: float | None, *, significant: int = 3, sign: bool = False) -> str:
    """A plain number with thousands separators and ``significant`` digits."""
    if value is None or not math.isfinite(value):
        return MISSING
    decimals = _decimals_for(value, significant)
    text = f"{value:{'+' if sign else ''},.{decimals}f}"
    return _fix_negative_zero(text)


def _is_zero_text(text: str) -> bool:
    return text.strip("+-").replace("0", "").replace(".", "").replace(",", "") == ""


def _fix_negative_zero(text: str) -> str:
    """A value that rounds to zero prints unsigned ("0.0", not "-0.0" or "+0.0")."""
    return text.lstrip("+-") if _is_zero_text(text) else text


def percent(value: float | None, *, decimals: int = 1, sign: bool = False) -> str:
    """A fraction as percent: 0.041 -> "4.1%" ("+4.1%" with ``sign``)."""
    if value is None or not math.isfinite(value):
        return MISSING
    text = f"{value * 100:{'+' if sign else ''},.{decimals}f}%"
    return _fix_negative_zero(text[:-1]) + "%"


def points(value: float | None, *, decimals: int = 1) -> str:
    """A difference of two shares in percentage points: 0.012 -> "+1.2 pp"."""
    if value is None or not math.isfinite(value):
        return MISSING
    smallest = 10.0**-decimals
    if 0 < abs(value * 100) < smallest:
        return f"{'-' if value < 0 else '+'}<{smallest:.{decimals}f} pp"
    return _fix_negative_zero(f"{value * 100:+,.{decimals}f}") + " pp"


def probability(value: float | None) -> str:
    """A probability as percent, never rounded to a certainty it is not."""
    if value is None or not math.isfinite(value):
        return MISSING
    if value > 0.999:
        return "> 99.9%"
    if value < 0.001:
        return "< 0.1%"
    return f"{value * 100:.1f}%"


def p_value(value: float | None) -> str:
    """p-values: 3 decimals; "<0.001" below (more digits claim false precision)."""
    if value is None or not math.isfinite(value):
        return MISSING
    if value < 0.001:
        return "<0.001"
    return f"{value:.3f}"


def money(value: float | None, currency: str, *, sign: bool = False) -> str:
    """An amount of ``currency``: "¥1,234", "-¥12.3", "+$4.56". Yen has no
    minor unit, so whole yen from 100 up and one decimal from 1 (per-customer
    means like ¥12.3 need it); other currencies use cents below 1,000. A tiny
    non-zero amount is "<¥0.01", never a misleading "¥0.00"."""
    if value is None or not math.isfinite(value):
        return MISSING
    magnitude = abs(value)
    if currency == "JPY":
        decimals = 0 if magnitude >= 100 else 1 if magnitude >= 1 else 2
    else:
        decimals = 0 if magnitude >= 1000 else 2
    symbol = _CURRENCY_SYMBOLS.get(currency)
    negative = "-" if value < 0 else ("+" if sign else "")
    if 0 < magnitude < 0.005:
        body = "0.01"
        negative += "<"
    else:
        body = f"{magnitude:,.{decimals}f}"
    if _is_zero_text(body):
        negative = ""
    return f"{negative}{symbol}{body}" if symbol else f"{negative}{body} {currency}"


def _is_currency(unit: str | None) -> bool:
    return unit is not None and len(unit) == 3 and unit.isalpha() and unit.isupper()


def metric_value(value: float | None, *, is_rate: bool, unit: str | None) -> str:
    """A per-unit mean in the metric's own terms (a share, money, or a number)."""
    if is_rate:
        return percent(value, decimals=2)
    if unit is not None and _is_currency(unit):
        return money(value, unit)
    text = number(value, significant=4)
    return f"{text} {unit}" if unit and text != MISSING else text


def absolute_change(value: float | None, *, is_rate: bool, unit: str | None) -> str:
    """A difference in metric units: percentage points for shares."""
    if is_rate:
        return points(value, decimals=2)
    if unit is not None and _is_currency(unit):
        return money(value, unit, sign=True)
    text = number(value, significant=3, sign=True)
    return f"{text} {unit}" if unit and text != MISSING else text


def interval(low: str, high: str) -> str:
    """Two already-formatted bounds as "[low, high]"; "n/a" if either is missing."""
    if low == MISSING or high == MISSING:
        return MISSING
    return f"[{low}, {high}]"


def relative_interval(low: float | None, high: float | None) -> str:
    return interval(percent(low, sign=True), percent(high, sign=True))


def absolute_interval(
    low: float | None, high: float | None, *, is_rate: bool, unit: str | None
) -> str:
    return interval(
        absolute_change(low, is_rate=is_rate, unit=unit),
        absolute_change(high, is_rate=is_rate, unit=unit),
    )


def level(value: float | None) -> str:
    """Interval coverage: 0.95 -> "95%"."""
    if not _valid(value):
        return ""
    assert value is not None
    return f"{value * 100:g}%"


def count(value: int | None) -> str:
    return MISSING if value is None else f"{value:,}"


def days(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{math.ceil(value - 1e-9):,} day" + ("" if math.ceil(value - 1e-9) == 1 else "s")


@dataclass(frozen=True)
class MetricFormat:
    """The formatter bound to one metric's kind (share or not) and unit."""

    is_rate: bool
    unit: str | None

    def value(self, value: float | None) -> str:
        return metric_value(value, is_rate=self.is_rate, unit=self.unit)

    def change(self, value: float | None) -> str:
        return absolute_change(value, is_rate=self.is_rate, unit=self.unit)

    def loss(self, value: float | None) -> str:
        """Expected loss: a non-negative amount, shown without a sign."""
        return self.change(value).lstrip("+")
