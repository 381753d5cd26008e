"""Turning pydantic's validation errors into one ``ErrorDetails`` a person can act on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from uno.core.errors import ErrorCode, ErrorDetails

if TYPE_CHECKING:  # texts imports this module, and the CLI's listings import texts without pydantic
    from pydantic import ValidationError


class FieldValueError(ValueError):
    """A cross-field rule's failure, naming the field it should be reported on.

    Raised inside a model validator; pydantic keeps the exception in the error's context,
    and ``details_from`` appends ``field`` to the model's location.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def field_path(location: tuple[int | str, ...]) -> str:
    """``("resources", "cpu_min")`` -> ``resources.cpu_min``; list indexes as ``[0]``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "[key]" and not part.startswith(("function-", "function_")):
            path += f".{part}" if path else part
    return path


def _message(error: Any) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        return "is not a known field"
    if error["type"] == "missing":
        return "is required"
    return message


def details_from(error: ValidationError, rename: dict[str, str] | None = None) -> ErrorDetails:
    """One VALIDATION_ERROR for all problems: the first in the message, all in ``context``.

    ``rename`` maps a top-level field to the name the caller used for it (the Python API
    says ``resource_requirements`` where the model says ``resources``).
    """
    problems = []
    for item in error.errors():
        location = tuple(item["loc"])
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, FieldValueError):
            location = (*location, cause.field)
        path = field_path(location)
        head, _, rest = path.partition(".")
        if rename and head in rename:
            path = rename[head] + ("." + rest if rest else "")
        problems.append({"field": path, "message": _message(item)})
    first = problems[0]
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return ErrorDetails(ErrorCode.VALIDATION_ERROR, message, {"field": first["field"], "errors": problems})
