"""The everyday commands end to end: simulate, analyze, report, demo, and their exit codes.

Runs ``upsell_ab.cli.main.main`` in-process against a real DuckDB store built
by the ``simulate`` command with a stated effects file. Oracles: the stated
truths (a real effect ships, a refund-raising variant breaches its guardrail,
a dropped-exposure arm fails SRM) and statsmodels' z-test for the summary CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from statsmodels.stats.proportion import proportions_ztest

from tests.test_e2e_support import spec, write_spec
from upsell_ab.cli.main import main
from upsell_ab.spec.load import discover, load_experiment
from upsell_ab.spec.models import SourceKind, Status


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    specs = root / "specs"
    for experiment_id in ("real_effect", "harm", "srm"):
        write_spec(specs, spec(experiment_id))
    write_spec(specs, {**spec("drafted"), "status": "draft"})
    effects = root / "effects.yaml"
    effects.write_text(
        yaml.safe_dump(
            {"harm": {"treatment": {"refund": 3.0}}, "srm": {"treatment": {"exposure_keep": 0.9}}}
        ),
        encoding="utf-8",
    )
    store = root / "store.duckdb"
    code = main(
        ["simulate", str(specs), "--store", str(store), "--units", "20000", "--seed", "1",
         "--effects", str(effects)]
    )  # fmt: skip
    assert code == 0
    return {"root": root, "specs": specs, "store": store}


def _analyze_json(workspace: dict[str, Path], experiment: str, *extra: str) -> tuple[int, dict]:
    out = workspace["root"] / f"{experiment}-{len(extra)}.json"
    spec_path = workspace["specs"] / f"{experiment}.yaml"
    code = main(
        ["analyze", str(spec_path), "--store", str(workspace["store"]), "--format", "json",
         "--output", str(out), "--no-daily", *extra]
    )  # fmt: skip
    document = json.loads(out.read_text(encoding="utf-8"))
    (report,) = document["experiments"]
    return code, report


def test_simulate_is_idempotent(
    workspace: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import duckdb

    def counts() -> tuple[int, int]:
        with duckdb.connect(str(workspace["store"]), read_only=True) as con:
            exposures = con.execute("select count(*) from exposures").fetchone()
            events = con.execute("select count(*) from events").fetchone()
        assert exposures is not None and events is not None
        return int(exposures[0]), int(events[0])

    before = counts()
    assert before[0] > 0 and before[1] > 0
    code = main(
        ["simulate", str(workspace["specs"]), "--store", str(workspace["store"]), "--units",
         "20000", "--seed", "1", "--effects", str(workspace["root"] / "effects.yaml")]
    )  # fmt: skip
    assert code == 0
    assert counts() == before
    assert "real_effect:" in capsys.readouterr().out


def test_analyze_ships_a_real_effect(workspace: dict[str, Path]) -> None:
    code, report = _analyze_json(workspace, "real_effect")
    assert code == 0
    assert report["decision"]["action"] == "ship"
    assert report["decision"]["variant"] == "treatment"
    assert report["decision"]["reasons"]


def test_guardrail_breach_exits_3_only_when_asked(workspace: dict[str, Path]) -> None:
    code, report = _analyze_json(workspace, "harm")
    assert code == 0
    assert report["decision"]["action"] == "keep_control"
    assert report["decision"]["guardrails_breached"] == ["refund_rate"]
    code, _ = _analyze_json(workspace, "harm", "--fail-on", "guardrail")
    assert code == 3


def test_quality_failure_exits_2(workspace: dict[str, Path]) -> None:
    code, report = _analyze_json(workspace, "srm", "--fail-on", "quality")
    assert code == 2
    assert report["decision"]["action"] == "invalid"
    assert report["quality"]["srm_flagged"] is True
    # quality is reported before guardrails when both are asked for
    code, _ = _analyze_json(workspace, "srm", "--fail-on", "quality", "guardrail")
    assert code == 2


def test_report_covers_every_running_experiment(workspace: dict[str, Path]) -> None:
    out = workspace["root"] / "summary.md"
    code = main(
        ["report", str(workspace["specs"]), "--store", str(workspace["store"]), "--output",
         str(out), "--fail-on", "guardrail"]
    )  # fmt: skip
    assert code == 3
    text = out.read_text(encoding="utf-8")
    for experiment in ("real_effect", "harm", "srm"):
        assert experiment in text
    assert "drafted" not in text, "only running experiments are reported"
    assert "<details>" in text
    assert len(text.encode("utf-8")) < 1024 * 1024


@pytest.mark.parametrize(("mde", "action"), [(0.35, "ship"), (0.1, "keep_running")])
def test_analyze_from_a_summary_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mde: float, action: str
) -> None:
    """15 % vs 20 % of 1,000 each: significant (p ~ 0.003, statsmodels). It ships when
    1,000 per arm is the planned sample for the MDE (35 % relative), and keeps running
    when the plan asks for more (10 %: a fixed-horizon test read early, p > 0.001)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    content = spec("counts", guardrails=[], analysis={"mde": mde})
    path = write_spec(tmp_path, content)
    csv = tmp_path / "counts.csv"
    csv.write_text(
        "variant,metric,n,sum,sum_squares\n"
        "control,upsell_take_rate,1000,150,150\n"
        "treatment,upsell_take_rate,1000,200,200\n",
        encoding="utf-8",
    )
    code = main(["analyze", str(path), "--summary", str(csv), "--format", "json"])
    assert code == 0
    (report,) = json.loads(capsys.readouterr().out)["experiments"]
    p = proportions_ztest([200, 150], [1000, 1000])[1]
    assert 0.001 < p < 0.05  # significant, but not overwhelming
    effect = proportion_effectsize(0.15 * (1 + mde), 0.15)
    planned = NormalIndPower().solve_power(effect, alpha=0.05, power=0.8)
    assert (planned <= 1000) == (action == "ship")
    assert report["decision"]["action"] == action
    if action == "keep_running":
        assert report["decision"]["additional_units_needed"] > 0
        assert "planned sample for the MDE is not reached" in report["decision"]["reasons"][0]


