"""Make untrusted text safe to show: control characters and bidi overrides become visible escapes.

Spec text (names, wording, catalogue descriptions) and data values (segment
attribute values, unknown variant names an app recorded) reach terminals, CI
logs, Markdown and HTML. A raw ``ESC [2J`` clears the analyst's screen, ``ESC ]0;...``
sets the window title, C1 ``CSI`` (U+009B) does the same on some terminals, and
bidi overrides (U+202E ...) make text read differently from what it is (the
"Trojan Source" trick, CVE-2021-42574). Every renderer therefore passes text
through :func:`escape_control`, which writes such characters the way Python's
``repr`` does (``\\x1b``, ``\\u202e``): visible, unambiguous, and harmless.

JSON keeps the real value, JSON-escaped (``\\u001b``): :func:`escape_json_text`
turns the characters JSON itself leaves raw (DEL, C1, bidi, line separators) into
``\\uXXXX`` escapes, which any JSON parser reads back to the same string.

Newline and tab are kept by default (descriptions may be multi-line; each
renderer places them); ``keep_newlines=False`` escapes them too, for one-line
contexts such as error messages.
"""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass, replace
from typing import Any

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_LINE_SEPARATORS = "\u2028\u2029"
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}{_LINE_SEPARATORS}]")
_UNSAFE_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_LINE_SEPARATORS}]")
_JSON_RAW = re.compile(f"[\x7f-\x9f{_BIDI}{_LINE_SEPARATORS}]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0A:
        return "\\n"
    if code == 0x09:
        return "\\t"
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with C0/C1 controls, DEL and bidi controls written as visible escapes.

    >>> escape_control("a\\x1b[2Jb\\u202e")
    'a\\\\x1b[2Jb\\\\u202e'
    """
    pattern = _UNSAFE if keep_newlines else _UNSAFE_ONE_LINE
    return pattern.sub(_visible, text)


def escape_json_text(text: str) -> str:
    """Rendered JSON text with DEL, C1, bidi and line-separator characters as ``\\uXXXX``.

    These characters can only occur inside JSON strings (``json.dumps`` already
    escapes C0 controls), so the replacement keeps the document valid and its
    values identical.
    """
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def escape_strings(value: Any) -> Any:
    """A copy of ``value`` with every plain ``str`` inside (dataclass fields, tuples,
    lists, dict keys and values) passed through :func:`escape_control`.

    Used once per render on the report model, so every human-readable renderer
    (terminal, Markdown, HTML) gets safe text without escaping at each use.
    Enum members and other ``str`` subclasses are left as they are (they are
    our own constants, and code compares them by identity).
    """
    if type(value) is str:
        return escape_control(value) if _UNSAFE.search(value) else value
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        items = tuple(escape_strings(item) for item in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, list):
        listed = [escape_strings(item) for item in value]
        return value if all(a is b for a, b in zip(listed, value, strict=True)) else listed
    if isinstance(value, dict):
        pairs = [(escape_strings(k), escape_strings(v)) for k, v in value.items()]
        same = all(a is k and b is v for (a, b), (k, v) in zip(pairs, value.items(), strict=True))
        return value if same else dict(pairs)
    if is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in fields(value):
            if f.init:
                old = getattr(value, f.name)
                new = escape_strings(old)
                if new is not old:
                    changes[f.name] = new
        return replace(value, **changes) if changes else value
    return value


def needs_escape(text: str) -> bool:
    """True when :func:`escape_control` would change ``text`` (newlines and tabs aside)."""
    return _UNSAFE.search(text) is not None
