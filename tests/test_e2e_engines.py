"""Only the engines the spec asks for run, end to end through DuckDB and every renderer.

Oracle: the spec's ``analysis.engine`` setting. With ``bayesian`` the frequentist
fields must be null in JSON (and the p-value columns absent elsewhere); with
``frequentist`` the Bayesian ones. The decision must still come out from what
exists, and a rule needing an engine that is off is refused at validation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_e2e_support import load, simulate_into, spec, write_spec
from upsell_ab.decision.model import Action
from upsell_ab.errors import SpecError
from upsell_ab.report.render import render
from upsell_ab.workflow import run_experiment

FREQUENTIST_KEYS = (
    "method",
    "status",
    "absolute_lift",
    "relative_lift",
    "ci_low",
    "ci_high",
    "relative_ci_low",
    "relative_ci_high",
    "statistic",
    "p_value",
    "p_value_adjusted",
    "sequential",
)
BAYESIAN_KEYS = ("prob_beat_baseline", "expected_loss", "bayesian")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated data set (real effect: take 15.4 % -> 19.3 %) shared by every
    engine setting: the data depend on the spec's id and variants, not its engine."""
    folder = tmp_path_factory.mktemp("engines")
    resolved = load(write_spec(folder / "base", spec("engines")))
    path = folder / "store.duckdb"
    simulate_into(path, [resolved], units=16000, seed=5)
    return path


def _run(tmp_path: Path, store: Path, engine: str, rule: str) -> dict:  # type: ignore[type-arg]
    content = spec("engines", analysis={"engine": engine, "decision": {"rule": rule}})
    run = run_experiment(load(write_spec(tmp_path, content)), store=store, daily=False)
    document = json.loads(render([run.report()], "json"))
    return {"run": run, "json": document["experiments"][0]}


@pytest.mark.parametrize(
    ("engine", "rule"), [("frequentist", "frequentist"), ("bayesian", "bayesian")]
)
def test_an_engine_that_is_off_gives_null_and_the_decision_still_comes_out(
    tmp_path: Path, store: Path, engine: str, rule: str
) -> None:
    out = _run(tmp_path, store, engine, rule)
    document, run = out["json"], out["run"]
    off_keys = BAYESIAN_KEYS if engine == "frequentist" else FREQUENTIST_KEYS
    on_keys = FREQUENTIST_KEYS[-3:-1] if engine == "frequentist" else BAYESIAN_KEYS
    comparisons = [c for m in document["metrics"] for c in m["comparisons"]]
    assert comparisons
    for c in comparisons:
        assert all(c[key] is None for key in off_keys), (engine, c)
    primary = document["metrics"][0]
    assert primary["name"] == "upsell_take_rate"
    assert all(primary["comparisons"][0][key] is not None for key in on_keys)
    if engine == "frequentist":
        assert all(m["prob_best"] is None for m in document["metrics"])
    # the stated truth is a +25 % relative effect on 8,000 units per arm: it ships
    assert run.outcome.action is Action.ship, run.outcome.reasons
    assert document["decision"]["variant"] == "treatment"
    # the guardrail's non-inferiority test is a spec requirement, kept with every engine
    guardrail = next(m for m in document["metrics"] if m["name"] == "refund_rate")
    assert guardrail["comparisons"][0]["non_inferiority"] is not None


@pytest.mark.parametrize("engine", ["frequentist", "bayesian"])
def test_renderers_leave_out_the_columns_of_an_engine_that_is_off(
    tmp_path: Path, store: Path, engine: str
) -> None:
    run = _run(tmp_path, store, engine, engine)["run"]
    report = run.report()
    text = render([report], "text")
    markdown = render([report], "markdown")
    html = render([report], "html")
    if engine == "bayesian":
        assert "p / adj." not in text and "| p / p adj. |" not in markdown
        assert "<th>p</th>" not in html and "<th>p adj.</th>" not in html
        assert "credible interval" in markdown
        assert "Beat ctrl" in text and "Chance to beat control" in markdown
    else:
        assert "Beat ctrl" not in text and "Exp. loss" not in text
        assert "| Chance to beat control |" not in markdown
        assert "<th>Chance to beat control</th>" not in html
        assert "p / adj." in text and "<th>p adj.</th>" in html


def test_the_extra_sample_needs_no_frequentist_engine(tmp_path: Path, store: Path) -> None:
    """The "keep running: n more needed" figure of a Bayesian-only analysis still comes
    from the observed variances (independent check: the two-proportion formula)."""
    from statistics import NormalDist

    from upsell_ab.decision.sample import extra_sample

    content = spec(
        "engines",
        analysis={"engine": "bayesian", "decision": {"rule": "bayesian"}, "mde": 0.01},
        guardrails=[],
    )
    resolved = load(write_spec(tmp_path, content))
    run = run_experiment(resolved, store=store, daily=False)
    result = run.analysis.metric("upsell_take_rate")
    assert all(c.frequentist is None for c in result.comparisons)
    need = extra_sample(resolved, result, run.data)
    assert need is not None and need.units > 0
    control = result.variants[0]
    assert control.mean is not None
    p, q = control.mean, control.mean * 1.01
    z = NormalDist().inv_cdf(0.975) + NormalDist().inv_cdf(0.8)
    # two-sided two-proportion sample size at p and p + delta (normal approximation)
    n = z**2 * (p * (1 - p) + q * (1 - q)) / (q - p) ** 2
    assert abs(need.units + control.n - n) / n < 0.05


@pytest.mark.parametrize(
    ("engine", "rule", "field"),
    [
        ("frequentist", "bayesian", "analysis.decision.rule"),
        ("bayesian", "both", "analysis.decision.rule"),
        ("bayesian", None, "analysis.engine"),
    ],
)
def test_a_rule_needing_an_engine_that_is_off_is_refused_with_its_location(
    tmp_path: Path, engine: str, rule: str | None, field: str
) -> None:
    analysis: dict[str, object] = {"engine": engine}
    if rule is not None:
        analysis["decision"] = {"rule": rule}
    path = write_spec(tmp_path, spec("refused", analysis=analysis))
    with pytest.raises(SpecError) as caught:
        load(path)
    problems = caught.value.problems
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.location.field == field
    lines = path.read_text(encoding="utf-8").splitlines()
    key = field.rsplit(".", 1)[1]
    assert problem.location.line is not None
    assert lines[problem.location.line - 1].strip().startswith(f"{key}:")
    assert "engine" in problem.message and problem.hint
