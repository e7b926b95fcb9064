"""Stores for the CI gate tests (no tests here): the bundled demo experiments on
simulated data, and a store where one experiment fails SRM *and* breaches a
guardrail, one breaches a guardrail, one ships, one is new (no data yet) and
one spec is broken. Built once per test session under pytest's base temp dir
by the real ``simulate`` command (DuckDB); stated truths: ``exposure_keep``
0.9 drops 10 % of one arm's exposures (SRM), ``refund`` x3 triples refunds
(guardrail breach)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.test_e2e_support import REPO, spec, write_spec
from upsell_ab.cli.main import main

BROKEN_SPEC = "id: broken\nname: Broken\nstatus: running\nvariants: []\nmetrics: {primary: nope}\n"


@dataclass(frozen=True)
class Workspace:
    specs: Path
    store: Path


def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The repository's experiments/ on simulated data (what the bundled workflow does)."""
    root = tmp_path_factory.getbasetemp() / "ci_demo"
    store = root / "demo.duckdb"
    if not (root / "done").exists():
        root.mkdir(parents=True, exist_ok=True)
        code = main(
            ["simulate", str(REPO / "experiments"), "--store", str(store), "--units", "8000",
             "--days", "14", "--seed", "1"]
        )  # fmt: skip
        assert code == 0
        (root / "done").write_text("ok", encoding="utf-8")
    return Workspace(REPO / "experiments", store)


def failing_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """real_effect ships; harm breaches refund_rate; srm_harm fails SRM and breaches
    refund_rate; brand_new has no data; broken.yaml is an invalid spec."""
    root = tmp_path_factory.getbasetemp() / "ci_failing"
    specs = root / "specs"
    store = root / "store.duckdb"
    if not (root / "done").exists():
        for experiment_id in ("real_effect", "harm", "srm_harm"):
            write_spec(specs, spec(experiment_id))
        effects = root / "effects.yaml"
        effects.write_text(
            yaml.safe_dump(
                {
                    "harm": {"treatment": {"refund": 3.0}},
                    "srm_harm": {"treatment": {"exposure_keep": 0.9, "refund": 3.0}},
                }
            ),
            encoding="utf-8",
        )
        code = main(
            ["simulate", str(specs), "--store", str(store), "--units", "20000", "--seed", "1",
             "--effects", str(effects)]
        )  # fmt: skip
        assert code == 0
        # added after the simulation: running, but the store has nothing for them
        write_spec(specs, spec("brand_new"))
        (specs / "broken.yaml").write_text(BROKEN_SPEC, encoding="utf-8")
        (root / "done").write_text("ok", encoding="utf-8")
    return Workspace(specs, store)
