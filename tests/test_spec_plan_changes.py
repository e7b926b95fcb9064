"""`validate --against REV`: edits of a started experiment's analysis plan.

Switching the primary metric after results can be seen, raising alpha, dropping the
correction, going one-sided, moving the MDE or the end date, loosening a guardrail:
each is refused where it is (code plan_changed) unless the spec records it in
``amendments``, and the report lists every amendment. Runs against a real git
repository (tests/git_support.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.test_spec_changes import _edit, _repo, _validate
from upsell_ab.cli.main import main

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("primary: upsell_take_rate", "primary: orders_per_customer", "metrics.primary"),
        ("alpha: 0.05", "alpha: 0.1", "analysis.alpha"),
        ("correction: holm", "correction: none", "analysis.correction"),
        ("correction: holm", "correction: benjamini_hochberg", "analysis.correction"),
        ("engine: both", "engine: both\n  alternative: greater", "analysis.alternative"),
        ("mde: 0.15", "mde: 0.3", "analysis.mde"),
        ("power: 0.8", "power: 0.6", "analysis.power"),
        ("end: 2026-03-30", "end: 2026-04-30", "end"),
        ("end: 2026-03-30", "end: 2026-03-16", "end"),
        ("start: 2026-03-02", "start: 2026-03-09", "start"),
        ("store: upsell_ab.duckdb", "store: cleaned.duckdb", "data"),
        ("margin: 0.005, margin_kind", "margin: 0.05, margin_kind", "metrics.guardrails[0]"),
        (
            "    - {metric: complaint_rate, margin: 0.005, margin_kind: absolute}\n",
            "",
            "metrics.guardrails",
        ),
        ("engine: both", "engine: both\n  decision: {rule: bayesian}", "analysis.decision.rule"),
    ],
)
def test_plan_edits_after_launch_are_refused_where_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, field: str
) -> None:
    folder = _repo(tmp_path)
    spec = folder / "cake_wording.yaml"
    _edit(spec, old, new)
    if not new:  # the guardrail list emptied: keep the key valid YAML
        _edit(spec, "  guardrails:\n", "  guardrails: []\n")
    code, out = _validate(folder, capsys)
    assert code == 1, out
    assert f": {field}: " in out, out
    assert "(compared with HEAD)" in out and "amendments:" in out


def test_the_same_edit_on_a_draft_or_a_stricter_one_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = _repo(tmp_path / "d", edit=lambda t: t.replace("status: running", "status: draft"))
    _edit(draft / "cake_wording.yaml", "alpha: 0.05", "alpha: 0.1")
    _edit(draft / "cake_wording.yaml", "primary: upsell_take_rate", "primary: revenue_per_customer")
    _edit(
        draft / "cake_wording.yaml",
        "[upsell_revenue_per_customer, revenue_per_customer]",
        "[upsell_revenue_per_customer]",
    )
    assert _validate(draft, capsys) == (0, "")
    stricter = _repo(tmp_path / "s")
    spec = stricter / "cake_wording.yaml"
    _edit(spec, "alpha: 0.05", "alpha: 0.01")
    _edit(spec, "margin: 0.005, margin_kind", "margin: 0.003, margin_kind")
    _edit(spec, "secondary: [upsell_revenue_per_customer, revenue_per_customer]", "secondary: []")
    assert _validate(stricter, capsys) == (0, "")


def test_an_amendment_records_the_edit_and_the_report_lists_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _repo(tmp_path)
    spec = folder / "cake_wording.yaml"
    _edit(spec, "end: 2026-03-30", "end: 2026-04-13")
    code, out = _validate(folder, capsys)
    assert code == 1 and ": end: " in out
    amendment = (
        "amendments:\n"
        "  - field: end\n"
        "    when: 2026-03-20\n"
        "    reason: traffic ran at half the planned rate after the store closure\n"
    )
    spec.write_text(spec.read_text(encoding="utf-8") + amendment, encoding="utf-8")
    code, out = _validate(folder, capsys)
    # accepted, and shown to the reviewer (a notice, also as a GitHub annotation)
    assert code == 0 and out.startswith("notice: ") and ": end: " in out, out
    assert "recorded as an amendment: traffic ran at half the planned rate" in out
    assert main(["validate", str(folder), "--against", "HEAD", "--format", "github"]) == 0
    github = capsys.readouterr().out
    assert (
        github.startswith("::notice file=") and "title=upsell-ab validate (plan_amended)" in github
    )
    # the amendment covers the end date only: a second edit is still refused
    _edit(spec, "alpha: 0.05", "alpha: 0.1")
    code, out = _validate(folder, capsys)
    refused = [line for line in out.splitlines() if not line.startswith("notice: ")]
    assert code == 1 and len(refused) == 1 and ": analysis.alpha: " in refused[0], out
    _edit(spec, "alpha: 0.1", "alpha: 0.05")
    # ... and an amendment already in the base does not cover a later edit of its field
    from tests.git_support import git

    git(folder.parent, "commit", "-qam", "amended")
    _edit(spec, "end: 2026-04-13", "end: 2026-04-27")
    code, out = _validate(folder, capsys)
    assert code == 1 and ": end: " in out
    # every report lists the amendment (JSON notes), on the embedded demo data
    _edit(spec, "end: 2026-04-27", "end: 2026-04-13")
    out_file = tmp_path / "r.json"
    summary = tmp_path / "summary.csv"
    summary.write_text(
        "variant,metric,n,sum\ngeneric,upsell_take_rate,400,80\npairing,upsell_take_rate,400,100\n",
        encoding="utf-8",
    )
    code = main(
        [
            "analyze",
            str(spec),
            "--summary",
            str(summary),
            "--format",
            "json",
            "--output",
            str(out_file),
        ]
    )
    report = json.loads(out_file.read_text(encoding="utf-8"))
    notes = json.dumps(report)
    assert "Analysis plan amended after launch: end on 2026-03-20 (traffic ran at half" in notes
    assert code in (0, 1)


def test_a_short_reason_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _repo(tmp_path)
    spec = folder / "cake_wording.yaml"
    spec.write_text(
        spec.read_text(encoding="utf-8") + "amendments:\n  - {field: end, reason: late}\n",
        encoding="utf-8",
    )
    code = main(["validate", str(spec)])
    out = capsys.readouterr().out
    assert code == 1 and "amendments[0].reason" in out, out


def test_a_catalogue_edit_of_a_metric_that_judges_a_started_experiment_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Widening the primary metric's window in metrics.yaml changes what cake_wording
    measures after launch: refused at the metric's line in the catalogue."""
    folder = _repo(tmp_path)
    catalogue = folder / "metrics.yaml"
    text = catalogue.read_text(encoding="utf-8")
    start = text.index("  upsell_take_rate:")
    window = text.index("window: {end: 7d}", start)
    catalogue.write_text(text[:window] + "window: {end: 14d}" + text[window + 17 :], "utf-8")
    code, out = _validate(folder, capsys)
    line = text[:start].count("\n") + 1
    assert code == 1, out
    assert f"metrics.yaml:{line}:" in out and ": metrics.upsell_take_rate: " in out, out
    assert "(window; compared with HEAD)" in out.replace("changed (", "(")
    assert "cake_wording (primary metric, cake_wording.yaml)" in out
    # recorded in the experiment: accepted
    spec = folder / "cake_wording.yaml"
    spec.write_text(
        spec.read_text(encoding="utf-8")
        + "amendments:\n  - {field: catalogue.upsell_take_rate, reason: late cake orders "
        "arrive up to two weeks later}\n",
        encoding="utf-8",
    )
    code, out = _validate(folder, capsys)
    assert code == 0 and out.startswith("notice: ") and "recorded by cake_wording" in out, out


def test_display_fields_and_exploratory_metrics_stay_free(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _repo(tmp_path)
    catalogue = folder / "metrics.yaml"
    text = catalogue.read_text(encoding="utf-8")
    text = text.replace(
        "Share of exposed customers who bought the offered item within 7 days.",
        "Share of customers offered the item who bought it within 7 days.",
    )
    # revenue_per_customer is only a secondary metric of cake_wording: exploratory
    start = text.index("  revenue_per_customer:")
    window = text.index("window:", start)
    end = text.index("\n", window)
    text = text[:window] + "window: {end: 45d}" + text[end:]
    catalogue.write_text(text, encoding="utf-8")
    assert _validate(folder, capsys) == (0, "")
