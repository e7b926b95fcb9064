"""Import SciPy's special functions in the background while the metric query runs.

``analyze`` and ``report`` need ``scipy.special`` (p-values and critical values,
:mod:`upsell_ab.stats.frequentist`) only after the query, and importing it costs about
0.3 s (most of it SciPy's array-API layer cloning NumPy), a sixth of ``analyze`` at 1M
customers (issue 17). DuckDB releases the GIL while it executes, so a second thread can
do that import during the query instead of after it. Imports are thread-safe (the
module's import lock makes the main thread wait for a half-done import, never see one).

The thread imports SciPy and NumPy only: the main thread does not import either before
the analysis, so the two threads never wait on each other's module locks (no import
deadlock). The thread is not a daemon: an early exit (a failed query) waits for the
import to finish rather than stopping the interpreter in the middle of it. A failing
import is ignored here; the analysis then imports again and reports the error itself.
The library API starts no threads: only the CLI commands call :func:`start`, through
:func:`during_first_query`, which starts the thread when the first DuckDB query begins
(started earlier, the import held the GIL while the main thread imported SQLGlot and
built the SQL, so it delayed the query and hardly overlapped it).
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

MODULES: tuple[str, ...] = ("scipy.special",)
"""What the analysis imports after the query and the main thread never needs before it."""


def _import_all() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # the analysis imports it again and reports it
            return


def start() -> threading.Thread | None:
    """Import :data:`MODULES` in a background thread (None when they are all loaded)."""
    if all(name in sys.modules for name in MODULES):
        return None
    thread = threading.Thread(target=_import_all, name="upsell-ab-preload")
    thread.start()
    return thread


@contextmanager
def during_first_query() -> Iterator[None]:
    """Inside this block, :func:`start` runs when the first DuckDB query begins (not at
    all if none runs: a PostgreSQL or Spark source, or a failure before the query)."""
    from upsell_ab.events.engines import before_first_query

    with before_first_query(_start_quietly):
        yield


def _start_quietly() -> None:
    start()
