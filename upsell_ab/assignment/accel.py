"""Which hash path runs: the optional C accelerator ``_fnv`` or the Python/numpy code.

Both give bit-identical results (tests compare them on 1M ids and against the
GrowthBook SDK); the C path is what makes the speed targets of issue 2. The
extension is built by ``pip install`` when a C compiler is present and skipped
otherwise (``setup.py``, ``optional=True``). ``UPSELL_AB_NO_EXT=1`` forces the
fallback, so the fallback can be tested on a machine that has the extension.
"""

from __future__ import annotations

import os
from types import ModuleType

NO_EXT_ENV = "UPSELL_AB_NO_EXT"


def extension_disabled() -> bool:
    """True when ``UPSELL_AB_NO_EXT`` is set to anything but ``""`` or ``"0"``."""
    return os.environ.get(NO_EXT_ENV, "") not in ("", "0")


def load_extension() -> ModuleType | None:
    """The ``_fnv`` module, or None when it is not built or disabled by the env var."""
    if extension_disabled():
        return None
    try:
        from upsell_ab.assignment import _fnv
    except ImportError:
        return None
    return _fnv


def resolve(accelerated: bool | None) -> ModuleType | None:
    """``None``: the extension if available; ``False``: never; ``True``: required
    (ImportError naming the fix when it is missing)."""
    if accelerated is False:
        return None
    module = load_extension()
    if accelerated and module is None:
        raise ImportError(
            "upsell_ab.assignment._fnv is not available"
            + (f" ({NO_EXT_ENV} is set)" if extension_disabled() else "")
            + "; reinstall with a C compiler and Python headers: pip install -e ."
        )
    return module
