"""upsell_ab: experiments for upsell, cross-sell and subscription-upgrade offers.

The package follows the data path: ``spec`` -> ``assignment`` -> ``events`` ->
``metrics`` -> ``stats`` -> ``decision`` -> ``report``, with ``cli`` on top.
Each stage imports only from earlier stages (and ``errors``). Heavy libraries
(scipy, statsmodels, matplotlib, duckdb) are imported inside the functions
that need them so that ``validate`` and ``assign`` start fast.
"""

from __future__ import annotations

__version__ = "0.1.0"
