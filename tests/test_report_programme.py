"""The report's programme section (issue 15 part 3): "what has our whole upsell programme
done to customers?", in every format, from the same analysis as ``upsell-ab holdout``.

Oracles: the report's JSON Schema (docs/report.schema.json, jsonschema), the
``holdout`` command's comparisons (the section copies them, it computes nothing), the
rule that a verdict follows the interval's side of zero and the metric's direction, and
the simulator's stated directions (upsell revenue up, late repeats and satisfaction down:
tests/test_simulate_programme.py states their closed forms).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.test_simulate_programme import HOLDOUT_ID, METRICS, PROGRAM, SPEC
from upsell_ab.report.programme import GAINED, LOST, TITLE, UNCLEAR

ROOT = Path(__file__).resolve().parents[1]


def _run(argv: list[str]) -> tuple[int, str]:
    from upsell_ab.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A folder with the timing spec and a 30 % holdout, simulated into a store."""
    folder = tmp_path_factory.mktemp("report_programme") / "experiments"
    folder.mkdir()
    shutil.copy(ROOT / "experiments" / "metrics.yaml", folder / "metrics.yaml")
    (folder / "timing_programme.yaml").write_text(SPEC, "utf-8")
    (folder / "program.yaml").write_text(PROGRAM, "utf-8")
    store = folder.parent / "store.duckdb"
    code, out = _run(["simulate", str(folder), "--store", str(store), "--units", "12000"])
    assert code == 0, out
    return folder, store


def _json(argv: list[str], target: Path) -> dict[str, Any]:
    code, out = _run([*argv, "--format", "json", "-o", str(target)])
    assert code == 0, out
    document: dict[str, Any] = json.loads(target.read_text("utf-8"))
    return document


def test_the_json_report_carries_the_programme_as_the_holdout_analysis_has_it(
    shop: tuple[Path, Path], tmp_path: Path
) -> None:
    import jsonschema

    folder, store = shop
    report = _json(["report", str(folder), "--store", str(store)], tmp_path / "r.json")
    schema = json.loads((ROOT / "docs" / "report.schema.json").read_text("utf-8"))
    jsonschema.validate(report, schema)
    assert report["schema_version"] == "1.12"
    programme = report["programme"]
    assert programme["holdout"] == HOLDOUT_ID and programme["share"] == 0.3
    holdout = _json(["holdout", str(folder), "--store", str(store)], tmp_path / "h.json")
    (experiment,) = holdout["experiments"]
    assert programme["units"] == {
        "holdout": experiment["quality"]["observed"]["holdout"],
        "programme": experiment["quality"]["observed"]["programme"],
    }
    by_name = {m["metric"]: m for m in programme["metrics"]}
    assert set(by_name) == set(METRICS)
    for metric in experiment["metrics"]:
        if metric["name"] not in by_name:
            continue
        row, (comparison,) = by_name[metric["name"]], metric["comparisons"]
        for key in ("absolute_lift", "ci_low", "ci_high", "relative_lift", "p_value"):
            assert row[key] == comparison[key], (metric["name"], key)
        means = {v["variant"]: v["mean"] for v in metric["variants"]}
        assert (row["holdout_mean"], row["programme_mean"]) == (
            means["holdout"],
            means["programme"],
        )
        better_up = metric["direction"] != "lower_is_better"
        if row["ci_low"] > 0:
            assert row["verdict"] == (GAINED if better_up else LOST)
        elif row["ci_high"] < 0:
            assert row["verdict"] == (LOST if better_up else GAINED)
        else:
            assert row["verdict"] == UNCLEAR
    # the simulator's stated trade-off: revenue gained, loyalty and satisfaction lost
    assert by_name["upsell_revenue_per_customer"]["verdict"] == GAINED
    assert by_name["repeat_purchase_61_90d"]["verdict"] == LOST
    assert by_name["satisfaction_score"]["verdict"] == LOST
    assert "gained upsell_revenue_per_customer" in programme["summary"]
    assert any("response rate" in note for note in programme["notes"])


