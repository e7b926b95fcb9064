"""CUPED from a covariate column the shop already has (pre-period revenue per customer).

Oracle: Deng et al. (2013) computed here with numpy on the per-unit values:
theta = cov(y, x) / var(x) over all units, adjusted difference
(ybar_T - ybar_C) - theta (xbar_T - xbar_C), variance reduction
1 - Var(adjusted diff) / Var(raw diff) with per-arm Var = var(y - theta x) / n.
The spec form (``data.covariates``) and the API form (``covariates=``) must agree,
and every report must say that CUPED was applied and by how much.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import upsell_ab
from tests.test_api_inputs import differences
from upsell_ab.errors import SpecError, StoreError

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "cake_wording.yaml"
CATALOGUE = ROOT / "experiments" / "metrics.yaml"
METRIC = "upsell_revenue_per_customer"  # a mean without capping or lookback CUPED


@pytest.fixture(scope="module")
def shop() -> dict[str, Any]:
    rng = np.random.default_rng(21)
    experiment = upsell_ab.load(SPEC)
    n = 8000
    ids = np.array([f"c{i}" for i in range(n)], dtype=object)
    variants = experiment.assign_many(ids, pd.DataFrame({"channel": ["app"] * n}))
    seen = np.datetime64("2026-03-03T09:00:00", "us") + rng.integers(0, 20 * 86400, n).astype(
        "timedelta64[s]"
    )
    pre = rng.gamma(2.0, 900.0, n)  # last quarter's spend
    # this month's spend follows last quarter's, plus a treatment effect
    spend = np.maximum(
        0.0, 0.6 * pre + rng.normal(0, 400, n) + np.where(variants == "pairing", 60, 0)
    )
    buys = spend > 0
    exposures = pd.DataFrame(
        {
            "experiment": "cake_wording",
            "variant": variants,
            "unit_id": ids,
            "timestamp": seen,
            "channel": "app",
            "pre_revenue": pre,
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": ids[buys],
            "timestamp": seen[buys] + np.timedelta64(3600, "s"),
            "event_type": "upsell_purchase",
            "value": spend[buys],
            "discount": 0.0,
            "quantity": 1.0,
            "event_id": [f"o{i}" for i in range(int(buys.sum()))],
        }
    )
    return {"exposures": exposures, "events": events, "y": spend, "x": pre, "v": variants}


def _oracle(shop: dict[str, Any]) -> tuple[float, float]:
    y, x, v = shop["y"], shop["x"], shop["v"]
    theta = np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1)
    t, c = v == "pairing", v == "generic"
    adjusted = (y[t].mean() - y[c].mean()) - theta * (x[t].mean() - x[c].mean())
    adj_var = sum(np.var(y[a] - theta * x[a], ddof=1) / a.sum() for a in (t, c))
    raw_var = sum(np.var(y[a], ddof=1) / a.sum() for a in (t, c))
    return float(adjusted), float(1.0 - adj_var / raw_var)


def test_the_api_covariate_matches_deng_et_al(shop: dict[str, Any]) -> None:
    experiment = upsell_ab.load(SPEC)
    plain = experiment.analyze(exposures=shop["exposures"], events=shop["events"])
    result = experiment.analyze(
        exposures=shop["exposures"], events=shop["events"], covariates={METRIC: "pre_revenue"}
    )
    (comparison,) = result.comparisons(METRIC)
    adjusted, reduction = _oracle(shop)
    assert comparison.method == "cuped welch"
    assert comparison.absolute_lift == pytest.approx(adjusted, rel=1e-9)
    assert comparison.variance_reduction == pytest.approx(reduction, rel=1e-9)
    assert reduction > 0.5  # the covariate explains most of the spend
    (raw,) = plain.comparisons(METRIC)
    assert raw.variance_reduction is None and raw.method == "welch t-test"
    width = comparison.ci_high - comparison.ci_low
    assert width < (raw.ci_high - raw.ci_low) * 0.8
    # the other metrics are untouched
    assert result.comparisons()[0] == plain.comparisons()[0]


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_a_non_finite_covariate_is_refused_naming_the_column(
    shop: dict[str, Any], bad: float
) -> None:
    """Two rows of last quarter's spend are inf: the covariate sums were inf and the
    analysis said "beyond double precision"; now it refuses, naming the column."""
    exposures = shop["exposures"].copy()
    exposures.loc[[3, 40], "pre_revenue"] = bad
    with pytest.raises(StoreError) as error:
        upsell_ab.load(SPEC).analyze(
            exposures=exposures, events=shop["events"], covariates={METRIC: "pre_revenue"}
        )
    message = str(error.value)
    assert "CUPED covariate that is not a finite number" in message
    assert "2 in column 'pre_revenue'" in message, message


def test_the_spec_form_equals_the_api_form(shop: dict[str, Any]) -> None:
    spec = upsell_ab.load(SPEC).to_dict()
    spec["data"] = {**spec.get("data", {}), "covariates": {METRIC: "pre_revenue"}}
    from_spec = upsell_ab.define(spec, catalogue=CATALOGUE)
    assert from_spec.metrics[METRIC].cuped is not None
    assert from_spec.metrics[METRIC].cuped.column == "pre_revenue"
    a = from_spec.analyze(exposures=shop["exposures"], events=shop["events"])
    b = upsell_ab.load(SPEC).analyze(
        exposures=shop["exposures"], events=shop["events"], covariates={METRIC: "pre_revenue"}
    )
    assert differences(a.to_dict(), b.to_dict()) == []  # to 1e-12: summation order


def test_every_report_says_cuped_was_applied(shop: dict[str, Any]) -> None:
    result = upsell_ab.load(SPEC).analyze(
        exposures=shop["exposures"], events=shop["events"], covariates={METRIC: "pre_revenue"}
    )
    (comparison,) = result.comparisons(METRIC)
    expected = f"{comparison.variance_reduction * 100:.1f} % (pairing)"
    markdown = result.to_markdown().replace("\\_", "_")  # Markdown escapes underscores
    for text in (result.to_text(), markdown, result.to_html()):
        assert "CUPED applied" in text and "pre_revenue" in text and expected in text
    assert any("CUPED applied" in n for n in result.metric(METRIC).notes)
    assert not any("CUPED" in n for n in result.metric("upsell_take_rate").notes)


def test_covariates_must_name_a_non_ratio_metric_of_the_experiment() -> None:
    with pytest.raises(SpecError, match=r"covariates\.upsell_revenue_per_custmer.*did you mean"):
        upsell_ab.load(SPEC).analyze([], covariates={"upsell_revenue_per_custmer": "pre"})
    spec = upsell_ab.load(SPEC).to_dict()
    spec["data"] = {"covariates": {"nope": "pre"}}
    with pytest.raises(SpecError, match=r"data\.covariates\.nope"):
        upsell_ab.define(spec, catalogue=CATALOGUE)


@pytest.mark.parametrize(("dialect", "quote"), [("duckdb", '"'), ("postgres", '"'), ("spark", "`")])
def test_the_covariate_column_is_a_quoted_identifier_in_every_dialect(
    dialect: str, quote: str
) -> None:
    """A hostile column name cannot break out of its identifier quotes in any dialect."""
    import sqlglot

    from upsell_ab.metrics.compute import experiment_sql
    from upsell_ab.spec.resolve import with_covariates

    name = 'pre"rev`x'
    resolved = with_covariates(upsell_ab.load(SPEC).resolved, {METRIC: name})
    sql = experiment_sql(resolved, dialect, daily=True)  # type: ignore[arg-type]
    escaped = name.replace(quote, quote * 2)
    assert f"{quote}{escaped}{quote}" in sql
    sqlglot.parse_one(sql, read=dialect)  # one statement that the dialect's parser accepts
