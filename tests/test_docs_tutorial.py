"""The getting-started tutorial runs as written (docs/getting-started.md).

Its fenced blocks are replayed in order in an empty folder: YAML blocks with a
``title`` are written to that path, ``upsell-ab`` command lines run in-process,
Python blocks run in one shared namespace. Oracle: the tutorial's stated truth
(10 % vs 13 % take rate on 8,000 customers) must ship the pairing wording.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from upsell_ab.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "getting-started.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(language, info string, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2).strip(), m.group(3)) for m in FENCE.finditer(text)]


def test_the_tutorial_runs_and_ships_the_stated_winner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "tutorial"}
    ran = {"yaml": 0, "bash": 0, "python": 0}
    for language, info, body in blocks(TUTORIAL.read_text(encoding="utf-8")):
        if language == "yaml":
            title = re.search(r'title="([^"]+)"', info)
            assert title, f"a YAML block without a file name: {body[:40]!r}"
            path = tmp_path / title.group(1)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
        elif language == "bash":
            for line in body.splitlines():
                command = line.split("#")[0].strip()
                if command.startswith("upsell-ab "):
                    assert main(shlex.split(command)[1:]) == 0, command
        elif language == "python":
            exec(compile(body, f"{TUTORIAL.name}:{language}", "exec"), namespace)
        else:
            continue
        ran[language] += 1
    assert ran == {"yaml": 2, "bash": 2, "python": 5}
    result = namespace["result"]
    assert (result.decision.action, result.decision.winner) == ("ship", "pairing")
    assert (tmp_path / "dessert_report.html").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "ship pairing" in out


def test_readme_links_into_docs_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?:docs|examples)/[^)#]+)", readme)
    assert len(links) > 10
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []


def test_the_spec_reference_covers_every_key_of_the_schemas() -> None:
    """The generated reference (an MkDocs hook) names every key the schemas define."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location(
        "spec_reference", ROOT / "scripts" / "spec_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pages = module.pages(ROOT)
    for page, (schema_path, _, _) in module.PAGES.items():
        schema = json.loads((ROOT / schema_path).read_text(encoding="utf-8"))
        text = pages[page]
        for name, node in [("root", schema), *schema["$defs"].items()]:
            if name != "root":
                assert f"## {name}\n" in text, (page, name)
            for key in node.get("properties", {}):
                assert f"| `{key}` |" in text, (page, name, key)
    assert "{value: order}" in pages["reference/spec.md"]  # constants are documented
