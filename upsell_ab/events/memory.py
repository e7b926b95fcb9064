"""How much memory DuckDB may use, and where it spills the rest.

DuckDB keeps large aggregations and joins within its ``memory_limit`` by
spilling to ``temp_directory``. A fixed limit is wrong both ways (1 GB made a
10M-customer analysis spill 8 GB, then fail out of memory on a 24 GB
machine), so the limit follows the machine: a share of the physical memory
(or of the cgroup limit when the process runs in a container), overridable
with ``UPSELL_AB_MEMORY_LIMIT`` or the commands' ``--memory-limit`` flag, as
a size (``8GB``, ``512MB``) or a share (``60%``). Each connection we open
spills into its own temporary directory, removed when it closes.

A process killed before it closes (the OOM killer, ``kill -9``, a CI timeout) cannot
remove its directory, and spill files can be gigabytes, so the directory's name
carries the host and process id (:func:`private_spill_directory`) and every new one
first removes those of this host whose process is gone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from upsell_ab.errors import InputError, Location, Problem

MEMORY_ENV = "UPSELL_AB_MEMORY_LIMIT"
DEFAULT_SHARE = 0.5
"""Half the machine: DuckDB's own default is 80 %, which leaves too little for the
Python process and anything else on a shared machine."""
_MIN_BYTES = 128 * 2**20
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|[KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def physical_memory() -> int:
    """Bytes of RAM this process may use: the machine's, or the cgroup limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def parse_memory_limit(value: str, where: str) -> int:
    """Bytes from ``8GB`` / ``512MiB`` / ``60%`` (of :func:`physical_memory`)."""
    match = _SIZE.match(value)
    problem = None
    if match is None:
        problem = "not a size"
    else:
        number, unit = float(match.group(1)), (match.group(2) or "B").upper()
        if unit == "%":
            if not 0 < number <= 100:
                problem = "a share must be within (0, 100] %"
            else:
                return max(_MIN_BYTES, int(physical_memory() * number / 100))
        else:
            size = int(number * _UNITS[unit])
            if size < _MIN_BYTES:
                problem = "at least 128MB is needed"
            else:
                return size
    raise InputError(
        [
            Problem(
                Location(field=where),
                f"bad memory limit {value!r}: {problem}",
                hint="give a size such as 8GB or 512MB, or a share of RAM such as 60%",
                code="bad_memory_limit",
            )
        ]
    )


def memory_limit_bytes(value: str | None = None) -> int:
    """The limit to use: ``value``, else ``$UPSELL_AB_MEMORY_LIMIT``, else half of RAM."""
    if value:
        return parse_memory_limit(value, "--memory-limit")
    configured = os.environ.get(MEMORY_ENV, "").strip()
    if configured:
        return parse_memory_limit(configured, MEMORY_ENV)
    return max(_MIN_BYTES, int(physical_memory() * DEFAULT_SHARE))


def duckdb_memory_setting(value: str | None = None) -> str:
    """The limit as DuckDB's ``memory_limit`` text (whole MiB)."""
    return f"{memory_limit_bytes(value) // 2**20}MiB"


SPILL_PREFIX = "upsell_ab_duckdb_"
STALE_UNNAMED_SECONDS = 24 * 3600
"""Directories named before they carried a process id are removed after a day."""


def private_spill_directory() -> str:
    """A new spill directory ``upsell_ab_duckdb_<host>_<pid>_<random>`` in the system
    temp dir, after removing those left by dead processes (:func:`remove_stale_spills`)."""
    import tempfile

    remove_stale_spills(Path(tempfile.gettempdir()))
    return tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{host_label()}_{os.getpid()}_")


def remove_stale_spills(folder: Path) -> list[Path]:
    """Remove this user's spill directories in ``folder`` whose process is gone: named
    with this host and a process id that no longer runs, or (named before names carried
    one) untouched for :data:`STALE_UNNAMED_SECONDS`. Another host's directories (a
    container sharing ``/tmp``) and a reused live process id are left alone. Returns
    what was removed; errors (a race with another sweep) are ignored."""
    import shutil
    import time

    removed: list[Path] = []
    mine = f"{SPILL_PREFIX}{host_label()}_"
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        name = entry.name
        if not name.startswith(SPILL_PREFIX):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat().st_uid != os.getuid():
                continue
            if name.startswith(mine):
                pid = name[len(mine) :].split("_", 1)[0]
                stale = pid.isdigit() and not _running(int(pid))
            else:
                named = re.match(rf"{SPILL_PREFIX}[A-Za-z0-9.-]+_\d+_", name) is not None
                stale = not named and now - entry.stat().st_mtime > STALE_UNNAMED_SECONDS
        except OSError:
            continue
        if stale:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def host_label() -> str:
    """The host name with only the characters a directory name may safely hold."""
    import socket

    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True
