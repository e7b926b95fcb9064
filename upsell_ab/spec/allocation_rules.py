"""Rules of a bandit allocation that need the rest of the spec, over plain data.

Run on the raw YAML by the loader (through :func:`upsell_ab.spec.rules.experiment_findings`)
and on typed values by :class:`~upsell_ab.spec.models.Experiment`, like every
cross-field rule. Only ``kind: bandit`` is checked: a fixed allocation ignores
the bandit settings.

- at least two arms (a bandit with one arm has nothing to choose);
- ``floor x arms <= 1``: every arm can get its minimum weight;
- a ``start`` date: allocation periods are counted from it;
- ``metric`` (when given) is one the experiment measures (primary, secondary,
  guardrail or decision metric), so what the bandit optimises is also reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from upsell_ab.spec.findings import Finding
from upsell_ab.spec.suggest import did_you_mean


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def measured_metrics(data: Mapping[str, Any]) -> list[str]:
    """Every metric name the spec measures, in spec order (primary first)."""
    names: list[str] = []
    metrics = data.get("metrics")
    if isinstance(metrics, Mapping):
        primary = metrics.get("primary")
        if isinstance(primary, str):
            names.append(primary)
        secondary = metrics.get("secondary")
        if isinstance(secondary, list):
            names += [s for s in secondary if isinstance(s, str)]
        rails = metrics.get("guardrails")
        if isinstance(rails, list):
            names += [
                r["metric"]
                for r in rails
                if isinstance(r, Mapping) and isinstance(r.get("metric"), str)
            ]
    analysis = data.get("analysis")
    decision = analysis.get("decision") if isinstance(analysis, Mapping) else None
    if isinstance(decision, Mapping) and isinstance(decision.get("metric"), str):
        names.append(decision["metric"])
    return list(dict.fromkeys(names))


def allocation_findings(data: Mapping[str, Any]) -> list[Finding]:
    """The bandit rules above (empty for a fixed allocation or a malformed one: the
    models report wrong types)."""
    allocation = data.get("allocation")
    if not isinstance(allocation, Mapping) or allocation.get("kind") != "bandit":
        return []
    findings: list[Finding] = []
    variants = data.get("variants")
    arms: int | None = None
    if isinstance(variants, Sequence) and not isinstance(variants, str):
        arms = len(variants)
    if arms is not None and arms < 2:
        findings.append(
            Finding(
                ("allocation", "kind"),
                f"a bandit needs at least two arms, this experiment has {arms}",
                "add variants to choose between, or use kind: fixed",
            )
        )
    floor = _number(allocation.get("floor"))
    if floor is not None and arms is not None and arms >= 2 and floor * arms > 1.0 + 1e-12:
        findings.append(
            Finding(
                ("allocation", "floor"),
                f"a floor of {floor:g} for {arms} arms needs {floor * arms:g} of the traffic",
                f"use a floor of at most {1.0 / arms:.4g} (1 / arms)",
            )
        )
    if data.get("start") is None:
        findings.append(
            Finding(
                ("allocation", "kind"),
                "a bandit needs the experiment's start date: allocation periods count from it",
                "add 'start: YYYY-MM-DD' to the spec",
            )
        )
    metric = allocation.get("metric")
    measured = measured_metrics(data)
    if isinstance(metric, str) and measured and metric not in measured:
        guess = did_you_mean(metric, measured)
        findings.append(
            Finding(
                ("allocation", "metric"),
                f"'{metric}' is not a metric of this experiment",
                (f"did you mean '{guess}'? " if guess else "")
                + "optimise one the experiment measures: "
                + ", ".join(measured),
                "unknown_metric",
            )
        )
    return findings
