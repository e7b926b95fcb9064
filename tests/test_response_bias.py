"""Satisfaction among respondents, and the response-rate check behind it (issue 15).

The score is a ratio (sum of scores / number of responses), checked against numpy.
The response-rate test is checked against statsmodels' two-proportion z-test on the
counts. The bias case is a simulation with a known truth: both arms' customers are
equally satisfied, but the pushy offer makes unhappy customers answer more often, so
the naive score comparison shows a "significant" drop that is not the offer's effect;
the report must call it biased (and refuse a verdict when the score decides).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import upsell_ab
from upsell_ab.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "experiments" / "metrics.yaml"
SCORES = np.array([1, 2, 3, 4, 5])
SHARES = np.array([0.05, 0.10, 0.25, 0.35, 0.25])


def _experiment(decision: str | None = None) -> upsell_ab.Experiment:
    analysis: dict[str, Any] = {}
    if decision:
        analysis = {"engine": "frequentist", "decision": {"metric": decision}}
    return upsell_ab.define(
        id="pushy_offer",
        name="Pushy offer",
        status="running",
        population={"unit": "customer_id"},
        variants=[
            {"id": "plain", "weight": 0.5, "control": True},
            {"id": "pushy", "weight": 0.5},
        ],
        metrics={"primary": "upsell_take_rate", "secondary": ["satisfaction_score"]},
        analysis=analysis,
        catalogue=CATALOGUE,
    )


def _shop(seed: int, *, unhappy_answer_more: bool, score_shift: float = 0.0) -> dict[str, Any]:
    """6,000 customers per arm; satisfaction identical in both arms unless
    ``score_shift`` (added to the pushy arm's scores); response 20 % for everyone, or
    50 % for unhappy (score <= 2) customers of the pushy arm."""
    rng = np.random.default_rng(seed)
    n = 12_000
    ids = np.array([f"c{i}" for i in range(n)], dtype=object)
    variant = np.where(np.arange(n) % 2 == 0, "plain", "pushy")
    pushy = variant == "pushy"
    score = rng.choice(SCORES, size=n, p=SHARES).astype(float)
    score = np.where(pushy, np.clip(score + score_shift, 1, 5), score)
    answer_p = np.full(n, 0.2)
    if unhappy_answer_more:
        answer_p = np.where(pushy & (score <= 2), 0.5, answer_p)
    answered = rng.random(n) < answer_p
    bought = rng.random(n) < np.where(pushy, 0.12, 0.10)
    seen = np.datetime64("2026-05-01T10:00:00", "us") + rng.integers(0, 14 * 86400, n).astype(
        "timedelta64[s]"
    )
    exposures = pd.DataFrame(
        {"experiment": "pushy_offer", "variant": variant, "unit_id": ids, "timestamp": seen}
    )
    survey = pd.DataFrame(
        {
            "unit_id": ids[answered],
            "timestamp": seen[answered] + np.timedelta64(2 * 86400, "s"),
            "event_type": "survey_response",
            "value": score[answered],
        }
    )
    orders = pd.DataFrame(
        {
            "unit_id": ids[bought],
            "timestamp": seen[bought] + np.timedelta64(600, "s"),
            "event_type": "upsell_purchase",
            "value": 500.0,
        }
    )
    events = pd.concat([survey, orders], ignore_index=True)
    events["event_id"] = [f"e{i}" for i in range(len(events))]
    return {
        "exposures": exposures,
        "events": events,
        "variant": variant,
        "answered": answered,
        "score": score,
    }


def test_score_and_response_rates_match_numpy_and_statsmodels() -> None:
    from statsmodels.stats.proportion import proportions_ztest

    shop = _shop(1, unhappy_answer_more=True)
    result = _experiment().analyze(exposures=shop["exposures"], events=shop["events"])
    v, answered, score = shop["variant"], shop["answered"], shop["score"]
    score_report = result.metric("satisfaction_score")
    means = {arm.variant: arm.mean for arm in score_report.variants}
    for arm in ("plain", "pushy"):
        assert means[arm] == pytest.approx(score[(v == arm) & answered].mean(), rel=1e-12)
    rates = result.metric("survey_response_rate")
    assert rates.role == "check"
    counts = [int(answered[v == arm].sum()) for arm in ("pushy", "plain")]
    _, p_value = proportions_ztest(counts, [int((v == arm).sum()) for arm in ("pushy", "plain")])
    assert p_value < 1e-6  # 20 % vs ~23 % on 6,000 customers each
    note = " ".join(score_report.notes)
    assert "Biased" in note and f"p = {p_value:.3g}" in note
    assert any("satisfaction score is biased" in w for w in result.report.decision.warnings), (
        result.report.decision.warnings
    )
    # the naive score comparison does look "significant": the trap the check exists for
    (comparison,) = result.comparisons("satisfaction_score")
    assert comparison.p_value is not None and comparison.p_value < 0.05
    assert comparison.absolute_lift is not None and comparison.absolute_lift < 0


def test_a_biased_score_as_decision_metric_gives_no_verdict() -> None:
    shop = _shop(2, unhappy_answer_more=True)
    result = _experiment("satisfaction_score").analyze(
        exposures=shop["exposures"], events=shop["events"]
    )
    assert result.decision.action == "invalid"
    assert any("responded at different rates" in r for r in result.decision.reasons)


def test_equal_response_rates_leave_a_real_score_effect_alone() -> None:
    shop = _shop(3, unhappy_answer_more=False, score_shift=0.3)
    experiment = _experiment("satisfaction_score")
    result = experiment.analyze(exposures=shop["exposures"], events=shop["events"])
    assert not any("biased" in w for w in result.report.decision.warnings)
    assert result.decision.action == "ship" and result.decision.winner == "pushy"
    note = " ".join(result.metric("satisfaction_score").notes)
    assert "among respondents only" in note and "no detectable difference" in note
    for fmt in ("text", "markdown", "html", "json"):
        assert "among respondents" in result.render(fmt)


def test_response_check_false_alarm_rate_is_alpha() -> None:
    """A/A on the response rate: the check fires at its nominal 5 % (400 runs of
    2 x 1,500 customers at 20 %; 3 Monte-Carlo SE = 0.033)."""
    from upsell_ab.metrics.sufficient import SampleStats
    from upsell_ab.stats.frequentist import proportion_test

    rng = np.random.default_rng(4)
    fired = 0
    runs = 400
    for _ in range(runs):
        a, b = rng.binomial(1500, 0.2, size=2)
        p = proportion_test(
            SampleStats.from_proportion(1500, int(a)), SampleStats.from_proportion(1500, int(b))
        ).p_value
        fired += p is not None and p < 0.05
    assert abs(fired / runs - 0.05) < 0.033


def _catalogue_error(metrics: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as caught:
        upsell_ab.define(
            id="x",
            name="x",
            status="running",
            population={"unit": "customer_id"},
            variants=[{"id": "a", "weight": 0.5, "control": True}, {"id": "b", "weight": 0.5}],
            metrics={"primary": "score"},
            catalogue=metrics,
        )
    return str(caught.value)


def test_response_rate_references_are_validated() -> None:
    score = {
        "type": "ratio",
        "numerator": {"event": "survey_response", "value": "value"},
        "denominator": {"event": "survey_response", "value": "count"},
    }
    rate = {"type": "proportion", "event": "survey_response"}
    unknown = _catalogue_error(
        {"score": {**score, "response_rate": "survey_rate"}, "survey_rates": rate}
    )
    assert "response_rate" in unknown and "did you mean 'survey_rates'" in unknown
    not_binary = _catalogue_error(
        {
            "score": {**score, "response_rate": "answers"},
            "answers": {"type": "count", "event": "survey_response"},
        }
    )
    assert "a response rate is 0/1" in not_binary
    on_rate = _catalogue_error({"score": {**rate, "response_rate": "score"}})
    assert "'response_rate' is for scores among respondents" in on_rate


def test_validate_locates_a_bad_response_rate(tmp_path: Path) -> None:
    from upsell_ab.cli.main import main

    catalogue = CATALOGUE.read_text("utf-8").replace(
        "response_rate: survey_response_rate", "response_rate: survey_respons_rate"
    )
    (tmp_path / "metrics.yaml").write_text(catalogue, "utf-8")
    spec = (ROOT / "experiments" / "cake_wording.yaml").read_text("utf-8")
    (tmp_path / "cake_wording.yaml").write_text(spec, "utf-8")
    line = next(
        i + 1 for i, text in enumerate(catalogue.splitlines()) if "survey_respons_rate" in text
    )
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(err):
        code = main(["validate", str(tmp_path)])
    assert code == 1
    assert f"metrics.yaml:{line}:" in err.getvalue()
    assert "did you mean 'survey_response_rate'" in err.getvalue()
