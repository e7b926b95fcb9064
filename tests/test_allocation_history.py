"""The allocation history in the store: append-only, one row per period, crash-safe."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from upsell_ab.allocation.history import (
    AllocationPeriod,
    AllocationRecord,
    load_allocation_periods,
    read_records,
    record_update,
    weights_at,
)
from upsell_ab.errors import StoreError
from upsell_ab.spec.models import Experiment

START = datetime(2026, 3, 2, tzinfo=UTC)


def spec(kind: str = "bandit") -> Experiment:
    return Experiment.model_validate(
        {
            "id": "wording",
            "name": "Wording",
            "status": "running",
            "start": "2026-03-02",
            "variants": [{"id": "a", "control": True}, {"id": "b"}, {"id": "c"}],
            "metrics": {"primary": "upsell_take_rate"},
            "allocation": {"kind": kind},
        }
    )


def record(day: int, weights: dict[str, float]) -> AllocationRecord:
    return AllocationRecord(
        experiment="wording",
        period_start=START + timedelta(days=day),
        weights=weights,
        units={"a": 10 * day, "b": 10 * day, "c": 10 * day},
        posterior={"metric": "upsell_take_rate", "model": "beta"},
    )


def test_no_store_or_fixed_spec_gives_the_spec_period(tmp_path: Path) -> None:
    third = 1.0 / 3.0
    expected = [AllocationPeriod("wording", START, {"a": third, "b": third, "c": third})]
    assert load_allocation_periods(tmp_path / "missing.duckdb", spec()) == expected
    store = tmp_path / "s.duckdb"
    with duckdb.connect(str(store)) as connection:
        record_update(connection, record(2, {"a": 0.2, "b": 0.3, "c": 0.5}))
    assert load_allocation_periods(store, spec("fixed")) == expected


def test_records_become_periods_in_order_with_the_implicit_first(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    with duckdb.connect(str(store)) as connection:
        assert record_update(connection, record(2, {"a": 0.2, "b": 0.3, "c": 0.5}))
        assert record_update(connection, record(3, {"c": 0.8, "b": 0.1, "a": 0.1}))
    periods = load_allocation_periods(store, spec())
    starts = [START, START + timedelta(days=2), START + timedelta(days=3)]
    assert [p.period_start for p in periods] == starts
    assert list(periods[2].weights) == ["a", "b", "c"]  # spec order
    assert periods[2].weights == {"a": 0.1, "b": 0.1, "c": 0.8}
    assert weights_at(periods, START + timedelta(days=2, hours=23)).weights["c"] == 0.5
    assert weights_at(periods, START - timedelta(days=1)) == periods[0]


def test_same_period_twice_changes_nothing(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "s.duckdb")) as connection:
        assert record_update(connection, record(1, {"a": 0.2, "b": 0.3, "c": 0.5}))
        assert not record_update(connection, record(1, {"a": 0.6, "b": 0.2, "c": 0.2}))
        rows = read_records(connection, "wording")
    assert len(rows) == 1 and rows[0].weights == {"a": 0.2, "b": 0.3, "c": 0.5}
    assert rows[0].units == {"a": 10, "b": 10, "c": 10}


def test_an_earlier_period_than_the_latest_is_refused(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "s.duckdb")) as connection:
        record_update(connection, record(3, {"a": 0.2, "b": 0.3, "c": 0.5}))
        with pytest.raises(StoreError, match="append-only"):
            record_update(connection, record(2, {"a": 0.2, "b": 0.3, "c": 0.5}))
        assert len(read_records(connection, "wording")) == 1


def test_recorded_weights_for_other_variants_are_an_error(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    with duckdb.connect(str(store)) as connection:
        record_update(connection, record(1, {"a": 0.5, "x": 0.5}))
    with pytest.raises(StoreError, match="variants of a running bandit cannot change"):
        load_allocation_periods(store, spec())


def test_a_crash_between_insert_and_commit_leaves_the_history_unchanged(tmp_path: Path) -> None:
    """Fault injection: the process dies (os._exit, no clean-up) right after the INSERT,
    before COMMIT. The reopened store holds exactly the rows committed before."""
    store = tmp_path / "s.duckdb"
    with duckdb.connect(str(store)) as connection:
        record_update(connection, record(1, {"a": 0.2, "b": 0.3, "c": 0.5}))
    script = textwrap.dedent(
        f"""
        import os
        from datetime import UTC, datetime
        import duckdb
        from upsell_ab.allocation import history

        original = history.insert_record
        def insert_then_die(connection, record):
            original(connection, record)
            os._exit(137)
        history.insert_record = insert_then_die
        connection = duckdb.connect({str(store)!r})
        history.record_update(connection, history.AllocationRecord(
            "wording", datetime(2026, 3, 5, tzinfo=UTC), {{"a": 0.1, "b": 0.1, "c": 0.8}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 137, done.stderr
    periods = load_allocation_periods(store, spec())
    assert [p.weights["c"] for p in periods] == [pytest.approx(1 / 3), 0.5]
