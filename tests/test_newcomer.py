"""A newcomer's first hour, as a script: init, validate, plan, simulate, analyze in a fresh
folder, each a real `upsell-ab` process with the documented exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_first_experiment_in_a_fresh_folder(tmp_path: Path) -> None:
    init = _cli(
        tmp_path, "init", "experiments", "--no-input", "--id", "cake", "--name", "Cake add-on",
        "--tactic", "cross_sell", "--lever", "wording",
        "--variant", "generic=ケーキもいかがですか?",
        "--variant", "pairing=このコーヒーに合わせたチーズケーキがございます",
        "--daily-units", "400", "--start", "2026-03-02", "--days", "28", "--mde", "0.3",
        "--baseline", "0.2",
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    assert "wrote experiments/metrics.yaml" in init.stdout
    assert "Plan for cake" in init.stdout and "fits the window" in init.stdout

    validate = _cli(tmp_path, "validate", "experiments")
    assert validate.returncode == 0, validate.stdout
    assert validate.stderr.strip() == "1 spec valid"

    plan = _cli(tmp_path, "plan", "experiments/cake.yaml", "--baseline", "20%")
    assert plan.returncode == 1
    assert "write 0.2 for 20 %" in plan.stderr
    plan = _cli(tmp_path, "plan", "experiments/cake.yaml", "--baseline", "0.2", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["driver"] == "upsell_take_rate"

    simulate = _cli(
        tmp_path, "simulate", "experiments/cake.yaml", "--store", "shop.duckdb",
        "--units", "4000", "--days", "14", "--seed", "3", "--start", "2026-03-02",
    )  # fmt: skip
    assert simulate.returncode == 0, simulate.stderr

    analyze = _cli(
        tmp_path, "analyze", "experiments/cake.yaml", "--store", "shop.duckdb", "--format", "json"
    )
    assert analyze.returncode == 0, analyze.stderr
    payload = json.loads(analyze.stdout)
    report = payload["experiments"][0] if "experiments" in payload else payload
    assert report["decision"]["action"] in ("ship", "keep_control", "keep_running")
    names = [m["name"] for m in report["metrics"]]
    assert names[0] == "upsell_take_rate"

    typo = _cli(tmp_path, "analyze", "experiments/cake.yaml", "--stroe", "shop.duckdb")
    assert typo.returncode == 1
    assert "usage: upsell-ab analyze" in typo.stderr
