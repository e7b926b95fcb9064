"""SRM chi-square against design.md vectors, Hillstrom and scipy."""

from __future__ import annotations

import pytest
from scipy import stats

from upsell_ab.errors import StatsError
from upsell_ab.stats.srm import srm_test


@pytest.mark.parametrize(
    ("counts", "weights", "p_value"),
    [
        ([1000, 1200], [0.5, 0.5], 2.0079e-5),
        ([135, 115], [0.5, 0.5], 0.205903),
        ([310, 98], [0.75, 0.25], 0.647434),
        ([500, 500, 600], [0.34, 0.33, 0.33], 5.92638e-4),
    ],
)
def test_design_vectors(counts: list[int], weights: list[float], p_value: float) -> None:
    names = [f"v{i}" for i in range(len(counts))]
    result = srm_test(dict(zip(names, counts, strict=True)), dict(zip(names, weights, strict=True)))
    assert result.p_value == pytest.approx(p_value, rel=1e-4)
    assert result.flagged is (p_value < 0.001)
    assert result.df == len(counts) - 1


def test_hillstrom_three_arms() -> None:
    result = srm_test(
        {"mens": 21307, "none": 21306, "womens": 21387},
        {"mens": 1 / 3, "none": 1 / 3, "womens": 1 / 3},
    )
    assert round(result.statistic or 0, 4) == 0.2025
    assert round(result.p_value or 0, 4) == 0.9037
    assert not result.flagged


def test_matches_scipy_chisquare() -> None:
    observed = {"a": 480, "b": 260, "c": 250}
    weights = {"a": 0.5, "b": 0.25, "c": 0.25}
    result = srm_test(observed, weights, alpha=0.05)
    total = sum(observed.values())
    oracle = stats.chisquare([480, 260, 250], [total * w for w in weights.values()])
    assert result.statistic == pytest.approx(oracle.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(oracle.pvalue, rel=1e-12)


def test_missing_variant_counts_zero_and_empty_experiment() -> None:
    result = srm_test({"a": 100}, {"a": 0.5, "b": 0.5})
    assert result.observed == {"a": 100, "b": 0} and result.flagged
    empty = srm_test({}, {"a": 0.5, "b": 0.5})
    assert empty.p_value is None and empty.statistic is None and not empty.flagged


def test_needs_two_variants() -> None:
    with pytest.raises(StatsError):
        srm_test({"a": 1}, {"a": 1.0})
