"""``upsell-ab report`` as a CI gate: one bad spec does not blank the summary, a new
spec waits for data, guardrails are judged on invalid experiments, every failure
is named on stderr, and the exit codes follow the documented 0/1/2/3 contract.

Real DuckDB store from ``simulate`` with stated truths (tests/ci_support.py).
Oracles: scipy's chi-square goodness of fit on the store's own exposure counts
(SRM), statsmodels' two-proportion z-test on the refund counts (the breach)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from scipy.stats import chisquare
from statsmodels.stats.proportion import proportions_ztest

from tests.ci_support import Workspace, failing_workspace
from upsell_ab.cli.main import main
from upsell_ab.events.store import EventStore


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return failing_workspace(tmp_path_factory)


def _report(
    ws: Workspace, tmp: Path, fmt: str, *extra: str, specs: Path | None = None
) -> tuple[int, str]:
    out = tmp / f"report.{fmt}"
    code = main(
        ["report", str(specs or ws.specs), "--store", str(ws.store), "--format", fmt, "--no-daily",
         "--output", str(out), *extra]
    )  # fmt: skip
    return code, out.read_text(encoding="utf-8") if out.exists() else ""


def test_srm_is_real_and_its_refund_breach_is_significant(failing: Workspace) -> None:
    """The oracle for the rest of this file, from the raw store, not from our stats."""
    with duckdb.connect(str(failing.store), read_only=True) as con:
        rows = con.execute(
            "select variant, count(distinct unit_id) from exposures "
            "where experiment = 'srm_harm' group by variant order by variant"
        ).fetchall()
    counts = [int(n) for _, n in rows]
    assert chisquare(counts).pvalue < 1e-6  # 50/50 configured


def test_one_invalid_spec_gets_a_block_and_the_rest_still_report(
    failing: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = _report(failing, tmp_path, "markdown")
    assert code == 1  # the invalid spec: the gate did not see everything
    assert "### ❌ " in text and "broken.yaml: invalid spec" in text
    assert "broken.yaml:4:1: variants:" in text  # FILE:LINE:COL of the problem
    for experiment in ("real_effect", "harm", "srm_harm", "brand_new"):
        assert f"(`{experiment}`)" in text, f"{experiment} must still be reported"
    err = capsys.readouterr().err
    assert "error: " in err and "broken.yaml: invalid spec" in err
    code, document = _report(failing, tmp_path, "json")
    parsed = json.loads(document)
    assert [e["stage"] for e in parsed["errors"]] == ["spec"]
    assert len(parsed["experiments"]) == 4


def test_a_running_spec_without_data_is_waiting_not_invalid(
    failing: Workspace, tmp_path: Path
) -> None:
    spec = failing.specs / "brand_new.yaml"
    code, text = _report(failing, tmp_path, "markdown", "--fail-on", "quality", specs=spec)
    # the only experiment has no data at all: nothing was checked, so quality fails
    assert code == 2
    assert "Decision: Waiting for data" in text
    assert "Invalid" not in text
    assert "warning" not in text.split("<details>")[0]  # no data gates on no data
    assert "p = n/a" not in text
    code, document = _report(failing, tmp_path, "json", specs=spec)
    (report,) = json.loads(document)["experiments"]
    assert report["decision"]["action"] == "waiting_for_data"
    assert code == 0  # without --fail-on nothing fails


def _counts(store: Path, experiment: str) -> tuple[list[int], list[int]]:
    """Units and units with a refund per arm (treatment, control), straight from the store."""
    with duckdb.connect(str(store), read_only=True) as con:
        rows = con.execute(
            """
            with units as (
              select unit_id, min(variant) as variant from exposures
              where experiment = ? group by unit_id having count(distinct variant) = 1)
            select u.variant, count(*),
                   count(*) filter (where exists (
                     select 1 from events e where e.unit_id = u.unit_id
                     and e.event_type = 'refund'))
            from units u group by u.variant order by u.variant desc
            """,
            [experiment],
        ).fetchall()
    return [int(r[2]) for r in rows], [int(r[1]) for r in rows]


def test_invalid_experiment_still_judges_guardrails_and_fails_the_gate(
    failing: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refunds, units = _counts(failing.store, "srm_harm")
    assert refunds[0] / units[0] > refunds[1] / units[1]
    assert proportions_ztest(refunds, units)[1] < 0.001  # independent: the harm is real
    spec = failing.specs / "srm_harm.yaml"
    code, document = _report(failing, tmp_path, "json", "--fail-on", "guardrail", specs=spec)
    (report,) = json.loads(document)["experiments"]
    assert report["decision"]["action"] == "invalid"
    assert report["decision"]["guardrails_breached"] == ["refund_rate"]
    assert code == 3
    code, text = _report(failing, tmp_path, "markdown", specs=spec)
    head = text.split("<details>")[0]
    # the headline leads with the SRM reason, not with a lift
    assert "**Decision: Invalid**: Sample ratio mismatch" in head
    assert "lifts withheld" in head and "**+" not in head
    assert "breached: refund\\_rate" in head


def test_every_failure_is_named_in_the_log_whichever_code_wins(
    failing: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code, _ = _report(failing, tmp_path, "markdown", "--fail-on", "quality", "guardrail")
    assert code == 1  # invalid spec beats quality beats guardrail
    err = capsys.readouterr().err.splitlines()
    assert any("error: srm_harm: data quality: Sample ratio mismatch" in line for line in err)
    assert any("error: srm_harm: guardrail breached:" in line for line in err)
    assert any("error: harm: guardrail breached:" in line for line in err)
    assert any("broken.yaml" in line for line in err)
    assert any("note: brand_new: waiting for data" in line for line in err)
    assert not any("real_effect" in line for line in err)
    # without the broken spec: quality (2) wins, the guardrail breach is still logged
    folder = tmp_path / "specs"
    folder.mkdir()
    for name in ("metrics.yaml", "harm.yaml", "srm_harm.yaml"):
        (folder / name).write_text((failing.specs / name).read_text("utf-8"), "utf-8")
    code, _ = _report(failing, tmp_path, "markdown", "--fail-on", "quality", "guardrail",
                      specs=folder)  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "error: harm: guardrail breached" in err
    code, _ = _report(failing, tmp_path, "markdown", "--fail-on", "quality", specs=folder)
    assert code == 2
    assert "warning: harm: guardrail breached" in capsys.readouterr().err


def test_empty_folder_and_empty_store(
    failing: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, text = _report(failing, tmp_path, "markdown", "--fail-on", "quality", specs=empty)
    assert code == 1 and text == ""
    assert "no experiment spec" in capsys.readouterr().err
    # a folder of drafts is fine: nothing runs, nothing to gate
    drafts = tmp_path / "drafts"
    drafts.mkdir()
    (drafts / "metrics.yaml").write_text((failing.specs / "metrics.yaml").read_text("utf-8"))
    draft = (failing.specs / "real_effect.yaml").read_text("utf-8")
    (drafts / "d.yaml").write_text(draft.replace("status: running", "status: draft"), "utf-8")
    code, text = _report(failing, tmp_path, "markdown", "--fail-on", "quality", specs=drafts)
    assert code == 0 and "No experiments to report." in text
    # running specs but a store without any of their data: quality fails
    other = tmp_path / "other.duckdb"
    with EventStore(other):  # creates the canonical tables, ingests nothing
        pass
    specs = tmp_path / "running"
    specs.mkdir()
    for name in ("metrics.yaml", "real_effect.yaml"):
        (specs / name).write_text((failing.specs / name).read_text("utf-8"), "utf-8")
    out = tmp_path / "o.md"
    code = main(["report", str(specs), "--store", str(other), "--fail-on", "quality",
                 "--output", str(out)])  # fmt: skip
    assert code == 2
    assert "no running experiment has any exposures" in capsys.readouterr().err
    assert "Waiting for data" in out.read_text("utf-8")


def test_max_bytes_is_a_hard_budget(failing: Workspace, tmp_path: Path) -> None:
    _, full = _report(failing, tmp_path, "markdown")
    assert len(full.encode()) > 8000
    code, text = _report(failing, tmp_path, "markdown", "--max-bytes", "6000")
    assert len(text.encode("utf-8")) <= 6000
    assert "Truncated to stay under the 6,000-byte summary budget" in text
    assert "| `srm_harm` |" in text  # the overview keeps every decision
    try:  # a budget below 1024 bytes is a usage error (argparse's exit, or the CLI's 1)
        code = main(["report", str(failing.specs), "--max-bytes", "10"])
    except SystemExit as error:
        code = int(error.code or 0)
    assert code != 0
