"""The CPU each replica uses, read from ``/proc``: what the autoscaler measures.

Why ``/proc`` rather than cgroups: a replica may or may not have a cgroup of its own
(that depends on the machine), but it always leads its own process group (see
``processes``), and the kernel counts every process's CPU time in ``/proc/<pid>/stat``.
A replica's CPU time is the sum, over the live processes of its group, of ``utime`` and
``stime`` (its own) plus ``cutime`` and ``cstime`` (its children that it waited for): a
worker that ended and was reaped by its parent keeps counting. Divided by the clock
ticks per second (``SC_CLK_TCK``) and by the monotonic time between two readings, it
gives cores used; the autoscaler divides that by the replica's CPU request.

Invariants:
- ``/proc`` is read once per ``read`` for all the groups asked for;
- a replica is named by its leader's pid *and* start time: a restarted replica (new
  process) starts over with no previous reading, so it is never charged for another's time;
- a reading that went backwards (a member ended unreaped by the group) counts as 0, never
  as negative use.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from uno.deployment.adapters.platforms.local import processes

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Reading:
    start_ticks: int  # the group leader's start time: which process this reading is of
    cpu_ticks: int
    at: float  # monotonic seconds


def group_cpu_ticks(pgids: Iterable[int]) -> dict[int, int]:
    """CPU ticks used so far by each process group in ``pgids`` (groups with no live member are left out)."""
    wanted, totals = set(pgids), dict[int, int]()
    for entry in processes.PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        if fields is None or fields[0] in ("Z", "X"):
            continue
        pgrp = int(fields[2])
        if pgrp in wanted:
            totals[pgrp] = totals.get(pgrp, 0) + sum(int(value) for value in fields[11:15])
    return totals


def _stat_fields(pid: str) -> list[str] | None:
    """Fields 3 onwards of ``/proc/<pid>/stat`` (state first), or None when the process is gone."""
    try:
        text = (processes.PROC / pid / "stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


class CpuMeter:
    """Cores used by each replica between two readings; see the module docstring."""

    def __init__(self) -> None:
        self._last: dict[int, Reading] = {}

    def measure(self, pids: Iterable[int], now: float) -> dict[int, float | None]:
        """Cores each replica (by leader pid) used since the last ``measure`` of it; None for a first reading."""
        leaders = {pid: processes.start_ticks(pid) for pid in pids}
        ticks = group_cpu_ticks(pid for pid, started in leaders.items() if started is not None)
        used: dict[int, float | None] = {}
        for pid, started in leaders.items():
            if started is None or pid not in ticks:
                self._last.pop(pid, None)
                used[pid] = None
                continue
            reading, before = Reading(started, ticks[pid], now), self._last.get(pid)
            self._last[pid] = reading
            used[pid] = _cores(before, reading)
        return used

    def forget(self, keep: Iterable[int]) -> None:
        """Drop the readings of replicas not in ``keep`` (stopped, scaled away)."""
        keeping = set(keep)
        self._last = {pid: reading for pid, reading in self._last.items() if pid in keeping}


def _cores(before: Reading | None, now: Reading) -> float | None:
    if before is None or before.start_ticks != now.start_ticks or now.at <= before.at:
        return None
    return max(0, now.cpu_ticks - before.cpu_ticks) / TICKS_PER_SECOND / (now.at - before.at)
