"""Comparisons from the results archive, labelled by the one offer lever they vary.

Each concluded record (``upsell-ab conclude``) holds the spec as analysed (every variant's
offer) and the final comparisons of every metric. A treatment-versus-control comparison
teaches something about one lever only when the two offers differ in exactly that lever:
``post_purchase`` against ``at_checkout`` with the same wording, discount and item says
what the *timing* does. Comparisons whose offers differ in several levers at once are
listed (``several``) but never pooled for any single lever.

Levers compared: ``tactic``; ``timing`` (moment, plus the delay when set); ``wording``
(its ``wording_style`` tag when set, so "specific vs generic" pools across experiments
whose texts differ; else the text); ``discount`` (percent, amount, free shipping,
limited time); ``items`` (the SKUs offered); ``offer`` (an offer against no offer).
The value of a lever for a comparison reads "treatment vs control", e.g.
``post_purchase vs at_checkout``.

The effect is the comparison's relative lift with the standard error implied by its
interval, ``se = (high - low) / (2 z_{1 - a/2})`` (exact for the delta-method interval,
an approximation for the log-ratio one); Bayesian-only records use the credible interval.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

from upsell_ab.errors import InputError, Location, Problem
from upsell_ab.learn.comparisons import Comparison

LEVERS = ("offer", "tactic", "timing", "wording", "discount", "items")


@dataclass(frozen=True)
class Several:
    """A comparison that changes more than one lever (listed, not pooled)."""

    experiment: str
    variant: str
    metric: str
    levers: tuple[str, ...]


def _timing(offer: dict[str, Any]) -> str:
    timing = offer.get("timing") or {}
    if not isinstance(timing, dict):
        return str(timing)
    moment = str(timing.get("moment", ""))
    delay = timing.get("delay")
    return f"{moment}+{delay}" if delay else moment


def _discount(offer: dict[str, Any]) -> str:
    d = offer.get("discount") or {}
    parts = []
    if d.get("percent"):
        parts.append(f"{d['percent']:g}%")
    if d.get("amount"):
        parts.append(f"{d['amount']:g} off")
    if d.get("free_shipping"):
        parts.append("free shipping")
    if d.get("limited_time"):
        parts.append("limited time")
    return " + ".join(parts) or "none"


def lever_values(offer: dict[str, Any] | None) -> dict[str, str]:
    """The value of every lever for one variant's offer."""
    if offer is None:
        return {"offer": "no offer"}
    items = ",".join(sorted(str(i.get("sku", "")) for i in offer.get("items") or []))
    return {
        "offer": "offer",
        "tactic": str(offer.get("tactic", "")),
        "timing": _timing(offer),
        # a tagged wording compares by its style (texts differ between shops and years)
        "wording": str(offer.get("wording_style") or offer.get("wording") or ""),
        "discount": _discount(offer),
        "items": items,
    }


def differing(treatment: dict[str, str], control: dict[str, str]) -> dict[str, str]:
    """lever -> "treatment vs control" for every lever whose values differ."""
    if treatment.get("offer") != control.get("offer"):
        return {"offer": f"{treatment['offer']} vs {control['offer']}"}
    return {
        lever: f"{treatment[lever]} vs {control[lever]}"
        for lever in LEVERS
        if treatment.get(lever) != control.get(lever)
    }


def record_files(paths: Iterable[str | Path]) -> list[Path]:
    """Record files named by ``paths``: files, or folders searched for ``v<N>.json``
    (the latest version of each experiment only)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
            continue
        if not path.is_dir():
            raise InputError([Problem(Location(file=str(path)), "no such file or folder", None)])
        latest: dict[Path, tuple[int, Path]] = {}
        for record in path.rglob("v*.json"):
            stem = record.stem[1:]
            if stem.isdigit():
                number = int(stem)
                if record.parent not in latest or latest[record.parent][0] < number:
                    latest[record.parent] = (number, record)
        found += [p for _, p in sorted(latest.values(), key=lambda x: str(x[1]))]
    return found


@dataclass(frozen=True)
class Excluded:
    """A concluded experiment left out of every pool: its data could not be trusted."""

    experiment: str
    reason: str


def archived_comparisons(
    paths: Iterable[str | Path],
) -> tuple[list[Comparison], list[Several], list[Excluded]]:
    """(comparisons that vary exactly one lever, comparisons that vary several, records
    left out). A record concluded as ``invalid`` (sample-ratio mismatch, broken logging,
    ids that do not join: its own decision refused to trust the data) is never pooled: its
    lifts would carry the same fault into every lever it varies, with a weight as large
    as its (meaningless) precision."""
    single: list[Comparison] = []
    several: list[Several] = []
    excluded: list[Excluded] = []
    for path in record_files(paths):
        try:
            record = json.loads(path.read_text("utf-8"))
            spec, result = record["spec"], record["result"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(
                [Problem(Location(file=str(path)), f"not a result record ({error})", None)]
            ) from None
        decision = record.get("decision") or {}
        if decision.get("action") == "invalid":
            reasons = decision.get("reasons") or ["invalid data"]
            name = str(record.get("experiment", path.parent.name))
            excluded.append(Excluded(name, str(reasons[0])))
            continue
        offers = {v["id"]: lever_values(v.get("offer")) for v in spec.get("variants", [])}
        for metric in result.get("metrics", []):
            for c in metric.get("comparisons", []):
                found = _effect(c)
                if found is None or c.get("variant") not in offers:
                    continue
                changed = differing(offers[c["variant"]], offers.get(c.get("baseline"), {}))
                if not changed:
                    continue
                name = str(record.get("experiment", path.parent.name))
                if len(changed) > 1:
                    several.append(Several(name, c["variant"], metric["name"], tuple(changed)))
                    continue
                estimate, variance = found
                single.append(
                    Comparison(
                        experiment=f"{name}:{c['variant']}",
                        metric=str(metric["name"]),
                        estimate=estimate,
                        variance=variance,
                        levers=changed,
                        line=0,
                    )
                )
    return single, several, excluded


def _effect(comparison: dict[str, Any]) -> tuple[float, float] | None:
    """(relative lift, variance) from a comparison's relative interval."""
    sources = [comparison, comparison.get("bayesian") or {}]
    for source in sources:
        lift = source.get("relative_lift")
        low, high = source.get("relative_ci_low"), source.get("relative_ci_high")
        level = source.get("ci_level") or comparison.get("ci_level")
        if lift is None or low is None or high is None or level is None or not high > low:
            continue
        z = NormalDist().inv_cdf(1.0 - (1.0 - float(level)) / 2.0)
        se = (float(high) - float(low)) / (2.0 * z)
        return float(lift), se * se
    return None
