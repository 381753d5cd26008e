"""Running programs: argument lists only, never a shell line built from strings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    argv: tuple[str, ...]
    returncode: int | None  # None when the program could not start or was killed at its deadline
    stdout_tail: str
    stderr_tail: str
    duration: float
    timed_out: bool = False
    start_error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and not self.timed_out


class CommandRunner(Protocol):
    async def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float,
    ) -> CommandOutcome:
        """Run ``argv`` to completion or until ``timeout`` seconds, then kill its process group.

        The program starts from a baseline environment (``PATH``, ``HOME``, the locale...;
        never the server's own variables or secrets) plus the ``env`` entries. Cancelling
        the caller kills the program too.
        """
        ...

    def which(self, program: str) -> str | None:
        """The path ``program`` would run from, or None when it is not installed."""
        ...
