"""Run the real ``upsell-ab`` CLI in a fresh interpreter (helper for the CLI tests; no tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``upsell-ab ARGS`` with this interpreter and PYTHONPATH, plus ``env`` on top."""
    return subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
