"""``--memory-limit``: how much memory DuckDB may use before spilling (analyze, report,
demo, ingest). The flag sets ``UPSELL_AB_MEMORY_LIMIT`` for this process, which every
DuckDB connection we open reads (see :mod:`upsell_ab.events.memory`)."""

from __future__ import annotations

import argparse
import os


def add_memory_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="DuckDB memory before spilling to a temporary directory: a size (8GB, 512MB) "
        "or a share of RAM (60%%); default $UPSELL_AB_MEMORY_LIMIT, else 50%% of RAM",
    )


def apply_memory_argument(args: argparse.Namespace) -> None:
    """Validate the flag (one-line error, exit 1) and export it for this process."""
    value = getattr(args, "memory_limit", None)
    if value:
        from upsell_ab.events.memory import MEMORY_ENV, parse_memory_limit

        parse_memory_limit(value, "--memory-limit")
        os.environ[MEMORY_ENV] = value
