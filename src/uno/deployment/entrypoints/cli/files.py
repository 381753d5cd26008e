"""Configuration files: YAML or JSON (``-f``), ``--set key.path=value`` overrides, and lines.

A file is read once into its values and a map from each field path (``resources.cpu_min``,
``build_command[1]``) to the line that sets it, taken from YAML's node tree (JSON is
YAML, so both get lines). Problems are then reported as ``file.yaml:12: resources.cpu_min:
...``. A file that does not parse is refused naming the line and column; a key given
twice in one mapping is refused too (YAML would silently keep the last one).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.entrypoints.cli import field_types
from uno.deployment.services.config_service import KEYWORDS

SET_SOURCE = "--set"


@dataclass
class ConfigFile:
    """A configuration's values, with where each field path was set (``file:line`` or ``--set``)."""

    name: str
    values: dict[str, Any]
    origins: dict[str, str] = field(default_factory=dict)

    def origin(self, path: str) -> str:
        """Where ``path`` (or the nearest enclosing field) was set; the file's name when nowhere."""
        candidate = path
        while candidate:
            if candidate in self.origins:
                return self.origins[candidate]
            candidate = _parent(candidate)
        return self.name

    def describe(self, path: str, message: str) -> str:
        """``file.yaml:12: resources.cpu_min: must be ...``: one line a person can act on."""
        path = self.as_written(path)
        return f"{self.origin(path)}: {path}: {message}" if path else f"{self.name}: {message}"

    def as_written(self, path: str) -> str:
        """A field path as the file names it (``resource_requirements.cpu_min`` where it says so)."""
        head, dot, rest = path.partition(".")
        bracket = head.find("[")
        name, index = (head, "") if bracket < 0 else (head[:bracket], head[bracket:])
        for keyword, section in KEYWORDS.items():
            if name == section and keyword in self.values and section not in self.values:
                return keyword + index + dot + rest
        return path

    def model_values(self) -> dict[str, Any]:
        """The values with the model's section names (``resources``), as the HTTP API takes them."""
        return {
            KEYWORDS.get(name, name) if KEYWORDS.get(name) not in self.values else name: value
            for name, value in self.values.items()
        }


def load(path: str, sets: list[str] | None = None) -> Result[ConfigFile]:
    """Read ``path`` (``-`` for stdin) and apply ``sets``; a ``Failure`` names the file and line."""
    name = "<stdin>" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        return Failure(_refused("file", f"cannot read {name}: {reason}", file=name))
    parsed = parse(text, name)
    if isinstance(parsed, Failure):
        return parsed
    return apply_sets(parsed.value, sets or [])


def parse(text: str, name: str) -> Result[ConfigFile]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        values = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = error.problem or error.context or "is not valid YAML"
        if error.problem and error.context and error.context_mark:
            problem += f" ({error.context} at line {error.context_mark.line + 1})"
        line = mark.line + 1 if mark else None
        return Failure(ErrorDetails.validation("", f"{where}: not valid YAML or JSON: {problem}", file=name, line=line))
    except yaml.YAMLError as error:
        return Failure(ErrorDetails.validation("", f"{name}: not valid YAML or JSON: {error}", file=name))
    if not isinstance(values, dict) or not isinstance(node, yaml.MappingNode):
        message = f"{name}: must be a mapping of settings (app_name: ..., app_version: ..., environment: ...)"
        return Failure(ErrorDetails.validation("", message, file=name))
    origins: dict[str, str] = {}
    duplicate = _walk(node, "", name, origins)
    if duplicate is not None:
        return Failure(duplicate)
    return Success(ConfigFile(name, values, origins))


def _walk(node: yaml.Node, prefix: str, name: str, origins: dict[str, str]) -> ErrorDetails | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            path = f"{prefix}.{key}" if prefix else key
            where = f"{name}:{key_node.start_mark.line + 1}"
            if path in origins:
                message = f"{where}: {path}: is given twice (first at {origins[path]})"
                return _refused(path, message, file=name, line=key_node.start_mark.line + 1)
            origins[path] = where
            problem = _walk(value_node, path, name, origins)
            if problem is not None:
                return problem
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = f"{prefix}[{index}]"
            origins[path] = f"{name}:{item.start_mark.line + 1}"
            problem = _walk(item, path, name, origins)
            if problem is not None:
                return problem
    return None


def apply_sets(config: ConfigFile, sets: list[str]) -> Result[ConfigFile]:
    """``--set resources.replicas_min=3``: the value is read as YAML (``3`` a number, ``[a, b]`` a list),
    except for a field the model types as text, which keeps the text as typed (``app_version=2.0``)."""
    values = config.values
    for assignment in sets:
        parsed = parse_set(assignment)
        if isinstance(parsed, Failure):
            return parsed
        keys, value = parsed.value
        target = values
        for depth, key in enumerate(keys[:-1]):
            child = target.setdefault(key, {})
            if not isinstance(child, dict):
                path = ".".join(keys[: depth + 1])
                return Failure(_refused(path, f"--set {assignment!r}: {path} is not a mapping"))
            target = child
        target[keys[-1]] = value
        path = ".".join(keys)
        for known in [known for known in config.origins if known == path or known.startswith((f"{path}.", f"{path}["))]:
            del config.origins[known]
        config.origins[path] = SET_SOURCE
    return Success(config)


def parse_set(assignment: str) -> Result[tuple[list[str], Any]]:
    path, equals, text = assignment.partition("=")
    keys = path.strip().split(".")
    if not equals or not all(key.strip() for key in keys):
        message = f"--set {assignment!r}: use key.path=value, for example resources.replicas_min=3"
        return Failure(_refused("--set", message))
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return Failure(_refused("--set", f"--set {assignment!r}: the value is not valid YAML"))
    keys = [key.strip() for key in keys]
    return Success((keys, field_types.coerce(keys, text, value)))


def set_values(sets: list[str]) -> Result[dict[str, Any]]:
    """``--set`` assignments alone, as nested changes (``config update ID --set ...`` without a file)."""
    applied = apply_sets(ConfigFile("--set", {}), sets)
    return applied if isinstance(applied, Failure) else Success(applied.value.values)


def _refused(field_path: str, message: str, **context: Any) -> ErrorDetails:
    """A ``VALIDATION_ERROR`` whose message already says where (it is printed as is)."""
    return ErrorDetails(ErrorCode.VALIDATION_ERROR, message, {"field": field_path, **context})


def _parent(path: str) -> str:
    if path.endswith("]") and "[" in path:
        return path[: path.rindex("[")]
    return path.rpartition(".")[0]
