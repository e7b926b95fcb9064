"""``validate --explain`` compiles every example's metric query and plans it on DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from upsell_ab.cli.main import main

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def test_examples_compile_and_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--explain", "--format", "json", str(EXPERIMENTS)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["valid"] is True
    assert payload["problems"] == []
    assert len(payload["specs"]) >= 5


def test_explain_reports_a_query_that_cannot_be_built(tmp_path: Path) -> None:
    """A segment that is not one of the spec's exposure attribute columns passes the
    schema but cannot become SQL: --explain catches it before any data exists."""
    from upsell_ab.cli.explain import explain_problems

    spec = (EXPERIMENTS / "cake_wording.yaml").read_text(encoding="utf-8")
    assert "segments: [channel]" in spec
    spec = spec.replace("segments: [channel]", "segments: [channel, region]")
    (tmp_path / "metrics.yaml").write_text(
        (EXPERIMENTS / "metrics.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    target = tmp_path / "cake_wording.yaml"
    target.write_text(spec, encoding="utf-8")
    problems = explain_problems([target])
    assert len(problems) == 1
    assert problems[0].code == "sql_invalid"
    assert problems[0].location.file == str(target)
    assert "region" in problems[0].message
