"""The agent's background loops on a fake clock: a loop that raises is logged, restarted with backoff, reported."""

from __future__ import annotations

import asyncio
import logging

import pytest

from uno.deployment.adapters.clocks import FakeClock
from uno.deployment.adapters.platforms.local.background import BackgroundLoops, LoopReport
from uno.deployment.adapters.platforms.local.replicas import RestartPolicy

POLICY = RestartPolicy(initial=1.0, factor=2.0, maximum=4.0, stable_after=30.0)


class Body:
    """A loop body that raises while the test says so, and otherwise waits to be cancelled; counts its starts."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.starts = 0
        self.running = asyncio.Event()

    async def __call__(self) -> None:
        self.starts += 1
        await asyncio.sleep(0)
        if self.failures:
            self.failures -= 1
            raise KeyError("stub-dev-1.0.0-80e015")
        self.running.set()
        await asyncio.Event().wait()


async def settle(clock: FakeClock, sleepers: int = 1) -> None:
    """Let the loops run until ``sleepers`` of them sleep on the clock (bounded: a stuck loop fails the test)."""
    for _ in range(1000):
        if clock.sleepers >= sleepers:
            return
        await asyncio.sleep(0)
    raise AssertionError("the loop never waited on the clock")


async def test_a_loop_that_raises_is_restarted_with_backoff_and_reported(caplog: pytest.LogCaptureFixture):
    clock = FakeClock()
    loops = BackgroundLoops(clock=clock, policy=POLICY)
    body = Body(failures=2)

    loops.start("backend sync", body)
    await settle(clock)
    first = loops.report()
    clock.advance(0.99)
    await asyncio.sleep(0)
    still_waiting = body.starts
    clock.advance(0.01)  # the first retry comes after 1 s
    await settle(clock)
    clock.advance(2.0)  # the second after 2 s
    await asyncio.wait_for(body.running.wait(), 5)

    error = "KeyError: 'stub-dev-1.0.0-80e015'"
    assert first == [LoopReport("backend sync", "restarting", 1, error)]
    assert still_waiting == 1
    assert body.starts == 3
    assert loops.report() == [LoopReport("backend sync", "running", 2, error)]
    failed = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert [record.getMessage() for record in failed] == [
        "background loop 'backend sync' failed (1 so far); restarting in 1.0s",
        "background loop 'backend sync' failed (2 so far); restarting in 2.0s",
    ]
    assert all(record.exc_info for record in failed)  # with the traceback
    await loops.close()


async def test_a_loop_that_returns_is_a_failure_too():
    clock = FakeClock()
    loops = BackgroundLoops(clock=clock, policy=POLICY)

    async def returns() -> None:
        return None

    loops.start("log rotation", returns)
    await settle(clock)

    assert loops.report() == [LoopReport("log rotation", "restarting", 1, "RuntimeError: the loop returned")]
    await loops.close()


async def test_a_cancelled_loop_ends_and_leaves_the_report():
    clock = FakeClock()
    loops = BackgroundLoops(clock=clock, policy=POLICY)
    body = Body(failures=0)
    task = loops.start("health of v1", body)
    await asyncio.wait_for(body.running.wait(), 5)

    with pytest.raises(ValueError, match="runs already"):
        loops.start("health of v1", body)
    await loops.stop("health of v1")

    assert task.cancelled()
    assert loops.report() == []
    assert body.starts == 1


async def test_a_loop_that_ran_stably_starts_its_backoff_over():
    clock = FakeClock()
    loops = BackgroundLoops(clock=clock, policy=POLICY)
    crash = asyncio.Event()

    async def body() -> None:
        await crash.wait()
        crash.clear()
        raise OSError("disk full")

    loops.start("log rotation", body)
    for delay in (1.0, 2.0):  # two quick failures: 1 s, then 2 s
        await asyncio.sleep(0)
        crash.set()
        await settle(clock)
        clock.advance(delay)
    await asyncio.sleep(0)
    clock.advance(POLICY.stable_after)  # it runs for longer than stable_after, then fails again
    crash.set()
    await settle(clock)

    assert clock.sleepers == 1
    clock.advance(0.99)
    await asyncio.sleep(0)
    assert loops.report()[0].state == "restarting"
    clock.advance(0.01)  # back to the first delay, not 4 s
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert loops.report() == [LoopReport("log rotation", "running", 3, "OSError: disk full")]
    await loops.close()
