"""Health of local replicas: an HTTP probe, and a monitor that turns probes into readiness.

Why asyncio streams rather than ``urllib`` in a thread: the monitor probes every replica
of every watched version set each interval, on 127.0.0.1, so a probe must cost nothing
when idle and be cancellable at once; a minimal HTTP/1.1 GET with ``Connection: close``
that reads the status line is all a readiness check needs.

Invariants:
- ``check`` never raises for what the network or the application does: refused
  connections, timeouts and garbage all come back as an unhealthy ``ProbeResult``;
- 2xx and 3xx answers are healthy; anything else is not;
- a replica becomes ready after ``healthy_threshold`` consecutive successes and stops
  being ready after ``unhealthy_threshold`` consecutive failures; until it has been ready
  once it is ``unknown``, then ``unhealthy`` once the failures reach the threshold;
- a replica that is not running is unhealthy at once, and a restarted one (new pid)
  starts over as ``unknown``: readiness always belongs to the process that earned it;
- a version set is healthy when it has replicas and every one is ready;
- every probing round wakes the waiters: ``wait_healthy`` waits on rounds, not on sleeps;
- a replica that has not answered yet (a process just started) is probed early too,
  between rounds, after 20 ms then twice as long each time (across rounds, until the
  wait reaches the interval; a new process starts the series again), so it
  is found ready within a few milliseconds of its first healthy answer instead of up to
  an interval later; an early probe only counts when it passes (a failure while starting
  is the process still starting; the regular rounds count failures as before), and a
  replica still needs ``healthy_threshold`` consecutive passes;
- ``on_change`` (the agent's router sync) is called as soon as a replica gains or loses
  readiness, so the router follows at once rather than at its next periodic sync;
- given ``background`` (the agent's), a probing loop that fails is restarted and reported
  there, never left dead with the last round's readiness frozen.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from uno.deployment.adapters.clocks import SystemClock
from uno.deployment.adapters.platforms.local.background import BackgroundLoops
from uno.deployment.adapters.platforms.local.replicas import ReplicaInfo
from uno.deployment.ports.clock import Clock

MAX_LINE = 8 * 1024  # longest status or header line accepted
MAX_BODY = 64 * 1024  # body bytes read (and dropped) so the application can finish writing
EARLY_PROBE_SECONDS = 0.02  # the first early probe of a starting replica; each next one waits twice as long


@dataclass(frozen=True, slots=True)
class ProbeResult:
    healthy: bool
    status: int | None  # the HTTP status, None when there was no HTTP answer
    error: str | None  # why the probe is unhealthy, None when healthy
    elapsed: float  # seconds


Probe = Callable[[str, int, str, float], Awaitable[ProbeResult]]


async def check(host: str, port: int, path: str = "/health", timeout: float = 5.0) -> ProbeResult:
    """GET ``path`` from ``host:port`` and judge the status line; raises only for a malformed path."""
    request = _request(host, port, path)
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            status = await _status_of(host, port, request)
    except TimeoutError:
        return ProbeResult(False, None, f"no answer within {timeout:g}s", time.monotonic() - started)
    except (OSError, EOFError, ValueError) as error:
        return ProbeResult(False, None, _describe(error), time.monotonic() - started)
    healthy = 200 <= status < 400
    return ProbeResult(healthy, status, None if healthy else f"HTTP {status}", time.monotonic() - started)


def _describe(error: Exception) -> str:
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)  # "Connection refused" rather than asyncio's "Connect call failed (...)"
    return str(error) or type(error).__name__


def _request(host: str, port: int, path: str) -> bytes:
    if not path.startswith("/") or any(character.isspace() for character in path):
        raise ValueError(f"health path {path!r} must start with '/' and hold no spaces")
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: uno-deploy-health", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


async def _status_of(host: str, port: int, request: bytes) -> int:
    reader, writer = await asyncio.open_connection(host, port, limit=MAX_LINE)
    try:
        writer.write(request)
        await writer.drain()
        status = _parse_status(await reader.readline())
        await _drain(reader)
        return status
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _parse_status(line: bytes) -> int:
    if not line:
        raise EOFError("connection closed before an HTTP answer")
    parts = line.decode("latin-1").split(maxsplit=2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not (len(parts[1]) == 3 and parts[1].isdigit()):
        raise ValueError(f"not an HTTP status line: {line[:80]!r}")
    return int(parts[1])


async def _drain(reader: asyncio.StreamReader) -> None:
    """Read the headers and a body of known length, so the application is not cut off mid-write."""
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            length = int(value.strip())
    if length:
        await reader.read(min(length, MAX_BODY))


class Readiness(enum.StrEnum):
    UNKNOWN = "unknown"  # not yet ready since it (re)started, and not yet failed enough to say so
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class ReplicaHealth:
    index: int
    port: int
    pid: int | None
    readiness: Readiness
    successes: int  # consecutive
    failures: int  # consecutive
    last: ProbeResult | None

    @property
    def ready(self) -> bool:
        return self.readiness is Readiness.HEALTHY


class ReplicaSource(Protocol):
    def replicas(self, version_id: str) -> Sequence[ReplicaInfo]:
        """The version set's replicas now; raises ``LookupError`` for an unknown version set."""
        ...


