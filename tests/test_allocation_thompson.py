"""Thompson-sampling weights and ``upsell-ab allocate`` (issue 14).

Oracles: P(best) by Monte-Carlo from numpy's Beta and normal draws (200,000 draws,
tolerance 0.01, about 4 Monte-Carlo standard errors at p = 0.5); the floor's
closed form on hand-made probabilities; for the command, the units counted here
with DuckDB from the store (first exposures before the target period).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from upsell_ab.allocation.thompson import floored_weights, posterior
from upsell_ab.errors import StatsError
from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.spec.load import load_experiment
from upsell_ab.spec.models import BetaPrior

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "experiments" / "cookie_wording_bandit.yaml"
RESOLVED = load_experiment(SPEC)


def test_floor_closed_form() -> None:
    weights = floored_weights({"a": 0.90, "b": 0.07, "c": 0.03}, 0.1)
    assert weights == pytest.approx({"a": 0.8, "b": 0.1, "c": 0.1}, abs=1e-12)
    # two free arms keep the ratio of their P(best): 0.6 : 0.3 of the 0.9 left
    weights = floored_weights({"a": 0.6, "b": 0.3, "c": 0.1 * 0.0}, 0.1)
    assert weights == pytest.approx({"a": 0.6, "b": 0.3, "c": 0.1}, abs=1e-12)
    with pytest.raises(StatsError, match="cannot be met"):
        floored_weights({"a": 0.5, "b": 0.5, "c": 0.0}, 0.4)


@given(
    st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6).filter(lambda p: sum(p) > 0),
    st.floats(0.0, 1.0),
)
def test_floored_weights_are_a_distribution_above_the_floor(
    probs: list[float], share: float
) -> None:
    floor = share / len(probs)
    weights = floored_weights({f"v{i}": p for i, p in enumerate(probs)}, floor)
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-9)
    assert all(w >= floor - 1e-12 for w in weights.values())
    free = [k for k, w in weights.items() if w > floor + 1e-9]
    for a in free:
        for b in free:  # arms above the floor keep the ratios of their P(best)
            pa, pb = probs[int(a[1:])], probs[int(b[1:])]
            assert weights[a] * pb == pytest.approx(weights[b] * pa, rel=1e-9, abs=1e-12)


def test_beta_prob_best_matches_monte_carlo() -> None:
    stats = {
        "generic": SampleStats.from_proportion(300, 45),
        "pairing": SampleStats.from_proportion(310, 58),
        "pairing_deal": SampleStats.from_proportion(290, 66),
    }
    definition = RESOLVED.metrics["upsell_take_rate"]
    found = posterior("upsell_take_rate", definition, stats, BetaPrior(alpha=1, beta=1))
    assert not hasattr(found, "reason")
    rng = np.random.default_rng(1)
    draws = np.column_stack([rng.beta(1 + s.sum, 1 + s.n - s.sum, 200_000) for s in stats.values()])
    share = np.bincount(draws.argmax(axis=1), minlength=3) / 200_000
    for i, variant in enumerate(stats):
        assert found.prob_best[variant] == pytest.approx(share[i], abs=0.01)  # type: ignore[union-attr]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 customers at the spec's equal weights and no allocation history yet (the
    simulator's fixed-split path; ``upsell-ab simulate`` itself would run the bandit)."""
    from upsell_ab.events.store import EventStore
    from upsell_ab.simulate import simulate
    from upsell_ab.spec.load import load_experiment

    path = tmp_path_factory.mktemp("bandit") / "s.duckdb"
    exposures, events = simulate([load_experiment(SPEC)], units=3000, days=14, seed=0)
    with EventStore(path) as target:
        target.ingest_exposures(exposures)
        target.ingest_events(events)
    return path


def _history(path: Path) -> list[tuple[object, ...]]:
    connection = duckdb.connect(str(path), read_only=True)
    try:
        return connection.execute("SELECT * FROM allocation_history ORDER BY ALL").fetchall()
    except duckdb.CatalogException:
        return []
    finally:
        connection.close()


def _units_before(path: Path, boundary: datetime) -> dict[str, int]:
    connection = duckdb.connect(str(path), read_only=True)
    try:
        rows = connection.execute(
            "SELECT variant, count(*) FROM (SELECT unit_id, min(variant) AS variant, "
            'min("timestamp") AS t FROM exposures WHERE experiment = ? GROUP BY unit_id) '
            "WHERE t < ? GROUP BY variant",
            ["cookie_wording_bandit", boundary.replace(tzinfo=None)],
        ).fetchall()
    finally:
        connection.close()
    return {str(v): int(n) for v, n in rows}


