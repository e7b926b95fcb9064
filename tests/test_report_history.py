"""`report` lists concluded experiments from the results archive (issue 15 part 1).

Oracle: the records `conclude` wrote (decision, winner, offer), and the report JSON
validated against docs/report.schema.json."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(argv: list[str]) -> tuple[int, str, str]:
    from upsell_ab.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_the_report_has_a_history_of_concluded_experiments(tmp_path: Path) -> None:
    import jsonschema

    folder = tmp_path / "experiments"
    folder.mkdir()
    for name in ("cake_wording.yaml", "discount_depth.yaml", "metrics.yaml"):
        shutil.copy(ROOT / "experiments" / name, folder / name)
    sums = tmp_path / "sums.csv"
    sums.write_text(
        "variant,metric,n,sum\n"
        "generic,upsell_take_rate,2000,180\npairing,upsell_take_rate,2000,250\n"
        "generic,complaint_rate,2000,10\npairing,complaint_rate,2000,8\n",
        "utf-8",
    )
    spec = folder / "cake_wording.yaml"
    code, _, err = _run(["conclude", str(spec), "--summary", str(sums), "--by", "hana"])
    assert code == 0, err
    spec.write_text(spec.read_text("utf-8").replace("status: running", "status: concluded"))
    assert _run(["validate", str(folder)])[0] == 0
    store = tmp_path / "s.duckdb"
    assert _run(["simulate", str(folder / "discount_depth.yaml"), "--store", str(store),
                 "--units", "3000"])[0] == 0  # fmt: skip
    record = json.loads((folder / "results" / "cake_wording" / "v1.json").read_text("utf-8"))
    code, out, _ = _run(["report", str(folder), "--store", str(store), "--format", "json"])
    assert code == 0
    document = json.loads(out)
    schema = json.loads((ROOT / "docs" / "report.schema.json").read_text("utf-8"))
    jsonschema.validate(document, schema)
    assert [e["experiment"] for e in document["experiments"]] == ["discount_depth"]
    (entry,) = document["history"]
    assert entry["experiment"] == "cake_wording" and entry["version"] == 1
    assert entry["action"] == record["decision"]["action"] == "ship"
    assert entry["winner"] == "pairing" and entry["concluded_by"] == "hana"
    assert entry["offer"].startswith("cross_sell, at_checkout, ")  # the winning offer
    markdown = _run(["report", str(folder), "--store", str(store)])[1]
    assert "## Concluded experiments" in markdown and "| cake\\_wording v1 |" in markdown
    html = _run(["report", str(folder), "--store", str(store), "--format", "html"])[1]
    assert "Concluded experiments" in html and html.rstrip().endswith("</html>")
    text = _run(["report", str(folder), "--store", str(store), "--format", "text"])[1]
    assert "cake_wording v1  ship pairing" in text
