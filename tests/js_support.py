"""The pinned npm packages under ``tests/js`` (the GrowthBook JavaScript SDK; playwright-core
to drive Debian's Chromium), for tests.

``.ci/run`` installs them with ``npm ci`` (exact versions from
``tests/js/package-lock.json``); when a developer runs pytest without that,
:func:`ensure_js_packages` runs the same ``npm ci`` once, at test-setup time
(never at import time). A machine without Node fails these tests loudly:
Node 20 and npm are part of the test toolchain.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

JS_DIR = Path(__file__).parent / "js"
SDK_DIR = JS_DIR / "node_modules" / "@growthbook" / "growthbook"


def ensure_js_packages() -> Path:
    """``tests/js/node_modules`` matching the lockfile; returns the SDK folder."""
    if _installed_as_locked():
        return SDK_DIR
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: the JavaScript SDK tests need Node 20 + npm")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=JS_DIR,
        check=True,
        timeout=300,
    )
    return SDK_DIR


def _installed_as_locked() -> bool:
    """Every direct dependency in ``node_modules`` at the lockfile's version."""
    lock = json.loads((JS_DIR / "package-lock.json").read_text(encoding="utf-8"))
    for name in lock["packages"][""]["dependencies"]:
        pinned = lock["packages"][f"node_modules/{name}"]["version"]
        manifest = JS_DIR / "node_modules" / name / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text())["version"] != pinned:
            return False
    return True


def node() -> str:
    found = shutil.which("node")
    if found is None:
        raise RuntimeError("node is not installed: the JavaScript SDK tests need Node 20")
    return found
