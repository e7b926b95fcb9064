"""`validate --against REV`: edits that move assigned units of a started experiment.

Oracles: the share of moved units is checked against the real assigner over 200,000
ids (binomial tolerance), and the command runs against a real git repository.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.git_support import git
from upsell_ab.assignment.assigner import Assigner
from upsell_ab.cli.main import main
from upsell_ab.spec.changes import moved_share
from upsell_ab.spec.models import Experiment

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _experiment(weights: list[float], coverage: float) -> Experiment:
    return Experiment.model_validate(
        {
            "id": "cake",
            "name": "Cake",
            "status": "running",
            "population": {"coverage": coverage},
            "variants": [
                {"id": f"v{i}", "weight": w, "control": i == 0} for i, w in enumerate(weights)
            ],
            "metrics": {"primary": "upsell_take_rate"},
        }
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (([0.5, 0.5], 1.0), ([0.7, 0.3], 1.0)),
        (([0.5, 0.5], 0.5), ([0.5, 0.5], 0.3)),
        (([0.5, 0.5], 0.3), ([0.5, 0.5], 0.8)),  # a ramp-up: nobody moves
        (([0.34, 0.33, 0.33], 1.0), ([0.2, 0.4, 0.4], 1.0)),
    ],
)
def test_moved_share_is_what_the_assigner_does(
    old: tuple[list[float], float], new: tuple[list[float], float]
) -> None:
    ids = np.arange(200_000).astype(str)
    before = Assigner(_experiment(*old)).assign_many(ids)
    after = Assigner(_experiment(*new)).assign_many(ids)
    assigned = before != None  # noqa: E711 (object array of ids or None)
    observed = float(np.mean(before[assigned] != after[assigned]))
    names = [f"v{i}" for i in range(len(old[0]))]
    expected = moved_share(names, old[0], old[1], names, new[0], new[1])
    # binomial sd <= sqrt(0.25 / 60,000) = 0.002 over the assigned units
    assert observed == pytest.approx(expected, abs=0.01)
    if new[1] > old[1] and new[0] == old[0]:
        assert expected == 0.0 and observed == 0.0


def _repo(tmp_path: Path, spec: str = "cake_wording.yaml", edit=None) -> Path:  # type: ignore[no-untyped-def]
    repo = tmp_path / "shop"
    folder = repo / "experiments"
    folder.mkdir(parents=True)
    for name in ("metrics.yaml", spec):
        shutil.copy(EXPERIMENTS / name, folder / name)
    if edit is not None:
        path = folder / spec
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    return folder


def _validate(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", str(folder), "--against", "HEAD"])
    return code, capsys.readouterr().out


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def test_a_weight_edit_of_a_running_experiment_is_refused_where_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _repo(tmp_path)
    spec = folder / "cake_wording.yaml"
    _edit(spec, "weight: 0.5", "weight: 0.7")
    _edit(spec, "weight: 0.5", "weight: 0.3")
    code, out = _validate(folder, capsys)
    assert code == 1
    line = next(
        n for n, text in enumerate(spec.read_text().splitlines(), 1) if "weight: 0.7" in text
    )
    assert out.startswith(f"{spec}:{line}:13: variants[0].weight: the weight of 'generic' ")
    assert "20.0% of the units already assigned would move" in out
    assert "(compared with HEAD)" in out and "new id" in out
    # without --against the same file is valid: the check needs the base
    assert main(["validate", str(folder)]) == 0


def test_a_weight_edit_that_would_hide_an_srm_on_a_stopped_spec_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Observed 60/40 from a bug; the pull request stops the test and sets 0.6/0.4 so
    the sample-ratio test passes."""
    folder = _repo(tmp_path)
    spec = folder / "cake_wording.yaml"
    _edit(spec, "status: running", "status: stopped")
    _edit(spec, "weight: 0.5", "weight: 0.6")
    _edit(spec, "weight: 0.5", "weight: 0.4")
    code, out = _validate(folder, capsys)
    assert code == 1 and "variants[0].weight" in out and "10.0%" in out


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("unit: customer_id", "unit: session_id", "population.unit"),
        ("  unit: customer_id", "  unit: customer_id\n  seed: cake-2", "population.seed"),
        ("status: running", "status: draft", "status"),
        ("  - id: pairing", "  - id: pairing_v2", "variants"),
    ],
)
def test_edits_that_reassign_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, field: str
) -> None:
    folder = _repo(tmp_path)
    text = (folder / "cake_wording.yaml").read_text(encoding="utf-8")
    replaced = text.replace(old, new, 1)
    if "pairing_v2" in new:  # the decision and segment references follow the id
        replaced = replaced.replace("variant: pairing", "variant: pairing_v2")
    (folder / "cake_wording.yaml").write_text(replaced, encoding="utf-8")
    code, out = _validate(folder, capsys)
    assert code == 1, out
    assert f": {field}: " in out, out


