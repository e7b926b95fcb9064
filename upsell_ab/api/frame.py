"""Flatten the JSON report document into tidy rows (one per metric x variant).

Only copies values out of :meth:`Result.to_dict`; the baseline's own row carries
its ``n`` and ``mean`` and leaves the comparison columns empty.
"""

from __future__ import annotations

from typing import Any


def _comparison_fields(comparison: dict[str, Any] | None) -> dict[str, Any]:
    if comparison is None:
        return {}
    bayes = comparison.get("bayesian") or {}
    ni = comparison.get("non_inferiority") or {}
    return {
        "baseline": comparison["baseline"],
        "absolute_lift": comparison["absolute_lift"],
        "relative_lift": comparison["relative_lift"],
        "ci_low": comparison["ci_low"],
        "ci_high": comparison["ci_high"],
        "relative_ci_low": comparison["relative_ci_low"],
        "relative_ci_high": comparison["relative_ci_high"],
        "ci_level": comparison["ci_level"],
        "method": comparison["method"],
        "status": comparison["status"],
        "statistic": comparison["statistic"],
        "p_value": comparison["p_value"],
        "p_value_adjusted": comparison["p_value_adjusted"],
        "sequential": comparison["sequential"],
        "variance_reduction": comparison["variance_reduction"],
        "prob_beat_baseline": comparison["prob_beat_baseline"],
        "expected_loss": comparison["expected_loss"],
        "bayes_relative_lift": bayes.get("relative_lift"),
        "bayes_relative_ci_low": bayes.get("relative_ci_low"),
        "bayes_relative_ci_high": bayes.get("relative_ci_high"),
        "non_inferiority_passed": ni.get("passed"),
        "non_inferiority_p_value": ni.get("p_value"),
    }


def frame_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for every experiment, metric and variant of a report document."""
    rows: list[dict[str, Any]] = []
    for experiment in document["experiments"]:
        control = next(v["id"] for v in experiment["variants"] if v["control"])
        for metric in experiment["metrics"]:
            by_variant = {c["variant"]: c for c in metric["comparisons"]}
            prob_best = metric.get("prob_best") or {}
            for stat in metric["variants"]:
                variant = stat["variant"]
                row: dict[str, Any] = {
                    "experiment": experiment["experiment"],
                    "metric": metric["name"],
                    "role": metric["role"],
                    "type": metric["type"],
                    "direction": metric["direction"],
                    "variant": variant,
                    "is_control": variant == control,
                    "baseline": control,
                    "n": stat["n"],
                    "mean": stat["mean"],
                    "prob_best": prob_best.get(variant),
                }
                row.update(_comparison_fields(by_variant.get(variant)))
                rows.append(row)
    return rows
