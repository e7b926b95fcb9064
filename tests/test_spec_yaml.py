"""YAML reading: marks, duplicate keys, YAML 1.1 traps, tags, syntax errors."""

from __future__ import annotations

import math
from datetime import date

import pytest
import yaml

from upsell_ab.spec.yaml_marks import Mark, parse_marked


@pytest.mark.parametrize(
    "text",
    ["yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "OFF", "Y", "N"],
)
def test_yaml11_booleans_are_refused(text: str) -> None:
    document = parse_marked(f"key: {text}\n")
    assert [(i.path, i.mark, i.code) for i in document.issues] == [
        (("key",), Mark(1, 6), "yaml_trap")
    ]
    issue = document.issues[0]
    meaning = "true" if text.lower() in ("yes", "on", "y") else "false"
    assert issue.message == f"YAML 1.1 reads `{text}` as {meaning}"
    assert issue.hint == f"write true/false for a switch, or quote '{text}' for text"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("012", "octal"),
        ("-0755", "octal"),
        ("1:30", "base-60"),
        ("190:20:30.15", "base-60"),
        ("1_000", "YAML 1.2 as text"),
        ("0b101", "text in others"),
        ("0o17", "text in others"),
    ],
)
def test_number_traps_are_refused(text: str, fragment: str) -> None:
    document = parse_marked(f"items:\n  - {text}\n")
    assert [(i.path, i.mark) for i in document.issues] == [(("items", 0), Mark(2, 5))]
    assert fragment in document.issues[0].message


def test_base60_message_gives_the_value_pyyaml_would_read() -> None:
    # Oracle: PyYAML itself (YAML 1.1) reads 1:30 as 90.
    assert yaml.safe_load("a: 1:30")["a"] == 90
    assert "(90)" in parse_marked("a: 1:30").issues[0].message


def test_quoted_and_explicit_str_values_are_text_without_issues() -> None:
    document = parse_marked("a: 'no'\nb: \"012\"\nc: !!str 1:30\nd: |\n  yes\n")
    assert document.issues == []
    assert document.value == {"a": "no", "b": "012", "c": "1:30", "d": "yes\n"}


def test_plain_scalars_follow_yaml12_core_types() -> None:
    text = "a: [true, False, TRUE, ~, null, 12, -3, 0x1F, 1.5, 1e-3, 2026-03-01, text]"
    document = parse_marked(text)
    assert document.issues == []
    values = document.value["a"]
    assert values[:8] == [True, False, True, None, None, 12, -3, 31]
    assert values[8] == 1.5 and values[9] == 0.001
    assert values[10] == date(2026, 3, 1) and values[11] == "text"


def test_core_schema_infinities_are_refused_where_a_spec_needs_finite_numbers() -> None:
    # .inf/.nan are YAML 1.2 core floats, but no spec field means "infinite": a guardrail
    # `margin: .inf` would silently switch the guardrail off (issue 10).
    document = parse_marked("a: [.inf, -.Inf, .nan, 1e400, 1.5]")
    assert [(i.path, i.code) for i in document.issues] == [
        (("a", 0), "invalid_value"),
        (("a", 1), "invalid_value"),
        (("a", 2), "invalid_value"),
        (("a", 3), "invalid_value"),
    ]
    assert document.value["a"][4] == 1.5 and not any(
        isinstance(v, float) and not math.isfinite(v) for v in document.value["a"]
    )


def test_keys_are_always_text() -> None:
    # A bare `on:` key (GitHub Actions' classic trap) or a numeric unit id stays text.
    document = parse_marked("on: 1\n012: b\n")
    assert document.issues == []
    assert document.value == {"on": 1, "012": "b"}


def test_duplicate_keys_are_errors_at_the_second_key() -> None:
    document = parse_marked("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n")
    assert [(i.path, i.mark, i.code) for i in document.issues] == [
        (("b", "c"), Mark(4, 3), "duplicate_key"),
        (("a",), Mark(5, 1), "duplicate_key"),
    ]
    assert "first at line 3" in document.issues[0].message


def test_marks_for_keys_and_values_are_one_based() -> None:
    document = parse_marked("# comment\nouter:\n  - id: x\n    inner: {k: 5}\n")
    span = document.spans[("outer", 0, "inner", "k")]
    assert (span.key, span.value) == (Mark(4, 13), Mark(4, 16))
    assert document.spans[("outer", 0)].value == Mark(3, 5)
    # A path that is not in the text falls back to its nearest parent.
    assert document.mark_for(("outer", 0, "missing")) == Mark(3, 5)


def test_invalid_date_is_reported() -> None:
    document = parse_marked("start: 2026-02-30\n")
    assert [(i.mark, i.code) for i in document.issues] == [(Mark(1, 8), "invalid_date")]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("a: !!python/object:os.system x\n", "yaml_tag"),
        ("a: !!int '5'\n", "yaml_tag"),
        ("a: !!set {x}\n", "yaml_tag"),
        # the anchor and the alias are refused as such (issue 10), the merge key too
        ("base: &b {x: 1}\nother:\n  <<: *b\n", ("yaml_alias", "yaml_alias", "yaml_key")),
        ("? [a, b]\n: c\n", "yaml_key"),
    ],
)
def test_unsupported_constructs_are_refused(text: str, code: str | tuple[str, ...]) -> None:
    expected = [code] if isinstance(code, str) else list(code)
    assert [i.code for i in parse_marked(text).issues] == expected


@pytest.mark.parametrize("text", ["a: 1\n  b: 2\n", "a: [1,\nb: 2\n", "a: 'open\n"])
def test_syntax_error_points_where_pyyaml_does(text: str) -> None:
    with pytest.raises(yaml.MarkedYAMLError) as caught:
        yaml.safe_load(text)
    mark = caught.value.problem_mark
    assert mark is not None
    document = parse_marked(text)
    assert [(i.code, i.mark) for i in document.issues] == [
        ("yaml_syntax", Mark(mark.line + 1, mark.column + 1))
    ]


@pytest.mark.parametrize("text", ["a:\n\tb: 2\n", "a:\n  b: 1\n\tc: 2\n"])
def test_a_tab_in_the_indentation_is_named(text: str) -> None:
    """PyYAML says "found character that cannot start any token"; the hint names the tab."""
    with pytest.raises(yaml.MarkedYAMLError):
        yaml.safe_load(text)
    (issue,) = parse_marked(text).issues
    assert issue.code == "yaml_syntax" and "tab" in (issue.hint or "")
    (other,) = parse_marked("a: 'open\n").issues
    assert "tab" not in (other.hint or "")


def test_empty_file_and_multiple_documents() -> None:
    assert [i.code for i in parse_marked("# only a comment\n").issues] == ["empty"]
    assert [i.code for i in parse_marked("a: 1\n---\nb: 2\n").issues] == ["yaml_syntax"]
