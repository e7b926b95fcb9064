"""Entry point of ``upsell-ab``.

Each subcommand lives in its own module exposing ``register(subparsers)``;
``COMMANDS`` is the explicit registry (no discovery magic). Modules are
imported when the parser is built, so they must keep heavy imports (scipy,
statsmodels, duckdb, matplotlib) inside their run functions.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn

from upsell_ab import __version__
from upsell_ab.cli.exit_codes import ExitCode
from upsell_ab.cli.failures import run_guarded
from upsell_ab.cli.usage import UsageParser

COMMANDS: tuple[str, ...] = (
    "demo",
    "validate",
    "schema",
    "assign",
    "allocate",
    "ingest",
    "store",
    "export",
    "serve",
    "simulate",
    "init",
    "plan",
    "analyze",
    "report",
    "conclude",
    "learn",
    "holdout",
)

EPILOG = """exit codes:
  0  done
  1  invalid spec, input file or argument; or a failure of the store, a database
     or the file system (one line on stderr, never a traceback)
  2  data-quality failure (SRM, multiple exposures) with --fail-on quality
  3  guardrail breached with --fail-on guardrail
"""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``upsell-ab`` parser with every subcommand, or with ``only`` that one (what
    :func:`main` builds when the command line names a command: the other sixteen
    modules cost about 15 ms to import and register, for a parser that never uses them;
    a subcommand's usage, help and errors are the same either way)."""
    parser = UsageParser(
        prog="upsell-ab",
        description="Experiments for upsell, cross-sell and subscription-upgrade offers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"upsell-ab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        module = importlib.import_module(f"upsell_ab.cli.{name}_command")
        module.register(subparsers)
    return parser


GC_THRESHOLD = (50_000, 20, 20)
"""Cyclic-GC thresholds while a command runs (CPython's default is (700, 10, 10)).

A command is short-lived and allocates mostly while it imports (pydantic models, SQLGlot,
SciPy) and builds small trees; with the default, the young generations are collected
hundreds of times and each collection walks the freshly imported objects: 0.14-0.17 s of
``analyze`` and 0.56 s of ``report`` over five experiments at 1M customers (measured with
``gc.callbacks``, issue 17), for no memory returned. A higher first threshold collects
the same garbage in a few dozen passes; mypy runs with ``gc.set_threshold(200_000, 30, 30)``
for the same reason."""


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """:data:`GC_THRESHOLD` for the duration of a command, then the caller's thresholds."""
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def main(argv: Sequence[str] | None = None) -> int:
    with _fewer_collections():
        words = list(sys.argv[1:] if argv is None else argv)
        named = words[0] if words and words[0] in COMMANDS else None
        parser = build_parser(named)
        args = parser.parse_args(words)
        if not getattr(args, "run", None):
            parser.print_help()
            return int(ExitCode.INVALID_INPUT)
        return run_guarded(args.command, lambda: _run_and_flush(args), _print_error)


def _run_and_flush(args: argparse.Namespace) -> int:
    """Run the command and flush stdout inside the error boundary, so a full disk or a
    closed pipe behind stdout is reported (exit 1) instead of lost at interpreter exit."""
    code = int(args.run(args))
    sys.stdout.flush()
    return code


def _print_error(text: str) -> None:
    with contextlib.suppress(OSError):  # stderr itself gone: nothing left to tell
        print(text, file=sys.stderr, flush=True)


def console() -> NoReturn:
    """The ``upsell-ab`` program (the installed script and ``python -m``): :func:`main`, then
    exit without the interpreter's last cyclic garbage collections.

    At exit CPython collects the whole heap (every imported module's objects: pydantic,
    SQLGlot, SciPy, NumPy) more than once while it tears the modules down, to free memory
    that the operating system takes back anyway: 0.17 s of ``analyze`` at 1M customers
    (median of 5, Parquet and store alike, load 3.5-5), 0.017 s frozen (issue 17; from the
    return of :func:`main` to the process's ``exit_group``).
    :func:`gc.freeze` moves every object alive now out of the collector's reach, so those
    passes have next to nothing to walk. Everything else of a normal exit still happens:
    non-daemon threads are joined, ``atexit`` handlers run (temporary directories are
    removed), standard streams are flushed and objects outside reference cycles are still
    freed; only objects in cycles are left to the operating system, and no command leaves
    work to their finalizers (files and DuckDB connections are closed where they are used).
    Only here, never in :func:`main`, which tests and scripts call in-process."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
