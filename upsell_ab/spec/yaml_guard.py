"""Limits that keep hostile YAML cheap: size, nesting depth, anchors and aliases.

CI validates specs from pull requests, so a spec is untrusted input. Three
attacks on a YAML loader, and what stops each, before any value is built:

* **Alias bombs** ("billion laughs": nine anchors, each aliasing the previous
  one nine times): the composed graph is small but walking it expands to 9^9
  nodes. The spec language has no use for anchors and aliases, so the first
  few (``&name`` and ``*name``) are reported as located problems, and the
  value builder (:mod:`upsell_ab.spec.yaml_marks`) never enters a node twice,
  so the rest of the file is still checked in time linear in its size.
* **Deep nesting** (``[[[[...]]]]`` 5,000 levels): recursive builders run out of
  stack. Collections deeper than :data:`MAX_DEPTH` are a located problem.
* **Huge files** (55 MB of overrides): every later step is linear in the size,
  so the file is refused above :data:`MAX_SPEC_BYTES` without being parsed.

The scan reads parser events (libyaml's C parser when present), which uses a
constant amount of stack and memory per event: a 1 MiB spec scans in a few
milliseconds. Measured bounds are in the hostile-input tests
(``tests/test_hostile_specs.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from upsell_ab.spec.yaml_marks import Mark, YamlIssue, YamlPath

MAX_SPEC_BYTES = 1 << 20
"""Largest spec or catalogue file read (1 MiB; the bundled specs are 1-3 KiB)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences (the spec language needs about 6)."""
MAX_ALIAS_ISSUES = 5
"""Anchors/aliases reported before the scan stops (a bomb has hundreds)."""

_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_UNPLACED: YamlPath = ("",)
"""Path of scan issues: parser events carry a line and column but no key path. Not ()
(a root issue would hide every model problem below it) and shown as no field."""


class SpecTooLarge(Exception):
    """The file exceeds :data:`MAX_SPEC_BYTES`; carries the size read so far."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def read_spec_bytes(path: Path) -> bytes:
    """The file's bytes, reading at most :data:`MAX_SPEC_BYTES` + 1 (so ``/dev/zero`` or
    a 50 MB file costs no more than 1 MiB); :class:`SpecTooLarge` beyond."""
    with path.open("rb") as handle:
        data = handle.read(MAX_SPEC_BYTES + 1)
    if len(data) > MAX_SPEC_BYTES:
        raise SpecTooLarge(len(data))
    return data


def too_large_issue() -> YamlIssue:
    return YamlIssue(
        (),
        Mark(1, 1),
        f"the file is larger than {MAX_SPEC_BYTES // 1024} KiB, the limit for a spec",
        "split it, or move long lists (overrides, ids) into data files",
        "too_large",
    )


def _mark(event: Any) -> Mark:
    return Mark(event.start_mark.line + 1, event.start_mark.column + 1)


def guard_issues(text: str) -> tuple[list[YamlIssue], bool]:
    """Anchors, aliases and nesting beyond :data:`MAX_DEPTH` in ``text``, as located
    issues, and whether the text may still be composed (False when too deep).
    Syntax errors are left to the composer (it reports them with their position)."""
    loader = _LOADER(text)
    issues: list[YamlIssue] = []
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if len(issues) >= MAX_ALIAS_ISSUES:
                pass
            elif isinstance(event, yaml.AliasEvent):
                issues.append(
                    YamlIssue(
                        _UNPLACED,
                        _mark(event),
                        f"alias *{event.anchor} is not supported",
                        "write the value out; specs do not use YAML anchors and aliases",
                        "yaml_alias",
                    )
                )
            elif getattr(event, "anchor", None) is not None:
                issues.append(
                    YamlIssue(
                        _UNPLACED,
                        _mark(event),
                        f"anchor &{event.anchor} is not supported",
                        "remove it and write values out; specs do not use anchors and aliases",
                        "yaml_alias",
                    )
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    issues.append(
                        YamlIssue(
                            (),
                            _mark(event),
                            f"nested deeper than {MAX_DEPTH} levels",
                            "a spec needs a handful of levels; flatten the structure",
                            "too_large",
                        )
                    )
                    return issues, False
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as error:
        # libyaml >= 0.2.5 (PyYAML 6.0.4 wheels) has its own depth limit of 1000 and
        # its scanner looks ahead through a flow collection, so "[[[[..." fails there
        # before our event count reaches MAX_DEPTH: the same problem, the same code.
        if "nesting depth" in str(getattr(error, "problem", "") or error):
            mark = getattr(error, "problem_mark", None)
            where = Mark(mark.line + 1, mark.column + 1) if mark is not None else Mark(1, 1)
            issues.append(
                YamlIssue(
                    (),
                    where,
                    f"nested deeper than {MAX_DEPTH} levels",
                    "a spec needs a handful of levels; flatten the structure",
                    "too_large",
                )
            )
            return issues, False
        return issues, True
    finally:
        loader.dispose()
    return issues, True
