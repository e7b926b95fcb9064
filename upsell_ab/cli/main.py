"""Entry point of ``upsell-ab``.

Each subcommand lives in its own module exposing ``register(subparsers)``;
``COMMANDS`` is the explicit registry (no discovery magic). Modules are
imported when the parser is built, so they must keep heavy imports (scipy,
statsmodels, duckdb, matplotlib) inside their run functions.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from upsell_ab import __version__
from upsell_ab.cli.exit_codes import ExitCode
from upsell_ab.cli.usage import UsageParser
from upsell_ab.errors import UpsellAbError

COMMANDS: tuple[str, ...] = (
    "demo",
    "validate",
    "schema",
    "assign",
    "ingest",
    "store",
    "export",
    "simulate",
    "init",
    "plan",
    "analyze",
    "report",
)

EPILOG = """exit codes:
  0  done
  1  invalid spec, input file or argument
  2  data-quality failure (SRM, multiple exposures) with --fail-on quality
  3  guardrail breached with --fail-on guardrail
"""


def build_parser() -> argparse.ArgumentParser:
    parser = UsageParser(
        prog="upsell-ab",
        description="Experiments for upsell, cross-sell and subscription-upgrade offers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"upsell-ab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"upsell_ab.cli.{name}_command")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return int(ExitCode.INVALID_INPUT)
    try:
        return int(args.run(args))
    except UpsellAbError as error:
        print(f"upsell-ab {args.command}: {error}", file=sys.stderr)
        return int(ExitCode.INVALID_INPUT)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
