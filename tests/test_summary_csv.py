"""Summary CSV input: parsing into sufficient statistics and located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from upsell_ab.errors import InputError
from upsell_ab.metrics.sufficient import CupedStats, RatioStats, SampleStats
from upsell_ab.metrics.summary_csv import read_summary
from upsell_ab.spec.models import (
    Aggregate,
    Experiment,
    Guardrail,
    MetricDefinition,
    MetricRoles,
    Variant,
)
from upsell_ab.spec.resolve import ResolvedExperiment


def resolved() -> ResolvedExperiment:
    experiment = Experiment(
        id="cake",
        name="Cake wording",
        variants=[
            Variant(id="control", weight=0.34, control=True),
            Variant(id="specific", weight=0.33),
            Variant(id="social", weight=0.33),
        ],
        metrics=MetricRoles(
            primary="take_rate",
            secondary=["revenue"],
            guardrails=[Guardrail(metric="aov", margin=0.05)],
        ),
    )
    metrics = {
        "take_rate": MetricDefinition(type="proportion", event="upsell_purchase"),
        "revenue": MetricDefinition(type="mean", event="order"),
        "aov": MetricDefinition(
            type="ratio",
            numerator=Aggregate(event="order"),
            denominator=Aggregate(event="order", value="count"),
        ),
    }
    roles = {"take_rate": "primary", "revenue": "secondary", "aov": "guardrail"}
    return ResolvedExperiment(experiment=experiment, metrics=metrics, roles=roles)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "summary.csv"
    path.write_text(text, encoding="utf-8")
    return path


HEADER = (
    "variant,metric,n,sum,sum_squares,denominator_sum,denominator_sum_squares,cross_sum,"
    "covariate_sum,covariate_sum_squares,covariate_cross_sum\n"
)
GOOD = (
    HEADER
    + """control,take_rate,100,20,,,,,,,
specific,take_rate,98,35,,,,,,,
social,take_rate,101,27,,,,,,,
control,revenue,100,150000,400000000,,,,140000,380000000,300000000
specific,revenue,98,160000,420000000,,,,139000,370000000,310000000
social,revenue,101,155000,410000000,,,,141000,385000000,305000000
control,aov,100,150000,400000000,120,160,190000,,,
specific,aov,98,160000,420000000,118,150,200000,,,
social,aov,101,155000,410000000,125,170,198000,,,
"""
)


def test_reads_every_kind(tmp_path: Path) -> None:
    data = read_summary(write(tmp_path, GOOD), resolved())
    take = data.metrics["take_rate"].by_variant
    assert take["specific"] == SampleStats(98, 35.0, 35.0)
    assert isinstance(data.metrics["revenue"].by_variant["control"], CupedStats)
    assert data.metrics["revenue"].by_variant["control"].cross_sum == 300000000
    aov = data.metrics["aov"].by_variant["social"]
    assert isinstance(aov, RatioStats) and aov.denominator_sum == 125 and aov.cross_sum == 198000
    assert data.quality.exposures_by_variant == {"control": 100, "specific": 98, "social": 101}
    assert data.quality.configured_weights["control"] == 0.34
    assert data.experiment_id == "cake"


def test_minimal_columns_and_missing_metric(tmp_path: Path) -> None:
    text = (
        "variant,metric,n,sum\n"
        "control,take_rate,100,20\nspecific,take_rate,100,30\nsocial,take_rate,90,25\n"
    )
    data = read_summary(write(tmp_path, text), resolved())
    assert set(data.metrics) == {"take_rate"}


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        read_summary(write(tmp_path, text), resolved())
    return [str(p) for p in caught.value.problems]


def test_unknown_names_are_located_with_suggestions(tmp_path: Path) -> None:
    text = "variant,metric,n,sum,sum_sqaures\ncontrol,take_rate,100,20,20\n"
    found = problems_of(tmp_path, text)
    assert (
        len(found) == 1
        and "row 1, sum_sqaures" in found[0]
        and "did you mean 'sum_squares'" in found[0]
    )
    text = (
        "variant,metric,n,sum\n"
        "control,take_rate,100,20\n"
        "specfic,take_rate,100,30\n"
        "social,take_rat,90,25\n"
        "social,take_rate,90,125\n"
    )
    found = problems_of(tmp_path, text)
    assert any("row 3, variant" in p and "did you mean 'specific'" in p for p in found)
    assert any("row 4, metric" in p and "did you mean 'take_rate'" in p for p in found)
    assert any("row 5, sum" in p and "within [0, n = 90]" in p for p in found)
    assert any("no row for variant(s) specific" in p for p in found)


def test_bad_numbers_and_impossible_sums(tmp_path: Path) -> None:
    text = (
        "variant,metric,n,sum,sum_squares\n"
        "control,revenue,ten,100,5000\n"
        "specific,revenue,10,100,500\n"
        "social,revenue,10,100,\n"
        "control,take_rate,10.5,1,\n"
    )
    found = problems_of(tmp_path, text)
    assert any("row 2, n" in p and "'ten' is not a number" in p for p in found)
    assert any("row 3, sum_squares" in p and "impossible" in p for p in found)
    assert any("row 4, sum_squares" in p and "required" in p for p in found)
    assert any("row 5, n" in p and "whole number" in p for p in found)


def test_ratio_needs_denominator_and_duplicates(tmp_path: Path) -> None:
    text = (
        "variant,metric,n,sum,sum_squares,denominator_sum\n"
        "control,aov,10,100,5000,\n"
        "control,aov,10,100,5000,12\n"
        "control,revenue,10,100,5000,12\n"
    )
    found = problems_of(tmp_path, text)
    assert any("row 2, denominator_sum" in p and "required" in p for p in found)
    # a second row for the same variant and metric is added (daily tallies), not refused
    assert not any("second row" in p for p in found)
    assert any("row 4, denominator_sum" in p and "ratio metrics" in p for p in found)


def test_missing_header_and_empty_file(tmp_path: Path) -> None:
    found = problems_of(tmp_path, "variant,n\n")
    assert any("missing column 'sum'" in p for p in found)
    assert not any("'metric'" in p for p in found)  # optional: rows are the primary metric
    assert any("no data rows" in p for p in problems_of(tmp_path, "variant,metric,n,sum\n"))
    with pytest.raises(InputError, match="cannot read"):
        read_summary(tmp_path / "absent.csv", resolved())
