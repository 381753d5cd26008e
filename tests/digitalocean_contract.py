"""DigitalOcean's own OpenAPI description of App Platform, as a validator of app specs and requests.

``tests/contract/digitalocean/`` (vendored, see its README) holds the description's entry
file and the ``resources/apps`` and ``shared`` files it references. An OpenAPI 3.0
schema is JSON Schema (draft 4 semantics) plus a few annotations (``example``,
``nullable``, ``deprecated``) a validator ignores; ``$ref``s are relative file paths,
resolved here by reading the vendored files.
"""

from __future__ import annotations

import functools
import re
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


SPEC = ROOT / "DigitalOcean-public.v2.yaml"


@functools.cache
def _paths() -> list[tuple[re.Pattern[str], str, Path]]:
    """(path pattern, method, operation file) of every App Platform path of the description."""
    document = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    found = []
    for template, methods in document["paths"].items():
        if not template.startswith("/v2/apps"):
            continue
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
        for method, item in methods.items():
            if isinstance(item, dict) and "$ref" in item:
                found.append((pattern, method.upper(), ROOT / item["$ref"]))
    # literal paths (/v2/apps/regions) before templated ones (/v2/apps/{id})
    return sorted(found, key=lambda row: row[0].pattern.count("[^/]+"))


def _operation(method: str, path: str) -> Path | None:
    return next((file for pattern, wanted, file in _paths() if wanted == method and pattern.match(path)), None)


@functools.cache
def _pointed(uri: str) -> jsonschema.Draft4Validator:
    registry: Registry[Any] = Registry(retrieve=_retrieve)  # type: ignore[call-arg]
    return jsonschema.Draft4Validator({"$ref": uri}, registry=registry)


def _errors(uri: str, body: Any) -> list[str]:
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(body)'}: {error.message}"
        for error in _pointed(uri).iter_errors(body)
    ]


def request_problems(method: str, path: str, body: Any) -> list[str]:
    """How a request breaks its operation in the description (empty when it conforms)."""
    file = _operation(method, path)
    if file is None:
        return [f"{method} {path} is no App Platform operation of DigitalOcean's API"]
    operation = yaml.safe_load(file.read_text(encoding="utf-8"))
    if "requestBody" not in operation:
        return [] if body is None else [f"{method} {path} takes no body"]
    if body is None:
        return [f"{method} {path} needs a body"] if operation["requestBody"].get("required") else []
    return _errors(file.as_uri() + "#/requestBody/content/application~1json/schema", body)


def answer_problems(method: str, path: str, status: int, body: Any) -> list[str]:
    """How an answer breaks the description of its operation's response ``status``."""
    file = _operation(method, path)
    if file is None:
        return [f"{method} {path} is no App Platform operation of DigitalOcean's API"]
    operation = yaml.safe_load(file.read_text(encoding="utf-8"))
    response = operation["responses"].get(str(status))
    if response is None:
        return [f"{method} {path} never answers {status}"]
    where = file.as_uri() + f"#/responses/{status}"
    if "$ref" in response:
        target = (file.parent / response["$ref"]).resolve()
        where, response = target.as_uri() + "#", yaml.safe_load(target.read_text(encoding="utf-8"))
    if "content" not in response:
        return [] if body is None else [f"{method} {path} answers {status} with no body"]
    return _errors(where + "/content/application~1json/schema", body)
