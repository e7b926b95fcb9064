"""JSON Schema of the spec and of the metric catalogue, generated from the models.

Editors (VS Code's YAML extension via ``# yaml-language-server: $schema=...``)
use it for completion and inline errors. Generated with pydantic's
``model_json_schema`` (JSON Schema draft 2020-12); field descriptions come
from the attribute docstrings (read here, not at import). Checked in under
``schema/`` and kept in sync
by a test, so the file never drifts from the models.
"""

from __future__ import annotations

import ast
import inspect
import json
from typing import Any, Literal

from upsell_ab.spec import (
    allocation_models,
    analysis_models,
    base,
    catalogue_models,
    data_models,
    models,
    offer_models,
    population_models,
    quantile_models,
)
from upsell_ab.spec.models import Catalogue, Experiment

MODEL_MODULES = (
    base,
    models,
    population_models,
    offer_models,
    analysis_models,
    allocation_models,
    data_models,
    catalogue_models,
    quantile_models,
)
"""Modules whose attribute docstrings become field descriptions."""

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SchemaName = Literal["experiment", "metrics"]
FILE_NAMES: dict[SchemaName, str] = {
    "experiment": "experiment.schema.json",
    "metrics": "metrics.schema.json",
}


def attribute_docstrings() -> dict[str, dict[str, str]]:
    """class name -> field name -> the docstring written under the field in models.py.

    Pydantic can read these itself (``use_attribute_docstrings``) but does so with
    ``inspect.getsource`` for every class at import time, a fifth of ``validate``'s
    start-up; we only need them when generating the schema.
    """
    docs: dict[str, dict[str, str]] = {}
    nodes = [
        node for module in MODEL_MODULES for node in ast.walk(ast.parse(inspect.getsource(module)))
    ]
    for node in nodes:
        if not isinstance(node, ast.ClassDef):
            continue
        fields: dict[str, str] = {}
        for before, after in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(before, ast.AnnAssign)
                and isinstance(before.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                fields[before.target.id] = inspect.cleandoc(after.value.value)
        docs[node.name] = fields
    return docs


def _add_descriptions(body: dict[str, Any]) -> None:
    docs = attribute_docstrings()
    definitions: dict[str, Any] = body.get("$defs", {})
    for class_name, schema in [*definitions.items(), (body.get("title", ""), body)]:
        model = getattr(models, class_name, None)
        if model is None or not hasattr(model, "model_fields"):
            continue
        properties = schema.get("properties", {})
        for field_name, info in model.model_fields.items():
            doc = docs.get(class_name, {}).get(field_name)
            key = info.alias or field_name
            if doc and key in properties and "description" not in properties[key]:
                properties[key]["description"] = doc


def json_schema(name: SchemaName = "experiment") -> dict[str, Any]:
    """The JSON Schema (as a dict) for experiment specs or for ``metrics.yaml``."""
    model = Experiment if name == "experiment" else Catalogue
    body = model.model_json_schema(mode="validation")
    _add_descriptions(body)
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