def test_every_human_format_has_the_section(shop: tuple[Path, Path], tmp_path: Path) -> None:
    folder, store = shop
    for fmt in ("text", "markdown", "html"):
        target = tmp_path / f"r.{fmt}"
        code, out = _run(
            ["report", str(folder), "--store", str(store), "--format", fmt, "-o", str(target)]
        )
        assert code == 0, out
        page = target.read_text("utf-8")
        assert TITLE in page, fmt
        for name in ("upsell_revenue_per_customer", "repeat_purchase_61_90d", "satisfaction_score"):
            assert name in page, (fmt, name)
        assert "holdout (no offers)" in page and "95%" in page
    markdown = (tmp_path / "r.markdown").read_text("utf-8")
    assert f"## {TITLE}" in markdown and "| `repeat_purchase_61_90d` |" in markdown
    assert '<section class="programme">' in (tmp_path / "r.html").read_text("utf-8")


def test_no_program_yaml_no_section_and_no_programme_data_says_so(
    shop: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, store = shop
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("metrics.yaml", "timing_programme.yaml"):
        shutil.copy(folder / name, plain / name)
    report = _json(["report", str(plain), "--store", str(store)], tmp_path / "p.json")
    assert "programme" not in report
    code, out = _run(["report", str(plain), "--store", str(store), "--format", "text"])
    assert code == 0 and TITLE not in out
    # a store without programme exposures: the section says what to log
    empty = tmp_path / "experiment_only.duckdb"
    code, out = _run(["simulate", str(plain), "--store", str(empty), "--units", "2000"])
    assert code == 0, out
    report = _json(["report", str(folder), "--store", str(empty)], tmp_path / "e.json")
    assert report["programme"]["units"] == {"holdout": 0, "programme": 0}
    assert "No programme exposure" in report["programme"]["summary"]


def test_the_demo_shows_the_programmes_trade_off(tmp_path: Path) -> None:
    """The bundled examples have no program.yaml: the demo runs a copy of them under its
    own holdout and prints the section; a folder with a program.yaml is run as it is."""
    from upsell_ab.cli.demo_programme import DEMO_PROGRAM

    demo = tmp_path / "demo"
    code, out = _run(["demo", "--output-dir", str(demo), "--units", "4000"])
    assert code == 0, out
    assert TITLE in out and "Programme (upsell_2026 holdout):" in out
    assert TITLE in (demo / "report.md").read_text("utf-8")
    assert (demo / "experiments" / "program.yaml").read_text("utf-8") == DEMO_PROGRAM
    assert not (ROOT / "experiments" / "program.yaml").exists()
    copied = {p.name for p in (demo / "experiments").glob("*.yaml")}
    assert copied == {p.name for p in (ROOT / "experiments").glob("*.yaml")} | {"program.yaml"}
    # the programme data are in the store: held-out customers never in an experiment
    import duckdb

    with duckdb.connect(str(demo / "demo.duckdb"), read_only=True) as con:
        (overlap,) = con.execute(
            "SELECT count(*) FROM exposures e JOIN exposures p USING (unit_id) "
            "WHERE p.experiment = 'upsell_2026' AND p.variant = 'holdout' "
            "AND e.experiment <> 'upsell_2026'"
        ).fetchone() or (None,)
        (held,) = con.execute(
            "SELECT count(*) FROM exposures WHERE experiment = 'upsell_2026' "
            "AND variant = 'holdout'"
        ).fetchone() or (None,)
    assert overlap == 0 and held is not None and held > 0


def test_without_store_the_programme_reads_the_store_the_specs_name(
    shop: tuple[Path, Path], tmp_path: Path
) -> None:
    """No --store: the programme exposures are read from the one store every reported
    spec names (``data.store``), as the experiments are."""
    folder, store = shop
    named = tmp_path / "named"
    named.mkdir()
    for name in ("metrics.yaml", "program.yaml"):
        shutil.copy(folder / name, named / name)
    text = SPEC.replace("data: {kind: embedded}", f"data: {{kind: embedded, store: '{store}'}}")
    (named / "timing_programme.yaml").write_text(text, "utf-8")
    with_store = _json(["report", str(folder), "--store", str(store)], tmp_path / "a.json")
    without = _json(["report", str(named)], tmp_path / "b.json")
    assert without["programme"] == with_store["programme"]
    assert without["programme"]["units"]["holdout"] > 0


def test_the_holdout_command_answers_with_the_programme_not_a_ship_verdict(
    shop: tuple[Path, Path], tmp_path: Path
) -> None:
    """``upsell-ab holdout`` used to print the experiment machinery's headline ("Decision:
    Keep control"), which reads as "switch the programme off". It now answers as the
    report's section does, in every format, and its JSON carries the same ``programme``
    object as ``report``'s next to the full analysis."""
    folder, store = shop
    code, text = _run(["holdout", str(folder), "--store", str(store)])
    assert code == 0
    assert text.startswith("What has our whole upsell programme done to customers?")
    assert "Decision:" not in text and "Keep control" not in text and "Ship" not in text
    for fmt in ("markdown", "html"):
        target = tmp_path / f"h.{fmt}"
        code, _ = _run(
            ["holdout", str(folder), "--store", str(store), "--format", fmt, "-o", str(target)]
        )
        body = target.read_text("utf-8")
        assert code == 0 and "What has our whole upsell programme done" in body
        assert "Keep control" not in body
    html_text = (tmp_path / "h.html").read_text("utf-8")
    assert html_text.startswith("<!doctype html>") and html_text.rstrip().endswith("</html>")
    holdout = _json(["holdout", str(folder), "--store", str(store)], tmp_path / "h.json")
    report = _json(["report", str(folder), "--store", str(store)], tmp_path / "r.json")
    assert holdout["programme"] == report["programme"]


def test_a_holdout_with_a_sample_ratio_mismatch_claims_no_gain_or_loss(
    shop: tuple[Path, Path], tmp_path: Path
) -> None:
    """A third of the held-out customers' exposures lost (broken logging on the no-offer
    path): the holdout analysis is invalid, and the section used to print gained/lost
    verdicts anyway. Oracle: scipy's chi-square on the observed split against 30/70."""
    import duckdb
    from scipy.stats import chisquare

    folder, store = shop
    broken = tmp_path / "broken.duckdb"
    shutil.copy(store, broken)
    with duckdb.connect(str(broken)) as con:
        con.execute(
            "DELETE FROM exposures WHERE experiment = ? AND variant = 'holdout' "
            "AND hash(unit_id) % 3 = 0",
            [HOLDOUT_ID],
        )
    report = _json(["report", str(folder), "--store", str(broken)], tmp_path / "r.json")
    import jsonschema

    jsonschema.validate(report, json.loads((ROOT / "docs" / "report.schema.json").read_text()))
    programme = report["programme"]
    units = programme["units"]
    total = units["holdout"] + units["programme"]
    _, p = chisquare([units["holdout"], units["programme"]], [0.3 * total, 0.7 * total])
    assert p < 0.001  # a real mismatch
    assert programme["invalid"] and "ample ratio" in programme["invalid"]
    assert {m["verdict"] for m in programme["metrics"]} == {"not judged"}
    assert programme["summary"].startswith("Not judged: the programme-against-holdout")
    _, text = _run(["report", str(folder), "--store", str(broken), "--format", "markdown"])
    assert "Not judged" in text and f"| {GAINED} |" not in text and f"| {LOST} |" not in text
    clean = _json(["report", str(folder), "--store", str(store)], tmp_path / "c.json")
    assert clean["programme"]["invalid"] is None
    assert {m["verdict"] for m in clean["programme"]["metrics"]} <= {GAINED, LOST, UNCLEAR}
