"""Identifiers: small value objects with a ``.value`` string.

New ids are time-ordered (a millisecond timestamp followed by random bits, in
Crockford base32, as in ULID), so sorting ids sorts by creation time, and they carry a
prefix naming what they identify (``cfg-``, ``dep-``, ``pipe-``, ``stg-``, ``task-``,
``tok-``).
Ids given by callers are accepted as they are, within a conservative alphabet.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import ClassVar, Self

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALID_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")


def _ulid() -> str:
    number = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        number, index = divmod(number, 32)
        chars.append(_CROCKFORD[index])
    return "".join(reversed(chars)).lower()


def is_valid_id(value: str) -> bool:
    return bool(_VALID_ID.match(value))


@dataclass(frozen=True, slots=True, order=True)
class _Identifier:
    value: str
    prefix: ClassVar[str] = "id"

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not is_valid_id(self.value):
            raise ValueError(
                f"invalid {type(self).__name__} {self.value!r}: use 1-128 letters, digits, '.', '_', ':' or '-'"
            )

    @classmethod
    def new(cls) -> Self:
        return cls(f"{cls.prefix}-{_ulid()}")

    @classmethod
    def stored(cls, value: str) -> Self:
        """An id read back from storage, where it was checked when it was made (no re-check)."""
        identifier = object.__new__(cls)
        object.__setattr__(identifier, "value", value)
        return identifier

    @classmethod
    def of(cls, value: Self | str) -> Self:
        """Accept an id object or its string, as the services do."""
        return value if isinstance(value, cls) else cls(str(value))

    def __str__(self) -> str:
        return self.value


class DeploymentId(_Identifier):
    """Identifies a deployment configuration or a deployment (the spec uses it for both)."""

    __slots__ = ()
    prefix = "dep"


class PipelineId(_Identifier):
    __slots__ = ()
    prefix = "pipe"


class StageId(_Identifier):
    __slots__ = ()
    prefix = "stg"


class TaskId(_Identifier):
    __slots__ = ()
    prefix = "task"


def new_config_id() -> DeploymentId:
    return DeploymentId(f"cfg-{_ulid()}")


def new_deployment_id() -> DeploymentId:
    return DeploymentId.new()


def new_token_id() -> str:
    """An API token's public handle: a plain string, as the token ports keep it."""
    return f"tok-{_ulid()}"
