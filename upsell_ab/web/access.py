"""Who may write to the collector, and how fast: per-site Bearer tokens and rate limits.

Tokens file: one ``site:token`` a line (``#`` comments and blank lines ignored);
site is an identifier, token at least 16 characters of ``[A-Za-z0-9._~+/=-]``.
A presented token is compared with *every* site's token by
:func:`hmac.compare_digest` (constant time per comparison, no early exit over the
list), so response time says nothing about how much of a token matched. Tokens
never appear in errors or logs: a bad line is reported by its number only.

Rate limiting: a token bucket per site (``rate`` requests per second, ``burst``
at once), refilled continuously; an empty bucket answers 429 with the seconds
until the next request is allowed.
"""

from __future__ import annotations

import hmac
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from upsell_ab.errors import InputError, Location, Problem

MIN_TOKEN_LENGTH = 16
_SITE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._~+/=\-]+$")


@dataclass(frozen=True)
class SiteTokens:
    """Site name -> token bytes."""

    tokens: tuple[tuple[str, bytes], ...]

    def site_for(self, presented: str | None) -> str | None:
        """The site whose token equals ``presented`` (None when none does)."""
        if not presented:
            return None
        given = presented.encode("utf-8", "surrogateescape")
        found: str | None = None
        for site, token in self.tokens:
            if hmac.compare_digest(given, token) and found is None:
                found = site
        return found


def read_tokens(path: str | Path) -> SiteTokens:
    """Parse the tokens file; :class:`InputError` names the line (never the token)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise InputError(
            [Problem(Location(file=file), f"cannot read tokens file: {reason}", None, "not_found")]
        ) from None
    problems: list[Problem] = []
    tokens: list[tuple[str, bytes]] = []
    seen_sites: set[str] = set()
    seen_tokens: set[bytes] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        site, sep, token = line.partition(":")
        site, token = site.strip(), token.strip()
        where = Location(file=file, line=number)
        if not sep or not _SITE_RE.match(site):
            problems.append(
                Problem(where, "expected 'site:token'", "site is a name like shop-jp", "invalid")
            )
        elif len(token) < MIN_TOKEN_LENGTH or not _TOKEN_RE.match(token):
            problems.append(
                Problem(
                    where,
                    f"the token of site '{site}' is too short or has spaces/odd characters",
                    f"use at least {MIN_TOKEN_LENGTH} characters, e.g. from "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`",
                    "invalid",
                )
            )
        elif site in seen_sites or token.encode() in seen_tokens:
            problems.append(
                Problem(where, f"site '{site}' or its token appears twice", None, "invalid")
            )
        else:
            seen_sites.add(site)
            seen_tokens.add(token.encode())
            tokens.append((site, token.encode()))
    if not tokens and not problems:
        problems.append(
            Problem(Location(file=file), "no 'site:token' lines", "add one per site", "invalid")
        )
    if problems:
        raise InputError(problems)
    return SiteTokens(tuple(tokens))


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


@dataclass
class RateLimiter:
    """Token bucket per site: ``rate`` requests per second, up to ``burst`` at once."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def acquire(self, site: str) -> float:
        """0.0 when the request may proceed, else the seconds to wait before retrying."""
        now = self.clock()
        level, last = self._buckets.get(site, (self.burst, now))
        level = min(self.burst, level + (now - last) * self.rate)
        if level >= 1.0:
            self._buckets[site] = (level - 1.0, now)
            return 0.0
        self._buckets[site] = (level, now)
        return (1.0 - level) / self.rate if self.rate > 0 else math.inf
