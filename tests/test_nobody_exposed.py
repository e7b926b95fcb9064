"""No unit counted though the exposures are there: say why, and fail a CI gate.

A careless script or app: exposures logged under an id spelled otherwise
(``Cake-Wording`` for ``cake_wording``), rows without a variant (``assign_many``
without the targeting attributes returns None for everyone), or a source holding
other experiments only. The decision used to say only "no unit has been exposed
yet (a new experiment ...)", which a CI gate passes. Rows of the experiment without a
variant, or an id spelled otherwise, are broken logging: invalid. Other experiments
only may be a new experiment in a shared store: still waiting, with the ids listed.
Expected counts are the rows these tests write.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import upsell_ab

SPEC = Path(__file__).resolve().parents[1] / "experiments" / "cake_wording.yaml"


def _frames(experiment: str, variants: list[str | None]) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(variants)
    seen = pd.Timestamp("2026-03-03 08:00") + pd.to_timedelta(range(n), unit="min")
    exposures = pd.DataFrame(
        {
            "experiment": experiment,
            "variant": pd.Series(variants, dtype=object),
            "unit_id": [f"c{i}" for i in range(n)],
            "timestamp": seen,
            "channel": "app",
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": ["c0", "c1"],
            "timestamp": seen[:2] + pd.Timedelta(minutes=2),
            "event_type": "upsell_purchase",
            "value": 480.0,
            "discount": 0.0,
            "quantity": 1.0,
            "event_id": ["o0", "o1"],
        }
    )
    return exposures, events


def _reasons(
    exposures: pd.DataFrame, events: pd.DataFrame, action: str = "waiting_for_data"
) -> list[str]:
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    assert result.decision.action == action, result.decision.reasons
    return list(result.decision.reasons)


def test_rows_without_a_variant_are_named() -> None:
    """The rows are there but none can count: invalid (a CI gate fails), not 'new'."""
    reasons = _reasons(*_frames("cake_wording", [None] * 120), action="invalid")
    assert any("120 rows of cake_wording without a variant (NULL)" in r for r in reasons), reasons


def test_an_id_spelled_otherwise_is_named() -> None:
    reasons = _reasons(*_frames("Cake-Wording", ["generic", "pairing"] * 40), action="invalid")
    assert any(
        "80 rows of experiment 'Cake-Wording', which looks like 'cake_wording'" in r
        for r in reasons
    ), reasons


def test_other_experiments_only_are_listed() -> None:
    exposures, events = _frames("dessert_timing", ["control"] * 30)
    reasons = _reasons(exposures, events)
    assert any("other experiments only: 'dessert_timing' (30 rows)" in r for r in reasons)


def test_empty_exposures_keep_the_plain_reason() -> None:
    """A new experiment with no exposure at all: nothing to explain beyond the plain line."""
    exposures, events = _frames("cake_wording", ["generic"] * 3)
    reasons = _reasons(exposures.iloc[:0], events)
    assert len(reasons) == 1 and reasons[0].startswith("Waiting for data")


def test_broken_logging_fails_the_quality_gate(tmp_path: Path) -> None:
    """Invalid for broken logging is what ``--fail-on quality`` exists for: the report
    marks it failed, and the exit code must say the same (it used to be 0)."""
    from upsell_ab.cli.exit_codes import ExitCode
    from upsell_ab.cli.run_output import exit_code

    exposures, events = _frames("cake_wording", [None] * 120)
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    assert result.decision.action == "invalid"
    assert result.quality_failed
    assert exit_code([result.run], ["quality"]) is ExitCode.DATA_QUALITY
    assert exit_code([result.run], ["guardrail"]) is ExitCode.OK
