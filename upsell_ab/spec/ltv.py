"""An ``ltv`` metric's components: the parts its lift is decomposed into.

Practitioners define customer lifetime value over a horizon as average order value x
number of purchases x margin (the domain note: 5,000 yen x 3 x 20 % = 3,000 yen). Per
arm, with N exposed customers, n_i orders, r_i revenue and m_i = margin x r_i - discount_i
over the window, the identity

    LTV = sum m / N = (sum n / N) x (sum r / sum n) x (sum m / sum r)
        = purchases per customer x order value x margin rate (net of discounts)

holds exactly, so the relative lift factors: 1 + lift(LTV) = prod_k (1 + lift(part_k)).
Each part is an ordinary catalogue metric (a count and two ratios), analysed by the
engines like any other and reported with role ``check``; :mod:`upsell_ab.stats.ltv`
assembles the decomposition from their comparisons.
"""

from __future__ import annotations

from upsell_ab.spec.catalogue_models import Aggregate, MetricDefinition, MetricType

PARTS = ("purchases", "order_value", "margin_rate")
"""Suffixes of the component metrics, in the order of the product."""


def ltv_components(name: str, ltv: MetricDefinition) -> dict[str, MetricDefinition]:
    """``{name}_purchases`` (orders per customer), ``{name}_order_value`` (revenue per
    order) and ``{name}_margin_rate`` (profit after discounts per unit of revenue), over
    the ltv metric's event and window."""
    assert ltv.type is MetricType.ltv and ltv.event is not None
    event, window = ltv.event, ltv.window
    label = name.replace("_", " ")
    return {
        f"{name}_purchases": MetricDefinition(
            type=MetricType.count_,
            description=f"Purchases per customer: the frequency part of {label}.",
            event=event,
            window=window,
        ),
        f"{name}_order_value": MetricDefinition(
            type=MetricType.ratio,
            description=f"Revenue per order: the order-value part of {label}.",
            numerator=Aggregate(event=event, value="value"),
            denominator=Aggregate(event=event, value="count"),
            window=window,
            unit=ltv.unit,
        ),
        f"{name}_margin_rate": MetricDefinition(
            type=MetricType.ratio,
            description=(
                f"Profit after discounts per unit of revenue: the margin part of {label}."
            ),
            numerator=Aggregate(event=event, value="profit"),
            denominator=Aggregate(event=event, value="value"),
            margin=ltv.margin,
            window=window,
        ),
    }