def test_allocate_burn_in_record_idempotent_dry_run(store: Path) -> None:
    early = _cli("allocate", str(SPEC), "--store", str(store), "--at", "2026-04-07")
    assert early.returncode == 0 and "burn-in" in early.stdout and _history(store) == []
    dry = _cli("allocate", str(SPEC), "--store", str(store), "--at", "2026-04-09",
               "--dry-run", "--format", "json")  # fmt: skip
    assert dry.returncode == 0 and json.loads(dry.stdout)["status"] == "dry_run"
    assert _history(store) == []
    done = _cli("allocate", str(SPEC), "--store", str(store), "--at", "2026-04-09",
                "--format", "json")  # fmt: skip
    update = json.loads(done.stdout)
    assert update["status"] == "recorded"
    assert update["units"] == _units_before(store, datetime(2026, 4, 9, tzinfo=UTC))
    weights = update["weights"]
    assert sum(weights.values()) == pytest.approx(1.0) and min(weights.values()) >= 0.1 - 1e-12
    history = _history(store)
    assert len(history) == 1
    again = _cli("allocate", str(SPEC), "--store", str(store), "--at", "2026-04-09")
    assert "unchanged: weights for this period were already recorded" in again.stdout
    assert _history(store) == history


def test_a_fixed_spec_is_refused_with_one_line(tmp_path: Path) -> None:
    done = _cli("allocate", str(REPO / "experiments" / "cake_wording.yaml"),
                "--store", str(tmp_path / "none.duckdb"))  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_crash_between_computing_and_recording_leaves_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from upsell_ab.allocation import history
    from upsell_ab.allocation.update import allocate
    from upsell_ab.events.store import EventStore
    from upsell_ab.simulate import simulate

    # a store of its own: the module's has weights recorded from 2026-04-09 that its
    # equal-split data do not follow, which allocate now calls a sample-ratio mismatch
    store = tmp_path / "s.duckdb"
    exposures, events = simulate([load_experiment(SPEC)], units=3000, days=14, seed=0)
    with EventStore(store) as target:
        target.ingest_exposures(exposures)
        target.ingest_events(events)
    before = _history(store)

    def crash(connection: object, record: object) -> None:
        raise KeyboardInterrupt  # killed after the weights were computed, before COMMIT

    monkeypatch.setattr(history, "insert_record", crash)
    with pytest.raises(KeyboardInterrupt):
        allocate(RESOLVED, store=store, at=datetime(2026, 4, 9, tzinfo=UTC))
    assert _history(store) == before


def test_invalid_data_move_no_traffic(tmp_path: Path) -> None:
    """One wording's purchases exported under upper-cased ids ('C000123' for the
    exposures' 'c000123'): that arm reads 0 and Thompson sampling would starve it.
    ``analyze`` calls such data invalid, so ``allocate`` holds the weights (exit 2,
    the reason named) and records nothing; the same data with the ids intact record."""
    from upsell_ab.events.store import EventStore
    from upsell_ab.simulate import simulate

    exposures, events = simulate([load_experiment(SPEC)], units=3000, days=14, seed=1)
    pairing = set(exposures.loc[exposures["variant"] == "pairing", "unit_id"])
    mangled = events.assign(unit_id=[u.upper() if u in pairing else u for u in events["unit_id"]])
    assert (mangled["unit_id"] != events["unit_id"]).sum() > 50
    for name, rows in (("bad", mangled), ("good", events)):
        with EventStore(tmp_path / f"{name}.duckdb") as target:
            target.ingest_exposures(exposures)
            target.ingest_events(rows)
    bad = tmp_path / "bad.duckdb"
    held = _cli("allocate", str(SPEC), "--store", str(bad), "--at", "2026-04-09",
                "--format", "json")  # fmt: skip
    update = json.loads(held.stdout)
    assert held.returncode == 2, held.stderr
    assert update["status"] == "held"
    assert update["weights"] == update["previous_weights"]
    assert "letter case" in update["reason"] and "in pairing" in update["reason"]
    assert _history(bad) == []
    good = tmp_path / "good.duckdb"
    done = _cli("allocate", str(SPEC), "--store", str(good), "--at", "2026-04-09",
                "--format", "json")  # fmt: skip
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "recorded"
    assert len(_history(good)) == 1
