"""Error codes and details: what an expected failure says about itself.

An ``ErrorCode``'s value is a stable string that clients may switch on (it appears in
HTTP problem documents and CLI output), so values are never renamed, only added.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class ErrorCode(enum.Enum):
    """Why an operation failed, as a stable machine-readable string."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    INVALID_STATE = "INVALID_STATE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    PLATFORM_ERROR = "PLATFORM_ERROR"
    EXECUTION_ERROR = "EXECUTION_ERROR"
    TIMEOUT = "TIMEOUT"
    STORAGE_ERROR = "STORAGE_ERROR"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


@dataclass(frozen=True, slots=True)
class ErrorDetails:
    """An expected failure: a code, a message for people and context for machines.

    ``context`` holds JSON-compatible values only (for example ``{"field":
    "resource_requirements.cpu_min"}``), so it can be logged and sent over HTTP as is.
    """

    code: ErrorCode
    message: str
    context: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"

    @classmethod
    def not_found(cls, kind: str, identifier: str) -> ErrorDetails:
        return cls(ErrorCode.NOT_FOUND, f"{kind} {identifier!r} not found", {"kind": kind, "id": identifier})

    @classmethod
    def validation(cls, field_path: str, message: str, **context: Any) -> ErrorDetails:
        return cls(
            ErrorCode.VALIDATION_ERROR,
            f"{field_path}: {message}" if field_path else message,
            {"field": field_path, **context},
        )

    @classmethod
    def invalid_state(cls, message: str, **context: Any) -> ErrorDetails:
        return cls(ErrorCode.INVALID_STATE, message, context)

    @classmethod
    def conflict(cls, message: str, **context: Any) -> ErrorDetails:
        return cls(ErrorCode.CONFLICT, message, context)
