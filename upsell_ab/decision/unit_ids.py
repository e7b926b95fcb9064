"""Whether exposures and events name their units in different kinds of id.

When not one of the metrics' events belongs to an exposed unit, every metric reads 0 in
every arm and the comparison says "no difference": a verdict made of nothing. It happens
when the app logs exposures under one id and the shop exports orders under another
(``8`` against ``C000008``, an e-mail against a customer number). A few ids of each
side (:class:`~upsell_ab.metrics.aggregates.UnitIdSamples`) tell the two cases apart:

- the kinds differ (no kind seen on both sides): the join cannot match, so the
  experiment is invalid, with the ids shown;
- the kinds agree (both numbers, both ``C``-prefixed): perhaps just early days, or
  customers who have not bought yet; the orphan warning stands, with the ids shown.

A kind is deliberately coarse, so that two samples of the same id scheme always share
one: ``number`` (digits only), ``uuid``, ``email``, ``word`` (no digit at all), or
``prefix:<letters before the first digit>`` (``C000008`` -> ``prefix:c``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from upsell_ab.metrics.aggregates import UnitIdSamples

_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_NUMBER = re.compile(r"^[+-]?\d+(\.0+)?$")


def id_kind(unit_id: str) -> str:
    """The coarse kind of one unit id (see the module docstring)."""
    text = unit_id.strip().lower()
    if _NUMBER.match(text):
        return "number"
    if _UUID.match(text):
        return "uuid"
    if "@" in text:
        return "email"
    digit = next((i for i, c in enumerate(text) if c.isdigit()), None)
    if digit is None:
        return "word"
    return f"prefix:{text[:digit]}"


def kinds_differ(samples: UnitIdSamples) -> bool:
    """True when both sides have ids and no kind appears on both."""
    if not samples.exposures or not samples.events:
        return False
    return not {id_kind(u) for u in samples.exposures} & {id_kind(u) for u in samples.events}


def shown(samples: UnitIdSamples) -> str:
    """'exposures name units like '1', '2', '3'; the events like 'C000008', ...'."""

    def listed(ids: tuple[str, ...]) -> str:
        return ", ".join(f"'{u}'" for u in ids[:3]) or "(none)"

    return (
        f"the exposures name units like {listed(samples.exposures)}; the events like "
        f"{listed(samples.events)}"
    )