@dataclass(frozen=True, slots=True)
class _Thresholds:
    healthy: int
    unhealthy: int


class _Tracker:
    """The consecutive results of one replica's current process."""

    def __init__(self, replica: ReplicaInfo) -> None:
        self.pid, self.port = replica.pid, replica.port
        self.readiness = Readiness.UNKNOWN
        self.successes = self.failures = 0
        self.last: ProbeResult | None = None

    def record(self, result: ProbeResult, thresholds: _Thresholds) -> None:
        self.last = result
        if result.healthy:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= thresholds.healthy:
                self.readiness = Readiness.HEALTHY
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.failures >= thresholds.unhealthy or self.pid is None:
                self.readiness = Readiness.UNHEALTHY

    @property
    def starting(self) -> bool:
        """Not ready and no probe of this process has passed yet: it is probed early (see the module)."""
        return self.readiness is Readiness.UNKNOWN and self.successes == 0

    def health(self, index: int) -> ReplicaHealth:
        return ReplicaHealth(index, self.port, self.pid, self.readiness, self.successes, self.failures, self.last)


class _Watch:
    def __init__(self, version_id: str, path: str) -> None:
        self.version_id, self.path = version_id, path
        self.trackers: dict[int, _Tracker] = {}
        self.rounds = asyncio.Condition()
        self.task: asyncio.Task[None] | None = None
        self.early = EARLY_PROBE_SECONDS  # the wait before the next early probe
        self.seen_starting: set[tuple[int, int | None]] = set()  # (index, pid) of every process probed early

    def update(self, replicas: Sequence[ReplicaInfo], results: Sequence[ProbeResult], thresholds: _Thresholds) -> None:
        trackers = {}
        for replica, result in zip(replicas, results, strict=True):
            tracker = self.trackers.get(replica.index)
            if tracker is None or tracker.pid != replica.pid:
                tracker = _Tracker(replica)
            tracker.record(result, thresholds)
            trackers[replica.index] = tracker
        self.trackers = trackers

    def starting(self, replicas: Sequence[ReplicaInfo]) -> list[ReplicaInfo]:
        """The running replicas that have not passed a probe yet (new ones included)."""
        chosen = []
        for replica in replicas:
            tracker = self.trackers.get(replica.index)
            if replica.pid is not None and (tracker is None or tracker.pid != replica.pid or tracker.starting):
                chosen.append(replica)
        return chosen

    def passed_early(self, replica: ReplicaInfo, result: ProbeResult, thresholds: _Thresholds) -> None:
        """Count an early probe that passed (one that failed is a process still starting)."""
        tracker = self.trackers.get(replica.index)
        if tracker is None or tracker.pid != replica.pid:
            tracker = self.trackers[replica.index] = _Tracker(replica)
        if tracker.starting:
            tracker.record(result, thresholds)

    def health(self) -> list[ReplicaHealth]:
        return [tracker.health(index) for index, tracker in sorted(self.trackers.items())]

    def ready(self) -> set[tuple[int, int | None]]:
        """(index, pid) of the ready replicas."""
        trackers = self.trackers.items()
        return {(index, tracker.pid) for index, tracker in trackers if tracker.readiness is Readiness.HEALTHY}


