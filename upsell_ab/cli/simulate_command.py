"""`upsell-ab simulate` (not built yet)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("simulate", help="(not built yet)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print("upsell-ab simulate: not built yet", file=sys.stderr)
    return 1
