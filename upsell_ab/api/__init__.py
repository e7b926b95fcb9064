"""The public face for scripts and notebooks (re-exported by :mod:`upsell_ab`).

``load``/``define`` -> :class:`Experiment` (``assign``, ``assign_many``,
``analyze``, ``to_yaml``) -> :class:`Result` (``decision``, ``to_pandas``,
``to_dict``/``to_json``, ``to_markdown``, ``to_html``, ``plot``). The CLI's
``analyze`` and ``report`` commands call the same functions. Nothing below
this package imports it.
"""

from __future__ import annotations

from upsell_ab.api.experiment import Experiment, define, load
from upsell_ab.api.result import FRAME_COLUMNS, Decision, Result

__all__ = ["FRAME_COLUMNS", "Decision", "Experiment", "Result", "define", "load"]
