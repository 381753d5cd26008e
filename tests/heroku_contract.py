"""Heroku's own description of its Platform API, as a validator of requests and answers.

``tests/contract/heroku/schema.json`` (vendored, see its README) is a JSON hyper-schema:
each resource's ``links`` give a method, an ``href`` template, the request body's
``schema`` and the answer's ``targetSchema``. ``HerokuContract.matching`` finds the links of a
request; ``request_problems``/``answer_problems`` say how a body breaks it (empty: it
conforms). ``$ref``s resolve against the whole document; the interagent extension
``strictProperties: true`` is read as ``additionalProperties: false``, so an answer with a
field Heroku never sends fails too.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SCHEMA = Path(__file__).parent / "contract" / "heroku" / "schema.json"
ROOT = "http://api.heroku.com/schema"


@dataclass(frozen=True)
class Link:
    resource: str
    title: str
    method: str
    pattern: re.Pattern[str]
    schema: str | None  # the key of its request body's schema in the document's "uno-checks"
    target: str | None  # that of its answer's


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        found = {key: _strict(value) for key, value in node.items()}
        if found.get("strictProperties") is True and "additionalProperties" not in found and "properties" in found:
            found["additionalProperties"] = False
        return found
    if isinstance(node, list):
        return [_strict(item) for item in node]
    return node


class HerokuContract:
    def __init__(self) -> None:
        self.document: dict[str, Any] = _strict(json.loads(SCHEMA.read_text(encoding="utf-8")))
        self.links: list[Link] = []
        checks: dict[str, Any] = {}  # each link's schemas, inside the document so that their $refs resolve
        for name, definition in self.document["definitions"].items():
            for link in definition.get("links", []):
                href = re.sub(r"\{\([^)]*\)\}", "[^/]+", unquote(link["href"]))
                index = len(self.links)
                for part in ("schema", "targetSchema"):
                    if part in link:
                        checks[f"{index}-{part}"] = link[part]
                self.links.append(
                    Link(
                        name,
                        link.get("title", ""),
                        link["method"],
                        re.compile(f"^{href}$"),
                        f"{index}-schema" if "schema" in link else None,
                        f"{index}-targetSchema" if "targetSchema" in link else None,
                    )
                )
        self.document["definitions"]["uno-checks"] = checks
        self.registry: Registry = Registry().with_resource(ROOT, Resource(self.document, DRAFT4))
        self._validators: dict[str, Any] = {}

    def matching(self, method: str, path: str) -> list[Link]:
        """The links of a request (two links may share one: release Create and Rollback)."""
        return [item for item in self.links if item.method == method and item.pattern.match(path)]

    def request_problems(self, method: str, path: str, body: Any) -> list[str]:
        """How ``body`` breaks every link of the request (empty when one accepts it)."""
        return self._first_fit(method, path, body, lambda link: link.schema)

    def answer_problems(self, method: str, path: str, body: Any) -> list[str]:
        return self._first_fit(method, path, body, lambda link: link.target)

    def _first_fit(self, method: str, path: str, body: Any, part: Any) -> list[str]:
        links = self.matching(method, path)
        if not links:
            return [f"{method} {path} is no link of Heroku's Platform API"]
        found: list[str] = []
        for link in links:
            problems = self._problems(part(link), body)
            if not problems:
                return []
            found = found or [f"{link.resource} {link.title}: {problem}" for problem in problems]
        return found

    def _problems(self, check: str | None, body: Any) -> list[str]:
        if check is None:
            return []
        validator = self._validators.get(check)
        if validator is None:
            validator = jsonschema.Draft4Validator(
                {"$ref": f"{ROOT}#/definitions/uno-checks/{check}"},
                registry=self.registry,
                format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER,
            )
            self._validators[check] = validator
        return [
            f"{'/'.join(str(part) for part in error.absolute_path) or '(body)'}: {error.message}"
            for error in validator.iter_errors(body)
        ]


@functools.cache
def contract() -> HerokuContract:
    return HerokuContract()
