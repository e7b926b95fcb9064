"""The payload ``GET /v1/features`` serves: a file written by ``upsell-ab export growthbook``,
re-read when it changes (so new bandit weights reach pages without a deploy).

The ETag is a hash of the file's bytes, so it changes exactly when the content does;
``If-None-Match`` with the current ETag gets 304. The file is replaced atomically by
the exporter (temporary file + rename), so a reader never sees half a payload; a file
that is not a valid payload keeps the last good one being served.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Payload:
    body: bytes
    etag: str
    variants: dict[str, frozenset[str]]
    """Experiment id -> variant ids (exposures for anything else are refused)."""


def parse_payload(body: bytes) -> Payload:
    """Check the shape ``{"features": {id: {"rules": [...]}}}`` and index the variants."""
    data = json.loads(body)
    features = data["features"]
    if not isinstance(features, dict):
        raise ValueError("'features' is not an object")
    variants: dict[str, frozenset[str]] = {}
    for key, feature in features.items():
        ids = {
            str(value["variant"])
            for rule in feature.get("rules", [])
            for value in rule.get("variations", [])
            if isinstance(value, dict) and "variant" in value
        }
        variants[key] = frozenset(ids)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Payload(body, etag, variants)


class FeaturesFile:
    """Serve ``path``; re-read when its size or modification time changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._payload = self._load()
        if self._payload is None:
            raise ValueError(f"{self.path}: not a GrowthBook payload written by export growthbook")

    def _signature(self) -> tuple[int, int, int]:
        stat = os.stat(self.path)
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def _load(self) -> Payload | None:
        try:
            stamp = self._signature()
            payload = parse_payload(self.path.read_bytes())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        self._stamp = stamp
        return payload

    def current(self) -> Payload:
        try:
            changed = self._signature() != self._stamp
        except OSError:
            changed = False
        if changed:
            fresh = self._load()
            if fresh is not None:
                self._payload = fresh
        assert self._payload is not None
        return self._payload
