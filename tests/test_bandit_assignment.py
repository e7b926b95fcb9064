"""Assignment for a bandit (issue 14): the latest recorded weights, identical single and
bulk, sticky across weight changes, and refused without stickiness once they changed.

Oracles: the share of units per arm against the weights (binomial tolerance, 5 standard
errors), equality of the single and bulk paths unit by unit, and no unit ever changing
variant across updates (1M units, checked element by element).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from upsell_ab.allocation.assign import bandit_assigner
from upsell_ab.allocation.history import AllocationRecord, record_update
from upsell_ab.assignment.assigner import Assigner
from upsell_ab.assignment.sticky import MemorySticky, StickyAssigner, StoreSticky
from upsell_ab.errors import InputError
from upsell_ab.events.store import EventStore
from upsell_ab.events.store_open import open_store
from upsell_ab.spec.load import load_experiment

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = load_experiment(REPO / "experiments" / "cookie_wording_bandit.yaml").experiment
UPDATES = (
    {"generic": 0.1, "pairing": 0.3, "pairing_deal": 0.6},
    {"generic": 0.1, "pairing": 0.1, "pairing_deal": 0.8},
    {"generic": 0.6, "pairing": 0.2, "pairing_deal": 0.2},
)


def _record(path: Path, day: int, weights: dict[str, float]) -> None:
    connection = open_store(path, read_only=False)
    try:
        record_update(
            connection,
            AllocationRecord(EXPERIMENT.id, datetime(2026, 4, day, tzinfo=UTC), weights),
        )
    finally:
        connection.close()


def test_single_and_bulk_agree_with_bandit_weights() -> None:
    assigner = Assigner(EXPERIMENT, weights=UPDATES[1])
    ids = [f"c{i}" for i in range(100_000)]
    bulk = assigner.assign_many(np.asarray(ids, dtype=object))
    single = [assigner.assign(u).variant for u in ids]
    assert list(bulk) == single
    for variant, weight in UPDATES[1].items():
        share = float(np.mean(bulk == variant))
        assert abs(share - weight) < 5 * np.sqrt(weight * (1 - weight) / len(ids))


def test_no_unit_ever_changes_variant_across_updates() -> None:
    sticky = MemorySticky()
    ids = np.asarray([f"u{i}" for i in range(1_000_000)], dtype=object)
    first = StickyAssigner(Assigner(EXPERIMENT), sticky).assign_many(ids)
    moved_without_memory = 0
    for weights in UPDATES:
        plain = Assigner(EXPERIMENT, weights=weights).assign_many(ids)
        moved_without_memory = max(moved_without_memory, int(np.sum(plain != first)))
        again = StickyAssigner(Assigner(EXPERIMENT, weights=weights), sticky).assign_many(ids)
        assert np.array_equal(again, first)
    assert moved_without_memory > 100_000  # what stickiness prevents


def test_the_store_gives_the_latest_weights_and_refuses_without_stickiness(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.duckdb"
    with EventStore(path):
        pass
    before = bandit_assigner(EXPERIMENT, store=path, at=datetime(2026, 4, 8, tzinfo=UTC))
    assert isinstance(before, Assigner) and before.weights == pytest.approx(
        {v.id: v.weight for v in EXPERIMENT.variants}
    )
    _record(path, 10, UPDATES[1])
    with pytest.raises(InputError, match="sticky store"):
        bandit_assigner(EXPERIMENT, store=path, at=datetime(2026, 4, 11, tzinfo=UTC))
    sticky = StoreSticky(path)
    early = bandit_assigner(EXPERIMENT, store=path, sticky=sticky,
                            at=datetime(2026, 4, 8, tzinfo=UTC))  # fmt: skip
    seen = {u: early.assign(u).variant for u in (f"k{i}" for i in range(300))}
    late = bandit_assigner(EXPERIMENT, store=path, sticky=StoreSticky(path),
                           at=datetime(2026, 4, 11, tzinfo=UTC))  # fmt: skip
    assert isinstance(late, StickyAssigner)
    assert late.assigner.weights == pytest.approx(UPDATES[1])
    assert {u: late.assign(u).variant for u in seen} == seen  # remembered in the store file
    newcomers = late.assign_many([f"n{i}" for i in range(4000)])
    assert float(np.mean(newcomers == "pairing_deal")) == pytest.approx(0.8, abs=0.05)


def test_the_assign_command_reads_the_weights_and_needs_sticky(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "s.duckdb"
    with EventStore(path):
        pass
    _record(path, 10, UPDATES[1])
    spec = str(REPO / "experiments" / "cookie_wording_bandit.yaml")

    def assign(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "upsell_ab.cli.main", "assign", spec, "--unit", "c7",
             "--store", str(path), *extra],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    refused = assign()
    assert refused.returncode == 1 and "--sticky" in refused.stderr
    first = assign("--sticky")
    assert first.returncode == 0
    expected = Assigner(EXPERIMENT, weights=UPDATES[1]).assign("c7").variant
    assert first.stdout.strip() == expected
    assert StoreSticky(path).get_many(EXPERIMENT.id, ["c7"]) == {"c7": expected}


def test_export_without_recorded_weights_says_it_used_the_starting_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exporting a bandit without ``--store``/``--weights`` gives the spec's starting
    weights: the user is told, since a front end would then split differently from
    ``allocate``'s latest weights. With ``--store`` the note is gone."""
    import json

    from upsell_ab.cli.main import main

    spec = str(REPO / "experiments" / "cookie_wording_bandit.yaml")
    assert main(["export", "growthbook", spec]) == 0
    captured = capsys.readouterr()
    rule = json.loads(captured.out)["features"][EXPERIMENT.id]["rules"][-1]
    assert rule["weights"] == pytest.approx([1 / 3] * 3, abs=1e-3)
    assert f"note: {EXPERIMENT.id} is a bandit" in captured.err
    assert "--store DB" in captured.err
    path = tmp_path / "s.duckdb"
    with EventStore(path):
        pass
    _record(path, 10, UPDATES[1])
    assert main(["export", "growthbook", spec, "--store", str(path)]) == 0
    assert "is a bandit" not in capsys.readouterr().err


