"""GitHub workflow-command escaping and ``validate --format github``.

Oracle: GitHub's runner unescapes a property value by mapping %0D, %0A, %3A,
%2C, %25 back (actions/runner ``ActionCommand.UnescapeProperty``; the data
part: %0D, %0A, %25). A small reimplementation of that parser here reads our
output back; a round trip must give the original text for any string."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_e2e_support import CATALOGUE
from upsell_ab.cli.annotations import command, escape_data, escape_property
from upsell_ab.cli.main import main

LINE = re.compile(r"^::(\w+)(?: ([^:]*))?::(.*)$")


def _unescape_property(text: str) -> str:
    for token, raw in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(token, raw)
    return text


def _unescape_data(text: str) -> str:
    for token, raw in (("%0D", "\r"), ("%0A", "\n"), ("%25", "%")):
        text = text.replace(token, raw)
    return text


def parse(line: str) -> tuple[str, dict[str, str], str]:
    """The runner's parser: level, properties (split on ',' then the first '='), message."""
    match = LINE.match(line)
    assert match, line
    props = {}
    for pair in (match.group(2) or "").split(","):
        if pair:
            key, _, value = pair.partition("=")
            props[key] = _unescape_property(value)
    return match.group(1), props, _unescape_data(match.group(3))


def test_known_escapes() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a,b:c%") == "a%2Cb%3Ac%25"
    assert escape_data("already %0A") == "already %250A"  # '%' first: stays literal


@given(
    file=st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s),
    title=st.text(min_size=1, max_size=40),
    message=st.text(max_size=80),
)
def test_round_trip_through_the_runner_parser(file: str, title: str, message: str) -> None:
    line = command("error", message, file=file, line=3, col=7, title=title)
    assert "\n" not in line and "\r" not in line
    level, props, text = parse(line)
    assert level == "error"
    assert props == {"file": file, "line": "3", "col": "7", "title": title}
    assert text == message


def test_validate_emits_one_error_annotation_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "metrics.yaml").write_text(CATALOGUE.read_text("utf-8"), "utf-8")
    (folder / "bad, spec.yaml").write_text(
        'id: x\nname: "50%: a, b"\nstatus: running\nvariants: []\nmetrics: {primary: nope}\n',
        "utf-8",
    )
    assert main(["validate", str(folder), "--format", "github"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2 and "2 problems in 1 of 1 spec" in err
    parsed = [parse(line) for line in lines]
    # repository-relative path (so GitHub attaches it to the diff), line and column of each
    assert [(p["file"], p["line"], p["col"]) for _, p, _ in parsed] == [
        ("experiments/bad, spec.yaml", "4", "1"),
        ("experiments/bad, spec.yaml", "5", "20"),
    ]
    assert parsed[0][2].startswith("variants: ")
    assert parsed[1][2].startswith("metrics.primary: primary metric 'nope'")
    assert all(level == "error" for level, _, _ in parsed)
    assert "%2C" in lines[0]  # the comma in the file name is escaped, not a separator


def test_valid_specs_emit_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(CATALOGUE.parent), "--format", "github"]) == 0
    assert capsys.readouterr().out == ""
