"""JSON Schema of the spec and of the metric catalogue, generated from the models.

Editors (VS Code's YAML extension via ``# yaml-language-server: $schema=...``)
use it for completion and inline errors. Generated with pydantic's
``model_json_schema`` (JSON Schema draft 2020-12); field descriptions come
from the attribute docstrings. Checked in under ``schema/`` and kept in sync
by a test, so the file never drifts from the models.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from upsell_ab.spec.models import Catalogue, Experiment

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SchemaName = Literal["experiment", "metrics"]
FILE_NAMES: dict[SchemaName, str] = {
    "experiment": "experiment.schema.json",
    "metrics": "metrics.schema.json",
}


def json_schema(name: SchemaName = "experiment") -> dict[str, Any]:
    """The JSON Schema (as a dict) for experiment specs or for ``metrics.yaml``."""
    model = Experiment if name == "experiment" else Catalogue
    body = model.model_json_schema(mode="validation")
    title = "upsell_ab experiment spec" if name == "experiment" else "upsell_ab metric catalogue"
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": FILE_NAMES[name],
        "title": title,
        **{k: v for k, v in body.items() if k != "title"},
    }


def render(name: SchemaName = "experiment") -> str:
    """Stable text: sorted keys, two-space indent, UTF-8 kept, trailing newline."""
    return json.dumps(json_schema(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
