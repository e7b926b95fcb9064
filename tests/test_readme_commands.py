"""The README's two commands are the ones CI and newcomers run (DEVELOPERS: keep
`.ci/run` calling the README's test command verbatim)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def _commands(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_readme_has_the_two_commands_and_ci_runs_the_test_one_verbatim() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = [_commands(b) for b in _bash_blocks(quick_start)]
    assert [len(b) for b in blocks] == [1, 1], "Quick start must hold exactly two one-line commands"
    main_job, test_command = blocks[0][0], blocks[1][0]
    assert "upsell-ab demo" in main_job
    assert "pytest" in test_command
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines


def test_install_script_exists_and_is_used_by_both_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert (ROOT / "scripts" / "install.sh").is_file()
    assert readme.count("bash scripts/install.sh") >= 2
