"""The local agent's background loops, kept running: a loop that fails is logged, restarted and reported.

Why: the agent's loops (the routers' backend sync, each version set's health probes, log
rotation) run for the agent's whole life, and each is a task nobody awaits. A task that
raises just ends: before this module, one ``KeyError`` in the backend sync stopped it for
good, and the routers went on sending traffic to a replica that had stopped answering
(issue 14). Here a loop's body that raises is logged with its traceback, counted, and
started again after a backoff; ``report`` says which loops failed, how often and why, so
the agent's ``ping`` (and ``uno-deploy agent``) show it instead of a silent gap.

Invariants:
- a loop ends only when it is cancelled (``stop``, ``close``); a body that raises, or that
  returns (a loop that should not), is started again;
- consecutive failures are paced by a ``RestartPolicy`` on the given clock; a body that
  then runs for ``stable_after`` starts the count over, but ``failures`` (the total) and
  ``last_error`` stay in the report for the agent's life;
- cancellation always gets through: it is never counted as a failure nor retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from uno.deployment.adapters.clocks import SystemClock
from uno.deployment.adapters.platforms.local.replicas import RestartPolicy
from uno.deployment.ports.clock import Clock

log = logging.getLogger(__name__)

POLICY = RestartPolicy(initial=0.1, factor=2.0, maximum=5.0, stable_after=30.0)

Body = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class LoopReport:
    name: str
    state: str  # "running", or "restarting" while it waits out its backoff after a failure
    failures: int  # since the agent started
    last_error: str | None  # the last failure, "ExceptionType: message"


class _Loop:
    def __init__(self, name: str) -> None:
        self.name = name
        self.failures = 0
        self.consecutive = 0
        self.last_error: str | None = None
        self.waiting = False
        self.task: asyncio.Task[None] | None = None

    def report(self) -> LoopReport:
        return LoopReport(self.name, "restarting" if self.waiting else "running", self.failures, self.last_error)


class BackgroundLoops:
    """Runs named loops as tasks, restarting a body that fails; see the module docstring."""

    def __init__(self, *, clock: Clock | None = None, policy: RestartPolicy = POLICY) -> None:
        self._clock = clock or SystemClock()
        self._policy = policy
        self._loops: dict[str, _Loop] = {}

    def start(self, name: str, body: Body) -> asyncio.Task[None]:
        """Run ``body()`` as the loop ``name`` until the returned task is cancelled; a running name is refused."""
        if name in self._loops:
            raise ValueError(f"a background loop named {name!r} runs already")
        loop = self._loops[name] = _Loop(name)
        loop.task = asyncio.create_task(self._keep(loop, body), name=name)
        loop.task.add_done_callback(lambda _: self._forget(loop))
        return loop.task

    def report(self) -> list[LoopReport]:
        return [loop.report() for loop in sorted(self._loops.values(), key=lambda loop: loop.name)]

    async def stop(self, name: str) -> None:
        loop = self._loops.get(name)
        if loop is not None and loop.task is not None:
            await _cancel(loop.task)

    async def close(self) -> None:
        for loop in list(self._loops.values()):
            if loop.task is not None:
                await _cancel(loop.task)

    def _forget(self, loop: _Loop) -> None:
        if self._loops.get(loop.name) is loop:
            del self._loops[loop.name]

    async def _keep(self, loop: _Loop, body: Body) -> None:
        while True:
            started = self._clock.monotonic()
            try:
                await body()
                raise RuntimeError("the loop returned")  # a loop that ends by itself is a failure too
            except Exception as error:  # whatever it was: log it, and run the loop again
                self._failed(loop, error, ran=self._clock.monotonic() - started)
            delay = self._policy.delay(loop.consecutive)
            loop.waiting = True
            try:
                await self._clock.sleep(delay)
            finally:
                loop.waiting = False

    def _failed(self, loop: _Loop, error: Exception, *, ran: float) -> None:
        if ran >= self._policy.stable_after:
            loop.consecutive = 0
        loop.failures += 1
        loop.consecutive += 1
        loop.last_error = f"{type(error).__name__}: {error}"
        delay = self._policy.delay(loop.consecutive)
        log.error(
            "background loop %r failed (%d so far); restarting in %.1fs",
            loop.name,
            loop.failures,
            delay,
            exc_info=error,
        )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait((task,))
