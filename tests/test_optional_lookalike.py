"""An export whose discount column is called ``discount_amount``: never read as "no discount".

A files source, a table source or a DataFrame left ``discount`` at its default name;
read as absent, every discount was 0 and a profit-after-discount metric was judged on
gross margin (a ``ship`` on profit with every discount ignored). Ingest already refused
such look-alike columns; the analysis now does too, naming the column and both fixes
(map it, or ``discount: null`` when it is something else). The profit after the fix is
checked against the export itself (margin x value - discount, per arm).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

import upsell_ab
from upsell_ab.cli.main import main
from upsell_ab.errors import InputError

MARGIN = 0.3
METRICS = f"""\
metrics:
  profit_per_customer:
    type: profit
    event: order
    margin: {MARGIN}
    window: {{end: 7d}}
"""

SPEC = """\
id: disc_exp
name: Discount depth
status: running
start: 2025-01-06
end: 2025-02-06
variants:
  - {{id: none, weight: 0.5, control: true}}
  - {{id: twenty, weight: 0.5}}
metrics:
  primary: profit_per_customer
data:
{data}
"""


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    n = 400
    start = pd.Timestamp("2025-01-07")
    exposures = pd.DataFrame(
        {
            "experiment": "disc_exp",
            "variant": np.where(np.arange(n) % 2 == 0, "none", "twenty"),
            "unit_id": [f"c{i}" for i in range(n)],
            "timestamp": [start + pd.Timedelta(minutes=7 * i) for i in range(n)],
        }
    )
    buyers = exposures[rng.random(n) < 0.4].reset_index(drop=True)
    value = np.round(rng.uniform(20, 60, len(buyers)), 2)
    # the 'twenty' arm gives 20 % off: its margin is eaten by the discount
    discount = np.where(buyers["variant"] == "twenty", np.round(0.2 * value, 2), 0.0)
    events = pd.DataFrame(
        {
            "unit_id": buyers["unit_id"],
            "timestamp": buyers["timestamp"] + pd.Timedelta(hours=3),
            "event_type": "order",
            "value": value,
            "discount_amount": discount,
            "event_id": [f"o{i}" for i in range(len(buyers))],
        }
    )
    return exposures, events


def _expected_profit(exposures: pd.DataFrame, events: pd.DataFrame, discounts: bool) -> dict:
    arm = exposures.set_index("unit_id")["variant"]
    profit = MARGIN * events["value"] - (events["discount_amount"] if discounts else 0.0)
    per_arm = profit.groupby(events["unit_id"].map(arm)).sum()
    units = exposures["variant"].value_counts()
    return {a: float(per_arm.get(a, 0.0) / units[a]) for a in ("none", "twenty")}


def _means(out: str) -> dict[str, float]:
    report = json.loads(out)
    (experiment,) = report.get("experiments", [report])
    (metric,) = [m for m in experiment["metrics"] if m["name"] == "profit_per_customer"]
    return {v["variant"]: v["mean"] for v in metric["variants"]}


@pytest.fixture
def files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    exposures, events = _frames()
    exposures.to_csv(tmp_path / "exposures.csv", index=False)
    events.to_csv(tmp_path / "orders.csv", index=False)
    (tmp_path / "metrics.yaml").write_text(METRICS)
    monkeypatch.chdir(tmp_path)
    return tmp_path, exposures, events


def _files_spec(root: Path, extra: str = "") -> Path:
    data = "  kind: files\n  exposures: exposures.csv\n  events: orders.csv\n" + extra
    spec = root / "disc_exp.yaml"
    spec.write_text(SPEC.format(data=data))
    return spec


def test_a_files_source_refuses_and_names_both_fixes(
    files: tuple[Path, pd.DataFrame, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    root, exposures, events = files
    spec = _files_spec(root)
    assert main(["analyze", str(spec), "--format", "json"]) == 1
    err = capsys.readouterr().err
    assert "data.event_columns.discount" in err and "has no column 'discount'" in err
    assert "did you mean 'discount_amount'? map it: discount: discount_amount" in err
    assert "'discount: null'" in err
    assert main(["validate", str(spec)]) == 1  # validate reads the header: said before any run
    assert "discount_amount" in capsys.readouterr().out

    mapped = _files_spec(root, "  event_columns: {discount: discount_amount}\n")
    assert main(["analyze", str(mapped), "--format", "json"]) in (0, 3)
    got = _means(capsys.readouterr().out)
    assert got == pytest.approx(_expected_profit(exposures, events, True), rel=1e-9)

    waived = _files_spec(root, "  event_columns: {discount: null}\n")
    assert main(["analyze", str(waived), "--format", "json"]) in (0, 3)
    got = _means(capsys.readouterr().out)
    assert got == pytest.approx(_expected_profit(exposures, events, False), rel=1e-9)


def test_a_table_source_refuses_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exposures, events = _frames()
    connection = duckdb.connect(str(tmp_path / "shop.duckdb"))
    for name, frame in (("exposures", exposures), ("events", events)):
        connection.register("frame", frame)
        connection.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
        connection.unregister("frame")
    connection.close()
    (tmp_path / "metrics.yaml").write_text(METRICS)
    spec = tmp_path / "disc_exp.yaml"
    spec.write_text(SPEC.format(data=f"  kind: embedded\n  store: {tmp_path / 'shop.duckdb'}\n"))
    assert main(["analyze", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "has no column 'discount'" in err and "map it: discount: discount_amount" in err


def test_a_dataframe_refuses_too(tmp_path: Path) -> None:
    exposures, events = _frames()
    (tmp_path / "metrics.yaml").write_text(METRICS)
    spec = tmp_path / "disc_exp.yaml"
    spec.write_text(SPEC.format(data="  kind: files\n  exposures: x.csv\n  events: y.csv\n"))
    experiment = upsell_ab.load(spec)
    with pytest.raises(InputError) as caught:
        experiment.analyze(exposures=exposures, events=events)
    message = str(caught.value)
    assert "'discount_amount' looks like it" in message
    assert "df.rename(columns={'discount_amount': 'discount'})" in message
    renamed = events.rename(columns={"discount_amount": "discount"})
    result = experiment.analyze(exposures=exposures, events=renamed)
    assert result is not None
