"""Whole-experiment rules, written over plain data so they run on raw YAML too.

Pydantic runs a model's "after" validator only when every field parsed, so
a typo in one variant would hide "weights do not sum to 1" until the typo is
fixed. The loader calls :func:`experiment_findings` on the raw mapping (these
functions skip values of the wrong type; the models report those) and the
:class:`~upsell_ab.spec.models.Experiment` validator calls it on typed values,
so the rule text exists once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from upsell_ab.spec.allocation_rules import allocation_findings
from upsell_ab.spec.findings import Finding
from upsell_ab.spec.suggest import did_you_mean

WEIGHT_TOLERANCE = 1e-6
"""Variant weights must sum to 1 within this tolerance."""


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def variant_findings(variants: Sequence[Any]) -> list[Finding]:
    """Unique ids, exactly one control, weights summing to 1."""
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    controls: list[tuple[int, str]] = []
    weights: list[float] = []
    weights_known = True
    for index, variant in enumerate(variants):
        if not isinstance(variant, Mapping):
            weights_known = False
            continue
        variant_id = variant.get("id")
        label = variant_id if isinstance(variant_id, str) else f"#{index + 1}"
        if isinstance(variant_id, str):
            if variant_id in seen:
                findings.append(
                    Finding(
                        ("variants", index, "id"),
                        f"variant id '{variant_id}' is also used by variants[{seen[variant_id]}]",
                        "give every variant its own id",
                        "duplicate_id",
                    )
                )
            else:
                seen[variant_id] = index
        if variant.get("control") is True:
            controls.append((index, label))
        weight = variant.get("weight")
        if isinstance(weight, int | float) and not isinstance(weight, bool):
            weights.append(float(weight))
        else:
            weights_known = False
    if variants and not controls:
        findings.append(
            Finding(
                ("variants",),
                "no variant is marked as the control",
                "add 'control: true' to the baseline variant (usually today's offer)",
            )
        )
    for index, label in controls[1:]:
        findings.append(
            Finding(
                ("variants", index, "control"),
                f"variant '{label}' is a second control (the first is '{controls[0][1]}')",
                "keep 'control: true' on exactly one variant",
            )
        )
    if weights_known and weights:
        total = sum(weights)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            findings.append(
                Finding(
                    ("variants",),
                    f"variant weights sum to {total:.6g}, not 1",
                    "make them add up to 1, e.g. 0.5/0.5, or leave all weights out for an "
                    "equal split",
                )
            )
    return findings


def date_findings(start: Any, end: Any) -> list[Finding]:
    """``end`` strictly after ``start``."""
    first, last = _as_date(start), _as_date(end)
    if first is not None and last is not None and last <= first:
        return [
            Finding(
                ("end",),
                f"{last} is not after start ({first})",
                "fix the dates, or drop 'end' while the experiment runs open-ended",
            )
        ]
    return []


def override_findings(overrides: Any, variants: Any) -> list[Finding]:
    """QA overrides must force a variant that exists."""
    if not isinstance(overrides, Mapping) or not isinstance(variants, Sequence):
        return []
    ids = [v["id"] for v in variants if isinstance(v, Mapping) and isinstance(v.get("id"), str)]
    findings: list[Finding] = []
    for unit, forced in overrides.items():
        if isinstance(forced, str) and forced not in ids:
            guess = did_you_mean(forced, ids)
            hint = f"did you mean '{guess}'?" if guess else f"variants are: {', '.join(ids)}"
            findings.append(
                Finding(
                    ("overrides", str(unit)), f"unknown variant '{forced}'", hint, "unknown_variant"
                )
            )
    return findings


ENGINES_FOR_RULE: dict[str, tuple[str, ...]] = {
    "frequentist": ("frequentist", "both"),
    "bayesian": ("bayesian", "both"),
    "both": ("both",),
}
"""Decision rule -> the ``analysis.engine`` settings that produce what the rule reads."""


def engine_findings(analysis: Any) -> list[Finding]:
    """The decision rule must read an engine the analysis runs (defaults: engine
    ``both``, rule ``frequentist``): a Bayesian rule on a frequentist-only
    analysis would never find a number to decide on."""
    if not isinstance(analysis, Mapping):
        return []
    engine = analysis.get("engine", "both")
    decision = analysis.get("decision", {})
    rule = decision.get("rule", "frequentist") if isinstance(decision, Mapping) else None
    if not isinstance(engine, str) or not isinstance(rule, str):
        return []
    allowed = ENGINES_FOR_RULE.get(rule)
    known = {e for engines in ENGINES_FOR_RULE.values() for e in engines}
    if allowed is None or engine not in known or engine in allowed:
        return []
    path = ("analysis", "decision", "rule") if "rule" in decision else ("analysis", "engine")
    needs = {"frequentist": "the frequentist engine", "bayesian": "the Bayesian engine"}
    alternatives = " or ".join(f"'{e}'" for e in allowed)
    return [
        Finding(
            path,
            f"decision rule '{rule}' needs {needs.get(rule, 'both engines')}, "
            f"but analysis.engine is '{engine}'",
            f"set analysis.engine to {alternatives}, or pick a decision rule "
            f"that reads the '{engine}' engine",
        )
    ]


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def percent_scale_hint(value: float) -> str:
    """``5`` -> ``"write 0.05 for 5 %"`` (the value was meant as a percentage)."""
    share = value / 100.0
    return f"write {share:.10g} for {value:g} %"


def scale_findings(data: Mapping[str, Any]) -> list[Finding]:
    """A relative MDE or guardrail margin above 1 is almost surely a percentage
    (``mde: 15`` meant 15 %, read as +1,500 %)."""
    findings: list[Finding] = []
    analysis = data.get("analysis")
    if isinstance(analysis, Mapping):
        mde = _number(analysis.get("mde"))
        if mde is not None and mde > 1 and analysis.get("mde_kind", "relative") == "relative":
            findings.append(
                Finding(
                    ("analysis", "mde"),
                    f"a relative MDE of {mde:g} means a lift of {mde * 100:,.0f} %",
                    percent_scale_hint(mde) + ", or set mde_kind: absolute",
                    "scale",
                )
            )
    metrics = data.get("metrics")
    rails = metrics.get("guardrails") if isinstance(metrics, Mapping) else None
    for index, rail in enumerate(rails if isinstance(rails, list) else []):
        if not isinstance(rail, Mapping):
            continue
        margin = _number(rail.get("margin"))
        if margin is not None and margin > 1 and rail.get("margin_kind", "relative") == "relative":
            findings.append(
                Finding(
                    ("metrics", "guardrails", index, "margin"),
                    f"a relative margin of {margin:g} lets the metric get "
                    f"{margin * 100:,.0f} % worse",
                    percent_scale_hint(margin) + ", or set margin_kind: absolute",
                    "scale",
                )
            )
    return findings


def role_findings(metrics: Any) -> list[Finding]:
    """One role per metric: the primary cannot also be a secondary or a guardrail."""
    if not isinstance(metrics, Mapping):
        return []
    places: list[tuple[tuple[str | int, ...], Any, str]] = [
        (("primary",), metrics.get("primary"), "primary")
    ]
    secondary = metrics.get("secondary")
    if isinstance(secondary, list):
        places += [(("secondary", i), name, "secondary") for i, name in enumerate(secondary)]
    rails = metrics.get("guardrails")
    if isinstance(rails, list):
        places += [
            (("guardrails", i, "metric"), g.get("metric"), "guardrail")
            for i, g in enumerate(rails)
            if isinstance(g, Mapping)
        ]
    seen: dict[str, str] = {}
    found: list[Finding] = []
    for path, name, role in places:
        if not isinstance(name, str):
            continue
        if name in seen:
            found.append(
                Finding(
                    path,
                    f"'{name}' is already the {seen[name]} metric",
                    f"give each metric one role: primary, secondary or guardrail; drop this {role} "
                    "entry",
                )
            )
        else:
            seen[name] = role
    return found


def experiment_findings(data: Mapping[str, Any]) -> list[Finding]:
    """Every whole-experiment rule, on raw or typed data."""
    findings: list[Finding] = []
    variants = data.get("variants")
    if isinstance(variants, Sequence) and not isinstance(variants, str):
        findings += variant_findings(variants)
    findings += date_findings(data.get("start"), data.get("end"))
    findings += override_findings(data.get("overrides"), variants)
    findings += engine_findings(data.get("analysis"))
    findings += scale_findings(data)
    findings += [
        Finding(("metrics", *f.path), f.message, f.hint, f.code)
        for f in role_findings(data.get("metrics"))
    ]
    findings += allocation_findings(data)
    return findings
