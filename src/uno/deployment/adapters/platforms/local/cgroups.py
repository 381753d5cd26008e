"""Control groups for replicas: which hierarchy this machine lets us write, and one cgroup per replica.

Why cgroups: a memory or CPU limit that the kernel enforces on a process and everything it
forks, and a count of the times the kernel killed one of them for memory (``oom_kill``).

Which hierarchy, per controller (``memory``, ``cpu``), in this order:
- cgroup v2, when a cgroup we may write already delegates the controller to its children
  (it is listed in its ``cgroup.subtree_control``): our own cgroup when it is a root, else
  its parent (systemd's delegated slices). v2 forbids processes in a cgroup that gives
  controllers to children, so replicas go into siblings of ours, never under us;
- cgroup v1, when the controller's hierarchy is mounted and our own cgroup there is writable
  (v1 allows processes beside child cgroups).

Layout: ``<base>/uno-<agent key>/<version set>.<index>``: the agent key names the state
directory, so two agents on one machine never touch each other's cgroups, and an agent
started again finds the ones it left (``leftovers``).

Invariants: a replica cgroup is created before its process starts (the process joins it
before ``exec``, see ``confining``) and removed once its replica is gone; removing one kills
whatever still runs in it first, so nothing escapes into an unlimited cgroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC_SELF = Path("/proc/self")
CFS_PERIOD_US = 100_000
REMOVE_TIMEOUT = 5.0
POLL_INTERVAL = 0.02


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """Where replica cgroups of one controller are made, and how (cgroup ``version`` 1 or 2)."""

    controller: str
    version: int
    base: Path  # the cgroup under which ``uno-<key>`` directories go
    mount: Path  # where the hierarchy is mounted (``/proc/<pid>/cgroup`` paths are relative to it)

    @property
    def label(self) -> str:
        return f"cgroup v{self.version}"


def find(controller: str, mountinfo: str | None = None, membership: str | None = None) -> Hierarchy | None:
    """The hierarchy replicas' ``controller`` cgroups go in on this machine, or None when none is writable."""
    mountinfo = _read(PROC_SELF / "mountinfo") if mountinfo is None else mountinfo
    membership = _read(PROC_SELF / "cgroup") if membership is None else membership
    return _unified(controller, mountinfo, membership) or _legacy(controller, mountinfo, membership)


def _unified(controller: str, mountinfo: str, membership: str) -> Hierarchy | None:
    mount = next((point for point, kind, _ in _mounts(mountinfo) if kind == "cgroup2"), None)
    own = next((path for ident, names, path in _memberships(membership) if ident == "0" and not names), None)
    if mount is None or own is None:
        return None
    here = mount / own.lstrip("/")
    candidates = [here] if own == "/" else [here.parent]
    for candidate in candidates:
        delegated = _read(candidate / "cgroup.subtree_control").split()
        if controller in delegated and os.access(candidate, os.W_OK):
            return Hierarchy(controller, 2, candidate, mount)
    return None


def _legacy(controller: str, mountinfo: str, membership: str) -> Hierarchy | None:
    mount = next(
        (point for point, kind, options in _mounts(mountinfo) if kind == "cgroup" and controller in options), None
    )
    own = next((path for _, names, path in _memberships(membership) if controller in names), None)
    if mount is None or own is None:
        return None
    here = mount / own.lstrip("/")
    return Hierarchy(controller, 1, here, mount) if os.access(here, os.W_OK) else None


def _mounts(mountinfo: str) -> Iterable[tuple[Path, str, set[str]]]:
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 10:
            continue
        after = line.split(" - ", 1)[1].split()
        options = set(after[2].split(",")) if len(after) > 2 else set()
        yield Path(fields[4]), after[0], options


def _memberships(text: str) -> Iterable[tuple[str, set[str], str]]:
    for line in text.splitlines():
        ident, names, path = line.split(":", 2)
        yield ident, {name for name in names.split(",") if name}, path


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one replica's cgroups enforce; None: not limited. Memory in bytes, CPU in millicores."""

    memory_max: int | None = None
    memory_min: int | None = None
    cpu_max: int | None = None
    cpu_min: int | None = None


