"""Size-based rotation of the replicas' log files: copy, then truncate in place.

Why copy and truncate rather than rename and reopen: a replica writes its stdout and
stderr straight into its log file, through a descriptor opened with ``O_APPEND`` that it
inherited at spawn. Nobody can make it reopen a renamed file, and that descriptor needs
nobody else: replicas outlive the agent that started them, and an adopting agent rotates
the logs of replicas it did not start with nothing to hand over. So the file is copied to
``<log>.1`` and then emptied; the replica's next write, being an append, lands at the
start of the emptied file (no hole, no offset to reset).

Why not a pipe per replica drained by the agent (rename rotation, nothing lost): the
pipe's reader dies with the agent. The replica would then get ``EPIPE`` (most programs die
of ``SIGPIPE``) or, holding a reader itself, block on its next write once the pipe's
buffer is full, stalling the application until some command starts an agent again.
Serving on without an agent matters more than the lines of one rotation's instant.

The window: bytes written after the copy has read the end of the file and before the
truncate are lost. The copy reads until it finds no more bytes and truncates at once, so
the window is the time between two system calls (microseconds), not the copy's duration.
A line being written across a rotation may also end up split between the two files.

Invariants:
- a log larger than ``max_bytes`` when checked is rotated; checks come every few seconds
  at most, so a file may overshoot by what its program writes meanwhile;
- ``<log>.1`` is the newest old log, ``<log>.<backups>`` the oldest; an older one is
  deleted; with ``backups`` 0 the log is only emptied;
- the copy goes through a bounded buffer in a worker thread: memory stays flat and the
  agent's event loop is never held up by a large log;
- truncation comes last: an agent killed mid-rotation leaves the log whole (at worst a
  backup holds a partial copy of lines still in the log).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 3
MIN_MAX_BYTES = 1024
MAX_MAX_BYTES = 1024**4
MAX_BACKUPS = 100
CHECK_SECONDS = 1.0  # how often the supervisor looks at the sizes of its logs
COPY_CHUNK = 1024 * 1024  # the copy's buffer


@dataclass(frozen=True, slots=True)
class LogPolicy:
    max_bytes: int = DEFAULT_MAX_BYTES
    backups: int = DEFAULT_BACKUPS

    def __post_init__(self) -> None:
        if not MIN_MAX_BYTES <= self.max_bytes <= MAX_MAX_BYTES or not 0 <= self.backups <= MAX_BACKUPS:
            raise ValueError(f"inconsistent log policy: {self}")


def backup_path(path: Path, number: int) -> Path:
    return path.with_name(f"{path.name}.{number}")


def rotate_if_large(path: Path, policy: LogPolicy) -> bool:
    """Rotate ``path`` if it is larger than ``policy`` allows; True when it was. Raises OSError."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if size <= policy.max_bytes:
        return False
    rotate(path, policy.backups)
    return True


def rotate(path: Path, backups: int) -> None:
    """Copy ``path`` to ``<path>.1`` (older copies move up one, the oldest goes), then empty it."""
    for number in range(backups, 1, -1):
        older = backup_path(path, number - 1)
        if older.exists():
            os.replace(older, backup_path(path, number))
    descriptor = os.open(path, os.O_RDWR)  # not inherited: replicas started meanwhile never hold it
    try:
        if backups:
            _copy_to_end(descriptor, backup_path(path, 1))
        os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)


def _copy_to_end(source: int, target: Path) -> None:
    """Copy from ``source`` until a read finds nothing more; a failed copy leaves no backup."""
    mode = os.fstat(source).st_mode & 0o777
    try:
        with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as copy:
            while chunk := os.read(source, COPY_CHUNK):
                copy.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def rotate_all(logs: Iterable[tuple[Path, LogPolicy]], failing: set[Path]) -> None:
    """Rotate what needs it; a failure (disk full) is logged once per file until it heals."""
    for path, policy in logs:
        try:
            rotate_if_large(path, policy)
        except OSError as error:
            if path not in failing:
                log.warning("could not rotate %s: %s", path, error)
            failing.add(path)
        else:
            failing.discard(path)


async def rotate_forever(logs: Callable[[], list[tuple[Path, LogPolicy]]], interval: float) -> None:
    """Check the logs ``logs()`` names every ``interval`` seconds, off the event loop, until cancelled."""
    failing: set[Path] = set()
    while True:
        await asyncio.to_thread(rotate_all, logs(), failing)
        await asyncio.sleep(interval)
