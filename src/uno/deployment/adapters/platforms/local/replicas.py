"""What the local supervisor says about the replicas it runs, and how it paces restarts.

These are plain values: a snapshot (`ReplicaInfo`, `VersionInfo`) is taken when asked for
and never changes afterwards, so callers can hold on to one without seeing it move.

Invariants:
- a replica keeps its ``index`` and its ``port`` for its whole life, across restarts;
- ``pid`` is None exactly when no process runs for the replica (waiting to restart, stopped);
- ``restarts`` counts starts after the first one, including restarts by an adopting supervisor;
- ``runs`` holds the most recent starts, oldest first, timed on the supervisor's clock
  (``Clock.monotonic``), so tests and operators can see the pacing the supervisor applied.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


class ReplicaState(enum.StrEnum):
    RUNNING = "running"  # a process runs and it has not crashed since it last ran stably
    CRASHING = "crashing"  # it exited unexpectedly recently: waiting to restart, or running on probation
    STOPPING = "stopping"  # a stop was asked for; its process group is being ended
    STOPPED = "stopped"  # nothing runs and nothing will be restarted


@dataclass(frozen=True, slots=True)
class Run:
    """One start of a replica's program, timed on the supervisor's clock (monotonic seconds)."""

    started: float
    pid: int | None  # None when the program could not be started at all
    exited: float | None = None
    returncode: int | None = None  # None while running, when killed by a stop, or when unknown (adopted)


@dataclass(frozen=True, slots=True)
class ReplicaInfo:
    index: int
    pid: int | None
    port: int
    started_at: datetime | None  # wall-clock time of the current process's start
    restarts: int
    state: ReplicaState
    adopted: bool = False  # the process was started by an earlier supervisor and found alive
    last_error: str | None = None  # why the last start failed, if it did
    runs: tuple[Run, ...] = ()
    last_exit: str | None = None  # why its last process ended on its own (e.g. over its memory limit)
    crashes: int = 0  # exits on its own (or failed starts) in a row, since it last ran ``stable_after`` seconds


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version_id: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    workdir: str | None
    replicas: tuple[ReplicaInfo, ...]
    warnings: tuple[str, ...] = ()  # what the operator should know, e.g. secrets lost with an earlier agent


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Exponential backoff for crashing replicas.

    The n-th consecutive crash waits ``initial * factor ** (n - 1)`` seconds, at most
    ``maximum``. A replica that then runs for ``stable_after`` seconds is healthy again:
    its next crash starts over at ``initial``.
    """

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    stable_after: float = 10.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.factor < 1 or self.maximum < self.initial or self.stable_after < 0:
            raise ValueError(f"inconsistent restart policy: {self}")

    def delay(self, consecutive_crashes: int) -> float:
        """How long to wait before restarting after ``consecutive_crashes`` crashes in a row."""
        if consecutive_crashes <= 0:
            return 0.0
        exponent = min(consecutive_crashes - 1, 64)  # large enough to reach any maximum, small enough for floats
        return min(self.maximum, self.initial * self.factor**exponent)
