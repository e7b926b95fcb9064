"""The web face of upsell_ab: GrowthBook SDK payloads and the event collector.

Sits beside :mod:`upsell_ab.cli` on the data path: it reads specs and writes
the tracker spool; nothing below imports it. Its optional dependencies
(Starlette, uvicorn, jsonschema, fastjsonschema: the ``web`` extra) are imported only by
:mod:`upsell_ab.web.collector` and :mod:`upsell_ab.web.serve`.
"""

from __future__ import annotations

from upsell_ab.web.growthbook import ExportError, experiment_feature, features_payload

__all__ = ["ExportError", "experiment_feature", "features_payload"]
