"""DigitalOcean's own OpenAPI description of App Platform, as a validator of app specs and requests.

``tests/contract/digitalocean/`` (vendored, see its README) holds the description's entry
file and the ``resources/apps`` and ``shared`` files it references. An OpenAPI 3.0
schema is JSON Schema (draft 4 semantics) plus a few annotations (``example``,
``nullable``, ``deprecated``) a validator ignores; ``$ref``s are relative file paths,
resolved here by reading the vendored files.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

ROOT = Path(__file__).parent / "contract" / "digitalocean"
MODELS = ROOT / "resources" / "apps" / "models"


def _retrieve(uri: str) -> Resource[Any]:
    path = Path(uri.removeprefix("file://"))
    return Resource.from_contents(yaml.safe_load(path.read_text(encoding="utf-8")), default_specification=DRAFT4)


@functools.cache
def _validator(model: str) -> jsonschema.Draft4Validator:
    registry: Registry[Any] = Registry(retrieve=_retrieve)  # type: ignore[call-arg]
    return jsonschema.Draft4Validator({"$ref": (MODELS / model).as_uri()}, registry=registry)


def problems(model: str, body: Any) -> list[str]:
    """How ``body`` breaks the schema of ``resources/apps/models/<model>`` (empty when it conforms)."""
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(body)'}: {error.message}"
        for error in _validator(model).iter_errors(body)
    ]
