"""A guardrail without any data is reported as such, never as "more data needed" on zero rows."""

from __future__ import annotations

import json
from pathlib import Path

from upsell_ab.cli.main import main

SPEC = Path(__file__).resolve().parents[1] / "experiments" / "cake_wording.yaml"


def test_summary_without_guardrail_rows_says_no_data(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    summary = tmp_path / "summary.csv"
    summary.write_text(
        "variant,metric,n,sum,sum_squares\n"
        "generic,upsell_take_rate,1000,200,200\n"
        "pairing,upsell_take_rate,1000,260,260\n",
        encoding="utf-8",
    )
    code = main(["analyze", str(SPEC), "--summary", str(summary), "--format", "json"])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    experiment = document["experiments"][0] if "experiments" in document else document
    decision = experiment["decision"]
    assert decision["action"] != "ship"  # a guardrail with no data cannot pass
    assert any("complaint" in r and "no data" in r for r in decision["reasons"])
