"""A first experiment spec, written as commented YAML (what ``upsell-ab init`` saves).

:class:`Draft` holds the answers (tactic, the lever under test, variants, the
primary metric ...); :func:`render` turns them into a spec whose comments say
what each key means and what else could go there. Strings are written as
JSON strings, which YAML reads back unchanged (any UTF-8 text, quotes and
colons included). The file is checked by the same loader as every other spec
before it is saved (``init`` refuses to write a spec that does not validate).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from upsell_ab.spec.models import Moment, Tactic


class Lever(StrEnum):
    """What differs between the variants."""

    timing = "timing"
    wording = "wording"
    discount = "discount"


DEFAULT_PRIMARY: dict[Tactic, str] = {
    Tactic.upsell: "upsell_take_rate",
    Tactic.cross_sell: "upsell_take_rate",
    Tactic.bundle: "upsell_take_rate",
    Tactic.subscription_upgrade: "subscription_start_rate",
}

DEFAULT_VARIANTS: dict[Lever, list[tuple[str, str]]] = {
    Lever.wording: [
        ("current", "Would you like to add one?"),
        ("specific", "Made to go with your order: add one?"),
    ],
    Lever.timing: [("at_checkout", "at_checkout"), ("after_purchase", "post_purchase")],
    Lever.discount: [("no_discount", "none"), ("ten_off", "10%")],
}
"""(variant id, what the lever shows) when none are given; the first is the control."""

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_AMOUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")
_DELAY = re.compile(r"^\s*\d+(?:\.\d+)?\s*[wdhm]\s*$")


@dataclass(frozen=True)
class DraftVariant:
    id: str
    shows: str
    """What the lever shows in this arm: a wording, a moment (``follow_up_email:3d``) or a
    discount (``none``, ``10%``, ``200`` for an amount)."""


@dataclass(frozen=True)
class Draft:
    """The answers ``init`` collects."""

    id: str
    name: str
    tactic: Tactic
    lever: Lever
    variants: list[DraftVariant]
    primary: str
    secondary: list[str] = field(default_factory=list)
    daily_units: int | None = None
    start: date = field(default_factory=date.today)
    days: int = 28
    mde: float = 0.1
    decision_metric: str | None = None
    guardrails: list[tuple[str, float]] = field(default_factory=list)
    """(metric, absolute margin)."""


def _text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def discount_yaml(shows: str) -> str:
    """``none`` / ``10%`` / ``200`` -> the spec's discount value; ValueError otherwise."""
    text = shows.strip().lower()
    if text in ("", "none", "0", "0%"):
        return "none"
    percent = _PERCENT.match(text)
    if percent:
        value = float(percent.group(1))
        if not 0 < value < 100:
            raise ValueError(f"a percent discount must be between 0 and 100, got {shows!r}")
        return f"{{percent: {value:g}}}"
    amount = _AMOUNT.match(text)
    if amount:
        return f"{{amount: {float(amount.group(1)):g}}}"
    raise ValueError(
        f"write a discount as none, 10% (percent off) or 200 (amount off), not {shows!r}"
    )


def timing_yaml(shows: str) -> str:
    """``at_checkout`` or ``follow_up_email:3d`` -> the spec's timing value."""
    moment, _, delay = shows.strip().partition(":")
    allowed = [m.value for m in Moment]
    if moment not in allowed:
        raise ValueError(f"'{moment}' is not a moment; use one of: {', '.join(allowed)}")
    if not delay:
        return moment
    if not _DELAY.match(delay):
        raise ValueError(f"write the delay as 3d, 48h or 2w, not {delay!r}")
    return f"{{moment: {moment}, delay: {delay.strip()}}}"


def _offer_lines(draft: Draft, variant: DraftVariant) -> list[str]:
    lines = ["    offer:", f"      tactic: {draft.tactic.value}"]
    if draft.lever is Lever.timing:
        lines.append(f"      timing: {timing_yaml(variant.shows)}")
    else:
        lines.append("      timing: at_checkout        # when the offer is shown")
    if draft.lever is Lever.wording:
        lines.append(f"      wording: {_text(variant.shows)}")
    if draft.lever is Lever.discount:
        lines.append(f"      discount: {discount_yaml(variant.shows)}")
    return lines


def render(draft: Draft) -> str:
    """The commented spec text for ``draft`` (validate it with the loader before saving)."""
    end = draft.start + timedelta(days=draft.days)
    share = 1.0 / len(draft.variants)
    lines = [
        f"# {draft.name}: {draft.lever.value} test ({draft.tactic.value.replace('_', ' ')}).",
        "# Written by `upsell-ab init`; every key is described in docs/spec.md.",
        "# Check it with `upsell-ab validate`, size it with `upsell-ab plan`.",
        f"id: {draft.id}",
        f"name: {_text(draft.name)}",
        "status: draft                 # draft | running | stopped | concluded",
        f"start: {draft.start.isoformat()}",
        f"end: {end.isoformat()}              # the plan warns when this is too soon",
        "population:",
        "  unit: customer_id           # the id that is hashed into a variant",
        "  coverage: 1.0               # share of eligible customers in the test, (0, 1]",
        "variants:",
        "  # The first variant is today's offer (the control). Weights split the traffic;",
        f"  # leave them out for an equal split ({share:.3g} each here).",
    ]
    for index, variant in enumerate(draft.variants):
        lines.append(f"  - id: {variant.id}")
        if index == 0:
            lines.append("    control: true")
        lines += _offer_lines(draft, variant)
    lines += [
        "metrics:",
        "  # Names from metrics.yaml (the catalogue next to this file).",
        f"  primary: {draft.primary}",
    ]
    if draft.secondary:
        lines.append(f"  secondary: [{', '.join(draft.secondary)}]")
    if draft.guardrails:
        lines.append("  guardrails:                 # must not get worse by more than the margin")
        for metric, margin in draft.guardrails:
            lines.append(
                f"    - {{metric: {metric}, margin: {margin:g}, margin_kind: absolute}}"
                f"  # +{margin * 100:g} percentage points"
            )
    lines += [
        "analysis:",
        "  alpha: 0.05                 # false-positive rate",
        "  power: 0.8                  # chance to detect an effect of size mde",
        f"  mde: {draft.mde:g}                    # smallest lift worth detecting, relative "
        f"({draft.mde:.0%})",
        "  engine: both                # frequentist | bayesian | both",
    ]
    if draft.decision_metric:
        lines += [
            "  decision:",
            f"    metric: {draft.decision_metric}   # decide on profit after the discount's cost",
        ]
    if draft.daily_units is not None:
        lines.append(f"  daily_units: {draft.daily_units}             # eligible customers a day")
    lines += [
        "data:",
        "  kind: embedded              # a DuckDB file; or files / postgres / spark",
        "",
    ]
    return "\n".join(lines)
