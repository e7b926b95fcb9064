"""Names an export rewrote: equal once case, surrounding blanks and separators go.

Variant ids (``'Pairing '`` for ``pairing``) and event types (``Upsell_Purchase`` or
``upsell-purchase`` for ``upsell_purchase``) come back from spreadsheets, tag managers
and a second app in another spelling; an exact comparison then drops their rows from an
arm without a word. Every check that names such a look-alike uses this one key.
"""

from __future__ import annotations

from collections.abc import Iterable

_IGNORED = frozenset(" -_\t")


def lookalike_key(value: str) -> str:
    """``'Upsell-Purchase '`` -> ``'upsellpurchase'``: case folded, blanks, ``-`` and
    ``_`` removed."""
    return "".join(ch for ch in value.casefold() if ch not in _IGNORED)


def lookalikes(unknown: Iterable[str], known: Iterable[str]) -> list[tuple[str, str]]:
    """(unknown name, the known name it matches) for each unknown name that is not itself
    known but equals one under :func:`lookalike_key`."""
    known = list(known)
    by_key = {lookalike_key(v): v for v in known}
    exact = set(known)
    return [
        (u, by_key[lookalike_key(u)])
        for u in unknown
        if lookalike_key(u) in by_key and u not in exact
    ]
