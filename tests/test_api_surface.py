"""The public Python API: pinned names and signatures, light import, Python-defined
specs with located errors, the YAML round trip, and every renderer of a result.

Oracles: the pinned list below (a name or parameter that disappears fails here
first); the CLI's own output on the same data (rendered by the same command in
a fresh process); scipy/statsmodels for the numbers of a hand-made summary.
"""

from __future__ import annotations

import functools
import inspect
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import upsell_ab
from upsell_ab.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "cake_wording.yaml"
CATALOGUE = ROOT / "experiments" / "metrics.yaml"

PUBLIC = {
    "load": "(path: 'str | Path', *, catalogue: 'str | Path | None' = None) -> 'Experiment'",
    "define": (
        "(spec: 'Mapping[str, Any] | None' = None, /, *, catalogue: "
        "'str | Path | Mapping[str, Any] | Catalogue | None' = None, **fields: 'Any') "
        "-> 'Experiment'"
    ),
    "Experiment.assign": (
        "(self, unit_id: 'str', attributes: 'Mapping[str, object] | None' = None) -> 'Assignment'"
    ),
    "Experiment.assign_many": (
        "(self, unit_ids: 'Sequence[str] | np.ndarray | pd.Series', "
        "attributes: 'pd.DataFrame | None' = None) -> 'np.ndarray'"
    ),
    "Experiment.analyze": (
        "(self, data: 'Any' = None, *, exposures: 'Any' = None, events: 'Any' = None, "
        "covariates: 'Mapping[str, str] | None' = None, segments: 'bool' = False, "
        "daily: 'bool' = True, "
        "step: 'Step | None' = None) -> 'Result'"
    ),
    "Experiment.to_dict": "(self) -> 'dict[str, Any]'",
    "Experiment.to_yaml": (
        "(self, path: 'str | Path | None' = None, *, schema: 'str | None' = None) -> 'str'"
    ),
    "Result.metric": "(self, name: 'str') -> 'MetricReport'",
    "Result.comparisons": "(self, metric: 'str | None' = None) -> 'list[ComparisonReport]'",
    "Result.to_dict": "(self) -> 'dict[str, Any]'",
    "Result.to_json": "(self, *, indent: 'int | None' = 2) -> 'str'",
    "Result.to_markdown": "(self) -> 'str'",
    "Result.to_html": "(self) -> 'str'",
    "Result.to_text": "(self, *, color: 'bool' = False) -> 'str'",
    "Result.render": "(self, fmt: 'str') -> 'str'",
    "Result.to_pandas": "(self) -> 'pd.DataFrame'",
    "Result.plot": "(self, kind: 'str' = 'forest', *, metric: 'str | None' = None) -> 'Figure'",
}
PROPERTIES = {
    "Experiment": {"spec", "id", "name", "variants", "control", "primary_metric", "metrics"},
    "Result": {"report", "decision", "metrics", "quality_failed", "guardrail_breached"},
}
NAMES = {
    "Decision",
    "Experiment",
    "FRAME_COLUMNS",
    "InputError",
    "Result",
    "SpecError",
    "StoreError",
    "UpsellAbError",
    "__version__",
    "define",
    "load",
}


def test_the_public_names_and_signatures_are_pinned() -> None:
    assert set(upsell_ab.__all__) == NAMES
    for name in NAMES:
        assert getattr(upsell_ab, name) is not None
    for dotted, expected in PUBLIC.items():
        owner, _, attribute = dotted.rpartition(".")
        target = (
            getattr(getattr(upsell_ab, owner), attribute)
            if owner
            else getattr(upsell_ab, attribute)
        )
        assert str(inspect.signature(target)) == expected, dotted
        assert inspect.getdoc(target), f"{dotted} has no docstring"
    for cls, names in PROPERTIES.items():
        for name in names:
            found = inspect.getattr_static(getattr(upsell_ab, cls), name)
            assert isinstance(found, property | functools.cached_property), (cls, name)
    assert [f.name for f in upsell_ab.Decision.__dataclass_fields__.values()] == [
        "action",
        "winner",
        "reasons",
        "additional_units_needed",
        "additional_days_needed",
        "guardrails_breached",
        "warnings",
        "planned_look",
    ]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = upsell_ab.nope  # type: ignore[attr-defined]


def test_the_package_ships_its_type_marker() -> None:
    assert (ROOT / "upsell_ab" / "py.typed").is_file()


