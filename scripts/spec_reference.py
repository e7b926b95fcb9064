"""Markdown reference of the spec and catalogue formats, generated from the JSON Schemas.

``schema/experiment.schema.json`` and ``schema/metrics.schema.json`` are generated from
the pydantic models (``upsell-ab schema``), so this page cannot drift from what the
loader accepts. Used two ways:

- as an MkDocs hook (``hooks:`` in ``mkdocs.yml``): the pages ``reference/spec.md`` and
  ``reference/catalogue.md`` are added to the site at build time;
- as a script: ``python scripts/spec_reference.py OUT_DIR`` writes the same pages.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGES = {
    "reference/spec.md": (
        "schema/experiment.schema.json",
        "Experiment spec reference",
        "One YAML file per experiment (`experiments/*.yaml`), or the same keys as a dict "
        "given to `upsell_ab.define(...)`.",
    ),
    "reference/catalogue.md": (
        "schema/metrics.schema.json",
        "Metric catalogue reference",
        "The shared metric definitions (`experiments/metrics.yaml`), referenced by name "
        "from the specs.",
    ),
}


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _anchor(name: str) -> str:
    return name.lower()


def type_text(node: dict[str, Any]) -> str:
    """A short human type: ``string``, ``number >= 0``, ``list of Variant``, ``Offer | null``."""
    if "$ref" in node:
        name = _ref_name(node["$ref"])
        return f"[{name}](#{_anchor(name)})"
    if "anyOf" in node:
        return " or ".join(type_text(option) for option in node["anyOf"])
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    kind = node.get("type", "any")
    if kind == "array":
        return f"list of {type_text(node.get('items', {}))}"
    if kind == "object" and "additionalProperties" in node:
        extra = node["additionalProperties"]
        if isinstance(extra, dict):
            return f"mapping of name to {type_text(extra)}"
    bounds = [
        f"{symbol} {node[key]}"
        for key, symbol in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
        )
        if key in node
    ]
    if "format" in node:
        bounds.append(f"({node['format']})")
    if "pattern" in node and kind == "string":
        bounds.append(f"matching `{node['pattern']}`")
    return " ".join([str(kind), ", ".join(bounds)]).strip()


def _default(node: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in node:
        return ""
    value = node["default"]
    if isinstance(value, dict | list) and len(json.dumps(value)) > 40:
        return "see below" if isinstance(value, dict) else "`[...]`"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").replace("``", "`").split())


def _object_section(name: str, node: dict[str, Any]) -> list[str]:
    lines = [f"## {name}", ""]
    if node.get("description"):
        lines += [_cell(node["description"]), ""]
    if "enum" in node:
        lines += ["Values: " + ", ".join(f"`{v}`" for v in node["enum"]), ""]
        return lines
    properties = node.get("properties", {})
    if not properties:
        lines += [f"Type: {type_text(node)}", ""]
        return lines
    required = set(node.get("required", []))
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, prop in properties.items():
        lines.append(
            f"| `{key}` | {_cell(type_text(prop))} | {_default(prop, key in required)} | "
            f"{_cell(prop.get('description', ''))} |"
        )
    lines.append("")
    return lines


def render_page(schema: dict[str, Any], title: str, intro: str) -> str:
    """The whole reference page of one schema: the root object, then every definition."""
    lines = [
        f"# {title}",
        "",
        intro,
        "",
        "Generated from the JSON Schema that editors use for autocompletion "
        f"(`{schema.get('$id', '')}`); unknown keys are errors with a 'did you mean'.",
        "",
    ]
    lines += _object_section(schema.get("title", "root"), schema)
    for name, node in sorted(schema.get("$defs", {}).items()):
        lines += _object_section(name, node)
    return "\n".join(lines).rstrip() + "\n"


def pages(root: Path = ROOT) -> dict[str, str]:
    out = {}
    for page, (schema_path, title, intro) in PAGES.items():
        schema = json.loads((root / schema_path).read_text(encoding="utf-8"))
        out[page] = render_page(schema, title, intro)
    return out


def on_files(files: Any, config: Any) -> Any:
    """MkDocs hook: add the generated reference pages to the site."""
    from mkdocs.structure.files import File

    for page, content in pages().items():
        files.append(File.generated(config, page, content=content))
    return files


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else ROOT / "site-reference"
    for page, content in pages().items():
        path = target / page
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
