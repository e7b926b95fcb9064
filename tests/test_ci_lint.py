"""actionlint and zizmor pass on the action and the bundled workflow.

Both are installed by the dev extra (``pip install -e .[dev]``); .ci/run runs
them too. Without them (a machine that skipped the dev extra) these tests are
skipped, except in CI (``CI=true``), where a missing linter fails."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_e2e_support import REPO

WORKFLOW = ".github/workflows/experiments.yml"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed (pip install -e .[dev])")
        pytest.skip(f"{name} is not installed")
    return path


def test_actionlint_passes_on_the_workflow_and_the_local_action() -> None:
    # actionlint checks `uses: ./` against action.yml (inputs, required, unknown keys)
    result = subprocess.run(
        [_tool("actionlint"), "-no-color", WORKFLOW],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_passes_on_the_action_and_the_workflow() -> None:
    result = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", "action.yml", WORKFLOW],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_actionlint_would_catch_a_mistake(tmp_path: Path) -> None:
    """The check can fail: an unknown input of the local action is an error (a copy
    of the repository's action and workflow in a scratch repository)."""
    (tmp_path / ".git").mkdir()  # actionlint's project root
    (tmp_path / "action.yml").write_text((REPO / "action.yml").read_text("utf-8"), "utf-8")
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    broken = (REPO / WORKFLOW).read_text("utf-8").replace("explain:", "explian:")
    (folder / "experiments.yml").write_text(broken, "utf-8")
    result = subprocess.run(
        [_tool("actionlint"), "-no-color", WORKFLOW],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "explian" in result.stdout