def test_export_carries_the_recorded_weights_to_the_real_javascript_sdk(tmp_path: Path) -> None:
    """``export growthbook --store`` puts the latest recorded weights in the payload, and
    GrowthBook's own JavaScript SDK then assigns exactly as ``Assigner(weights=...)``."""
    import json
    import subprocess
    import sys

    from tests.js_support import JS_DIR, ensure_js_packages, node

    path = tmp_path / "s.duckdb"
    with EventStore(path):
        pass
    _record(path, 10, UPDATES[1])
    done = subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", "export", "growthbook",
         str(REPO / "experiments" / "cookie_wording_bandit.yaml"), "--store", str(path)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    payload = json.loads(done.stdout)
    rule = payload["features"][EXPERIMENT.id]["rules"][-1]
    assert rule["weights"] == pytest.approx([0.1, 0.1, 0.8])
    ensure_js_packages()
    people = [{EXPERIMENT.population.unit: f"p{i}"} for i in range(3000)]
    source = tmp_path / "input.json"
    source.write_text(
        json.dumps({"payload": payload, "keys": [EXPERIMENT.id], "customers": people}), "utf-8"
    )
    evaluated = subprocess.run(
        [node(), str(JS_DIR / "evaluate.mjs"), str(source)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    sdk = [json.loads(line)[0][1] for line in evaluated.stdout.splitlines()]
    ours = Assigner(EXPERIMENT, weights=UPDATES[1]).assign_many(
        np.asarray([p[EXPERIMENT.population.unit] for p in people], dtype=object)
    )
    assert sdk == list(ours)
