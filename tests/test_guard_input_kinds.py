"""Exports that changed the kind of a column are named, never read as "no data yet".

Two careless-user inputs found by trying the Python API on ``cake_wording``:

- an export that rewrote the variant ids ('Generic', 'Pairing' for the spec's
  'generic', 'pairing') made every exposure unknown, and the verdict was "Waiting for
  data: no unit has been exposed yet", with 6,000 exposures in hand;
- timestamps with a time zone on one side and without on the other stopped the
  analysis with DuckDB's binder error and its SQL.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cake_support import SPEC, cake_exposures, cake_purchases

import upsell_ab
from upsell_ab.errors import StoreError


@pytest.fixture(autouse=True)
def _after_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSELL_AB_TODAY", "2026-04-05")


def _log(n: int = 4000, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    exposures = cake_exposures(rng, n)
    took = rng.uniform(size=n) < 0.2
    return exposures, cake_purchases(exposures, took)


def test_variant_ids_rewritten_by_an_export_are_invalid_not_waiting() -> None:
    exposures, events = _log()
    counts = exposures["variant"].value_counts()
    rewritten = exposures.assign(variant=exposures["variant"].str.capitalize())
    decision = upsell_ab.load(SPEC).analyze(exposures=rewritten, events=events).decision
    assert decision.action == "invalid"
    text = " ".join(decision.reasons)
    assert "Waiting for data" not in text
    assert f"'Generic' ({counts['generic']:,} rows)" in text
    assert f"'Pairing' ({counts['pairing']:,} rows)" in text
    assert "'Generic' looks like 'generic'" in text and "'generic', 'pairing'" in text


def test_unrelated_variant_ids_are_listed_without_a_lookalike() -> None:
    exposures, events = _log()
    relabelled = exposures.assign(
        variant=exposures["variant"].map({"generic": "A", "pairing": "B"})
    )
    decision = upsell_ab.load(SPEC).analyze(exposures=relabelled, events=events).decision
    assert decision.action == "invalid"
    text = " ".join(decision.reasons)
    assert "'A' (" in text and "'B' (" in text and "looks like" not in text


def test_an_experiment_with_no_exposures_still_waits() -> None:
    exposures, events = _log()
    others = exposures.assign(experiment="other_test")
    decision = upsell_ab.load(SPEC).analyze(exposures=others.iloc[:0], events=events).decision
    assert decision.action == "waiting_for_data"


@pytest.mark.parametrize("naive_side", ["events", "exposures"])
def test_zoned_and_naive_timestamps_are_named_with_the_fix(naive_side: str) -> None:
    exposures, events = _log()
    frames = {"exposures": exposures, "events": events}
    frames[naive_side] = frames[naive_side].assign(
        timestamp=frames[naive_side]["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    )
    with pytest.raises(StoreError) as caught:
        upsell_ab.load(SPEC).analyze(**frames)
    message = str(caught.value)
    zoned = "exposures" if naive_side == "events" else "events"
    assert (
        f"the {zoned} DataFrame's 'timestamp' carries a time zone (UTC), the {naive_side} "
        "DataFrame's 'timestamp' does not, so they cannot be compared" in message
    ), message
    assert "tz_localize(None)" in message
    assert "Binder Error" not in message and "SELECT" not in message


def test_the_advised_fix_gives_the_zoned_result() -> None:
    """Following the message's advice (both sides naive UTC) gives exactly the numbers of
    both sides zoned; the take rates are checked against a pandas count."""
    exposures, events = _log()
    exp = upsell_ab.load(SPEC)
    zoned = exp.analyze(exposures=exposures, events=events, daily=False)
    naive = exposures.assign(
        timestamp=exposures["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    )
    naive_events = events.assign(
        timestamp=events["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    )
    fixed = exp.analyze(exposures=naive, events=naive_events, daily=False)
    a = zoned.to_pandas().set_index(["metric", "variant"])["mean"]
    b = fixed.to_pandas().set_index(["metric", "variant"])["mean"]
    pd.testing.assert_series_equal(a, b)
    took = exposures["unit_id"].isin(events["unit_id"])
    by_hand = took.groupby(exposures["variant"]).mean()
    for variant in ("generic", "pairing"):
        assert a[("upsell_take_rate", variant)] == pytest.approx(by_hand[variant], abs=1e-12)


def test_epoch_number_timestamps_are_named_with_the_fix() -> None:
    exposures, events = _log()
    epoch = events.assign(timestamp=events["timestamp"].astype("int64") // 10**9)
    with pytest.raises(StoreError) as caught:
        upsell_ab.load(SPEC).analyze(exposures=exposures, events=epoch)
    message = str(caught.value)
    assert "the events DataFrame's column 'timestamp' holds numbers (BIGINT)" in message
    assert "unit='s'" in message and "Binder Error" not in message
    fixed = epoch.assign(timestamp=pd.to_datetime(epoch["timestamp"], unit="s", utc=True))
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=fixed, daily=False)
    assert result.decision.action != "invalid"


def test_exposure_rows_without_a_unit_id_are_counted_and_said() -> None:
    """Rows with a NULL unit id count for no unit; before, they vanished without a word.
    Oracle: pandas counts of the frame written here."""
    exposures, events = _log()
    exposures.loc[exposures.index[:700], "unit_id"] = None
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    quality = result.to_dict()["experiments"][0]["quality"]
    assert quality["exposure_rows_without_unit"] == int(exposures["unit_id"].isna().sum()) == 700
    assert quality["total_units"] == exposures["unit_id"].nunique() == 3300
    (said,) = [w for w in result.decision.warnings if "no unit id" in w]
    assert said.startswith("700 exposure rows of this experiment have no unit id")


def test_exposures_all_without_a_unit_id_are_invalid_not_waiting() -> None:
    exposures, events = _log()
    decision = (
        upsell_ab.load(SPEC)
        .analyze(exposures=exposures.assign(unit_id=None), events=events, daily=False)
        .decision
    )
    assert decision.action == "invalid"
    assert "4,000 rows of cake_wording without a unit id" in " ".join(decision.reasons)


@pytest.mark.parametrize("side", ["events", "exposures"])
def test_text_timestamps_in_a_frame_are_named_with_the_fix(side: str) -> None:
    """Frames straight from read_csv keep ISO text; DuckDB refused with its binder error."""
    exposures, events = _log()
    frames = {"exposures": exposures, "events": events}
    frames[side] = frames[side].assign(
        timestamp=frames[side]["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    with pytest.raises(StoreError) as caught:
        upsell_ab.load(SPEC).analyze(**frames)
    message = str(caught.value)
    assert f"the {side} DataFrame's column 'timestamp' holds text" in message
    assert "pd.to_datetime" in message
    assert "Binder Error" not in message
    fixed = frames[side].assign(timestamp=pd.to_datetime(frames[side]["timestamp"], utc=True))
    frames[side] = fixed
    expected = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    got = upsell_ab.load(SPEC).analyze(**frames, daily=False)
    pd.testing.assert_frame_equal(got.to_pandas(), expected.to_pandas())


def test_swapped_exposures_and_events_are_called_swapped() -> None:
    from upsell_ab.errors import InputError

    exposures, events = _log()
    with pytest.raises(InputError) as caught:
        upsell_ab.load(SPEC).analyze(exposures=events, events=exposures)
    first = caught.value.problems[0]
    assert "look swapped" in first.message
    with pytest.raises(InputError) as other:  # one side wrong only: no such claim
        upsell_ab.load(SPEC).analyze(exposures=events, events=events)
    assert not any("swapped" in p.message for p in other.value.problems)


def test_a_connection_with_zoned_and_naive_tables_gets_the_general_words() -> None:
    """Tables on a caller's DuckDB connection: no frame to name, the kind still is."""
    import duckdb

    exposures, events = _log()
    naive = events.assign(timestamp=events["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None))
    con = duckdb.connect()
    con.register("exposures_frame", exposures)
    con.register("events_frame", naive)
    con.execute("CREATE TABLE exposures AS SELECT * FROM exposures_frame")
    con.execute("CREATE TABLE events AS SELECT * FROM events_frame")
    with pytest.raises(StoreError) as caught:
        upsell_ab.load(SPEC).analyze(con)
    message = str(caught.value)
    assert "one side's carry a time zone, the other's do not" in message, message
    assert "Binder Error" not in message


def test_one_arm_with_a_trailing_blank_names_the_lookalike_after_the_mismatch() -> None:
    """'pairing ' for 'pairing' on one arm only: the sample-ratio mismatch (pairing 0
    units) said "assignment or exposure logging is broken" and the orphan warning blamed
    the unit ids; the reason now names the look-alike with its units (pandas' count)."""
    exposures, events = _log()
    pairing = exposures["variant"] == "pairing"
    blank = exposures.assign(variant=exposures["variant"].where(~pairing, "pairing "))
    decision = upsell_ab.load(SPEC).analyze(exposures=blank, events=events).decision
    assert decision.action == "invalid"
    (srm,) = [r for r in decision.reasons if r.startswith("Sample ratio mismatch")]
    assert f"'pairing ' ({int(pairing.sum()):,} units, which looks like 'pairing')" in srm
    assert "fix the variant ids in the exposures" in srm
