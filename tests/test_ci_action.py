"""The composite action's steps, run on this machine with a fake ``GITHUB_*``
environment: a step-summary file, an output file and the event payload of a
pull request. The steps are read from ``action.yml`` itself (the ``report``
and gate steps' ``run`` and ``env``, with ``${{ inputs.* }}`` filled from the
action's defaults and the test's inputs), so what is tested is what GitHub
runs. The pull-request comment runs as a dry run (the request is written to
``comment.json``); ``test_sticky_comment_*`` sends real HTTP requests to a
local server that keeps comments the way GitHub's REST API does.

Stores: the bundled experiments on simulated data, and a store with an SRM
failure that also breaches a guardrail (tests/ci_support.py; the oracles
for those facts are in tests/test_report_gate.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci_support import Workspace, demo_workspace, failing_workspace
from tests.git_support import git
from tests.test_e2e_support import REPO
from upsell_ab.ci.comment import marker

ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def _steps() -> dict[str, dict[str, Any]]:
    steps = ACTION["runs"]["steps"]
    report = next(s for s in steps if s.get("id") == "report")
    gate = next(s for s in steps if str(s.get("name", "")).startswith("Gate"))
    return {"report": report, "gate": gate}


def _expand(value: str, context: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        assert key in context, f"action.yml uses {key}, which the test does not provide"
        return context[key]

    return EXPRESSION.sub(one, str(value))


def _outputs(path: Path) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text("utf-8").splitlines() if line]
    return dict(pairs)


def run_action(
    tmp: Path,
    inputs: dict[str, str],
    *,
    event: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
    cwd: Path = REPO,
) -> dict[str, Any]:
    """Run the action's report step, then its gate step, like the runner would."""
    tmp = Path(tempfile.mkdtemp(dir=tmp))  # a fresh runner for every run
    summary, output, payload = tmp / "summary.md", tmp / "output.txt", tmp / "event.json"
    summary.write_text("", "utf-8")
    output.write_text("", "utf-8")
    payload.write_text(json.dumps(event if event is not None else {}), "utf-8")
    runner_temp = tmp / "runner"
    runner_temp.mkdir()
    context = {f"inputs.{k}": str(v.get("default", "")) for k, v in ACTION["inputs"].items()}
    context.update({f"inputs.{k}": v for k, v in inputs.items()})
    context.update(
        {
            "runner.temp": str(runner_temp),
            "github.token": "ghs_fake_token",
            "github.action_path": str(REPO),
        }
    )
    context["inputs.github-token"] = _expand(context["inputs.github-token"], context)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "UPSELL_AB_"))},
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_EVENT_PATH": str(payload),
        "GITHUB_EVENT_NAME": "pull_request" if event else "schedule",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_API_URL": "http://127.0.0.1:9",  # unused: dry run, or replaced by the test
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "77",
        "GITHUB_ACTION_PATH": str(REPO),
        "RUNNER_TEMP": str(runner_temp),
        "PYTHONPATH": str(REPO),
        **(extra_env or {}),
    }
    steps = _steps()
    step_env = {k: _expand(v, context) for k, v in steps["report"]["env"].items()}
    report = subprocess.run(
        ["bash", "-e", "-c", steps["report"]["run"]],
        env={**env, **step_env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    values = _outputs(output)
    context["steps.report.outputs.exit-code"] = values.get("exit-code", "")
    gate_env = {k: _expand(v, context) for k, v in steps["gate"]["env"].items()}
    gate = subprocess.run(
        ["bash", "-e", "-c", steps["gate"]["run"]],
        env={**env, **gate_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    comment = runner_temp / "upsell-ab-report" / "comment.json"
    return {
        "step_code": report.returncode,
        "code": gate.returncode,
        "stdout": report.stdout,
        "stderr": report.stderr,
        "gate": gate.stdout,
        "summary": summary.read_text("utf-8"),
        "outputs": values,
        "comment": json.loads(comment.read_text("utf-8")) if comment.exists() else None,
        "dir": runner_temp / "upsell-ab-report",
    }


PR = {"pull_request": {"number": 42}, "repository": {"full_name": "acme/shop"}}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return demo_workspace(tmp_path_factory)


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return failing_workspace(tmp_path_factory)


def test_demo_store_passes_the_gate_with_summary_outputs_and_comment(
    demo: Workspace, tmp_path: Path
) -> None:
    result = run_action(
        tmp_path,
        {"specs": str(demo.specs), "store": str(demo.store), "comment-dry-run": "true"},
        event=PR,
    )
    assert result["code"] == 0, result["stderr"] + result["stdout"]
    assert result["step_code"] == 0  # the report step never fails: the gate does
    assert "::group::upsell-ab validate --explain" in result["stdout"]
    assert "::error" not in result["stdout"]
    summary = result["summary"]
    assert summary.startswith("## Upsell experiments")
    assert "| Experiment | Decision | Deciding metric |" in summary
    decisions = json.loads(result["outputs"]["decisions"])
    running = [
        "cafe_addon_switchback", "cake_wording", "cookie_wording_bandit", "discount_depth",
        "laptop_bundle", "offer_timing",
    ]  # fmt: skip
    assert sorted(decisions) == running
    for experiment in running:
        assert f"| `{experiment}` |" in summary
    assert result["outputs"]["exit-code"] == "0"
    for name in ("report.md", "report.json", "report.html"):
        assert (result["dir"] / name).stat().st_size > 0
    assert result["outputs"]["report-html"] == str(result["dir"] / "report.html")
    comment = result["comment"]
    assert comment["method"] == "POST"
    assert comment["url"] == "http://127.0.0.1:9/repos/acme/shop/issues/42/comments"
    body = comment["body"]["body"]
    assert body.startswith(marker(str(demo.specs)))
    assert "| `cake_wording` |" in body
    assert "https://github.example/acme/shop/actions/runs/77" in body
    assert result["outputs"]["comment-url"] == comment["url"]


def _no_broken(failing: Workspace, tmp: Path) -> Path:
    """The failing specs without the invalid one (exit codes 2 and 3 become visible)."""
    folder = tmp / "specs"
    folder.mkdir()
    for path in failing.specs.iterdir():
        if path.name != "broken.yaml":
            (folder / path.name).write_text(path.read_text("utf-8"), "utf-8")
    return folder


def test_srm_and_guardrail_breach_fail_the_gate_and_are_named(
    failing: Workspace, tmp_path: Path
) -> None:
    specs = _no_broken(failing, tmp_path)
    result = run_action(
        tmp_path,
        {"specs": str(specs), "store": str(failing.store), "fail-on": "guardrail",
         "comment-dry-run": "true", "explain": "false"},
        event=PR,
    )  # fmt: skip
    assert result["code"] == 3, result["stdout"]
    assert result["outputs"]["exit-code"] == "3"
    log = result["stdout"]
    srm_file = re.escape(str(specs / "srm_harm.yaml").replace(":", "%3A").replace(",", "%2C"))
    # annotations on the spec files, for every failing experiment and reason
    assert re.search(rf"::error file={srm_file},title=upsell-ab srm_harm::error: srm_harm: "
                     r"guardrail breached: treatment made refund rate significantly worse",
                     log)  # fmt: skip
    assert "::error file=" in log and "harm: guardrail breached" in log
    assert "::warning file=" in log and "srm_harm: data quality: Sample ratio mismatch" in log
    summary = result["summary"]
    assert "**Decision: Invalid**: Sample ratio mismatch" in summary
    assert "| `srm_harm` | ⚠️ Invalid |" in summary
    assert "❌ breached: refund\\_rate" in summary
    body = result["comment"]["body"]["body"]
    assert "**Decision: Invalid**: Sample ratio mismatch" in body
    assert "Waiting for data" in body  # brand_new: running, no data yet
    # quality as well: 2 wins over 3, both still named
    result = run_action(
        tmp_path,
        {"specs": str(specs), "store": str(failing.store), "fail-on": "both",
         "comment": "false", "explain": "false"},
        event=PR,
    )  # fmt: skip
    assert result["code"] == 2
    assert result["comment"] is None
    assert "error: srm_harm: data quality" in result["stderr"]
    assert "error: harm: guardrail breached" in result["stderr"]


def test_invalid_spec_is_annotated_and_the_rest_still_report(
    failing: Workspace, tmp_path: Path
) -> None:
    result = run_action(
        tmp_path,
        {"specs": str(failing.specs), "store": str(failing.store), "fail-on": "none",
         "comment-dry-run": "true", "explain": "false"},
        event=PR,
    )  # fmt: skip
    assert result["code"] == 1
    broken = str(failing.specs / "broken.yaml").replace(":", "%3A").replace(",", "%2C")
    assert f"::error file={broken},line=4,col=1," in result["stdout"]
    summary = result["summary"]
    assert "broken.yaml: invalid spec" in summary
    for experiment in ("real_effect", "harm", "srm_harm", "brand_new"):
        assert f"(`{experiment}`)" in summary


def test_scheduled_run_posts_no_comment(demo: Workspace, tmp_path: Path) -> None:
    result = run_action(
        tmp_path,
        {"specs": str(demo.specs), "store": str(demo.store), "explain": "false"},
        event=None,
    )
    assert result["code"] == 0
    assert result["comment"] is None and result["outputs"]["comment-url"] == ""
    assert "| `cake_wording` |" in result["summary"]


def test_bad_fail_on_input_is_a_clear_error(demo: Workspace, tmp_path: Path) -> None:
    result = run_action(tmp_path, {"specs": str(demo.specs), "fail-on": "guardrails"})
    assert result["code"] == 1
    assert "fail-on: unknown value 'guardrails'" in result["stdout"]
    assert result["outputs"]["exit-code"] == "1"
    assert "Traceback" not in result["stderr"]


def test_missing_spec_folder_fails_the_gate_with_one_annotation(tmp_path: Path) -> None:
    result = run_action(tmp_path, {"specs": str(tmp_path / "nope"), "explain": "false"})
    assert result["code"] == 1 and result["outputs"]["exit-code"] == "1"
    assert "::error title=upsell-ab action::" in result["stdout"]
    assert "no such file or folder" in result["stdout"]
    assert "Traceback" not in result["stderr"]


def test_a_pull_request_that_moves_assigned_customers_fails_validate(tmp_path: Path) -> None:
    """On a pull request the specs are compared with the base branch, fetched at depth
    1 when the checkout lacks it (the default checkout has only the merge commit)."""
    origin = tmp_path / "origin"
    (origin / "experiments").mkdir(parents=True)
    for name in ("metrics.yaml", "cake_wording.yaml"):
        (origin / "experiments" / name).write_bytes((REPO / "experiments" / name).read_bytes())
    git(origin, "init", "-q", "-b", "main")
    git(origin, "add", ".")
    git(origin, "commit", "-qm", "base")
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", "--depth=1", f"file://{origin}", str(checkout))
    git(checkout, "update-ref", "-d", "refs/remotes/origin/main")
    spec = checkout / "experiments" / "cake_wording.yaml"
    text = spec.read_text("utf-8")
    spec.write_text(
        text.replace("weight: 0.5", "weight: 0.7", 1).replace("weight: 0.5", "weight: 0.3", 1),
        "utf-8",
    )
    inputs = {"specs": str(checkout / "experiments"), "explain": "false", "comment": "false"}
    edited = run_action(
        tmp_path, inputs, event=PR, extra_env={"GITHUB_BASE_REF": "main"}, cwd=checkout
    )
    assert "title=upsell-ab validate (assignment_changed)::variants[0].weight" in edited["stdout"]
    assert edited["outputs"]["exit-code"] == "1" and edited["code"] == 1
    off = run_action(
        tmp_path,
        {**inputs, "against": "none"},
        event=PR,
        extra_env={"GITHUB_BASE_REF": "main"},
        cwd=checkout,
    )
    assert "assignment_changed" not in off["stdout"]
    missing = run_action(
        tmp_path, inputs, event=PR, extra_env={"GITHUB_BASE_REF": "nope"}, cwd=checkout
    )
    assert (
        "::warning title=upsell-ab validate::cannot compare the specs with origin/nope"
        in missing["stdout"]
    )