@pytest.mark.parametrize(
    "edit",
    [
        ("coverage: 1.0", "coverage: 1.0"),  # nothing
        ("name: Cake add-on wording at the register", "name: Cake wording"),  # wording is free
        # (the end date and the metrics are the analysis plan: tests/test_spec_plan_changes.py)
        ("id: cake_wording", "id: cake_wording_v2"),  # a new experiment
    ],
)
def test_safe_edits_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: tuple[str, str]
) -> None:
    folder = _repo(tmp_path)
    spec = folder / "cake_wording.yaml"
    _edit(spec, *edit)
    if edit[1].startswith("id:"):
        _edit(spec, "weight: 0.5", "weight: 0.7")
        _edit(spec, "weight: 0.5", "weight: 0.3")
    code, out = _validate(folder, capsys)
    assert (code, out) == (0, "")


def test_raising_coverage_and_editing_a_draft_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _repo(tmp_path, edit=lambda t: t.replace("coverage: 1.0", "coverage: 0.4"))
    spec = folder / "cake_wording.yaml"
    _edit(spec, "coverage: 0.4", "coverage: 0.9")
    assert _validate(folder, capsys) == (0, "")
    draft = _repo(tmp_path / "draft", edit=lambda t: t.replace("status: running", "status: draft"))
    _edit(draft / "cake_wording.yaml", "weight: 0.5", "weight: 0.7")
    _edit(draft / "cake_wording.yaml", "weight: 0.5", "weight: 0.3")
    assert _validate(draft, capsys) == (0, "")


def test_a_bandits_weights_are_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bandit's spec weights are only its start (allocate moves them): editing them
    moves nobody the analysis relies on; renaming an arm still does."""
    folder = _repo(tmp_path, spec="cookie_wording_bandit.yaml")
    spec = folder / "cookie_wording_bandit.yaml"
    for arm, weight in (("generic", 0.5), ("pairing", 0.25), ("pairing_deal", 0.25)):
        _edit(spec, f"  - id: {arm}\n", f"  - id: {arm}\n    weight: {weight}\n")
    assert _validate(folder, capsys) == (0, "")
    _edit(spec, "  - id: pairing_deal\n", "  - id: pairing_discount\n")
    code, out = _validate(folder, capsys)
    assert code == 1 and ": variants: the variants changed" in out, out


def test_a_new_spec_and_an_unknown_revision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _repo(tmp_path)
    shutil.copy(EXPERIMENTS / "offer_timing.yaml", folder / "offer_timing.yaml")
    assert _validate(folder, capsys) == (0, "")
    code = main(["validate", str(folder), "--against", "origin/nope"])
    out = capsys.readouterr().out
    assert code == 1
    assert "unknown git revision 'origin/nope'" in out and "git fetch" in out
    # a hostile Action input: an option of git show that writes a file is never run
    written = tmp_path / "written"
    code = main(["validate", str(folder), f"--against=--output={written}"])
    out = capsys.readouterr().out
    assert code == 1 and f"unknown git revision '--output={written}'" in out
    assert not list(tmp_path.glob("written*"))


@pytest.mark.parametrize(
    ("edit", "field", "share"),
    [
        (("share: 0.3", "share: 0.35"), "holdout.share", 0.35),
        (("share: 0.3", "share: 0.2"), "holdout.share", 0.2),
        (("  share: 0.3", "  share: 0.3\n  seed: other"), "holdout.seed", 0.3),
    ],
)
def test_a_long_term_holdout_edited_in_place_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: tuple[str, str],
    field: str,
    share: float,
) -> None:
    """program.yaml's holdout: customers switching between holdout and programme spoil the
    months-long comparison. Oracle for the share: the real HoldoutGate over 200,000 ids."""
    from upsell_ab.assignment.holdout import HoldoutGate
    from upsell_ab.spec.holdout_models import Holdout

    folder = _repo(tmp_path)
    program = folder / "program.yaml"
    text = "holdout:\n  id: upsell_2026\n  share: 0.3\n  start: 2026-04-06\n"
    program.write_text(text, encoding="utf-8")
    git(folder.parent, "add", ".")
    git(folder.parent, "commit", "-qm", "holdout")
    _edit(program, *edit)
    code, out = _validate(folder, capsys)
    assert code == 1 and f": {field}: " in out, out
    if field == "holdout.share":
        ids = np.arange(200_000).astype(str)
        before = HoldoutGate(Holdout(id="upsell_2026", share=0.3)).held_out_many(ids)
        after = HoldoutGate(Holdout(id="upsell_2026", share=share)).held_out_many(ids)
        stated = float(out.split(f"to {share:g}: ")[1].split("%")[0]) / 100
        assert stated == pytest.approx(float(np.mean(before != after)), abs=0.01)
    program.write_text(text.replace("upsell_2026", "upsell_2027").replace("0.3", "0.2"), "utf-8")
    assert _validate(folder, capsys) == (0, "")  # a new holdout
