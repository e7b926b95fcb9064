"""`upsell-ab serve`: the event collector web pages post exposures and events to.

POST /v1/exposures and /v1/events (JSON object or array, validated against the
published schemas, 202 only once durably in the tracker spool), GET /v1/features
(the GrowthBook payload from --features, with ETag). Load the spool with
`upsell-ab ingest --spool DIR` (idempotent by event id). Needs the `web` extra.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from upsell_ab.cli.exit_codes import ExitCode


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the event collector (HTTP API for web pages; needs upsell_ab[web])",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--spool", required=True, metavar="DIR", help="tracker spool directory")
    parser.add_argument(
        "--tokens", required=True, metavar="FILE", help="write tokens, one 'site:token' a line"
    )
    parser.add_argument(
        "--features", metavar="FILE", help="payload from `export growthbook` (re-read on change)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="CORS origin allowed to call the API, e.g. https://shop.example.jp (repeat)",
    )
    parser.add_argument(
        "--max-body", type=int, default=1_048_576, metavar="BYTES", help="body limit (413)"
    )
    parser.add_argument(
        "--max-batch", type=int, default=1000, metavar="N", help="records per request (413)"
    )
    parser.add_argument(
        "--rate", type=float, default=50.0, metavar="R", help="requests/s per site (429)"
    )
    parser.add_argument("--burst", type=float, default=100.0, metavar="N", help="burst per site")
    parser.add_argument("--access-log", action="store_true", help="log each request (no tokens)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from upsell_ab.web.serve import missing_web_extra

    problem = missing_web_extra()
    if problem is not None:
        print(f"upsell-ab serve: {problem}", file=sys.stderr)
        return int(ExitCode.INVALID_INPUT)
    for name in ("max_body", "max_batch", "rate", "burst"):
        if getattr(args, name) <= 0:
            flag = "--" + name.replace("_", "-")
            print(f"upsell-ab serve: {flag} must be > 0", file=sys.stderr)
            return int(ExitCode.INVALID_INPUT)
    if not 0 < args.port < 65536:
        print("upsell-ab serve: --port must be in 1..65535", file=sys.stderr)
        return int(ExitCode.INVALID_INPUT)
    from upsell_ab.web.access import read_tokens
    from upsell_ab.web.collector import CollectorConfig
    from upsell_ab.web.serve import serve

    tokens = read_tokens(args.tokens)
    features = Path(args.features) if args.features else None
    if features is not None:
        from upsell_ab.web.features_file import FeaturesFile

        try:
            FeaturesFile(features)
        except ValueError as error:
            print(f"upsell-ab serve: {error}", file=sys.stderr)
            return int(ExitCode.INVALID_INPUT)
    spool = Path(args.spool)
    try:
        spool.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"upsell-ab serve: cannot create spool {spool}: {error.strerror}", file=sys.stderr)
        return int(ExitCode.INVALID_INPUT)
    config = CollectorConfig(
        spool_dir=spool,
        tokens=tokens,
        features=features,
        allow_origins=tuple(args.allow_origin),
        max_body_bytes=args.max_body,
        max_batch=args.max_batch,
        rate_per_s=args.rate,
        burst=args.burst,
    )
    serve(config, args.host, args.port, access_log=args.access_log)
    return int(ExitCode.OK)
