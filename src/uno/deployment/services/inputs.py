"""Checking the plain arguments services receive: ids, enums, pagination, text.

``text`` is where every free text a service stores is checked (by ``domain.texts``):
names and labels are single lines; the longer texts (descriptions, comments, reasons)
may hold newlines and tabs. Neither may hold NUL or a lone surrogate.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import texts
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId
from uno.deployment.ports.repositories import MAX_PAGE

E = TypeVar("E", bound=Enum)
Id = TypeVar("Id", DeploymentId, PipelineId, StageId, TaskId)


def identifier(kind: type[Id], value: Any, field: str) -> Result[Id]:
    if isinstance(value, kind):
        return Success(value)
    if not isinstance(value, str):
        return Failure(ErrorDetails.validation(field, f"must be a {kind.__name__} or a string"))
    try:
        return Success(kind(value))
    except ValueError as error:
        return Failure(ErrorDetails.validation(field, str(error)))


def deployment_id(value: Any, field: str = "deployment_id") -> Result[DeploymentId]:
    return identifier(DeploymentId, value, field)


def enum_value(kind: type[E], value: Any, field: str) -> Result[E]:
    try:
        return Success(value if isinstance(value, kind) else kind(value))
    except ValueError:
        choices = ", ".join(str(member.value) for member in kind)
        return Failure(ErrorDetails.validation(field, f"{value!r} is not one of {choices}"))


def optional_enum(kind: type[E], value: Any, field: str) -> Result[E | None]:
    return Success(None) if value is None else enum_value(kind, value, field)


def page(limit: Any, offset: Any) -> Result[None]:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        return Failure(ErrorDetails.validation("limit", f"must be a whole number from 1 to {MAX_PAGE}"))
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        return Failure(ErrorDetails.validation("offset", "must be a whole number >= 0"))
    return Success(None)


MAX_LINE = 200
"""The longest text that is a name or a label (one line); longer texts are prose."""


def text(
    value: Any, field: str, *, required: bool = True, max_length: int = MAX_LINE, prose: bool | None = None
) -> Result[str]:
    """A stripped text; ``prose`` (by default: when it may be longer than a name) allows newlines and tabs."""
    if not isinstance(value, str):
        return Failure(ErrorDetails.validation(field, "must be a string"))
    stripped = value.strip()
    allow_lines = max_length > MAX_LINE if prose is None else prose
    if problem := texts.problem(stripped, prose=allow_lines):
        return Failure(ErrorDetails.validation(field, problem))
    if required and not stripped:
        return Failure(ErrorDetails.validation(field, "must not be empty"))
    if len(stripped) > max_length:
        return Failure(ErrorDetails.validation(field, f"must be at most {max_length} characters"))
    return Success(stripped)


def optional_text(value: Any, field: str) -> Result[str | None]:
    """A filter: ``None``, or a line (not stripped: a filter matches exactly what was stored)."""
    if value is None:
        return Success(None)
    if not isinstance(value, str):
        return Failure(ErrorDetails.validation(field, "must be a string"))
    if problem := texts.problem(value):
        return Failure(ErrorDetails.validation(field, problem))
    return Success(value)


def first_failure(*results: Result[Any]) -> Failure | None:
    return next((result for result in results if isinstance(result, Failure)), None)
