"""Problem codes: every code is reachable, none is undocumented (docs/spec.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

from upsell_ab.spec.codes import PROBLEM_CODES
from upsell_ab.spec.load import validate_paths

ROOT = Path(__file__).resolve().parents[1]

KITCHEN_SINK = """id: sink
name: !!int '5'
status: runing
start: 2026-02-30
population:
  seed: 012
  coverage: 2
base: &b {x: 1}
extra:
  <<: *b
variants:
  - id: a
    control: true
    weight: 0.5
    weight: 0.5
  - id: a
    weight: 0.4
overrides:
  qa-1: b
analysis:
  mde: 15
"""

SPEC = """id: {id}
name: N
population:
  namespace: {{name: checkout, range: [0, 0.6]}}
variants:
  - {{id: a, control: true, weight: 0.5}}
  - {{id: b, weight: 0.5}}
metrics:
  primary: {metric}
"""

FILES = """id: {id}
name: Files
variants:
  - {{id: a, control: true}}
  - {{id: b}}
metrics:
  primary: upsell_take_rate
data:
  kind: files
  exposures: {{path: '{exposures}'}}
  events: {{path: '{events}'}}
  event_columns: {{discount: null, quantity: null, event_id: null}}
"""
"""A files source whose exports lack a column, hold an amount as text, or are damaged."""


def test_every_code_is_reachable_and_known(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    shutil.copy(ROOT / "experiments" / "metrics.yaml", folder / "metrics.yaml")
    (folder / "broken.yaml").write_text("id: [\n", encoding="utf-8")
    (folder / "empty.yaml").write_text("# nothing yet\n", encoding="utf-8")
    (folder / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (folder / "sink.yaml").write_text(KITCHEN_SINK, encoding="utf-8")
    (folder / "deep.yaml").write_text("id: " + "[" * 100 + "]" * 100 + "\n", encoding="utf-8")
    (folder / "one.yaml").write_text(SPEC.format(id="one", metric="nope"), encoding="utf-8")
    (folder / "two.yaml").write_text(
        SPEC.format(id="one", metric="upsell_take_rate"), encoding="utf-8"
    )
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "exp.csv").write_text("experiment,unit_id,timestamp\nf,u1,2026-03-05 10:00:00\n")
    (exports / "ev.csv").write_text("unit_id,timestamp,event_type,value\nu1,2026-03-05,o,¥1\n")
    (exports / "ev.parquet").write_bytes(b"PAR1 not parquet")
    for name, events in (("files", "ev.csv"), ("damaged", "ev.parquet")):
        (folder / f"{name}.yaml").write_text(
            FILES.format(id=name, exposures=exports / "exp.csv", events=exports / events),
            encoding="utf-8",
        )
    (folder / "done.yaml").write_text(
        SPEC.format(id="done", metric="upsell_take_rate")
        .replace("name: N\n", "name: Done\nstatus: concluded\n")
        .replace("checkout", "done_ns"),
        encoding="utf-8",
    )
    lonely = tmp_path / "elsewhere" / "lonely.yaml"
    lonely.parent.mkdir()
    lonely.write_text(SPEC.format(id="x", metric="m"), encoding="utf-8")
    problems = validate_paths([folder, lonely, tmp_path / "missing.yaml"])
    codes = {p.code for p in problems} | _against_codes(tmp_path / "repo")
    assert codes == set(PROBLEM_CODES), (
        f"unreached: {set(PROBLEM_CODES) - codes}, unknown: {codes - set(PROBLEM_CODES)}"
    )


def test_docs_list_every_code() -> None:
    text = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    missing = [code for code in PROBLEM_CODES if f"`{code}`" not in text]
    assert missing == []


def _against_codes(repo: Path) -> set[str]:
    """`validate --against`: a weight edit of a running spec, and an unknown revision."""
    from tests.git_support import git
    from upsell_ab.spec.validate import validate_report

    repo.mkdir()
    for name in ("metrics.yaml", "cake_wording.yaml"):
        shutil.copy(ROOT / "experiments" / name, repo / name)
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "base"]):
        git(repo, *args)
    spec = repo / "cake_wording.yaml"
    text = spec.read_text(encoding="utf-8").replace("weight: 0.5", "weight: 0.6", 1)
    spec.write_text(text.replace("weight: 0.5", "weight: 0.4", 1), encoding="utf-8")
    found = validate_report([repo], against="HEAD").problems
    found += validate_report([repo], against="no-such-revision").problems
    return {p.code for p in found}