def test_invalid_spec_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nname: y\nvariants: []\n", encoding="utf-8")
    (tmp_path / "metrics.yaml").write_text("metrics: {}\n", encoding="utf-8")
    assert main(["analyze", str(bad), "--store", str(tmp_path / "s.duckdb")]) == 1
    assert "bad.yaml" in capsys.readouterr().err


def test_demo_prints_a_decision_per_bundled_experiment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from upsell_ab.cli.demo_command import bundled_specs

    expected = [
        r.experiment.id
        for r in (load_experiment(p) for p in discover([bundled_specs()]))
        if r.experiment.status is Status.running and r.experiment.data.kind is SourceKind.embedded
    ]
    assert expected, "the repository bundles running example experiments"
    assert main(["demo", "--output-dir", str(tmp_path), "--units", "4000"]) == 0
    out = capsys.readouterr().out
    decisions = out[out.index("Decisions:") :].splitlines()[1:]
    assert [line.split(":")[0].strip() for line in decisions] == expected
    actions = {"ship", "keep_control", "keep_running", "invalid"}
    assert all(line.split(":")[1].split()[0] in actions for line in decisions)
    # read on the morning after the simulated days (the bundled specs' end dates have
    # passed): not as finished experiments, and not as data that stopped early
    assert "final look" not in out and "The data end on" not in out
    assert sum(": keep_running" in line for line in decisions) >= 1
    bandits = [
        r.experiment.id
        for r in (load_experiment(p) for p in discover([bundled_specs()]))
        if r.experiment.id in expected and r.experiment.allocation.is_bandit
    ]
    assert bandits, "the demo runs the bandit example spec"
    before = out[: out.index("Decisions:")]
    statuses = ("would record (dry run)", "stopped", "burn_in", "waiting", "unchanged")
    for bandit in bandits:
        (line,) = [x for x in before.splitlines() if x.startswith(f"{bandit}: ")]
        assert any(s in line for s in statuses), line
    # the bandit runs at its shop's stated traffic (analysis.daily_units), so the weights
    # move during the demo instead of the stop rule settling it at the first update
    assert "Allocation by period (adaptive" in before
    assert "allocation was adaptive" in before
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<svg" in html and all(e in html for e in expected)
    assert (tmp_path / "report.md").stat().st_size > 0


def test_ci_workflow_uses_the_action_on_pull_requests_and_a_schedule() -> None:
    """The bundled workflow runs the repository's own action (action.yml), whose steps
    tests/test_ci_action.py executes: validate --explain, report, summary, comment, gate."""
    from tests.test_e2e_support import REPO

    workflow = yaml.safe_load((REPO / ".github/workflows/experiments.yml").read_text("utf-8"))
    triggers = workflow[True]  # YAML 1.1 reads the key 'on' as True
    assert "pull_request" in triggers and triggers["schedule"][0]["cron"]
    job = workflow["jobs"]["experiments"]
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    (step,) = [s for s in job["steps"] if s.get("uses") == "./"]
    assert step["with"]["explain"] == "true" and step["with"]["specs"] == "experiments/"
    assert "secrets.UPSELL_AB_DSN" in step["with"]["postgres-dsn"]
    action = yaml.safe_load((REPO / "action.yml").read_text("utf-8"))
    assert {"specs", "store", "postgres-dsn", "fail-on", "comment"} <= set(action["inputs"])
    commands = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    assert "python -m upsell_ab.ci.action" in commands


def test_progress_spinner_reports_steps_without_failing(capsys: pytest.CaptureFixture[str]) -> None:
    from upsell_ab.cli.run_output import progress

    with progress(enabled=True, total=2) as step:
        step("computing metrics in the store")
        step.advance()
    with progress(enabled=False) as quiet:
        quiet("nothing shown")
    assert "nothing shown" not in capsys.readouterr().err


def test_output_file_is_written_atomically_and_readable(tmp_path: Path) -> None:
    import os
    import stat

    from upsell_ab.cli.run_output import write_text

    target = tmp_path / "out" / "report.md"
    write_text("# report\n", str(target))
    assert target.read_text(encoding="utf-8") == "# report\n"
    mode = stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["report.md"]  # no temp file left
