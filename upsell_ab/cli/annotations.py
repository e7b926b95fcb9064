"""GitHub workflow commands (``::error file=F,line=L,col=C,title=T::message``).

Printed to stdout by a step, GitHub turns them into annotations on the pull
request's diff. Escaping follows GitHub's runner (``CommandExtensions`` in
actions/toolkit, ``escapeData``/``escapeProperty``): in the message ``%``, CR
and LF become ``%25``, ``%0D``, ``%0A``; in a property value also ``:`` and
``,`` become ``%3A`` and ``%2C`` (they separate properties). ``%`` goes
first, so an already-escaped ``%0A`` in the text stays literal.
"""

from __future__ import annotations

import os
from pathlib import Path


def escape_data(text: str) -> str:
    """The message part (after ``::``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (``file=``, ``title=``...)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def repo_path(file: str) -> str:
    """An absolute path inside ``$GITHUB_WORKSPACE`` made relative to it (annotations
    attach to the diff only with repository-relative paths); anything else unchanged."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    path = Path(file)
    if workspace and path.is_absolute():
        try:
            return path.resolve().relative_to(Path(workspace).resolve()).as_posix()
        except ValueError:
            return file
    return file


def command(
    level: str,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    col: int | None = None,
    title: str | None = None,
) -> str:
    """``::error file=...,line=...,col=...,title=...::message`` (level: error, warning,
    notice); properties without a value are left out."""
    props = []
    if file:
        props.append(f"file={escape_property(repo_path(file))}")
    if line is not None:
        props.append(f"line={line}")
        if col is not None:
            props.append(f"col={col}")
    if title:
        props.append(f"title={escape_property(title)}")
    head = f"::{level}" + (" " + ",".join(props) if props else "")
    return f"{head}::{escape_data(message)}"
