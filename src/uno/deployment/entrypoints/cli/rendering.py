"""``render``'s output in each platform's own format, to stdout or one file per object (``--out DIR``).

Any driver's ``render`` answers ``{"platform", "notes", "objects": [{"kind", "name", "body",
"call"?, "cli"?}], "format"?}`` (``ports.platforms``): the body is exactly what the
platform's own tools take. So this module knows no platform; it writes bodies in their
format:

- ``yaml``: a multi-document YAML stream (``kubectl apply -f -`` takes Kubernetes'), the
  metadata as leading ``#`` comments, which every YAML reader skips;
- ``json``: each body as a JSON document (a stream ``jq`` reads); what names the object and
  the command that takes it go to stderr, so stdout stays JSON.

Without a ``format``, objects that name a ``cli`` are JSON (a command line's
``--cli-input-json``), the rest YAML.

``--out DIR`` writes ``<kind>-<name>.yaml|json`` (lowercase) per object and records the
names it wrote in ``DIR/.uno-deploy-render``. Run again into the same directory (a GitOps
repository), it overwrites its own files and removes those it wrote before that the
release no longer has; a file of that name it did not write is refused (``--force``
overwrites it); other files are left alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from uno.core.errors import ErrorDetails

RECORD = ".uno-deploy-render"
_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_METADATA = ("namespace", "kube_context", "kubernetes_version", "region")


def native_format(document: Mapping[str, Any]) -> str:
    """``yaml`` or ``json``: the driver's hint, else JSON when its objects are a command line's input."""
    hinted = document.get("format")
    if hinted in ("yaml", "json"):
        return str(hinted)
    objects = document.get("objects") or []
    return "json" if objects and all("cli" in item for item in objects) else "yaml"


def header(document: Mapping[str, Any]) -> list[str]:
    """What the stream is, where it goes and the driver's notes, as lines (no comment marks)."""
    where = ", ".join(f"{key} {document[key]}" for key in _METADATA if document.get(key))
    lines = [f"uno-deploy render: {document.get('platform', 'platform')}" + (f" ({where})" if where else "")]
    lines.extend(f"note: {note}" for note in document.get("notes") or [])
    return lines


def object_lines(item: Mapping[str, Any]) -> list[str]:
    """What names one object, and the call and command line that take its body."""
    lines = [f"{item['kind']}/{item['name']}"]
    if item.get("call"):
        lines.append(f"call: {item['call']}")
    if item.get("cli"):
        lines.append(f"cli: {item['cli']}")
    return lines


def yaml_stream(document: Mapping[str, Any]) -> str:
    """Every body as one document of a YAML stream, each under comments naming it."""
    parts = [_comments(header(document))]
    for item in document.get("objects") or []:
        parts.append("---\n" + _comments(object_lines(item)) + _yaml(item["body"]))
    return "".join(parts)


def json_stream(document: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Every body as a JSON document (stdout), and what names them (stderr)."""
    bodies, said = [], header(document)
    for item in document.get("objects") or []:
        bodies.append(json.dumps(item["body"], indent=2, sort_keys=False))
        said.append(" ".join(object_lines(item)))
    return "\n".join(bodies) + ("\n" if bodies else ""), said


def file_name(item: Mapping[str, Any], form: str) -> str:
    return _UNSAFE.sub("-", f"{item['kind']}-{item['name']}".lower()).strip("-.") + f".{form}"


def write_out(document: Mapping[str, Any], directory: Path, *, force: bool) -> list[Path] | ErrorDetails:
    """One file per object in ``directory`` (see the module's doc); the files written, or why nothing was."""
    form = native_format(document)
    objects = list(document.get("objects") or [])
    if directory.exists() and not directory.is_dir():
        return ErrorDetails.validation("--out", f"{directory} is not a directory")
    record = directory / RECORD
    ours = set(record.read_text().split()) if record.is_file() else set()
    named = {file_name(item, form): item for item in objects}
    if len(named) != len(objects):
        return ErrorDetails.validation("--out", "two objects would be written to the same file")
    theirs = sorted(name for name in named if (directory / name).exists() and name not in ours)
    if theirs and not force:
        message = f"{directory} has files uno-deploy did not write: {', '.join(theirs)} (--force overwrites them)"
        return ErrorDetails.validation("--out", message)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, item in named.items():
        path = directory / name
        text = json.dumps(item["body"], indent=2) + "\n" if form == "json" else _object_file(document, item)
        path.write_text(text)
        written.append(path)
    for stale in sorted(ours - set(named)):
        (directory / stale).unlink(missing_ok=True)
    record.write_text("".join(f"{name}\n" for name in sorted(named)))
    return written


def _object_file(document: Mapping[str, Any], item: Mapping[str, Any]) -> str:
    return _comments([header(document)[0], *object_lines(item)]) + _yaml(item["body"])


def _comments(lines: list[str]) -> str:
    return "".join(f"# {line}\n" for line in lines)


def _yaml(body: Any) -> str:
    return str(yaml.safe_dump(body, sort_keys=False, width=120, default_flow_style=False))
