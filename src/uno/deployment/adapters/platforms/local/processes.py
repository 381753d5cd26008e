"""Processes on this machine: starting a replica in its own session, reading ``/proc``, ending groups.

Why a session per replica: a replica may fork workers, and it must outlive the agent that
started it (a restarted agent adopts it). Its own session gives both: the process group is
ours to signal as a whole, and no terminal or parent's death reaches it.

Why ``/proc`` and pidfds: a pid alone does not name a process for long (pids are reused),
and a process we did not start (an adopted one) cannot be waited for. A process is named
here by its pid *and* its start time (clock ticks since boot, field 22 of
``/proc/<pid>/stat``), which the kernel never changes and which a reused pid would not
share; an adopted process is then watched through a pidfd (Linux 5.3+), which becomes
readable when it exits, so no polling is needed.

Invariants:
- a replica's pid is its process group id and its session id (``start_new_session``);
- a zombie counts as gone: it runs nothing and holds no port;
- ending a group always ends with SIGKILL for anything that outlived SIGTERM and the grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
POLL_INTERVAL = 0.05  # how often /proc is read while a group is being ended
KILL_WAIT = 5.0  # how long SIGKILL may take (a process in uninterruptible I/O ends when the I/O does)
_GONE_STATES = frozenset({"Z", "X"})


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The few fields of ``/proc/<pid>/stat`` the supervisor needs."""

    state: str
    pgrp: int
    start_ticks: int

    @property
    def gone(self) -> bool:
        return self.state in _GONE_STATES


def proc_available() -> bool:
    return (PROC / "self" / "stat").exists()


def read_stat(pid: int) -> ProcStat | None:
    """The process's stat fields, or None when there is no such process."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return _parse_stat(text)


def _parse_stat(text: str) -> ProcStat:
    # the command name (field 2) is in parentheses and may hold spaces or parentheses itself
    fields = text.rsplit(")", 1)[1].split()
    return ProcStat(state=fields[0], pgrp=int(fields[2]), start_ticks=int(fields[19]))


def start_ticks(pid: int) -> int | None:
    stat = read_stat(pid)
    return None if stat is None or stat.gone else stat.start_ticks


def is_replica(pid: int, ticks: int | None) -> bool:
    """True while the process started as (``pid``, ``ticks``) runs and still leads its own group."""
    stat = read_stat(pid)
    return stat is not None and not stat.gone and stat.start_ticks == ticks and stat.pgrp == pid


def open_replica(pid: int, ticks: int | None) -> int | None:
    """A pidfd for the replica started as (``pid``, ``ticks``), or None when it no longer runs.

    The pidfd is opened first and the process checked after: a pid reused in between would
    fail the check, and once open the pidfd names one process for good (readable when it exits).
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    if is_replica(pid, ticks):
        return pidfd
    os.close(pidfd)
    return None


def read_environ(pid: int, ticks: int | None) -> dict[str, str] | None:
    """The environment the replica started as (``pid``, ``ticks``) was given; None when it cannot be read.

    Everything is read through one descriptor of ``/proc/<pid>``, which names one process
    for good: once that process is gone, reads through it fail rather than reach a process
    that reused the pid. The process must belong to this user and still be the replica.
    The kernel shows the environment as it was at ``exec``; a program that overwrote that
    memory (``setproctitle``) shows what it wrote instead.
    """
    try:
        directory = os.open(PROC / str(pid), os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        if os.fstat(directory).st_uid != os.getuid():
            return None
        stat = _parse_stat(_read_at(directory, "stat").decode())
        if stat.gone or stat.start_ticks != ticks or stat.pgrp != pid:
            return None
        raw = _read_at(directory, "environ")
    except (OSError, ValueError, IndexError):
        return None
    finally:
        os.close(directory)
    entries = (os.fsdecode(entry).partition("=") for entry in raw.split(b"\0") if entry)
    return {name: value for name, separator, value in entries if separator}


def _read_at(directory: int, name: str) -> bytes:
    descriptor = os.open(name, os.O_RDONLY, dir_fd=directory)
    try:
        chunks = []
        while chunk := os.read(descriptor, 64 * 1024):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


async def wait_pidfd(pidfd: int) -> None:
    """Return when the process behind ``pidfd`` has exited (it need not be our child)."""
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()
    loop.add_reader(pidfd, _settle, exited)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def group_members(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``."""
    members = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None and stat.pgrp == pgid and not stat.gone:
                members.append(int(entry.name))
    return members


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the group if it still has members (an empty group's id may be reused)."""
    if group_members(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


async def end_group(pgid: int, grace: float) -> None:
    """SIGTERM the group, give it ``grace`` seconds to empty, then SIGKILL whatever is left."""
    signal_group(pgid, signal.SIGTERM)
    if await wait_group_empty(pgid, grace):
        return
    signal_group(pgid, signal.SIGKILL)
    if not await wait_group_empty(pgid, KILL_WAIT):
        raise RuntimeError(f"process group {pgid} outlived SIGKILL for {KILL_WAIT}s: {group_members(pgid)}")


async def wait_group_empty(pgid: int, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while group_members(pgid):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_INTERVAL)
    return True


async def spawn(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: str | None, log_path: Path, pass_fds: Sequence[int] = ()
) -> asyncio.subprocess.Process:
    """Start ``argv`` in its own session, stdout and stderr appended to ``log_path``; raises OSError.

    The descriptor the replica inherits is opened with ``O_APPEND``: after the log is rotated
    (copied, then truncated in place, see ``rotating``) its writes land at the new end.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                pass_fds=tuple(pass_fds),
            )
        except OSError as error:
            if error.filename is not None or not argv:
                raise
            raise _naming_the_path(error, argv[0], cwd) from None


def _naming_the_path(error: OSError, program: str, cwd: str | None) -> OSError:
    """The error with the path it is about: uvloop (libuv) reports a failed start without it.

    asyncio's own loop names the working directory when it is missing, else the program.
    """
    culprit = cwd if cwd is not None and not os.path.isdir(cwd) else program
    return OSError(error.errno, error.strerror, culprit)


def free_port(avoid: set[int], attempts: int = 100) -> int:
    """A port on 127.0.0.1 that nothing listens on now and that is not in ``avoid``.

    The port is free when this returns, not reserved: the replica binds it a moment later.
    """
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in avoid:
            return port
    raise RuntimeError(f"no free port on 127.0.0.1 after {attempts} attempts")
