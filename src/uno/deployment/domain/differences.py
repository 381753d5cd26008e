"""What a deploy would change, per platform object and per field: the data of ``diff``, and how it is worked out.

Pure: the driver reads what is live (``ports.platforms.LiveState``) and cleans both sides
of what the platform fills in itself; here the two sides are compared leaf by leaf. A
field is named by its path, as a user would point at it in a manifest:
``spec.template.spec.containers[name=shop].env[name=LOG_LEVEL].value``. Lists whose items
are all objects with distinct ``name`` keys are matched by name (reordering them is no
change), other lists by position.

Secret values never leave this module: a field under a secret path (the driver's, a
variable named in the configuration's ``secrets``, a Secret's ``data``) is compared, then
shown as ``(secret)``, or ``(secret, changed)`` on the side a deploy would write.

Invariants: ``Diff.changed`` is True exactly when some object is added, removed or has a
changed field; an object's ``fields`` lists every leaf that differs, in the wanted order.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"
UNCHANGED = "unchanged"
SECRET = "(secret)"
SECRET_CHANGED = "(secret, changed)"
_ABSENT = object()
_ENV_ENTRY = re.compile(r"(?:^|\.)env\[name=(?P<name>[^\]]+)\]\.value(?:$|\.)|(?:^|\.)env\.(?P<key>[^.\[]+)$")


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One leaf that differs: ``before`` is None when it is added, ``after`` when it is removed."""

    path: str
    change: str
    before: Any = None
    after: Any = None

    def to_document(self) -> dict[str, Any]:
        return {"path": self.path, "change": self.change, "before": self.before, "after": self.after}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> FieldChange:
        return cls(str(document["path"]), str(document["change"]), document.get("before"), document.get("after"))


@dataclass(frozen=True, slots=True)
class ObjectDiff:
    """One platform object: added, removed, changed (with the fields) or unchanged."""

    kind: str
    name: str
    change: str
    fields: tuple[FieldChange, ...] = ()
    note: str = ""
    live_lines: tuple[str, ...] = ()  # "path: value" per leaf, secrets masked (the unified view's two sides)
    wanted_lines: tuple[str, ...] = ()

    def unified(self) -> list[str]:
        """A unified diff of the object, live first (``---``) then what a deploy would make of it (``+++``)."""
        if self.change == UNCHANGED:
            return []
        before = f"live/{self.kind}/{self.name}" if self.change != ADDED else "/dev/null"
        after = f"wanted/{self.kind}/{self.name}" if self.change != REMOVED else "/dev/null"
        return list(difflib.unified_diff(self.live_lines, self.wanted_lines, before, after, n=2, lineterm=""))

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"kind": self.kind, "name": self.name, "change": self.change}
        document["fields"] = [item.to_document() for item in self.fields]
        if self.note:
            document["note"] = self.note
        document["live"] = list(self.live_lines)
        document["wanted"] = list(self.wanted_lines)
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ObjectDiff:
        return cls(
            str(document["kind"]),
            str(document["name"]),
            str(document["change"]),
            tuple(FieldChange.from_document(item) for item in document.get("fields", ())),
            str(document.get("note", "")),
            tuple(document.get("live", ())),
            tuple(document.get("wanted", ())),
        )


@dataclass(frozen=True, slots=True)
class Diff:
    """What deploying a configuration would change on its platform (``DeploymentService.diff``)."""

    app_name: str
    environment: str
    platform: str
    objects: tuple[ObjectDiff, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return any(item.change != UNCHANGED for item in self.objects)

    def to_document(self) -> dict[str, Any]:
        return {
            "app_name": self.app_name,
            "environment": self.environment,
            "platform": self.platform,
            "changed": self.changed,
            "objects": [item.to_document() for item in self.objects],
            "notes": list(self.notes),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Diff:
        return cls(
            str(document["app_name"]),
            str(document["environment"]),
            str(document["platform"]),
            tuple(ObjectDiff.from_document(item) for item in document.get("objects", ())),
            tuple(str(note) for note in document.get("notes", ())),
        )


def compare(
    kind: str,
    name: str,
    wanted: Mapping[str, Any] | None,
    live: Mapping[str, Any] | None,
    *,
    secret_names: Iterable[str] = (),
    secret_paths: Iterable[str] = (),
    note: str = "",
) -> ObjectDiff:
    """Compare one object's two sides; secret values are compared, never shown."""
    secret = _Secrecy(kind, frozenset(secret_names), tuple(secret_paths))
    before = flatten(live) if live is not None else {}
    after = flatten(wanted) if wanted is not None else {}
    changes = []
    order = [*after, *(path for path in before if path not in after)]  # both sides in one order: a reorder is none
    for path in order:
        old, new = before.get(path, _ABSENT), after.get(path, _ABSENT)
        if old == new:
            continue
        hidden = secret.hides(path)
        shown_old, shown_new = (SECRET, SECRET_CHANGED) if hidden else (old, new)
        if old is _ABSENT:
            changes.append(FieldChange(path, ADDED, after=SECRET if hidden else new))
        elif new is _ABSENT:
            changes.append(FieldChange(path, REMOVED, before=shown_old))
        else:
            changes.append(FieldChange(path, CHANGED, shown_old, shown_new))
    if wanted is None:
        change = REMOVED if live is not None else UNCHANGED
    elif live is None:
        change = ADDED
    else:
        change = CHANGED if changes else UNCHANGED
    live_lines = _lines(order, before, secret, after)
    wanted_lines = _lines(order, after, secret, before, changed_mark=True)
    return ObjectDiff(kind, name, change, tuple(changes), note, live_lines, wanted_lines)


def flatten(document: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of ``document`` by its path (an empty object or list is a leaf of its own)."""
    if isinstance(document, Mapping) and document:
        leaves: dict[str, Any] = {}
        for key, value in document.items():
            leaves.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return leaves
    if isinstance(document, list) and document:
        names = [item.get("name") for item in document if isinstance(item, Mapping)]
        by_name = (
            len(names) == len(document) and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)
        )
        leaves = {}
        for index, item in enumerate(document):
            leaves.update(flatten(item, f"{prefix}[name={item['name']}]" if by_name else f"{prefix}[{index}]"))
        return leaves
    return {prefix: document}


def _named(items: list[Any]) -> bool:
    """Whether a list is matched by name: all objects, each with a ``name`` of its own."""
    names = [item.get("name") for item in items if isinstance(item, Mapping)]
    return len(names) == len(items) and all(isinstance(name, str) for name in names) and len(set(names)) == len(names)


class _Secrecy:
    """Which paths of an object hold secret values."""

    def __init__(self, kind: str, names: frozenset[str], paths: tuple[str, ...]) -> None:
        self._names = names
        self._prefixes = (*paths, *(("data", "stringData") if kind == "Secret" else ()))

    def hides(self, path: str) -> bool:
        if any(path == prefix or path.startswith((f"{prefix}.", f"{prefix}[")) for prefix in self._prefixes):
            return True
        return any((found.group("name") or found.group("key")) in self._names for found in _ENV_ENTRY.finditer(path))


def _lines(
    order: list[str],
    leaves: Mapping[str, Any],
    secret: _Secrecy,
    other: Mapping[str, Any],
    *,
    changed_mark: bool = False,
) -> tuple[str, ...]:
    lines = []
    for path in order:
        if path not in leaves:
            continue
        value = leaves[path]
        if secret.hides(path):
            differs = changed_mark and other.get(path, _ABSENT) != value
            shown = SECRET_CHANGED if differs else SECRET
        else:
            shown = json.dumps(value, sort_keys=True)
        lines.append(f"{path}: {shown}")
    return tuple(lines)
