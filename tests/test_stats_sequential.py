"""Confidence sequences and group-sequential boundaries against published numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from upsell_ab.errors import StatsError
from upsell_ab.stats.group_sequential import (
    BoundaryKind,
    check_look,
    classical_boundaries,
    crossing_probabilities,
    design,
    monitor,
    obrien_fleming_spending,
    pocock_spending,
    spending_boundaries,
)
from upsell_ab.stats.results import Interval
from upsell_ab.stats.sequential import (
    confidence_sequence_halfwidth,
    halfwidth_factor,
    may_stop,
    sequential_interval,
    sequential_p_value,
)


def _growthbook_relative(sa: int, na: int, sb: int, nb: int) -> tuple[float, float]:
    """gbstats relative lift and delta-method variance for proportions."""
    pa, pb = sa / na, sb / nb
    lift = (pb - pa) / pa
    var = pb * (1 - pb) / (pa**2 * nb) + pa * (1 - pa) * pb**2 / (pa**4 * na)
    return lift, var


def test_growthbook_sequential_vector() -> None:
    """gbstats SequentialTwoSidedTTest: 1396/3000 vs 2422/3461, N* = 5000 (design.md)."""
    lift, var = _growthbook_relative(1396, 3000, 2422, 3461)
    interval = sequential_interval(lift, var, 3000 + 3461, 0.05, 5000)
    assert lift == pytest.approx(0.50386, abs=5e-6)
    assert interval.low == pytest.approx(0.40098, abs=5e-6)
    assert interval.high == pytest.approx(0.60675, abs=5e-6)
    assert interval.level == pytest.approx(0.95)


def test_halfwidth_is_wider_than_fixed_n_and_scales_with_se() -> None:
    for n in (10, 1_000, 5_000, 1_000_000):
        assert halfwidth_factor(n, 0.05, 5000) > stats.norm.ppf(0.975)
    assert confidence_sequence_halfwidth(0.2, 5000, 0.05, 5000) == pytest.approx(
        2 * confidence_sequence_halfwidth(0.1, 5000, 0.05, 5000)
    )
    # tightest (relative to the fixed-n z) near n = N*: the factor is larger far away
    at_tuning = halfwidth_factor(5000, 0.05, 5000)
    assert halfwidth_factor(50, 0.05, 5000) > at_tuning
    assert halfwidth_factor(5_000_000, 0.05, 5000) > at_tuning


def test_p_value_agrees_with_the_interval() -> None:
    lift, var = _growthbook_relative(1396, 3000, 2422, 3461)
    interval = sequential_interval(lift, var, 6461, 0.05, 5000)
    assert interval.low is not None
    # the null on the interval's edge has p = alpha exactly
    p_edge = sequential_p_value(lift, var, 6461, 0.05, 5000, null=interval.low)
    assert p_edge == pytest.approx(0.05, rel=1e-9)
    assert sequential_p_value(0.0, var, 6461, 0.05, 5000) == 1.0


def test_missing_inputs_give_empty_interval_and_invalid_inputs_raise() -> None:
    assert sequential_interval(None, 0.1, 100, 0.05, 5000).low is None
    assert sequential_interval(0.1, 0.0, 100, 0.05, 5000).high is None
    assert sequential_interval(0.1, 0.01, 0, 0.05, 5000).low is None
    assert sequential_p_value(0.1, None, 100, 0.05, 5000) is None
    with pytest.raises(StatsError, match="tuning_n"):
        sequential_interval(0.1, 0.01, 100, 0.05, 0.0)
    with pytest.raises(StatsError, match="alpha"):
        sequential_interval(0.1, 0.01, 100, 1.5, 5000)


def test_may_stop() -> None:
    assert may_stop(Interval(0.01, 0.2, 0.95), 1000).may_stop
    assert may_stop(Interval(-0.3, -0.01, 0.95), 1000).may_stop
    keep = may_stop(Interval(-0.1, 0.2, 0.95), 1000, planned_n=5000)
    assert not keep.may_stop and "keep running" in keep.reason
    assert may_stop(Interval(-0.1, 0.2, 0.95), 5000, planned_n=5000).may_stop
    assert not may_stop(Interval(None, None, 0.95), 10).may_stop


# ------------------------------------------------------------ group sequential
def test_classical_bounds_match_jennison_turnbull() -> None:
    """Jennison & Turnbull (2000) Tables 2.1/2.3: K = 5, two-sided alpha .05."""
    pocock = classical_boundaries(5, 0.05, BoundaryKind.pocock)
    assert pocock.bounds[0] == pytest.approx(2.413, abs=1e-3)
    assert len(set(np.round(pocock.bounds, 12))) == 1
    obf = classical_boundaries(5, 0.05, BoundaryKind.obrien_fleming)
    assert obf.bounds[-1] == pytest.approx(2.040, abs=1e-3)
    assert obf.bounds[0] == pytest.approx(2.040 * math.sqrt(5), abs=3e-3)
    assert obf.cumulative_alpha[-1] == pytest.approx(0.05, abs=1e-9)


def test_lan_demets_spending_bounds_match_published_tables() -> None:
    """gsDesign sfLDOF / rpact asOF / RTSA, K = 5 equal looks, .025 a side:
    4.877, 3.357, 2.680, 2.290, 2.031. Pocock-type (sfLDPocock): 2.438, 2.427,
    2.410, 2.397, 2.386."""
    obf = spending_boundaries(5, 0.05, BoundaryKind.spending_obrien_fleming)
    assert obf.bounds == pytest.approx([4.877, 3.357, 2.680, 2.290, 2.031], abs=1e-3)
    poc = spending_boundaries(5, 0.05, BoundaryKind.spending_pocock)
    assert poc.bounds == pytest.approx([2.438, 2.427, 2.410, 2.397, 2.386], abs=1e-3)
    for plan, spend in ((obf, obrien_fleming_spending), (poc, pocock_spending)):
        for t, cumulative in zip(plan.information_fractions, plan.cumulative_alpha, strict=True):
            assert cumulative == pytest.approx(spend(t, 0.05), abs=1e-9)


def test_single_look_is_the_fixed_sample_test() -> None:
    assert classical_boundaries(1, 0.05).bounds[0] == pytest.approx(stats.norm.ppf(0.975), abs=1e-8)
    assert spending_boundaries(1, 0.05).bounds[0] == pytest.approx(stats.norm.ppf(0.975), abs=1e-8)


def test_two_looks_crossing_probability_matches_bivariate_normal() -> None:
    """Independent oracle: (Z1, Z2) is bivariate normal with corr sqrt(t1/t2)."""
    t = (0.4, 1.0)
    c = (2.6, 2.0)
    first, second = crossing_probabilities(c, t)
    rho = math.sqrt(t[0] / t[1])
    mvn = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]])
    inside_both = (
        mvn.cdf([c[0], c[1]])
        - mvn.cdf([-c[0], c[1]])
        - mvn.cdf([c[0], -c[1]])
        + mvn.cdf([-c[0], -c[1]])
    )
    assert first == pytest.approx(2 * stats.norm.sf(c[0]), abs=1e-12)
    assert first + second == pytest.approx(1 - inside_both, abs=2e-6)


def test_unequal_looks_and_errors() -> None:
    plan = design("obrien_fleming", 3, 0.05, information_fractions=[0.3, 0.7, 1.0])
    assert plan.cumulative_alpha[-1] == pytest.approx(0.05, abs=1e-9)
    with pytest.raises(StatsError, match="increase"):
        spending_boundaries(3, 0.05, information_fractions=[0.5, 0.4, 1.0])
    with pytest.raises(StatsError, match="method"):
        design("haybittle", 3)


def test_check_look() -> None:
    plan = design("pocock", 5)
    assert check_look(2.5, 1, plan).may_stop
    assert not check_look(2.0, 2, plan).may_stop
    final = check_look(1.0, 5, plan)
    assert final.may_stop and "no significant" in final.reason
    assert not check_look(None, 3, plan).may_stop
    assert plan.nominal_p_values[0] == pytest.approx(2 * stats.norm.sf(plan.bounds[0]))


def test_monitor_uses_spending_at_the_looks_actually_taken() -> None:
    # one look at 20 % of the plan: OBF-type spending bound 4.877 (as in the table)
    early = monitor(2.5, [0.2])
    assert not early.may_stop and "4.877" in early.reason
    assert monitor(5.0, [0.2]).may_stop
    # unplanned look times: the bound equals the spending design at those fractions
    plan = spending_boundaries(3, 0.05, information_fractions=[0.3, 0.55, 1.0])
    verdict = monitor(plan.bounds[-1] + 1e-6, [0.3, 0.55, 1.0])
    assert verdict.may_stop and "may stop" in verdict.reason
    final = monitor(0.5, [0.3, 0.55, 1.0], method="pocock")
    assert final.may_stop and "no significant" in final.reason
    with pytest.raises(StatsError, match="no looks"):
        monitor(1.0, [])
