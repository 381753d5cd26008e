"""The Result pattern: an operation returns ``Success(value)`` or ``Failure(error)``.

Expected failures (bad input, a missing record, a conflict) are values, so callers see
them in the type and handle them; programming errors still raise. Both classes work
with ``match``::

    match await service.get_config(config_id):
        case Success(config):
            ...
        case Failure(error):
            ...

Reading ``.value`` of a ``Failure`` (or ``.error`` of a ``Success``) raises
``UnwrapError``: it is a bug in the caller, never a way to signal an outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, NoReturn, TypeAlias, TypeVar

from uno.core.errors import ErrorDetails

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class UnwrapError(RuntimeError):
    """Raised when a caller reads the side of a Result that is not there."""


@dataclass(frozen=True, slots=True)
class Success(Generic[T_co]):
    value: T_co

    def is_success(self) -> bool:
        return True

    def is_failure(self) -> bool:
        return False

    @property
    def error(self) -> NoReturn:
        raise UnwrapError("a Success has no error")


@dataclass(frozen=True, slots=True)
class Failure:
    error: ErrorDetails

    def is_success(self) -> bool:
        return False

    def is_failure(self) -> bool:
        return True

    @property
    def value(self) -> NoReturn:
        raise UnwrapError(f"a Failure has no value ({self.error})")


Result: TypeAlias = Success[T] | Failure
