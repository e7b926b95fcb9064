"""The CLI's error boundary: every failure becomes clean stderr text and a documented exit code.

No Python traceback leaves ``upsell-ab``. Our own errors (:class:`UpsellAbError`)
are printed as they are (one line per located problem); failures of the
libraries underneath (DuckDB, psycopg, PySpark/py4j, pyarrow, pandas) and of
the operating system (disk full, permission denied, read-only file system)
become ONE line saying what failed and, where we know it, how to fix it. All
of these exit 1 (invalid spec, input or environment). Every line is redacted
of connection secrets (:mod:`upsell_ab.redact`) and has control characters
escaped (:mod:`upsell_ab.safe_text`), because the text may come from a spec,
a data file or a driver that echoes its input.

Set ``UPSELL_AB_DEBUG=1`` to get the traceback instead (for bug reports).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from upsell_ab.cli.exit_codes import ExitCode
from upsell_ab.errors import InputError, SpecError, UpsellAbError
from upsell_ab.redact import redact
from upsell_ab.safe_text import escape_control

DEBUG_ENV = "UPSELL_AB_DEBUG"
MAX_LINE = 500
"""Characters of a library's message kept (drivers can echo whole queries or rows)."""

_LIBRARIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("duckdb", "_duckdb"), "DuckDB"),
    (("psycopg", "psycopg_binary", "psycopg_c"), "PostgreSQL"),
    (("pyspark", "py4j"), "Spark"),
    (("pyarrow",), "Arrow"),
    (("pandas",), "pandas"),
    (("yaml",), "YAML"),
)
_OS_HINTS: dict[int, str] = {
    errno.ENOSPC: "free disk space or choose a path on another disk; nothing was half-written",
    errno.EDQUOT: "disk quota exceeded; free space or raise the quota",
    errno.EROFS: "the file system is read-only; choose a writable path",
    errno.EACCES: "check the permissions of the path",
    errno.EPERM: "check the permissions of the path",
    errno.ENOENT: "check the path",
    errno.EISDIR: "give a file path, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EFBIG: "the file is larger than this system allows",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n)",
}


_SECONDARY = ("transaction is aborted", "Current transaction is aborted")
"""Messages of errors raised while unwinding another one (the earlier one is reported)."""
_MESSAGE_HINTS: tuple[tuple[str, str], ...] = (
    ("No space left on device", _OS_HINTS[errno.ENOSPC]),
    ("Read-only file system", _OS_HINTS[errno.EROFS]),
    ("Permission denied", _OS_HINTS[errno.EACCES]),
    ("Disk quota exceeded", _OS_HINTS[errno.EDQUOT]),
    ("File too large", _OS_HINTS[errno.EFBIG]),
)


def safe_line(text: str) -> str:
    """``text`` redacted of secrets, with control characters escaped (newlines kept)."""
    return escape_control(redact(text))


def one_line(text: str) -> str:
    """The first line of ``text``, redacted, escaped and shortened to :data:`MAX_LINE`."""
    first = redact(text.strip()).split("\n", 1)[0].strip()
    line = escape_control(first, keep_newlines=False)
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."


def root_cause(error: BaseException) -> BaseException:
    """The failure worth reporting: a driver error raised while cleaning up after another
    (DuckDB's "Current transaction is aborted" after a full disk) hides the real one."""
    seen: set[int] = set()
    current = error
    while id(current) not in seen:
        seen.add(id(current))
        earlier = current.__cause__ or current.__context__
        if earlier is None or not any(s in str(current) for s in _SECONDARY):
            return current
        current = earlier
    return current


def describe(error: BaseException) -> str:
    """One line for a failure that is not one of our own errors."""
    error = root_cause(error)
    if isinstance(error, OSError):
        what = error.strerror or str(error) or type(error).__name__
        where = f" {error.filename}" if error.filename else ""
        hint = _OS_HINTS.get(error.errno or -1)
        return one_line(f"cannot use{where}: {what}" + (f" ({hint})" if hint else ""))
    if isinstance(error, MemoryError):
        return "out of memory (give a smaller input or more memory)"
    if isinstance(error, RecursionError):
        return "input nested too deeply to process"
    module = type(error).__module__
    for prefixes, name in _LIBRARIES:
        if module.startswith(prefixes):
            text = _message(error)
            hint = next((h for needle, h in _MESSAGE_HINTS if needle in text), None)
            return one_line(f"{name} failed: {text}" + (f" ({hint})" if hint else ""))
    return one_line(f"internal error ({type(error).__name__}: {_message(error)}); please report it")


def _message(error: BaseException) -> str:
    text = str(error).strip()
    return text or type(error).__name__


def run_guarded(command: str, run: Callable[[], int], print_error: Callable[[str], None]) -> int:
    """``run()``, with every exception turned into stderr text and an exit code."""
    try:
        return run()
    except (SpecError, InputError) as error:  # one located problem per line, by design
        print_error(f"upsell-ab {command}: {safe_line(str(error))}")
        return int(ExitCode.INVALID_INPUT)
    except UpsellAbError as error:  # store/engine/stats: drivers may add pages of detail
        print_error(f"upsell-ab {command}: {one_line(str(error))}")
        return int(ExitCode.INVALID_INPUT)
    except KeyboardInterrupt:
        print_error(f"upsell-ab {command}: interrupted")
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return int(ExitCode.OK)
    except Exception as error:
        if os.environ.get(DEBUG_ENV):
            raise
        print_error(f"upsell-ab {command}: {describe(error)}")
        return int(ExitCode.INVALID_INPUT)


def _silence_stdout() -> None:
    """After the reader of our stdout went away (``| head``), avoid a second error at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass
