"""The published record schemas: valid JSON Schema 2020-12, the fast gate and the
explaining validator agree, and an accepted record always ingests as the tracker's."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any

import fastjsonschema
import pytest
from jsonschema import Draft202012Validator

from upsell_ab.web.records import BatchRejected, parse_json, schema_text, spool_lines

NOW = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
EXPOSURE = {
    "experiment": "cake_wording",
    "variant": "pairing",
    "unit_id": "顧客-1",
    "event_id": "0123456789abcdef",
}
EVENT = {"unit_id": "c-1", "event_type": "order", "event_id": "0123456789abcdef"}

CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("exposure", EXPOSURE, True),
    ("exposure", {**EXPOSURE, "attributes": {"channel": "app", "n": 3, "vip": True}}, True),
    ("exposure", {**EXPOSURE, "attributes": {"channel": None}}, True),
    ("exposure", {**EXPOSURE, "unit_id": ""}, False),
    ("exposure", {**EXPOSURE, "unit_id": " \t"}, False),
    ("exposure", {**EXPOSURE, "unit_id": 42}, False),
    ("exposure", {**EXPOSURE, "variant": "has space"}, False),
    ("exposure", {**EXPOSURE, "event_id": "short"}, False),
    ("exposure", {**EXPOSURE, "event_id": "../../x/y/z"}, False),
    ("exposure", {**EXPOSURE, "attributes": {"kind": "x"}}, False),
    ("exposure", {**EXPOSURE, "attributes": {"bad name": "x"}}, False),
    ("exposure", {**EXPOSURE, "attributes": {"a": [1]}}, False),
    ("exposure", {**EXPOSURE, "attributes": {f"a{i}": 1 for i in range(17)}}, False),
    ("exposure", {**EXPOSURE, "extra": 1}, False),
    ("exposure", {k: v for k, v in EXPOSURE.items() if k != "event_id"}, False),
    ("event", EVENT, True),
    ("event", {**EVENT, "value": 0, "discount": 10.5, "quantity": 2, "order_id": None}, True),
    ("event", {**EVENT, "value": -1}, False),
    ("event", {**EVENT, "value": True}, False),
    ("event", {**EVENT, "value": "10"}, False),
    ("event", {**EVENT, "value": 1e13}, False),
    ("event", {**EVENT, "order_id": 7}, False),
    ("event", {**EVENT, "experiment": "x"}, False),
]


@pytest.mark.parametrize("kind", ["exposure", "event"])
def test_schemas_are_valid_2020_12(kind: str) -> None:
    Draft202012Validator.check_schema(json.loads(schema_text(kind)))  # type: ignore[arg-type]


@functools.cache
def explainer(kind: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_text(kind)))  # type: ignore[arg-type]


@functools.cache
def gate(kind: str) -> Any:
    return fastjsonschema.compile(json.loads(schema_text(kind)))  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "record", "valid"), CASES)
def test_fast_gate_and_explaining_validator_agree(
    kind: str, record: dict[str, Any], valid: bool
) -> None:
    explained = not list(explainer(kind).iter_errors(record))
    try:
        gate(kind)(record)
        fast = True
    except fastjsonschema.JsonSchemaValueException:
        fast = False
    assert explained == fast == valid


def test_spool_lines_match_the_tracker_format() -> None:
    (line,) = spool_lines(
        "exposure", {**EXPOSURE, "attributes": {"channel": "app", "vip": True, "n": 2}}, NOW, 10
    )
    record = json.loads(line)
    assert record == {
        "kind": "exposure",
        "experiment": "cake_wording",
        "variant": "pairing",
        "unit_id": "顧客-1",
        "timestamp": "2026-03-05T01:00:00+00:00",
        "event_id": "0123456789abcdef",
        "channel": "app",
        "vip": "true",
        "n": "2",
    }
    (line,) = spool_lines("event", {**EVENT, "timestamp": "2026-03-05T10:00:00+09:00"}, NOW, 1)
    assert json.loads(line) == {
        "kind": "event",
        "unit_id": "c-1",
        "timestamp": "2026-03-05T01:00:00+00:00",
        "event_type": "order",
        "value": 0.0,
        "discount": 0.0,
        "quantity": 1.0,
        "order_id": None,
        "event_id": "0123456789abcdef",
    }


@pytest.mark.parametrize(
    ("stamp", "message"),
    [
        ("2026-03-05 10:00", "time-zone"),
        ("yesterday", "ISO 8601"),
        ("1850-01-01T00:00:00Z", "implausible"),
        ("2250-01-01T00:00:00+00:00", "implausible"),
    ],
)
def test_bad_timestamps_are_located(stamp: str, message: str) -> None:
    with pytest.raises(BatchRejected) as caught:
        spool_lines("event", [EVENT, {**EVENT, "timestamp": stamp}], NOW, 10)
    (problem,) = caught.value.problems
    assert problem.path == "[1].timestamp" and message in problem.message


def test_unknown_experiment_or_variant_is_refused_when_the_payload_is_known() -> None:
    variants = {"cake_wording": frozenset({"generic", "pairing"})}
    assert spool_lines("exposure", EXPOSURE, NOW, 1, variants)
    for field, value in (("experiment", "other"), ("variant", "nope")):
        with pytest.raises(BatchRejected) as caught:
            spool_lines("exposure", {**EXPOSURE, field: value}, NOW, 1, variants)
        assert caught.value.problems[0].path == field


@pytest.mark.parametrize("text", [b"NaN", b'{"v": Infinity}', b"[1e999]", b'{"v": -Infinity}'])
def test_non_finite_numbers_are_not_json(text: bytes) -> None:
    with pytest.raises(ValueError):
        parse_json(text)
