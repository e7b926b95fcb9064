"""Control characters and bidi overrides from specs and data never reach a terminal raw (issue 10).

Spec text (experiment name, wording) and data values (a segment attribute, an
unknown variant name an app recorded) carry clear-screen, set-title, C1 CSI
and right-to-left override characters. Every human format shows them as
visible escapes (``\\x1b``); JSON keeps the exact values, ``\\u``-escaped, so a
parser reads back what the data said. The oracle is the raw characters
themselves: none may appear in any rendered output.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from upsell_ab.safe_text import escape_control, escape_json_text, escape_strings

REPO = Path(__file__).resolve().parents[1]
CLEAR, TITLE, CSI, RLO = "\x1b[2J", "\x1b]0;pwned\x07", "\x9b31m", "\u202e"
MEASURED = (
    "import sys; from upsell_ab.cli.main import main; code = main(sys.argv[1:]); "
    "hwm = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]; "
    "print('peak-kb', hwm, file=sys.stderr); sys.exit(code)"
)
"""The real CLI, then this process's peak resident memory (kB) on stderr."""
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("render")
    shutil.copy(REPO / "experiments" / "metrics.yaml", folder / "metrics.yaml")
    spec = (REPO / "experiments" / "cake_wording.yaml").read_text(encoding="utf-8")
    spec = spec.replace(
        "name: Cake add-on wording at the register",
        'name: "Cake \\e[2J\\e]0;pwned\\a \\u202eevil \\x9b31m"',
    ).replace("wording: ケーキもいかがですか?", 'wording: "ケーキ\\e[31m red\\u202e"', 1)
    path = folder / "cake.yaml"
    path.write_text(spec, encoding="utf-8")
    store = folder / "s.duckdb"
    made = subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", "simulate", str(path), "--store",
         str(store), "--units", "3000"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    rows = ["experiment,variant,unit_id,timestamp,channel"]
    rows += [f"cake_wording,generic,h{i},2026-03-05 10:00:00,app{CLEAR}{TITLE}" for i in range(40)]
    rows += [f"cake_wording,evil{CLEAR}{RLO},x{i},2026-03-05 10:00:00,app" for i in range(3)]
    data = folder / "hostile.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ingested = subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", "ingest", "--store", str(store),
         "--exposures", str(data)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ingested.returncode == 0, ingested.stderr
    return path, store


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json"])
def test_no_raw_control_character_in_any_format(hostile: tuple[Path, Path], fmt: str) -> None:
    spec, store = hostile
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, "analyze", str(spec), "--store", str(store),
         "--segments", "--format", fmt],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    peak_kb = int(done.stderr.rsplit("peak-kb ", 1)[1])
    assert time.monotonic() - began < 60 and peak_kb < 1_500_000  # bounded time and memory
    stderr = done.stderr.rsplit("peak-kb ", 1)[0]
    assert RAW.findall(done.stdout) == []
    assert RAW.findall(stderr) == []
    if fmt == "json":
        document = json.loads(done.stdout)["experiments"][0]
        assert document["name"] == f"Cake {CLEAR}{TITLE[:-1]}\x07 {RLO}evil {CSI}"
        assert "\\u001b" in done.stdout and "\\u202e" in done.stdout
    else:  # shown, visibly (Markdown also escapes the backslash and bracket)
        assert re.search(r"\\+x1b\\*\[2J", done.stdout), done.stdout[:500]
        assert re.search(r"\\+u202e", done.stdout)


def test_escape_is_visible_and_keeps_ordinary_text() -> None:
    assert escape_control(f"a{CLEAR}b") == "a\\x1b[2Jb"
    assert escape_control("行\tline\nnext") == "行\tline\nnext"
    assert escape_control("a\nb\rc", keep_newlines=False) == "a\\nb\\rc"
    assert escape_control(f"x{RLO}y\u2066z") == "x\\u202ey\\u2066z"
    assert escape_control("\x9b\x7f") == "\\x9b\\x7f"


def test_json_escaping_keeps_the_document_and_its_values() -> None:
    value = {"name": f"a{CSI}{RLO}\u2028b\x7f"}
    text = escape_json_text(json.dumps(value, ensure_ascii=False))
    assert RAW.findall(text) == [] and "\u2028" not in text
    assert json.loads(text) == value


def test_escape_strings_walks_dataclasses_and_keeps_enums() -> None:
    from dataclasses import dataclass
    from enum import StrEnum

    class Kind(StrEnum):
        a = "a"

    @dataclass(frozen=True)
    class Row:
        label: str
        kind: Kind
        values: tuple[str, ...]
        extra: dict[str, str]

    row = Row(f"x{CLEAR}", Kind.a, ("ok", f"{RLO}"), {f"k{CSI}": "v"})
    safe = escape_strings(row)
    assert safe.label == "x\\x1b[2J" and safe.kind is Kind.a
    assert safe.values == ("ok", "\\u202e") and safe.extra == {"k\\x9b31m": "v"}
    clean = Row("plain", Kind.a, ("ok",), {})
    assert escape_strings(clean) is clean  # nothing to escape: no copy


def test_python_api_renderers_escape_hostile_spec_text(tmp_path: Path) -> None:
    """The notebook view (``_repr_html_``) and every ``Result.to_*`` are as inert as the CLI's:
    no raw control character anywhere, no live ``<script>`` in HTML, and JSON that reads
    back the exact name."""
    import upsell_ab

    shutil.copy(REPO / "experiments" / "metrics.yaml", tmp_path / "metrics.yaml")
    name = f"Cake <script>alert(1)</script> {CLEAR}{TITLE}{RLO}{CSI}"
    spec = (REPO / "experiments" / "cake_wording.yaml").read_text(encoding="utf-8")
    spec = spec.replace("name: Cake add-on wording at the register", f"name: {json.dumps(name)}")
    (tmp_path / "cake.yaml").write_text(spec, encoding="utf-8")
    experiment = upsell_ab.load(tmp_path / "cake.yaml")
    assert experiment.name == name
    summary = [
        {"variant": "generic", "metric": "upsell_take_rate", "n": 2000, "sum": 180},
        {"variant": "pairing", "metric": "upsell_take_rate", "n": 2000, "sum": 250},
    ]
    result = experiment.analyze(summary)
    rendered = {
        "html": result.to_html(),
        "notebook": result._repr_html_(),
        "markdown": result.to_markdown(),
        "text": result.to_text(),
        "text-colour": re.sub("\x1b\\[[0-9;]*m", "", result.to_text(color=True)),
        "repr": repr(result),
    }
    for fmt, text in rendered.items():
        assert not RAW.search(text), fmt
    for fmt in ("html", "notebook"):
        assert "<script>alert" not in rendered[fmt], fmt
        assert "&lt;script&gt;alert(1)" in rendered[fmt], fmt
    document = json.loads(result.to_json())
    assert not RAW.search(result.to_json())
    assert document["experiments"][0]["name"] == name
