"""The identity of the process running a deployment, read from Linux's /proc.

A runner is named by the machine's boot id, its pid namespace, its pid and its start
time (in clock ticks since boot). Another process can say that runner is gone only when
it shares the boot and the pid namespace (so the pid means the same process) and that
pid is either free or now belongs to a process started at another time (pid reuse).
Anywhere else (another machine, another container, no /proc), it cannot tell, and says
so: the deployment's lease then expires by its TTL as it always would.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class ProcessIdentity:
    def __init__(self, proc: Path = Path("/proc")) -> None:
        self._proc = proc
        self._boot = _read(proc / "sys/kernel/random/boot_id")
        self._namespace = _namespace(proc / "self/ns/pid")

    def current(self) -> dict[str, Any]:
        pid = os.getpid()
        return {"boot": self._boot, "pid_namespace": self._namespace, "pid": pid, "started": self._started(pid)}

    def gone(self, identity: Mapping[str, Any]) -> bool:
        pid, started = identity.get("pid"), identity.get("started")
        knowable = self._boot is not None and self._namespace is not None
        same_place = identity.get("boot") == self._boot and identity.get("pid_namespace") == self._namespace
        if not knowable or not same_place or not isinstance(pid, int) or not isinstance(started, int):
            return False
        now = self._started(pid)
        return now is None or now != started

    def _started(self, pid: int) -> int | None:
        """The process's start time in clock ticks since boot, or None when no such process exists."""
        stat = _read(self._proc / str(pid) / "stat")
        if stat is None:
            return None
        # the command name, in parentheses, may hold spaces: the fields after it are fixed
        fields = stat.rsplit(")", 1)[-1].split()
        try:
            return int(fields[19])  # field 22 of proc_pid_stat(5), counted after the name and pid
        except (IndexError, ValueError):
            return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _namespace(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None
