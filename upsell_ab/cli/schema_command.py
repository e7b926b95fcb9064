"""``upsell-ab schema [--catalogue] [--output FILE]``: print the JSON Schema for editors."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from upsell_ab.cli.exit_codes import ExitCode


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of experiment specs (or of metrics.yaml)",
        description="Print the JSON Schema generated from the spec models. Reference it from a "
        "spec with '# yaml-language-server: $schema=../schema/experiment.schema.json'.",
    )
    parser.add_argument(
        "--catalogue", action="store_true", help="the schema of the metric catalogue instead"
    )
    parser.add_argument("--output", "-o", type=Path, help="write to FILE instead of stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from upsell_ab.spec.schema import render

    text = render("metrics" if args.catalogue else "experiment")
    if args.output is not None:
        from upsell_ab.output_file import write_output

        write_output(args.output, text)
    else:
        print(text, end="")
    return int(ExitCode.OK)