class ReplicaCgroups:
    """The cgroups (one per hierarchy) of one replica: made, joined by its process, read, removed."""

    def __init__(self, hierarchies: Iterable[Hierarchy], key: str, name: str) -> None:
        self.directories = {h.controller: (h, h.base / f"uno-{key}" / name) for h in hierarchies}

    def create(self, limits: Limits) -> list[str]:
        """Make the cgroups with their limits; the ``cgroup.procs`` files the process must join."""
        procs = []
        for controller, (hierarchy, directory) in self.directories.items():
            _make(hierarchy, directory)
            writes = _memory_files(hierarchy, limits) if controller == "memory" else _cpu_files(hierarchy, limits)
            for name, value in writes:
                if (directory / name).exists():
                    (directory / name).write_text(value)
            procs.append(str(directory / "cgroup.procs"))
        return procs

    def oom_kills(self) -> int:
        """How many times the kernel killed a process of this replica for memory (0 when it cannot say)."""
        found = self.directories.get("memory")
        if found is None:
            return 0
        hierarchy, directory = found
        events = _read(directory / ("memory.events" if hierarchy.version == 2 else "memory.oom_control"))
        for line in events.splitlines():
            name, _, count = line.partition(" ")
            if name == "oom_kill" and count.strip().isdigit():
                return int(count)
        return 0

    def procs_files(self) -> list[str]:
        return [str(directory / "cgroup.procs") for _, directory in self.directories.values()]

    async def remove(self) -> None:
        for _, directory in self.directories.values():
            await remove(directory)


def _make(hierarchy: Hierarchy, directory: Path) -> None:
    directory.parent.mkdir(exist_ok=True)
    if hierarchy.version == 2:  # no process ever runs in uno-<key>: it may hand the controller down
        subtree = directory.parent / "cgroup.subtree_control"
        if hierarchy.controller not in _read(subtree).split():
            subtree.write_text(f"+{hierarchy.controller}")
    directory.mkdir(exist_ok=True)


def _memory_files(hierarchy: Hierarchy, limits: Limits) -> list[tuple[str, str]]:
    files = []
    if hierarchy.version == 2:
        if limits.memory_max is not None:
            files += [("memory.max", str(limits.memory_max)), ("memory.swap.max", "0")]
        if limits.memory_min is not None:
            files.append(("memory.min", str(limits.memory_min)))
        return files
    if limits.memory_max is not None:  # memory first: memsw may never be below it
        files += [
            ("memory.limit_in_bytes", str(limits.memory_max)),
            ("memory.memsw.limit_in_bytes", str(limits.memory_max)),
        ]
    if limits.memory_min is not None:
        files.append(("memory.soft_limit_in_bytes", str(limits.memory_min)))
    return files


def _cpu_files(hierarchy: Hierarchy, limits: Limits) -> list[tuple[str, str]]:
    files = []
    if limits.cpu_max is not None:
        quota = max(1000, limits.cpu_max * CFS_PERIOD_US // 1000)
        if hierarchy.version == 2:
            files.append(("cpu.max", f"{quota} {CFS_PERIOD_US}"))
        else:
            files += [("cpu.cfs_period_us", str(CFS_PERIOD_US)), ("cpu.cfs_quota_us", str(quota))]
    if limits.cpu_min is not None:
        shares = max(2, limits.cpu_min * 1024 // 1000)  # Kubernetes' conversion of a CPU request
        if hierarchy.version == 2:
            files.append(("cpu.weight", str(max(1, min(10_000, 1 + (shares - 2) * 9999 // 262_142)))))
        else:
            files.append(("cpu.shares", str(shares)))
    return files


def members(directory: Path) -> list[int]:
    return [int(pid) for pid in _read(directory / "cgroup.procs").split()]


async def remove(directory: Path) -> None:
    """Kill what still runs in the cgroup, then remove it (once the kernel has let its processes go)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REMOVE_TIMEOUT
    while True:
        for pid in members(directory):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError:
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(POLL_INTERVAL)


async def remove_leftovers(hierarchies: Iterable[Hierarchy], key: str, keep: set[str]) -> list[str]:
    """Remove this agent's replica cgroups not named in ``keep`` (left by an agent that died); their names."""
    removed = []
    for hierarchy in hierarchies:
        parent = hierarchy.base / f"uno-{key}"
        if not parent.is_dir():
            continue
        for directory in sorted(path for path in parent.iterdir() if path.is_dir()):
            if directory.name not in keep:
                await remove(directory)
                removed.append(directory.name)
    return removed


def remove_parents(hierarchies: Iterable[Hierarchy], key: str) -> None:
    """Remove the agent's ``uno-<key>`` cgroups once no replica cgroup is left in them."""
    for hierarchy in hierarchies:
        with contextlib.suppress(OSError):
            (hierarchy.base / f"uno-{key}").rmdir()
