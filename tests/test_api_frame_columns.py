"""``Experiment.analyze(exposures=..., events=...)`` with the columns people's data has.

Oracle for the optional columns: the same frames with the defaults written out
(a unique ``event_id`` per row, ``discount`` 0, ``quantity`` 1) must give the
identical result; a missing required column is an ``InputError`` before any query.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import upsell_ab

REPO = Path(__file__).resolve().parents[1]
LAPTOP = upsell_ab.load(REPO / "experiments" / "laptop_bundle.yaml")


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    n = 600
    exposures = pd.DataFrame(
        {
            "experiment": "laptop_bundle",
            "variant": rng.choice(["laptop_only", "bundle"], n),
            "unit_id": [f"u{i}" for i in range(n)],
            "timestamp": pd.Timestamp("2026-05-12 10:00"),
        }
    )
    buyers = rng.choice(n, 250, replace=False)
    events = pd.DataFrame(
        {
            "unit_id": [f"u{i}" for i in buyers],
            "timestamp": pd.Timestamp("2026-05-13 10:00")
            + pd.to_timedelta(rng.integers(0, 5000, 250), unit="min"),
            "event_type": rng.choice(["order", "order", "refund"], 250),
            "value": rng.uniform(500, 3000, 250).round(2),
        }
    )
    return exposures, events


def test_events_without_optional_columns_equal_the_defaults_written_out() -> None:
    exposures, events = _frames()
    bare = LAPTOP.analyze(exposures=exposures, events=events)
    explicit = events.assign(
        event_id=[f"e{i}" for i in range(len(events))], discount=0.0, quantity=1.0
    )
    written = LAPTOP.analyze(exposures=exposures, events=explicit)
    assert bare.to_dict() == written.to_dict()
    assert bare.metric("revenue_per_customer").variants  # a real analysis ran


@pytest.mark.parametrize("as_file", [False, True])
def test_a_missing_required_column_names_the_candidate(tmp_path: Path, as_file: bool) -> None:
    exposures, events = _frames()
    renamed: object = events.rename(columns={"value": "revenue"})
    if as_file:
        path = tmp_path / "orders.parquet"
        events.rename(columns={"value": "revenue"}).to_parquet(path)
        renamed = str(path)
    with pytest.raises(upsell_ab.InputError) as caught:
        LAPTOP.analyze(exposures=exposures, events=renamed)
    (problem,) = caught.value.problems
    assert problem.location.field == "value" and "did you mean 'revenue'?" in str(problem)
    expected = "data.event_columns.value: revenue" if as_file else "df.rename"
    assert expected in str(problem)


def test_segments_need_their_columns() -> None:
    exposures, events = _frames()
    with pytest.raises(upsell_ab.InputError, match="no column 'channel' for the segment"):
        LAPTOP.analyze(exposures=exposures, events=events, segments=True)
    with_channel = exposures.assign(channel="web", segment="consumer")
    result = LAPTOP.analyze(exposures=with_channel, events=events, segments=True)
    assert result.to_dict()["experiments"][0]["segments"]


def test_a_unit_column_named_after_the_population_unit_is_offered() -> None:
    """People name the id column after what the spec hashes (``population.unit``)."""
    exposures, events = _frames()
    unit = LAPTOP.spec.population.unit
    with pytest.raises(upsell_ab.InputError) as caught:
        LAPTOP.analyze(
            exposures=exposures.rename(columns={"unit_id": unit}),
            events=events.rename(columns={"unit_id": unit}),
        )
    problems = [p for p in caught.value.problems if p.location.field == "unit_id"]
    assert len(problems) == 2
    for problem in problems:
        assert f"did you mean '{unit}'?" in str(problem)
        assert f"df.rename(columns={{'{unit}': 'unit_id'}})" in str(problem)
