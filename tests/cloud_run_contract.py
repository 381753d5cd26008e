"""Cloud Run's own contract: bodies checked against the vendored discovery document ``contract/run.v2.json``.

The discovery document's ``schemas`` become JSON Schema (``$ref`` to ``$defs``, ``any`` to
anything), with one tightening: an object with ``properties`` admits no other field, so a
misspelt or invented field fails as the real API would refuse it ("Unknown name ..."). The
SDK's REST transport asks for integer enums (``$alt=json;enum-encoding=int``), so a
request's enum fields may be numbers; answers are checked with enum names only.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

DOCUMENT = Path(__file__).parent / "contract" / "run.v2.json"


def _convert(schema: Any, numeric_enums: bool) -> Any:
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return {"$ref": f"#/$defs/{schema['$ref']}"}
    if schema.get("type") == "any":
        return {}
    found: dict[str, Any] = {}
    kind = schema.get("type")
    if "enum" in schema:
        names = {"type": "string", "enum": schema["enum"]}
        return {"anyOf": [names, {"type": "integer", "minimum": 0}]} if numeric_enums else names
    if kind == "integer" and schema.get("format") in ("int32", "uint32"):
        found["type"] = "integer"
    elif kind == "string" and schema.get("format") in ("int64", "uint64"):
        found |= {"type": "string", "pattern": r"^-?\d+$"}
    elif kind is not None:
        found["type"] = kind
    if "properties" in schema:
        found["properties"] = {name: _convert(value, numeric_enums) for name, value in schema["properties"].items()}
        found["additionalProperties"] = False
    if "additionalProperties" in schema:
        found["additionalProperties"] = _convert(schema["additionalProperties"], numeric_enums)
    if "items" in schema:
        found["items"] = _convert(schema["items"], numeric_enums)
    return found


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return loaded


@cache
def _validator(name: str, numeric_enums: bool) -> jsonschema.Draft202012Validator:
    schemas = document()["schemas"]
    definitions = {key: _convert(value, numeric_enums) for key, value in schemas.items()}
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": definitions})


def problems(schema: str, body: Any, *, numeric_enums: bool = False) -> list[str]:
    """What in ``body`` the discovery document's ``schema`` does not allow (empty: it conforms)."""
    validator = _validator(schema, numeric_enums)
    found = []
    for error in validator.iter_errors(body):
        where = "/".join(str(part) for part in error.absolute_path) or "(body)"
        found.append(f"{schema} at {where}: {error.message}")
    return found


def method(resource: str, name: str) -> dict[str, Any]:
    """A method of ``projects.locations.<resource>`` (``services``, ``services.revisions``, ``operations``)."""
    node: dict[str, Any] = document()["resources"]["projects"]["resources"]["locations"]
    for part in resource.split("."):
        node = node["resources"][part]
    found: dict[str, Any] = node["methods"][name]
    return found


def enum_names(schema: str, body: Any) -> Any:
    """``body`` with integer enums (``enum-encoding=int``) as their names, guided by the document's ``schema``.

    By position in the document's list: Cloud Run's enums are numbered in order from 0.
    """
    schemas = document()["schemas"]

    def walk(node: dict[str, Any], value: Any) -> Any:
        if "$ref" in node:
            return walk(schemas[node["$ref"]], value)
        if "enum" in node and isinstance(value, int) and not isinstance(value, bool) and value < len(node["enum"]):
            return node["enum"][value]
        if isinstance(value, dict) and "properties" in node:
            return {
                key: walk(node["properties"][key], item) if key in node["properties"] else item
                for key, item in value.items()
            }
        if isinstance(value, dict) and isinstance(node.get("additionalProperties"), dict):
            return {key: walk(node["additionalProperties"], item) for key, item in value.items()}
        if isinstance(value, list) and "items" in node:
            return [walk(node["items"], item) for item in value]
        return value

    return walk({"$ref": schema}, body)
