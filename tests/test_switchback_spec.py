"""The ``randomization`` spec field (switchback designs, issue 14): defaults, located
errors with did-you-mean, and ``upsell-ab assign --at`` hashing the slot key."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from cli_support import run_cli

from upsell_ab.assignment.hashing import hash_v2_bucket
from upsell_ab.errors import Problem, SpecError
from upsell_ab.spec.load import load_experiment
from upsell_ab.spec.models import Experiment

CATALOGUE = Path(__file__).resolve().parents[1] / "experiments" / "metrics.yaml"

BASE = """id: cafe_hours
name: Cafe wording by the hour
status: running
variants:
  - {id: generic, control: true}
  - {id: pairing}
metrics:
  primary: upsell_take_rate
"""

SWITCHBACK = (
    BASE
    + """randomization:
  unit: time_slot
  slot: hour
  timezone: Asia/Tokyo
  burn_in_minutes: 10
"""
)


def problems_of(tmp_path: Path, text: str) -> list[Problem]:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_experiment(path, CATALOGUE)
    except SpecError as error:
        return error.problems
    return []


def test_default_hashes_the_population_unit(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(BASE, encoding="utf-8")
    experiment = load_experiment(path, CATALOGUE).experiment
    assert not experiment.randomization.is_switchback


def test_switchback_spec_loads_with_its_clock(tmp_path: Path) -> None:
    assert problems_of(tmp_path, SWITCHBACK) == []
    path = tmp_path / "spec.yaml"
    clock = load_experiment(path, CATALOGUE).experiment.randomization.clock()
    assert (clock.slot, clock.timezone, clock.burn_in_minutes) == ("hour", "Asia/Tokyo", 10)


def test_bad_values_are_located_with_did_you_mean(tmp_path: Path) -> None:
    text = SWITCHBACK.replace("slot: hour", "slot: hours").replace("Asia/Tokyo", "Asia/Tokio")
    found = {(p.location.line, p.location.field): p for p in problems_of(tmp_path, text)}
    assert (11, "randomization.slot") in found
    assert "did you mean 'hour'" in str(found[(11, "randomization.slot")])
    assert "did you mean 'Asia/Tokyo'" in str(found[(12, "randomization.timezone")])
    long_burn_in = SWITCHBACK.replace("burn_in_minutes: 10", "burn_in_minutes: 60")
    problems = problems_of(tmp_path, long_burn_in)
    assert [(p.location.line, p.location.field) for p in problems] == [
        (13, "randomization.burn_in_minutes")
    ]
    assert "fewer than 60 minutes" in str(problems[0])


def test_a_bandit_cannot_allocate_slots_yet(tmp_path: Path) -> None:
    text = SWITCHBACK.replace("status: running", "status: running\nstart: 2026-03-02") + (
        "allocation: {kind: bandit}\n"
    )
    problems = problems_of(tmp_path, text)
    assert [p.location.field for p in problems] == ["randomization.unit"]


def test_assign_at_hashes_the_local_slot_key(tmp_path: Path) -> None:
    (tmp_path / "metrics.yaml").write_text(CATALOGUE.read_text(encoding="utf-8"))
    spec = tmp_path / "cafe_hours.yaml"
    spec.write_text(SWITCHBACK, encoding="utf-8")
    expected = "generic" if hash_v2_bucket("cafe_hours", "2026-12-04T10") < 5000 else "pairing"
    local = run_cli("assign", str(spec), "--at", "2026-12-04T10:59")
    assert (local.returncode, local.stdout.strip()) == (0, expected)
    utc = run_cli("assign", str(spec), "--at", "2026-12-04T01:05+00:00", "--format", "json")
    assert json.loads(utc.stdout)["variant"] == expected
    by_unit = run_cli("assign", str(spec), "--unit", "c1")
    assert by_unit.returncode == 1 and "give --at TIME" in by_unit.stderr
    assert by_unit.stderr.count("\n") == 1
    bad = run_cli("assign", str(spec), "--at", "noon")
    assert bad.returncode == 1 and "not an ISO 8601 time" in bad.stderr


def test_assign_at_on_a_customer_spec_is_refused(tmp_path: Path) -> None:
    (tmp_path / "metrics.yaml").write_text(CATALOGUE.read_text(encoding="utf-8"))
    spec = tmp_path / "cafe.yaml"
    spec.write_text(BASE, encoding="utf-8")
    result = run_cli("assign", str(spec), "--at", "2026-12-04T10:00")
    assert result.returncode == 1 and "give --unit ID" in result.stderr


def test_typed_construction_applies_the_same_rules() -> None:
    experiment = Experiment.model_validate(
        {
            "id": "x",
            "name": "x",
            "variants": [{"id": "a", "control": True}, {"id": "b"}],
            "metrics": {"primary": "m"},
            "randomization": {"unit": "time_slot", "slot": "day", "timezone": "Europe/Berlin"},
        }
    )
    berlin = experiment.randomization.clock()
    assert berlin.key(datetime(2026, 12, 4, 23, 30, tzinfo=UTC)) == "2026-12-05"  # 00:30 local


def test_analyze_refuses_exposures_not_assigned_by_slot(tmp_path: Path) -> None:
    """Exposures hashed per customer (the spec said time_slot, the app did not) show two
    arms within an hour: refused with the slot named and no report, never a verdict."""
    (tmp_path / "metrics.yaml").write_text(CATALOGUE.read_text(encoding="utf-8"))
    cake = (CATALOGUE.parent / "cake_wording.yaml").read_text(encoding="utf-8")
    cake = cake.replace("id: cake_wording", "id: cafe_hours", 1)
    per_customer = tmp_path / "per_customer.yaml"
    per_customer.write_text(cake, encoding="utf-8")
    spec = tmp_path / "cafe_hours.yaml"
    spec.write_text(
        cake + "randomization: {unit: time_slot, slot: hour, timezone: Asia/Tokyo}\n",
        encoding="utf-8",
    )
    store = str(tmp_path / "s.duckdb")
    made = run_cli(
        "simulate", str(per_customer), "--store", store, "--units", "2000", "--days", "7"
    )
    assert made.returncode == 0, made.stderr
    result = run_cli("analyze", str(spec), "--store", store, "--format", "json")
    assert result.returncode == 1 and result.stdout == ""
    assert "has customers in more than one arm" in result.stderr
    assert "not assigned by hour slot in Asia/Tokyo" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_counts_slots_for_a_switchback(tmp_path: Path) -> None:
    from scipy import stats

    (tmp_path / "metrics.yaml").write_text(CATALOGUE.read_text(encoding="utf-8"))
    spec = tmp_path / "cafe_hours.yaml"
    spec.write_text(SWITCHBACK, encoding="utf-8")
    common = ("plan", str(spec), "--baseline", "0.3", "--mde", "0.08", "--mde-kind", "absolute")
    missing = run_cli(*common)
    assert missing.returncode == 1 and "--slot-sd" in missing.stderr
    result = run_cli(*common, "--slot-sd", "0.08", "--units-per-slot", "26", "--format", "json")
    payload = json.loads(result.stdout)
    # Donner & Klar: (z_.975 + z_.8)^2 * 2 * (tau^2 + p(1-p)/m) / mde^2 slots per arm
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    per_arm = int(np.ceil(z**2 * 2 * (0.08**2 + 0.21 / 26) / 0.08**2))
    assert (payload["design"], payload["slots_per_arm"], payload["slots"]) == (
        "switchback",
        per_arm,
        2 * per_arm,
    )


def test_assign_file_by_time_equals_assign_at_each_row(tmp_path: Path) -> None:
    import pandas as pd

    (tmp_path / "metrics.yaml").write_text(CATALOGUE.read_text(encoding="utf-8"))
    spec = tmp_path / "cafe_hours.yaml"
    spec.write_text(SWITCHBACK, encoding="utf-8")
    times = ["2026-12-04T10:59", "2026-12-04T01:05+00:00", "2026-12-05T18:30", "2026-12-06T07:00"]
    pd.DataFrame({"receipt": ["r1", "r2", "r3", "r4"], "at": times}).to_csv(
        tmp_path / "in.csv", index=False
    )
    out = tmp_path / "out.csv"
    made = run_cli(
        "assign", str(spec), "--input", str(tmp_path / "in.csv"), "--output", str(out),
        "--time-column", "at",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    bulk = pd.read_csv(out)["variant"].tolist()
    single = [run_cli("assign", str(spec), "--at", t).stdout.strip() for t in times]
    assert bulk == single
    assert bulk[0] == bulk[1]  # 10:59 Tokyo and 01:05 UTC are the same hour slot
    pd.DataFrame({"at": ["2026-12-04T10:00", "lunch"]}).to_csv(tmp_path / "bad.csv", index=False)
    bad_out = tmp_path / "bad_out.csv"
    bad = run_cli(
        "assign", str(spec), "--input", str(tmp_path / "bad.csv"), "--output", str(bad_out),
        "--time-column", "at",
    )  # fmt: skip
    assert bad.returncode == 1 and ":3" in bad.stderr and "lunch" in bad.stderr
    assert not bad_out.exists()
