"""The event collector: an ASGI app (Starlette) a web page posts exposures and events to.

Routes
  POST /v1/exposures, POST /v1/events   one JSON object or an array; 202 once durable
  GET  /v1/features                     the GrowthBook payload, with ETag / 304
  GET  /v1/schema/exposure, /v1/schema/event   the published JSON Schemas
  GET  /healthz                         liveness

Every POST goes: Bearer token (401) -> rate limit per site (429) -> body size
(413, counted while reading, so a lying Content-Length cannot get around it) ->
JSON (422) -> batch size (413) -> schema + timestamps + known experiment/variant
(422, every problem with its field path, e.g. ``[3].unit_id``) -> group-committed
spool file (fsync + rename) -> 202 ``{"accepted": n}``. A refused request writes
nothing. CORS is answered for the configured origins only. No request data goes
into a file name, and no token into a log line or a response.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.web.access import RateLimiter, SiteTokens, bearer
from upsell_ab.web.features_file import FeaturesFile
from upsell_ab.web.records import (
    BatchRejected,
    BatchTooLarge,
    Kind,
    parse_json,
    schema_text,
    spool_lines,
)
from upsell_ab.web.spool_writer import SpoolWriter

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response


@dataclass(frozen=True)
class CollectorConfig:
    spool_dir: Path
    tokens: SiteTokens
    features: Path | None = None
    allow_origins: Sequence[str] = ()
    max_body_bytes: int = 1_048_576
    max_batch: int = 1000
    rate_per_s: float = 50.0
    burst: float = 100.0


class BodyTooLarge(Exception):
    pass


def create_app(config: CollectorConfig) -> Starlette:
    """The collector as an ASGI application (run it under uvicorn: ``upsell-ab serve``)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    writer = SpoolWriter(config.spool_dir)
    limiter = RateLimiter(config.rate_per_s, config.burst)
    features = FeaturesFile(config.features) if config.features else None

    def error(status: int, code: str, message: str, **extra: Any) -> Response:
        headers = extra.pop("headers", None)
        return JSONResponse({"error": code, "message": message, **extra}, status, headers)

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > config.max_body_bytes:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > config.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    async def ingest(request: Request, kind: Kind) -> Response:
        site = config.tokens.site_for(bearer(request.headers.get("authorization")))
        if site is None:
            return error(
                401,
                "unauthorized",
                "send the site's write token as 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": 'Bearer realm="upsell_ab"'},
            )
        wait = limiter.acquire(site)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            return error(
                429,
                "rate_limited",
                f"too many requests for this site; retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
        try:
            body = await read_body(request)
        except BodyTooLarge:
            return error(
                413,
                "too_large",
                f"request body over {config.max_body_bytes} bytes; send smaller batches",
            )
        try:
            data = parse_json(body)
        except (ValueError, UnicodeDecodeError) as problem:
            return error(422, "invalid_json", f"body is not valid JSON: {str(problem)[:120]}")
        try:
            lines = spool_lines(
                kind,
                data,
                datetime.now(UTC),
                config.max_batch,
                features.current().variants if features else None,
            )
        except BatchTooLarge as too_many:
            return error(413, "batch_too_large", str(too_many))
        except BatchRejected as rejected:
            return error(
                422,
                "invalid",
                f"{len(rejected.problems)} problem(s); nothing was stored",
                problems=[p.to_dict() for p in rejected.problems],
            )
        try:
            await writer.write(lines)
        except OSError:
            return error(
                503,
                "unavailable",
                "could not store the batch; nothing was stored, retry with the same event ids",
                headers={"Retry-After": "1"},
            )
        return JSONResponse({"accepted": len(lines)}, 202)

    async def exposures(request: Request) -> Response:
        return await ingest(request, "exposure")

    async def events(request: Request) -> Response:
        return await ingest(request, "event")

    async def get_features(request: Request) -> Response:
        if features is None:
            return error(404, "no_features", "the collector was started without --features")
        payload = features.current()
        headers = {"ETag": payload.etag, "Cache-Control": "no-cache"}
        if payload.etag in _etags(request.headers.get("if-none-match")):
            return Response(status_code=304, headers=headers)
        return Response(payload.body, 200, headers, media_type="application/json")

    async def get_schema(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in ("exposure", "event"):
            return error(404, "not_found", "schemas: exposure, event")
        return Response(schema_text(kind), media_type="application/schema+json")

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "records_written": writer.records_written})

    routes = [
        Route("/v1/exposures", exposures, methods=["POST"]),
        Route("/v1/events", events, methods=["POST"]),
        Route("/v1/features", get_features, methods=["GET"]),
        Route("/v1/schema/{kind}", get_schema, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=list(config.allow_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Retry-After"],
            max_age=600,
        )
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.writer = writer
    return app


def _etags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {part.strip().removeprefix("W/") for part in header.split(",")}
