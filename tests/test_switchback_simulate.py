"""The simulator and ``demo`` on a switchback spec (issue 14): customers are assigned by
the slot they arrive in, outcomes are correlated within a slot, and the example spec
runs end to end through ``demo``.

Oracles: the GrowthBook hash of the slot key (as ``assign --at`` and any GrowthBook SDK
compute it), and a chi-square test of homogeneity of the take rate over slots within an
arm (scipy): it rejects when the world has a slot shock and not without one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from upsell_ab.assignment.hashing import hash_v2_bucket
from upsell_ab.cli.main import main
from upsell_ab.simulate.generate import simulate_detailed
from upsell_ab.simulate.world import World
from upsell_ab.spec.load import load_experiment

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "experiments" / "cafe_addon_switchback.yaml"


def simulated(world: World, units: int = 12000) -> tuple[pd.DataFrame, pd.DataFrame]:
    resolved = load_experiment(SPEC)
    exposures, events, _ = simulate_detailed([resolved], units=units, days=10, world=world)
    return exposures, events


def first_exposures(exposures: pd.DataFrame) -> pd.DataFrame:
    first = exposures.sort_values("timestamp").groupby("unit_id", as_index=False).first()
    clock = load_experiment(SPEC).experiment.randomization.clock()
    first["slot"] = [clock.key(t.to_pydatetime().replace(tzinfo=UTC)) for t in first["timestamp"]]
    return first


def test_every_slot_has_one_arm_the_hash_of_its_key() -> None:
    exposures, _ = simulated(World())
    first = first_exposures(exposures)
    arms = first.groupby("slot")["variant"].nunique()
    assert (arms == 1).all() and len(arms) > 200
    experiment = load_experiment(SPEC).experiment
    ids = [v.id for v in experiment.variants]
    bounds = np.cumsum([v.weight for v in experiment.variants])
    for key, variant in first.groupby("slot")["variant"].first().items():
        # GrowthBook hash v2 of the slot key with the experiment's seed, equal weights
        bucket = hash_v2_bucket(experiment.seed, str(key))
        assert variant == ids[int(np.searchsorted(bounds, bucket / 10000, side="right"))]


def take_by_slot(world: World) -> pd.DataFrame:
    exposures, events = simulated(world)
    first = first_exposures(exposures)
    takers = set(events.loc[events["event_type"] == "upsell_purchase", "unit_id"])
    first["took"] = first["unit_id"].isin(takers)
    return first[first["variant"] == "generic"]


@pytest.mark.parametrize(("sd", "correlated"), [(0.06, True), (0.0, False)])
def test_outcomes_are_correlated_within_a_slot_only_with_a_slot_shock(
    sd: float, correlated: bool
) -> None:
    from scipy import stats

    generic = take_by_slot(World(slot_take_sd=sd))
    table = pd.crosstab(generic["slot"], generic["took"]).to_numpy()
    table = table[table.sum(axis=1) >= 20]  # slots with enough customers for chi-square
    p = stats.chi2_contingency(table)[1]
    assert (p < 1e-4) if correlated else (p > 0.01), p


def test_demo_runs_the_switchback_example_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    for name in ("metrics.yaml", SPEC.name):
        (specs / name).write_text((SPEC.parent / name).read_text("utf-8"), encoding="utf-8")
    out_dir = tmp_path / "out"
    code = main(["demo", "--specs", str(specs), "--output-dir", str(out_dir), "--units", "6000"])
    assert code == 0
    out = capsys.readouterr().out
    decision = out[out.index("Decisions:") :].splitlines()[1]
    assert decision.split(":")[0].strip() == "cafe_addon_switchback"
    assert decision.split(":")[1].split()[0] in {"ship", "keep_running", "keep_control"}
    assert "switchback design" in out and "SRM ok over slots" in out
    markdown = (out_dir / "report.md").read_text(encoding="utf-8")
    assert "switchback design" in markdown and "customers dropped" in markdown
    html = (out_dir / "report.html").read_text(encoding="utf-8")
    assert "switchback design" in html and "<th>Slots</th>" in html


def test_assign_at_agrees_with_the_simulated_arms(
    capsys: pytest.CaptureFixture[str],
) -> None:
    exposures, _ = simulated(World(), units=2000)
    first = first_exposures(exposures).iloc[:5]
    for _, row in first.iterrows():
        moment: datetime = row["timestamp"].to_pydatetime().replace(tzinfo=UTC)
        assert main(["assign", str(SPEC), "--at", moment.isoformat()]) == 0
        assert row["variant"] in capsys.readouterr().out


def test_python_api_analyses_dataframes_of_a_switchback_by_slot() -> None:
    """``upsell_ab.api``: exposures and events as DataFrames (read in place by DuckDB)
    go through the same slot analysis as the store; a visit has no order history."""
    import upsell_ab.api as api

    exposures, events = simulated(World(), units=6000)
    first = first_exposures(exposures)
    before = events.merge(first[["unit_id", "timestamp"]], on="unit_id", suffixes=("", "_x"))
    assert (before["timestamp"] >= before["timestamp_x"]).all()  # no pre-exposure history
    result = api.load(SPEC).analyze(exposures=exposures, events=events)
    comparison = result.comparisons("upsell_take_rate")[0]
    assert comparison.method is not None and comparison.method.startswith("switchback")
    clock = load_experiment(SPEC).experiment.randomization.clock()
    kept = [not clock.in_burn_in(t.to_pydatetime().replace(tzinfo=UTC)) for t in first["timestamp"]]
    assert (
        result.to_dict()["experiments"][0]["quality"]["total_units"]
        == first.loc[kept, "slot"].nunique()
    )
    assert "switchback design" in result.to_markdown()


def test_python_api_assigns_slots_and_refuses_unit_ids() -> None:
    """``Experiment.assign_at`` is ``assign --at`` (the GrowthBook hash of the slot key);
    ``assign``/``assign_many`` of a unit id on a switchback spec are refused, never a
    per-receipt arm; ``assign_at`` on a customer spec is refused too."""
    import upsell_ab.api as api
    from upsell_ab.errors import InputError

    experiment = api.load(SPEC)
    spec = experiment.spec
    ids = [v.id for v in spec.variants]
    bounds = np.cumsum([v.weight for v in spec.variants])
    for hour in range(48):
        local = datetime(2026, 6, 1, 0, 30) + pd.Timedelta(hours=hour).to_pytimedelta()
        key = spec.randomization.clock().key(local)
        bucket = hash_v2_bucket(spec.seed, key)
        expected = ids[int(np.searchsorted(bounds, bucket / 10000, side="right"))]
        assert experiment.assign_at(local).variant == expected
    with pytest.raises(InputError, match="assign_at"):
        experiment.assign("r-1")
    with pytest.raises(InputError, match="assign_at"):
        experiment.assign_many(["r-1", "r-2"])
    cake = api.load(REPO / "experiments" / "cake_wording.yaml")
    with pytest.raises(InputError, match="switchback specs"):
        cake.assign_at(datetime(2026, 6, 1, 10))
