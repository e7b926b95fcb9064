"""Did-you-mean for optional canonical columns a source seems to have under another name.

An events export with a ``revenue`` column and no ``value`` column used to be
ingested with every value 0 (the default), and the analysis then decided on
zeros. :func:`lookalike` finds the source column that probably holds a
canonical column, so ingest can refuse (measured columns: ``value``,
``discount``, ``quantity``) or warn (identifying columns: ``order_id``,
``event_id``) and name the ``--map`` flag to add.

Matching is by name only (lower-cased, split at non-alphanumerics): a column
matches when its name, or one of its words, is a known synonym. Identifier
synonyms (``order``, ``transaction``) need an id-like word too (``order_no``,
``transaction_id``), so ``order_date`` is not offered as an order id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MEASURED: frozenset[str] = frozenset({"value", "discount", "quantity"})
"""Optional columns whose default (0, 0, 1) would silently change metrics: a
look-alike column refuses the ingest unless the default is accepted."""

SYNONYMS: dict[str, tuple[str, ...]] = {
    "value": (
        "value",
        "revenue",
        "amount",
        "price",
        "total",
        "sales",
        "gmv",
        "spend",
        "paid",
        "subtotal",
        "turnover",
        "uriage",
        "kingaku",
    ),
    "discount": ("discount", "coupon", "promo", "markdown", "rebate", "waribiki"),
    "quantity": ("quantity", "qty", "units", "items", "pieces", "kosuu", "suryo"),
    "order_id": ("order", "orderid", "transaction", "txn", "receipt", "invoice", "purchase"),
    "event_id": ("event", "eventid", "uuid", "message"),
}

_ID_WORDS = frozenset({"id", "no", "nr", "num", "number", "key", "ref", "uuid", "code"})
_IDENTIFIERS = frozenset({"order_id", "event_id"})
_WORD = re.compile(r"[a-z0-9]+")


def _words(name: str) -> list[str]:
    return _WORD.findall(name.lower())


def _matches(canonical: str, name: str) -> bool:
    words = _words(name)
    if not words:
        return False
    synonyms = SYNONYMS.get(canonical, ())
    joined = "".join(words)
    if canonical in _IDENTIFIERS:
        if canonical == "event_id" and joined == "uuid":
            return True
        has_id = any(w in _ID_WORDS for w in words) or joined.endswith("id")
        return has_id and any(s in words or joined.startswith(s) for s in synonyms)
    return any(s in words for s in synonyms) or joined in synonyms


def lookalike(canonical: str, present: Iterable[str], used: Iterable[str] = ()) -> str | None:
    """The source column that probably holds ``canonical`` (None when none looks like it).

    ``used`` are source columns already mapped to other canonical columns; they
    are never offered. An exact synonym (``revenue``) beats a word match
    (``net_revenue``); ties go to the first column of the source.
    """
    taken = set(used)
    candidates = [c for c in present if c not in taken and _matches(canonical, c)]
    if not candidates:
        return None
    exact = [c for c in candidates if "".join(_words(c)) in SYNONYMS.get(canonical, ())]
    return (exact or candidates)[0]
