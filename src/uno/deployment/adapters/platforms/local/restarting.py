"""One replica kept running: start its program, notice when it exits, restart it with backoff.

Why one task per replica: each replica waits on its own process and its own backoff, and
a stop must reach it whatever it is doing (running, starting, waiting to restart). The
task alone touches the replica's process; ``stop`` only asks, and waits for the task.

Invariants:
- the replica's port never changes: a restart binds the same port again;
- after an unexpected exit, whatever the program left in its process group is killed
  before the restart, so a crashed replica's workers never hold the port;
- consecutive crashes are paced by the ``RestartPolicy`` on the supervisor's clock, and
  the count starts over once the program has run for ``stable_after``;
- after ``stop`` returns, no process of the replica's group is left and none will start.

A process started by an earlier supervisor (adopted) is not our child: it cannot be
waited for, so it is watched through a pidfd opened once its pid and start time matched
the record. When it dies it is restarted like any other, as our child this time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from uno.deployment.adapters.platforms.local import confinement, processes
from uno.deployment.adapters.platforms.local.confinement import Confinement, Offer, ReplicaConfiner
from uno.deployment.adapters.platforms.local.replicas import ReplicaInfo, ReplicaState, RestartPolicy, Run
from uno.deployment.adapters.platforms.local.rotating import LogPolicy
from uno.deployment.adapters.platforms.local.state import ReplicaRecord
from uno.deployment.ports.clock import Clock

log = logging.getLogger(__name__)

RUN_HISTORY = 20  # starts kept per replica in ``ReplicaInfo.runs``


@dataclass(frozen=True, slots=True)
class Launch:
    """What every replica of a version set runs, and where its logs go."""

    version_id: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    workdir: str | None
    log_dir: Path
    secret_env: Mapping[str, str] = field(default_factory=dict)  # memory only: never in the state file
    secret_names: tuple[str, ...] = ()  # what ``secret_env`` should hold (recorded: names are no secret)
    logs: LogPolicy = field(default_factory=LogPolicy)
    confinement: Confinement = field(default_factory=Confinement)  # limits, user, read-only filesystem

    @property
    def missing_secrets(self) -> list[str]:
        """Secrets whose values were lost with an earlier agent: replicas now start without them."""
        return [name for name in self.secret_names if name not in self.secret_env]


@dataclass(frozen=True, slots=True)
class Surroundings:
    """What a replica takes from its supervisor."""

    clock: Clock
    policy: RestartPolicy
    base_env: Mapping[str, str]
    on_change: Callable[[], None]  # called when a pid changes, so the state file follows
    offer: Offer | None = None  # what this machine offers to confine replicas (``confinement.probe``)
    cgroup_key: str = ""  # names the agent's cgroups (``confinement.agent_key``)


class _Process(Protocol):
    pid: int
    ticks: int | None
    adopted: bool

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> None: ...

    async def end(self, grace: float) -> None: ...


class _Child:
    adopted = False

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.pid = process.pid
        self.ticks = processes.start_ticks(process.pid)

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> None:
        await self._process.wait()

    async def end(self, grace: float) -> None:
        await _end_group(self.pid, grace)
        await self._process.wait()  # reaped: no zombie, and asyncio's transport is closed


class _Adopted:
    adopted = True
    returncode = None  # the exit status of a process that is not our child is not ours to read

    def __init__(self, pid: int, ticks: int | None, pidfd: int) -> None:
        self.pid, self.ticks = pid, ticks
        self._pidfd: int | None = pidfd

    @classmethod
    def find(cls, record: ReplicaRecord) -> _Adopted | None:
        if record.pid is None:
            return None
        pidfd = processes.open_replica(record.pid, record.start_ticks)
        return None if pidfd is None else cls(record.pid, record.start_ticks, pidfd)

    async def wait(self) -> None:
        if self._pidfd is not None:
            await processes.wait_pidfd(self._pidfd)
            self._release()

    async def end(self, grace: float) -> None:
        await _end_group(self.pid, grace)
        self._release()

    def _release(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


async def _end_group(pgid: int, grace: float) -> None:
    try:
        await processes.end_group(pgid, grace)
    except RuntimeError:
        log.exception("could not end process group %d", pgid)


class Replica:
    def __init__(self, launch: Launch, index: int, port: int, surroundings: Surroundings) -> None:
        self.launch, self.index, self.port = launch, index, port
        self.restarts = 0
        self._with = surroundings
        self._process: _Process | None = None
        self._started_at: datetime | None = None
        self._crashes = 0  # consecutive unexpected exits (or failed starts) since the last stable run
        self._runs: deque[Run] = deque(maxlen=RUN_HISTORY)
        self._last_error: str | None = None
        self._last_exit: str | None = None  # why its last process ended, when it ended on its own
        self._stop = asyncio.Event()
        self._grace = 0.0
        self._task: asyncio.Task[None] | None = None
        self._confiner = _confiner(launch, index, surroundings)

    @property
    def log_path(self) -> Path:
        return self.launch.log_dir / f"replica-{self.index}.log"

    async def start(self) -> None:
        """Start the program (OSError when it cannot start), then keep it running."""
        self._supervise(await self._spawn())

    def adopt(self, record: ReplicaRecord) -> None:
        """Keep the recorded process running if it is still this replica's; otherwise restart it now."""
        self.restarts = record.restarts
        adopted = _Adopted.find(record)
        if adopted is not None and record.started_at is not None:
            self._started_at = datetime.fromisoformat(record.started_at)
        self._supervise(adopted)

    async def stop(self, grace: float) -> None:
        """End the replica's process group (SIGTERM, ``grace`` seconds, SIGKILL); nothing restarts after."""
        self._grace = grace
        self._stop.set()
        if self._task is not None:
            await asyncio.wait((self._task,))
            if not self._task.cancelled() and self._task.exception() is not None:
                await self._end()  # its task died of a bug (logged): the process may still run
        if self._confiner is not None:
            await self._confiner.release()  # its cgroups go with it (and whatever escaped its group)

    def info(self) -> ReplicaInfo:
        process = self._process
        return ReplicaInfo(
            index=self.index,
            pid=None if process is None else process.pid,
            port=self.port,
            started_at=None if process is None else self._started_at,
            restarts=self.restarts,
            state=self._state(),
            adopted=process is not None and process.adopted,
            last_error=self._last_error,
            runs=tuple(self._runs),
            last_exit=self._last_exit,
            crashes=self._crashes,
        )

    def record(self) -> ReplicaRecord:
        process = self._process
        started_at = None if process is None or self._started_at is None else self._started_at.isoformat()
        return ReplicaRecord(
            index=self.index,
            port=self.port,
            pid=None if process is None else process.pid,
            start_ticks=None if process is None else process.ticks,
            started_at=started_at,
            restarts=self.restarts,
        )

    def _state(self) -> ReplicaState:
        if self._task is None or self._task.done():
            return ReplicaState.STOPPED
        if self._stop.is_set():
            return ReplicaState.STOPPING
        return ReplicaState.CRASHING if self._crashes else ReplicaState.RUNNING

    def _supervise(self, process: _Process | None) -> None:
        self._process = process
        self._task = asyncio.create_task(self._keep_running(), name=f"replica {self.launch.version_id}/{self.index}")
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A bug that ends the replica's task is logged and reported (``last_error``), never silent."""
        if task.cancelled() or (error := task.exception()) is None:
            return
        self._last_error = f"its supervision failed: {type(error).__name__}: {error}"
        log.error(
            "replica %s/%d: %s; it is no longer restarted",
            self.launch.version_id,
            self.index,
            self._last_error,
            exc_info=error,
        )

    async def _keep_running(self) -> None:
        while await self._run_once():
            pass

    async def _run_once(self) -> bool:
        """Run the program until it exits, then wait out the backoff. False once a stop is asked for."""
        if self._stop.is_set():
            await self._end()
            return False
        process = self._process or await self._restart()
        if process is not None:
            if not await self._watch(process):
                await self._end()
                return False
            await self._exited(process)
        return await self._pause(self._with.policy.delay(self._crashes))

    async def _restart(self) -> _Process | None:
        try:
            return await self._spawn(restart=True)
        except OSError:
            self._crashes += 1
            return None

    async def _spawn(self, *, restart: bool = False) -> _Process:
        """Start the program; the restart count and the run are recorded together, once it started or failed.

        (Counting the restart before the start is awaited let a snapshot show a new restart
        beside the previous run.)
        """
        argv, clock = self.launch.argv, self._with.clock
        restarts = self.restarts + restart
        starting = f"starting {shlex.join(argv)} on port {self.port} (restarts: {restarts})"
        if missing := self.launch.missing_secrets:
            starting += f" without secret(s) {', '.join(missing)}, lost with an earlier agent: deploy again"
        _note(self.log_path, starting)
        started = clock.monotonic()
        try:
            process = await self._start_process()
        except OSError as error:
            self.restarts = restarts
            self._runs.append(Run(started, None, started))
            self._last_error = str(error)
            _note(self.log_path, f"could not start: {error}")
            raise
        self._process, self._started_at, self._last_error = _Child(process), clock.now(), None
        self.restarts = restarts
        self._runs.append(Run(started, process.pid))
        self._with.on_change()
        return self._process

    async def _start_process(self) -> asyncio.subprocess.Process:
        env, cwd, confiner = self._env(), self.launch.workdir, self._confiner
        if confiner is None:
            return await processes.spawn(self.launch.argv, env=env, cwd=cwd, log_path=self.log_path)
        spec = await asyncio.to_thread(confiner.spec)
        confiner.mark_log(self.log_path)
        return await confinement.spawn(self.launch.argv, spec, env=env, cwd=cwd, log_path=self.log_path)

    def _env(self) -> dict[str, str]:
        return {**self._with.base_env, **self.launch.env, **self.launch.secret_env, "PORT": str(self.port)}

    async def _watch(self, process: _Process) -> bool:
        """Wait until the process exits on its own (True) or a stop is asked for (False)."""
        if self._crashes:
            try:
                async with self._with.clock.timeout(self._with.policy.stable_after):
                    return await self._exit_or_stop(process)
            except TimeoutError:
                self._crashes = 0  # it ran long enough: the next crash starts the backoff over
        return await self._exit_or_stop(process)

    async def _exit_or_stop(self, process: _Process) -> bool:
        exited = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((exited, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
            stopping.cancel()
            await asyncio.wait((exited, stopping))  # let them unwind before the process is ended or released
        return not self._stop.is_set()

    async def _exited(self, process: _Process) -> None:
        self._crashes += 1
        await _end_group(process.pid, 0.0)  # what the program left behind in its group
        self._finish_run(process)
        self._process = None
        delay = self._with.policy.delay(self._crashes)
        reason = _exit_reason(process.returncode)
        if self._confiner is not None and (over := self._confiner.over_memory(process.returncode, self.log_path)):
            reason = f"{reason}: {over}"
        self._last_exit = reason
        _note(self.log_path, f"{reason}; restarting in {delay:g}s")
        log.warning(
            "replica %s/%d (pid %d): %s; restarting in %gs",
            *(self.launch.version_id, self.index, process.pid, reason, delay),
        )
        self._with.on_change()

    async def _pause(self, delay: float) -> bool:
        """Wait ``delay`` seconds on the clock, or less if a stop is asked for; False when stopping."""
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                async with self._with.clock.timeout(delay):
                    await self._stop.wait()
        return not self._stop.is_set()

    async def _end(self) -> None:
        process = self._process
        if process is None:
            return
        await process.end(self._grace)
        self._finish_run(process)
        self._process = None

    def _finish_run(self, process: _Process) -> None:
        if self._runs and self._runs[-1].pid == process.pid and self._runs[-1].exited is None:
            last = self._runs[-1]
            self._runs[-1] = Run(last.started, last.pid, self._with.clock.monotonic(), process.returncode)


def _confiner(launch: Launch, index: int, surroundings: Surroundings) -> ReplicaConfiner | None:
    if launch.confinement.empty:
        return None
    offer = surroundings.offer or confinement.probe()
    return ReplicaConfiner(launch.confinement, offer, surroundings.cgroup_key, f"{launch.version_id}.{index}")


def _exit_reason(returncode: int | None) -> str:
    if returncode is None:
        return "exited"  # an adopted process: its status went to the agent that started it
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
    return f"exited with status {returncode}"


def _note(path: Path, message: str) -> None:
    """Add a line of the supervisor's own to a replica's log, so restarts show where output does."""
    one_line = message.replace("\n", " ")  # an inline script in argv must not break the log's lines
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log_file:
        log_file.write(f"--- uno-deploy: {one_line}\n")