class HealthMonitor:
    """Probes every replica of each watched version set every ``interval`` seconds."""

    def __init__(
        self,
        source: ReplicaSource,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        path: str = "/health",
        interval: float = 1.0,
        timeout: float = 5.0,
        healthy_threshold: int = 1,
        unhealthy_threshold: int = 3,
        probe: Probe = check,
        background: BackgroundLoops | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        if interval <= 0 or timeout <= 0 or healthy_threshold < 1 or unhealthy_threshold < 1:
            raise ValueError("interval and timeout must be > 0, thresholds >= 1")
        self._source, self._clock, self._probe = source, clock or SystemClock(), probe
        self._host, self._path, self._interval, self._timeout = host, path, interval, timeout
        self._thresholds = _Thresholds(healthy_threshold, unhealthy_threshold)
        self._watches: dict[str, _Watch] = {}
        self._background = background
        self._on_change = on_change

    def watch(self, version_id: str, *, path: str | None = None) -> None:
        """Start probing the version set's replicas (at once, then every interval); idempotent."""
        if version_id in self._watches:
            return
        _request(self._host, 0, path or self._path)  # a malformed path fails here, not in every probe
        watch = self._watches[version_id] = _Watch(version_id, path or self._path)
        name = f"health of {version_id}"
        if self._background is None:
            watch.task = asyncio.create_task(self._probe_forever(watch), name=name)
        else:
            watch.task = self._background.start(name, lambda: self._probe_forever(watch))

    async def unwatch(self, version_id: str) -> None:
        watch = self._watches.pop(version_id, None)
        if watch is not None:
            await _cancel(watch)

    def health(self, version_id: str) -> list[ReplicaHealth]:
        """What the last round found, per replica; empty for a version set that is not watched."""
        watch = self._watches.get(version_id)
        return [] if watch is None else watch.health()

    def ready_count(self, version_id: str) -> int:
        return sum(replica.ready for replica in self.health(version_id))

    def is_healthy(self, version_id: str) -> bool:
        health = self.health(version_id)
        return bool(health) and all(replica.ready for replica in health)

    async def wait_healthy(self, version_id: str, *, deadline: float) -> bool:
        """True as soon as every replica is ready; False at ``deadline`` (on the monitor's ``clock.monotonic()``).

        Watches the version set if it is not watched yet.
        """
        self.watch(version_id)
        watch = self._watches[version_id]
        remaining = deadline - self._clock.monotonic()
        if self.is_healthy(version_id) or remaining <= 0:
            return self.is_healthy(version_id)
        try:
            async with self._clock.timeout(remaining), watch.rounds:
                await watch.rounds.wait_for(lambda: self.is_healthy(version_id))
        except TimeoutError:
            return self.is_healthy(version_id)
        return True

    async def close(self) -> None:
        watches = list(self._watches.values())
        self._watches.clear()
        for watch in watches:
            await _cancel(watch)

    async def _probe_forever(self, watch: _Watch) -> None:
        while True:
            next_round = self._clock.monotonic() + self._interval
            await self._probe_round(watch)
            await self._probe_early(watch, until=next_round)
            await self._clock.sleep(next_round - self._clock.monotonic())

    async def _probe_early(self, watch: _Watch, *, until: float) -> None:
        """Until the next round, probe the replicas that are starting, sooner than the interval."""
        fresh = {(replica.index, replica.pid) for replica in self._starting(watch)} - watch.seen_starting
        if fresh:  # a process started since: probe it soon, whatever the others cost so far
            watch.early, watch.seen_starting = EARLY_PROBE_SECONDS, watch.seen_starting | fresh
        while True:
            wait = min(watch.early, until - self._clock.monotonic())
            if wait <= 0 or not self._starting(watch):
                return
            await self._clock.sleep(wait)
            watch.early *= 2  # one that takes long to start is probed less and less often, down to the rounds
            if self._clock.monotonic() >= until:
                return
            starting = self._starting(watch)
            results = await asyncio.gather(*(self._probe_one(replica, watch.path) for replica in starting))
            passed = [(replica, result) for replica, result in zip(starting, results, strict=True) if result.healthy]
            ready = watch.ready()
            for replica, result in passed:
                watch.passed_early(replica, result, self._thresholds)
            if passed:
                await self._announce(watch, ready)

    def _starting(self, watch: _Watch) -> list[ReplicaInfo]:
        try:
            return watch.starting(list(self._source.replicas(watch.version_id)))
        except LookupError:
            return []

    async def _probe_round(self, watch: _Watch) -> None:
        try:
            replicas = list(self._source.replicas(watch.version_id))
        except LookupError:
            replicas = []
        results = await asyncio.gather(*(self._probe_one(replica, watch.path) for replica in replicas))
        ready = watch.ready()
        watch.update(replicas, results, self._thresholds)
        await self._announce(watch, ready)

    async def _announce(self, watch: _Watch, ready: set[tuple[int, int | None]]) -> None:
        """Wake the waiters; tell ``on_change`` when readiness changed since ``ready``."""
        if self._on_change is not None and watch.ready() != ready:
            self._on_change()
        async with watch.rounds:
            watch.rounds.notify_all()

    async def _probe_one(self, replica: ReplicaInfo, path: str) -> ProbeResult:
        if replica.pid is None:
            return ProbeResult(False, None, "not running", 0.0)
        return await self._probe(self._host, replica.port, path, self._timeout)


async def _cancel(watch: _Watch) -> None:
    if watch.task is not None:
        watch.task.cancel()
        await asyncio.wait((watch.task,))  # unlike awaiting the task, lets our own cancellation through
