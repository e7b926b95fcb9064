"""Keep connection secrets out of every message we print, log or store.

Drivers echo what they could not parse: libpq answers a mistyped URI such as
``postgresql://alice:S3cretPW@[::1:5999/shop`` with the whole URI, and a bad
percent escape (``%zz``, ``%00``) or a space in the password with the password
itself. Those are exactly the errors that end up in CI logs. Two layers:

* :func:`dsn_secrets` + :func:`redact`: the code that holds a DSN (the
  PostgreSQL engine) removes the DSN, its password (raw, percent-decoded, and
  each space-separated piece of it) from the driver's text before wrapping it.
* :func:`redact` with no secrets, applied by the CLI to every error line: any
  ``scheme://user:password@`` and ``password=...`` left in a message loses its
  password. Over-redaction is accepted; a leaked password is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"
_MIN_PIECE = 3
"""Pieces of a password shorter than this are not masked on their own (they would
blank out ordinary words); the whole password and the DSN always are."""

_URI_CREDENTIALS = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<password>[^\n'\"]*)@"
)
_KEY_VALUE_PASSWORD = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd)\s*=\s*)(?P<password>'(?:[^'\\]|\\.)*'?|[^\s'\"]+)",
    re.IGNORECASE,
)


def dsn_password(dsn: str) -> str | None:
    """The password written in ``dsn`` (URI or ``key=value`` form), read leniently so
    that a DSN libpq refuses still yields it; None when there is none."""
    scheme = dsn.find("://")
    if scheme >= 0:
        rest = dsn[scheme + 3 :]
        at = rest.rfind("@")
        if at > 0 and ":" in rest[:at]:
            return rest[:at].split(":", 1)[1]
        return None
    match = _KEY_VALUE_PASSWORD.search(dsn)
    if match is None:
        return None
    value = match.group("password")
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value


def dsn_secrets(dsn: str | None) -> list[str]:
    """Every string derived from ``dsn`` that must never be shown: the DSN, its password
    raw and percent-decoded, and the password's space-separated pieces."""
    if not dsn:
        return []
    found = [dsn]
    password = dsn_password(dsn)
    if password:
        found += [password, unquote(password, errors="replace")]
        found += [piece for piece in re.split(r"\s+", password) if len(piece) >= _MIN_PIECE]
    unique = {s for s in found if s}
    return sorted(unique, key=len, reverse=True)  # longest first: no partial leftovers


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each of ``secrets`` and every credential-looking URI/``password=``
    replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = _URI_CREDENTIALS.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    return _KEY_VALUE_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}", text)


def redacted_dsn(dsn: str) -> str:
    """``dsn`` fit to show: the password masked (for messages naming the target)."""
    return redact(dsn, [p for p in [dsn_password(dsn)] if p])
