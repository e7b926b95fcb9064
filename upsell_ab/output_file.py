"""Write an output file without ever damaging what the path already is.

Every ``--output``/``-o`` of the CLI (reports, assignments, schemas, the demo's
files) goes through here. What happens depends on what the path names,
checked after following symlinks:

==========================  ================================================
path is                     what we do
==========================  ================================================
missing, or a regular file  write a temporary file in the same folder, then
                            ``rename`` it over the path (readers see the old
                            or the new file, never half of one); an existing
                            file keeps its permission bits
a symlink                   the same, at the file the link points to; the
                            link itself stays a link
a character device, FIFO    written through (``open`` + write), never
(``/dev/null``, a pipe)     replaced: as root a rename would turn
                            ``/dev/null`` into a regular file for the machine
a folder, socket, or block  refused with an error naming the path
device
==========================  ================================================

Failures (permission, read-only file system, disk full) raise
:class:`~upsell_ab.errors.InputError` naming the path; the temporary file is
removed, so nothing is left half-written.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from upsell_ab.errors import InputError, Location, Problem


def _refuse(target: str | Path, message: str, hint: str | None = None) -> InputError:
    return InputError([Problem(Location(file=str(target)), message, hint, "output_unwritable")])


def _os_refusal(target: str | Path, error: OSError) -> InputError:
    return _refuse(
        target,
        f"cannot write the output: {error.strerror or error}",
        "choose a writable path with free space; nothing was written",
    )


def _kind(target: str | Path, real: Path) -> os.stat_result | None:
    try:
        return real.stat()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _os_refusal(target, error) from None


@contextlib.contextmanager
def output_path(target: str | Path) -> Iterator[Path]:
    """Yield a path to write the whole output to (by a library call such as
    ``DataFrame.to_parquet``); on a clean exit it becomes ``target`` as described in
    the module docstring. On an exception nothing changes at ``target``."""
    real = Path(os.path.realpath(target))
    info = _kind(target, real)
    if info is not None and not stat.S_ISREG(info.st_mode):
        if stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode):
            with _through(target, real) as temporary:
                yield temporary
            return
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise _refuse(target, f"the output path is {what}", "give a file path")
    with _replacing(target, real, info) as temporary:
        yield temporary


@contextlib.contextmanager
def _replacing(target: str | Path, real: Path, info: os.stat_result | None) -> Iterator[Path]:
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
        os.close(handle)
    except OSError as error:
        raise _os_refusal(target, error) from None
    temporary = Path(name)
    try:
        yield temporary
        if info is not None:
            os.chmod(temporary, stat.S_IMODE(info.st_mode))
            with contextlib.suppress(OSError):
                os.chown(temporary, info.st_uid, info.st_gid)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; outputs are for sharing
        os.replace(temporary, real)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise _os_refusal(target, error) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _through(target: str | Path, real: Path) -> Iterator[Path]:
    """Devices and FIFOs: build the output aside, then copy it into the open path."""
    handle, name = tempfile.mkstemp(prefix="upsell-ab-output.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with temporary.open("rb") as source, open(real, "wb") as sink:
            while block := source.read(1 << 20):
                sink.write(block)
    except OSError as error:
        raise _os_refusal(target, error) from None
    finally:
        temporary.unlink(missing_ok=True)


def write_output(target: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``target`` safely (see the module docstring)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with output_path(target) as path:
        try:
            path.write_bytes(payload)
        except OSError as error:
            raise _os_refusal(target, error) from None
