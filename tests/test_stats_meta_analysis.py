"""Meta-analysis against metafor's published BCG results, statsmodels and simulation."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats.meta_analysis import combine_effects

from upsell_ab.stats.meta_analysis import meta_analyze, tau2_dl, tau2_reml

# BCG vaccine trials (Colditz et al. 1994; metafor's dat.bcg): tpos, tneg, cpos, cneg.
BCG = [
    (4, 119, 11, 128),
    (6, 300, 29, 274),
    (3, 228, 11, 209),
    (62, 13536, 248, 12619),
    (33, 5036, 47, 5761),
    (180, 1361, 372, 1079),
    (8, 2537, 10, 619),
    (505, 87886, 499, 87892),
    (29, 7470, 45, 7232),
    (17, 1699, 65, 1600),
    (186, 50448, 141, 27197),
    (5, 2493, 3, 2338),
    (27, 16886, 29, 17825),
]


def _bcg_log_rr() -> tuple[list[float], list[float]]:
    """escalc(measure="RR"): log relative risk and its large-sample variance."""
    y = [math.log((a / (a + b)) / (c / (c + d))) for a, b, c, d in BCG]
    v = [1 / a - 1 / (a + b) + 1 / c - 1 / (c + d) for a, b, c, d in BCG]
    return y, v


# Published numbers: metafor tests/testthat/test_misc_metan_vs_rma.uni_with_dat.bcg.r
# (checked there against Stata's metan) and metafor's rma() documentation (REML).
def test_bcg_fixed_effect_matches_metafor_and_stata() -> None:
    y, v = _bcg_log_rr()
    r = meta_analyze(y, v, "fe")
    assert round(r.estimate, 4) == -0.4303
    assert (round(r.ci[0], 4), round(r.ci[1], 4)) == (-0.5097, -0.3509)
    assert round(r.estimate / r.se, 4) == -10.6247
    assert round(r.q, 4) == 152.2330
    assert r.tau2 == 0.0 and r.prediction_interval is None


def test_bcg_dersimonian_laird_matches_metafor_and_stata() -> None:
    y, v = _bcg_log_rr()
    r = meta_analyze(y, v, "dl")
    assert round(r.estimate, 4) == -0.7141
    assert (round(r.ci[0], 4), round(r.ci[1], 4)) == (-1.0644, -0.3638)
    assert round(r.estimate / r.se, 4) == -3.9952
    assert round(r.tau2, 4) == 0.3088
    assert round(100 * r.i2, 4) == 92.1173


def test_bcg_reml_matches_metafor() -> None:
    y, v = _bcg_log_rr()
    r = meta_analyze(y, v, "reml")
    assert r.converged
    assert round(r.tau2, 4) == 0.3132
    assert round(r.estimate, 4) == -0.7145
    # I^2 = 0.9222139 (package `performance`, model_performance on rma REML)
    assert r.i2 == pytest.approx(0.9222139, abs=1e-6)


def _statsmodels(y: list[float], v: list[float]):  # type: ignore[no-untyped-def]
    return combine_effects(np.asarray(y), np.asarray(v), method_re="dl")


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")
def test_fixed_effect_dl_and_hksj_match_statsmodels_on_random_sets() -> None:
    rng = random.Random(15)
    for _ in range(25):
        k = rng.randint(2, 12)
        v = [rng.uniform(0.001, 0.05) for _ in range(k)]
        y = [rng.gauss(0.05, 0.1) + rng.gauss(0, math.sqrt(vi)) for vi in v]
        sm = _statsmodels(y, v)
        fe = meta_analyze(y, v, "fe")
        dl = meta_analyze(y, v, "dl")
        assert fe.estimate == pytest.approx(sm.mean_effect_fe, rel=1e-10, abs=1e-12)
        assert fe.se == pytest.approx(sm.sd_eff_w_fe, rel=1e-10)
        assert fe.q == pytest.approx(sm.q, rel=1e-10, abs=1e-12)
        if sm.tau2 <= 0:  # statsmodels leaves the DL moment estimate untruncated
            assert dl.tau2 == 0.0 and dl.estimate == pytest.approx(fe.estimate, rel=1e-12)
            continue
        assert dl.tau2 == pytest.approx(sm.tau2, rel=1e-9, abs=1e-12)
        assert dl.estimate == pytest.approx(sm.mean_effect_re, rel=1e-10, abs=1e-12)
        assert dl.se == pytest.approx(sm.sd_eff_w_re, rel=1e-10)
        ci_fe, ci_re = sm.conf_int(alpha=0.05, use_t=False)[:2]
        assert dl.ci == pytest.approx(tuple(ci_re), rel=1e-9, abs=1e-12)
        assert fe.ci == pytest.approx(tuple(ci_fe), rel=1e-9, abs=1e-12)
        # Q-based I^2 (Higgins & Thompson) equals statsmodels' 1 - (k-1)/Q, floored at 0.
        assert fe.i2 == pytest.approx(max(0.0, sm.i2), abs=1e-12)
        if k >= 3:
            hk = meta_analyze(y, v, "dl", hksj=True)
            ci_hk = sm.conf_int(alpha=0.05, use_t=True)[3]
            assert hk.ci == pytest.approx(tuple(ci_hk), rel=1e-9, abs=1e-12)
            assert hk.se == pytest.approx(sm.sd_eff_w_re_hksj, rel=1e-9)


def _reml_by_direct_maximisation(y: list[float], v: list[float]) -> float:
    """Independent oracle: maximise the restricted likelihood in matrix form numerically."""
    yv, vv = np.asarray(y), np.asarray(v)
    x = np.ones((len(y), 1))

    def neg_ll(tau2: float) -> float:
        sigma = np.diag(vv + tau2)
        inv = np.linalg.inv(sigma)
        xtx = x.T @ inv @ x
        beta = np.linalg.solve(xtx, x.T @ inv @ yv)
        r = yv - x @ beta
        return 0.5 * float(np.linalg.slogdet(sigma)[1] + np.linalg.slogdet(xtx)[1] + r @ inv @ r)

    upper = 10 * float(np.var(yv)) + 1.0
    res = optimize.minimize_scalar(
        neg_ll, bounds=(0.0, upper), method="bounded", options={"xatol": 1e-12}
    )
    tau2 = float(res.x)
    return 0.0 if neg_ll(0.0) <= neg_ll(tau2) else tau2


def test_reml_fisher_scoring_matches_direct_maximisation() -> None:
    rng = random.Random(2005)
    for _ in range(25):
        k = rng.randint(3, 15)
        v = [rng.uniform(0.002, 0.04) for _ in range(k)]
        tau = rng.choice([0.0, 0.05, 0.15])
        y = [rng.gauss(0.0, tau) + rng.gauss(0, math.sqrt(vi)) for vi in v]
        tau2, converged = tau2_reml(y, v)
        assert converged
        assert tau2 == pytest.approx(_reml_by_direct_maximisation(y, v), abs=1e-6)


def test_prediction_interval_is_higgins_thompson_spiegelhalter() -> None:
    y, v = _bcg_log_rr()
    sm = _statsmodels(y, v)
    r = meta_analyze(y, v, "dl")
    half = stats.t.ppf(0.975, len(y) - 2) * math.sqrt(sm.tau2 + sm.sd_eff_w_re**2)
    assert r.prediction_interval == pytest.approx(
        (sm.mean_effect_re - half, sm.mean_effect_re + half), rel=1e-9
    )


def test_weights_and_edge_cases() -> None:
    y, v = _bcg_log_rr()
    r = meta_analyze(y, v, "reml")
    assert sum(r.relative_weights) == pytest.approx(1.0)
    assert r.weights[0] == pytest.approx(1 / (v[0] + r.tau2))
    one = meta_analyze([0.1], [0.01], "reml")
    assert one.estimate == 0.1 and one.tau2 == 0.0 and one.prediction_interval is None
    assert tau2_dl([0.1, 0.1, 0.1], [0.01, 0.02, 0.03]) == 0.0
    with pytest.raises(ValueError, match="variance 2"):
        meta_analyze([0.1, 0.2], [0.01, 0.0])
    with pytest.raises(ValueError, match="unknown method"):
        meta_analyze([0.1, 0.2], [0.01, 0.02], method="pm")
    with pytest.raises(ValueError, match="2 estimates but 1 variances"):
        meta_analyze([0.1, 0.2], [0.01])


def test_coverage_by_simulation() -> None:
    """Seeded: 1,500 meta-analyses of k = 10 equal-precision studies, tau^2 = 0.05, v = 0.01.

    With equal variances HKSJ is exact (t with k-1 df), so its coverage must be
    within 2.5 points of 95 %. The HTS prediction interval is approximate; with
    substantial heterogeneity (I^2 about 83 %) it must cover the next study's
    true effect 92-98 % of the time. (With little heterogeneity, where REML
    often returns tau^2 = 0, it under-covers: about 89 % at tau^2 = 0.02, k = 8;
    Partlett & Riley 2017, Stat. Med. 36:301-317.)
    """
    rng = random.Random(42)
    mu, tau2, vi, k, reps = 0.1, 0.05, 0.01, 10, 1500
    hk_hits = pi_hits = 0
    for _ in range(reps):
        y = [mu + rng.gauss(0, math.sqrt(tau2)) + rng.gauss(0, math.sqrt(vi)) for _ in range(k)]
        r = meta_analyze(y, [vi] * k, "reml", hksj=True)
        hk_hits += r.ci[0] <= mu <= r.ci[1]
        new_theta = mu + rng.gauss(0, math.sqrt(tau2))
        assert r.prediction_interval is not None
        pi_hits += r.prediction_interval[0] <= new_theta <= r.prediction_interval[1]
    assert abs(hk_hits / reps - 0.95) < 0.025
    assert 0.92 <= pi_hits / reps <= 0.98, pi_hits / reps
