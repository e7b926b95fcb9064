"""Run the collector under uvicorn (one process; the spool writer group-commits)."""

from __future__ import annotations

from upsell_ab.web.collector import CollectorConfig, create_app


def missing_web_extra() -> str | None:
    """A one-line install hint when Starlette/uvicorn/jsonschema are absent, else None."""
    import importlib.util

    absent = [
        name
        for name in ("starlette", "uvicorn", "jsonschema", "fastjsonschema")
        if importlib.util.find_spec(name) is None
    ]
    if absent:
        return f"{', '.join(absent)} not installed: pip install 'upsell_ab[web]'"
    return None


def serve(config: CollectorConfig, host: str, port: int, access_log: bool = False) -> None:
    import uvicorn

    app = create_app(config)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=access_log,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
