"""The report's history: concluded experiments, below the running ones (issue 15).

``report PATH...`` reads the results archive next to the specs (``<folder>/results/<id>/
v<N>.json``, written by ``upsell-ab conclude``) and lists the latest record of every
concluded experiment: when, by whom, the decision and the winning offer. Nothing is
recomputed: the record is what was decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class HistoryEntry:
    experiment: str
    name: str
    version: int
    concluded_at: str
    concluded_by: str
    action: str
    winner: str | None
    offer: str
    """The winning offer in words ("post_purchase, 'Add a case?', 10 % off"), or ''."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "name": self.name,
            "version": self.version,
            "concluded_at": self.concluded_at,
            "concluded_by": self.concluded_by,
            "action": self.action,
            "winner": self.winner,
            "offer": self.offer,
        }


def _offer_words(offer: dict[str, Any] | None) -> str:
    if not offer:
        return ""
    timing = offer.get("timing") or {}
    moment = timing.get("moment", "") if isinstance(timing, dict) else str(timing)
    parts = [str(offer.get("tactic", "")), moment]
    if offer.get("wording"):
        parts.append(repr(str(offer["wording"])))
    discount = offer.get("discount") or {}
    if discount.get("percent"):
        parts.append(f"{discount['percent']:g} % off")
    if discount.get("amount"):
        parts.append(f"{discount['amount']:g} off")
    if discount.get("free_shipping"):
        parts.append("free shipping")
    return ", ".join(p for p in parts if p)


def load_history(paths: Iterable[str | Path]) -> list[HistoryEntry]:
    """The latest record of every concluded experiment in the results folders next to
    ``paths`` (a folder of specs, or a spec file's folder); unreadable records skipped."""
    from upsell_ab.archive.store import RESULTS_DIR, latest
    from upsell_ab.errors import InputError

    folders: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        base = path if path.is_dir() else path.parent
        folders[(base / RESULTS_DIR).resolve()] = None
    entries: dict[str, HistoryEntry] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for experiment in sorted(p.name for p in folder.iterdir() if p.is_dir()):
            try:
                record = latest(folder, experiment)
            except InputError:
                continue
            if not record:
                continue
            decision = record.get("decision") or {}
            entries[experiment] = HistoryEntry(
                experiment=str(record.get("experiment", experiment)),
                name=str(record.get("name", experiment)),
                version=int(record.get("version", 0)),
                concluded_at=str(record.get("concluded_at", ""))[:10],
                concluded_by=str(record.get("concluded_by", "")),
                action=str(decision.get("action", "")),
                winner=decision.get("winner"),
                offer=_offer_words(decision.get("offer")),
            )
    return sorted(entries.values(), key=lambda e: (e.concluded_at, e.experiment), reverse=True)


def _decision(entry: HistoryEntry) -> str:
    return f"{entry.action} {entry.winner}" if entry.winner else entry.action


def history_text(history: Sequence[HistoryEntry]) -> str:
    if not history:
        return ""
    lines = ["Concluded experiments (results archive)"]
    for e in history:
        offer = f": {e.offer}" if e.offer else ""
        lines.append(
            f"  {e.concluded_at}  {e.experiment} v{e.version}  {_decision(e)}{offer}  "
            f"(by {e.concluded_by})"
        )
    return "\n".join(lines) + "\n"


def history_markdown(history: Sequence[HistoryEntry]) -> str:
    if not history:
        return ""
    from upsell_ab.report.markdown import escape as md

    lines = [
        "## Concluded experiments",
        "",
        "| concluded | experiment | decision | winning offer | by |",
        "|---|---|---|---|---|",
    ]
    for e in history:
        lines.append(
            f"| {md(e.concluded_at)} | {md(e.experiment)} v{e.version} | {md(_decision(e))} | "
            f"{md(e.offer)} | {md(e.concluded_by)} |"
        )
    return "\n".join(lines) + "\n"


def history_html(history: Sequence[HistoryEntry]) -> str:
    if not history:
        return ""
    rows = "".join(
        f"<tr><td>{escape(e.concluded_at)}</td><td><code>{escape(e.experiment)}</code> "
        f"v{e.version}</td><td>{escape(_decision(e))}</td><td>{escape(e.offer)}</td>"
        f"<td>{escape(e.concluded_by)}</td></tr>"
        for e in history
    )
    return (
        '<section class="history"><h2>Concluded experiments</h2><table><thead><tr>'
        "<th>concluded</th><th>experiment</th><th>decision</th><th>winning offer</th>"
        f"<th>by</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )
