"""What text and JSON-like values may hold before anything stores them.

Every text that can reach a store is checked once, where it enters (the configuration
model, the services' argument checks), by the rules here; the repositories check the
same rules again on what they write, as a defence, never as the first line.

Invariants:
- no text holds a NUL character or a lone surrogate (neither can be stored in
  PostgreSQL, nor encoded as UTF-8 for a response);
- a *line* (a name, an identifier, a label) holds no control character at all, so
  ``"web\\n"`` is not a name; *prose* (a description, a comment, a reason) may hold
  newlines and tabs, and no other control character;
- a JSON-like value (``custom_settings``, a task's ``params``) nests at most
  ``MAX_DEPTH`` levels, holds finite numbers only, and is at most ``MAX_JSON_CHARS``
  characters as JSON.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from uno.core.errors import ErrorDetails
from uno.deployment.domain.validation import FieldValueError

MAX_DEPTH = 32
MAX_JSON_CHARS = 256 * 1024
STORED_MAX_DEPTH = MAX_DEPTH + 16
"""What a repository accepts: a document nests a checked value a few levels down."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_PROSE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def problem(value: str, *, prose: bool = False) -> str | None:
    """Why ``value`` cannot be stored or shown (``None`` when it can)."""
    if "\x00" in value:
        return "must not contain a NUL character (U+0000)"
    if surrogate := _SURROGATE.search(value):
        return f"must be valid Unicode: it contains a lone surrogate (U+{ord(surrogate.group()):04X})"
    control = (_CONTROL_IN_PROSE if prose else _CONTROL_IN_LINE).search(value)
    if control is not None:
        allowed = "other than newline and tab " if prose else ""
        return f"must not contain a control character {allowed}(U+{ord(control.group()):04X})"
    return None


def storable_problem(value: str) -> str | None:
    """Why a string cannot be stored at all: NUL or a lone surrogate (the repositories' check)."""
    if "\x00" in value:
        return "must not contain a NUL character (U+0000)"
    if surrogate := _SURROGATE.search(value):
        return f"must be valid Unicode: it contains a lone surrogate (U+{ord(surrogate.group()):04X})"
    return None


def line(value: str) -> str:
    """A pydantic validator: ``value`` is a line (no control character)."""
    if found := problem(value):
        raise ValueError(found)
    return value


def prose(value: str) -> str:
    """A pydantic validator: ``value`` is prose (newlines and tabs allowed)."""
    if found := problem(value, prose=True):
        raise ValueError(found)
    return value


def json_problem(value: Any, *, max_depth: int = MAX_DEPTH, whole: bool = True) -> tuple[str, str] | None:
    """The first problem in a JSON-like value, as ``(path below it, message)``, or ``None``.

    Keys are lines, strings are prose; the walk is iterative, so a value nested far
    beyond the limit costs no recursion. ``whole=False`` (the repositories) checks only
    what cannot be stored: NUL, lone surrogates, non-finite numbers and depth.
    """
    pending: list[tuple[Any, str, int]] = [(value, "", 0)]
    while pending:
        item, path, depth = pending.pop()
        found = _item_problem(item, depth, max_depth, whole)
        if found is not None:
            return path, found
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return path, f"has a key that is not a string ({key!r})"
                if key_problem := (problem(key) if whole else storable_problem(key)):
                    return _join(path, _shown(key)), f"the key {key_problem}"
                pending.append((child, _join(path, key), depth + 1))
        elif isinstance(item, list | tuple):
            pending.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(item))
    if whole and len(json.dumps(value)) > MAX_JSON_CHARS:
        return "", f"must be at most {MAX_JSON_CHARS} characters as JSON"
    return None


def json_object(value: dict[str, Any]) -> dict[str, Any]:
    """A pydantic validator for a JSON-like mapping; the problem names its path below the field."""
    found = json_problem(value)
    if found is not None:
        path, message = found
        if path:
            raise FieldValueError(path, message)
        raise ValueError(message)
    return value


def unstorable(kind: str, document: dict[str, Any]) -> ErrorDetails | None:
    """The repositories' defence: a document no store can hold, as a ``VALIDATION_ERROR``.

    What reaches a repository was checked where it came in; a document that fails here
    is a gap in that check, refused by every store alike instead of half-written.
    """
    found = json_problem(document, max_depth=STORED_MAX_DEPTH, whole=False)
    if found is None:
        return None
    path, message = found
    return ErrorDetails.validation(path, f"{message} (the {kind} was not stored)", kind=kind)


def _item_problem(item: Any, depth: int, max_depth: int, whole: bool) -> str | None:
    if depth > max_depth:
        return f"must nest at most {max_depth} levels deep"
    if isinstance(item, str):
        return problem(item, prose=True) if whole else storable_problem(item)
    if isinstance(item, float) and not math.isfinite(item):
        return "must hold JSON values only (NaN and Infinity are not JSON numbers)"
    if item is None or isinstance(item, bool | int | float | dict | list | tuple):
        return None
    return f"must hold JSON values only, not {type(item).__name__}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _shown(key: str) -> str:
    return ascii(key)[1:-1]
