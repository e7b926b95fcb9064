"""The argument parser of ``upsell-ab``: usage errors exit 1, never argparse's 2.

argparse exits with status 2 on an unknown flag, a missing argument or a bad
choice. In this project 2 means a data-quality failure (``--fail-on quality``),
which CI reads as "the data is broken", so a typo in a workflow file would be
misreported. :class:`UsageParser` prints the usage line, the problem and a hint
to ``--help``, then exits with :attr:`ExitCode.INVALID_INPUT` (1). Subparsers
created through ``add_subparsers`` inherit the class, so every subcommand
follows the contract.

Abbreviated long options are refused (``allow_abbrev=False``): argparse would
read ``--fail quality`` as ``--fail-on quality`` today and refuse it as
ambiguous the day another ``--fail-...`` option is added, breaking a workflow
file that worked; a prefix that happens to be unique is also how a typo
silently becomes another option.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from upsell_ab.cli.exit_codes import ExitCode


class UsageParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose usage errors exit 1 and whose long
    options must be spelled out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(
            int(ExitCode.INVALID_INPUT),
            f"{self.prog}: error: {message} (see '{self.prog} --help')\n",
        )

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse, but an unknown flag after a subcommand is reported by that
        subcommand's parser, so the usage line shown is the one that helps."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            target = self._subcommand_parser(getattr(parsed, "command", None)) or self
            target.error("unrecognized arguments: " + " ".join(extras))
        return parsed

    def _subcommand_parser(self, name: str | None) -> argparse.ArgumentParser | None:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and name in action.choices:
                parser: argparse.ArgumentParser = action.choices[name]
                return parser
        return None