def test_import_load_and_assign_stay_light() -> None:
    """``import upsell_ab``, ``load`` and ``assign`` import no pandas/duckdb/scipy."""
    code = (
        "import sys, upsell_ab;"
        f"e = upsell_ab.load({str(SPEC)!r}); e.assign('c-1', {{'channel': 'app'}});"
        "heavy = sorted(m for m in ('scipy', 'statsmodels', 'pandas', 'duckdb', 'matplotlib',"
        " 'sqlglot', 'pyarrow') if m in sys.modules); print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------ Python-defined specs
def _kwargs() -> dict[str, Any]:
    return {
        "id": "note_test",
        "name": "Thank-you note offer",
        "status": "running",
        "population": {"unit": "customer_id"},
        "variants": [
            {"id": "plain", "weight": 0.5, "control": True},
            {"id": "note", "weight": 0.5},
        ],
        "metrics": {"primary": "upsell_take_rate"},
    }


def test_define_from_keywords_a_dict_or_both_is_the_same_experiment() -> None:
    by_keywords = upsell_ab.define(catalogue=CATALOGUE, **_kwargs())
    by_dict = upsell_ab.define(_kwargs(), catalogue=CATALOGUE)
    mixed = upsell_ab.define(
        {**_kwargs(), "name": "old"}, name=_kwargs()["name"], catalogue=CATALOGUE
    )
    assert by_keywords.spec == by_dict.spec == mixed.spec
    assert by_keywords.metrics["upsell_take_rate"].type.value == "proportion"
    # the same assignment as the same spec loaded from YAML
    path = by_keywords.to_yaml()
    assert "note_test" in path


def test_define_reports_every_problem_with_its_field_path() -> None:
    bad = _kwargs()
    bad["variants"] = [{"id": "plain", "weight": 0.5, "control": True}, {"id": "x", "weight": 2}]
    bad["metrics"] = {"primary": "upsell_take_rat"}
    bad["colour"] = "blue"
    with pytest.raises(SpecError) as caught:
        upsell_ab.define(bad, catalogue=CATALOGUE)
    lines = str(caught.value).splitlines()
    fields = {p.location.field for p in caught.value.problems}
    assert {"variants[1].weight", "metrics.primary", "colour"} <= fields
    assert all(p.location.line is None and p.location.file is None for p in caught.value.problems)
    assert any("did you mean 'upsell_take_rate'" in line for line in lines), lines
    # the same messages as the YAML loader gives for the same values (minus line numbers)
    assert any(line.startswith("variants[1].weight: ") for line in lines), lines


def test_define_with_a_python_catalogue_validates_it_too() -> None:
    with pytest.raises(SpecError, match=r"catalogue\.metrics\.upsell_take_rate\.type"):
        upsell_ab.define(_kwargs(), catalogue={"upsell_take_rate": {"type": "proportoin"}})
    exp = upsell_ab.define(
        _kwargs(), catalogue={"upsell_take_rate": {"type": "proportion", "event": "upsell"}}
    )
    assert exp.metrics["upsell_take_rate"].event == "upsell"


@pytest.mark.parametrize(
    "path", sorted(p for p in (ROOT / "experiments").glob("*.yaml") if p.name != "metrics.yaml")
)
def test_to_yaml_round_trips_every_bundled_spec(tmp_path: Path, path: Path) -> None:
    original = upsell_ab.load(path)
    (tmp_path / "metrics.yaml").write_bytes(CATALOGUE.read_bytes())
    written = tmp_path / path.name
    text = original.to_yaml(written, schema="../schema/experiment.schema.json")
    assert text.startswith("# yaml-language-server: $schema=")
    again = upsell_ab.load(written)
    assert again.spec == original.spec
    assert again.metrics == original.metrics
    assert upsell_ab.define(original.to_dict(), catalogue=CATALOGUE).spec == original.spec
    # the YAML loader (strict: no YAML 1.1 booleans/octals) accepts what we wrote
    assert yaml.safe_load(text)["id"] == original.id


# ------------------------------------------------------------------------- results
SUMMARY = [
    {"variant": "generic", "metric": "upsell_take_rate", "n": 2000, "sum": 180},
    {"variant": "pairing", "metric": "upsell_take_rate", "n": 2000, "sum": 250},
    {"variant": "generic", "metric": "complaint_rate", "n": 2000, "sum": 10},
    {"variant": "pairing", "metric": "complaint_rate", "n": 2000, "sum": 8},
]


@pytest.fixture(scope="module")
def result_and_cli(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    folder = tmp_path_factory.mktemp("surface")
    csv = folder / "summary.csv"
    csv.write_text(
        "variant,metric,n,sum\n"
        + "".join(f"{r['variant']},{r['metric']},{r['n']},{r['sum']}\n" for r in SUMMARY),
        encoding="utf-8",
    )
    outputs = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for fmt in ("json", "markdown", "html", "text"):
        out = subprocess.run(
            [sys.executable, "-m", "upsell_ab.cli.main", "analyze", str(SPEC), "--summary",
             str(csv), "--format", fmt],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        outputs[fmt] = out.stdout
    return upsell_ab.load(SPEC).analyze(SUMMARY), outputs


def test_renderers_are_the_clis(result_and_cli: tuple[Any, dict[str, str]]) -> None:
    result, cli = result_and_cli
    assert result.to_json() == cli["json"]
    assert result.to_dict() == json.loads(cli["json"])
    assert result.to_markdown().rstrip("\n") == cli["markdown"].rstrip("\n")
    assert result.to_html().rstrip("\n") == cli["html"].rstrip("\n")
    assert result.to_text().rstrip("\n") == cli["text"].rstrip("\n")
    assert result.render("markdown") == result.to_markdown()


def test_the_decision_and_comparisons_match_statsmodels(
    result_and_cli: tuple[Any, dict[str, str]],
) -> None:
    from statsmodels.stats.proportion import proportions_ztest

    result, _ = result_and_cli
    decision = result.decision
    assert (decision.action, decision.winner) == ("ship", "pairing")
    assert decision.reasons and decision.reasons[0].startswith("Ship pairing")
    (comparison,) = result.comparisons()
    z, p = proportions_ztest([250, 180], [2000, 2000])
    assert comparison.statistic == pytest.approx(z, rel=1e-9)
    assert comparison.p_value == pytest.approx(p, rel=1e-9)
    assert result.metric("complaint_rate").role == "guardrail"
    with pytest.raises(KeyError, match="upsell_take_rate"):
        result.metric("nope")
    assert not result.quality_failed and not result.guardrail_breached
    assert "ship pairing" in repr(result)


def test_to_pandas_is_tidy_documented_and_equals_the_json(
    result_and_cli: tuple[Any, dict[str, str]],
) -> None:
    result, _ = result_and_cli
    frame = result.to_pandas()
    assert list(frame.columns) == [name for name, _ in upsell_ab.FRAME_COLUMNS]
    assert len(frame) == 8  # 4 metrics of the spec x 2 variants (2 without data: n = 0)
    row = frame.set_index(["metric", "variant"]).loc[("upsell_take_rate", "pairing")]
    assert row["mean"] == 250 / 2000 and row["n"] == 2000
    assert row["absolute_lift"] == pytest.approx(250 / 2000 - 180 / 2000, rel=1e-12)
    assert row["relative_lift"] == pytest.approx((250 - 180) / 180, rel=1e-12)
    document = result.to_dict()["experiments"][0]
    (comparison,) = document["metrics"][0]["comparisons"]
    for column in ("ci_low", "ci_high", "p_value", "p_value_adjusted", "prob_beat_baseline"):
        assert row[column] == comparison[column]
    assert row["prob_best"] == document["metrics"][0]["prob_best"]["pairing"]
    control = frame.set_index(["metric", "variant"]).loc[("upsell_take_rate", "generic")]
    assert bool(control["is_control"]) and math.isnan(control["p_value"])
    documented = (ROOT / "docs" / "guide" / "results.md").read_text(encoding="utf-8")
    for name, _ in upsell_ab.FRAME_COLUMNS:
        assert f"`{name}`" in documented, name


def test_the_notebook_view_is_the_report_with_scoped_styles(
    result_and_cli: tuple[Any, dict[str, str]],
) -> None:
    result, _ = result_and_cli
    html = result._repr_html_()
    assert html.startswith('<div class="upsell-ab">') and "<html" not in html
    assert "Ship pairing" in html and "<svg" in html
    styles = html.split("<style>")[1].split("</style>")[0]
    selectors = [rule.split("{")[0] for rule in styles.split("}") if "{" in rule]
    assert selectors and all(
        all(s.startswith(".upsell-ab ") for s in rule.split(",")) for rule in selectors
    )


def test_plots_are_matplotlib_figures(result_and_cli: tuple[Any, dict[str, str]]) -> None:
    from matplotlib.figure import Figure

    result, _ = result_and_cli
    forest = result.plot()
    assert isinstance(forest, Figure) and len(forest.axes) == len(result.metrics) == 4
    ax = forest.axes[0]
    (point,) = [line for line in ax.get_lines() if line.get_marker() == "o"]
    comparison = result.comparisons()[0]
    assert point.get_xdata()[0] == pytest.approx(comparison.relative_lift)
    posterior = result.plot("posterior")
    curve = posterior.axes[0].get_lines()[0]
    peak = curve.get_xdata()[curve.get_ydata().argmax()]
    bayes = comparison.bayesian
    assert peak == pytest.approx(bayes.relative_lift, abs=0.05 * abs(bayes.relative_lift))
    buffer = io.BytesIO()
    posterior.savefig(buffer, format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="forest"):
        result.plot("pie")


def test_assign_many_without_the_targeting_attribute_warns() -> None:
    """cake_wording targets on 'channel': ids alone fail the targeting for every unit
    (None, as GrowthBook does for a missing attribute). The call says why instead of
    returning a silent column of None; with the attribute it is quiet."""
    import warnings

    import pandas as pd

    exp = upsell_ab.load(SPEC)
    ids = [f"c-{i}" for i in range(50)]
    with pytest.warns(UserWarning, match=r"50 of 50 units failed the targeting .*'channel'"):
        got = exp.assign_many(ids)
    assert all(v is None for v in got)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arms = exp.assign_many(ids, pd.DataFrame({"channel": ["app"] * 50}))
    assert {"generic", "pairing"} == set(arms)
    assert list(arms) == [exp.assign(i, {"channel": "app"}).variant for i in ids]
