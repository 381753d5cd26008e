"""Restart pacing on a fake clock: real crashing processes, exact delays, no waiting for time to pass."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.local_support import FAST, HELLO, answer, eventually, supervising
from uno.deployment.adapters.clocks import FakeClock
from uno.deployment.adapters.platforms.local.replicas import ReplicaInfo, ReplicaState, RestartPolicy
from uno.deployment.adapters.platforms.local.supervising import Supervisor

pytestmark = [pytest.mark.integration, pytest.mark.every_loop]  # the agent runs these parts on uvloop

POLICY = RestartPolicy(initial=0.5, factor=2.0, maximum=30.0, stable_after=10.0)

# Counts its starts in the file named by COUNTER; the first CRASHES starts exit with status 3.
CRASH_THEN_RUN = """
import os, pathlib, sys, time
counter = pathlib.Path(os.environ["COUNTER"])
with counter.open("a") as starts:
    starts.write("start\\n")
if len(counter.read_text().splitlines()) <= int(os.environ["CRASHES"]):
    sys.exit(3)
time.sleep(600)
"""


@pytest.fixture
async def supervisor(tmp_path: Path, fake_clock: FakeClock) -> AsyncIterator[Supervisor]:
    async with supervising(tmp_path / "state", clock=fake_clock, policy=POLICY) as supervisor:
        yield supervisor


def replica(supervisor: Supervisor, version_id: str = "v1") -> ReplicaInfo:
    return supervisor.replicas(version_id)[0]


async def crashed(supervisor: Supervisor, runs: int) -> ReplicaInfo:
    """The replica once its ``runs``-th run has exited (it is then waiting out its backoff)."""
    return await eventually(
        lambda: (info := replica(supervisor)).pid is None and len(info.runs) == runs and info, what=f"crash {runs}"
    )


async def restarted_after(supervisor: Supervisor, clock: FakeClock, delay: float) -> ReplicaInfo:
    """Advance the clock to just before ``delay`` (no restart), then to it (a restart)."""
    restarts = replica(supervisor).restarts
    clock.advance(delay - 0.01)
    for _ in range(20):  # a restart, were it due, would begin within a few turns of the loop
        await asyncio.sleep(0)
    assert replica(supervisor).restarts == restarts, f"restarted before {delay}s"
    clock.advance(0.01)
    return await eventually(
        lambda: (info := replica(supervisor)).restarts == restarts + 1 and info.pid is not None and info,
        what=f"the restart after {delay}s",
    )


async def test_delays_double_then_start_over_after_a_stable_run(
    tmp_path: Path, supervisor: Supervisor, fake_clock: FakeClock
):
    env = {"COUNTER": str(tmp_path / "starts"), "CRASHES": "3"}
    await supervisor.start_version("v1", [sys.executable, "-c", CRASH_THEN_RUN], replicas=1, env=env)

    for number, delay in enumerate([0.5, 1.0, 2.0], start=1):
        assert (await crashed(supervisor, number)).state is ReplicaState.CRASHING
        await restarted_after(supervisor, fake_clock, delay)
    running = replica(supervisor)
    assert [run.returncode for run in running.runs] == [3, 3, 3, None]
    assert [b.started - (a.exited or 0) for a, b in itertools.pairwise(running.runs)] == [0.5, 1, 2]
    assert running.state is ReplicaState.CRASHING  # on probation until it has run stably

    fake_clock.advance(POLICY.stable_after)
    await eventually(lambda: replica(supervisor).state is ReplicaState.RUNNING, what="a stable run")
    assert running.pid is not None
    os.kill(running.pid, signal.SIGKILL)
    await crashed(supervisor, 4)
    again = await restarted_after(supervisor, fake_clock, 0.5)  # the backoff started over

    assert again.restarts == 4
    assert again.runs[-2].returncode == -signal.SIGKILL


async def test_a_replica_that_cannot_be_restarted_keeps_being_retried(
    tmp_path: Path, supervisor: Supervisor, fake_clock: FakeClock
):
    workdir = tmp_path / "release"
    workdir.mkdir()
    env = {"COUNTER": str(tmp_path / "starts"), "CRASHES": "99"}
    await supervisor.start_version(
        "v1", [sys.executable, "-c", CRASH_THEN_RUN], replicas=1, env=env, workdir=str(workdir)
    )
    await crashed(supervisor, 1)
    workdir.rmdir()

    fake_clock.advance(0.5)
    failed = await crashed(supervisor, 2)
    assert failed.runs[-1].pid is None
    assert str(workdir) in (failed.last_error or "")
    fake_clock.advance(1.0)
    again = await crashed(supervisor, 3)

    assert (again.restarts, again.state) == (2, ReplicaState.CRASHING)


async def test_a_stop_during_the_backoff_ends_it_without_waiting(tmp_path: Path, supervisor: Supervisor):
    env = {"COUNTER": str(tmp_path / "starts"), "CRASHES": "99"}
    await supervisor.start_version("v1", [sys.executable, "-c", CRASH_THEN_RUN], replicas=1, env=env)
    await crashed(supervisor, 1)

    await supervisor.stop_version("v1")  # the fake clock never moves: only the stop can end the wait

    assert supervisor.versions() == []
    assert (tmp_path / "starts").read_text().count("start") == 1


async def test_a_replica_whose_supervision_fails_says_so_and_is_still_stopped(tmp_path: Path, caplog):
    async with supervising(tmp_path / "state", policy=FAST) as supervisor:
        [replica] = await supervisor.start_version("v1", HELLO, replicas=1, env={"HELLO_VERSION": "1.0.0"})
        await answer(replica.port)
        [supervised] = supervisor._versions["v1"].replicas

        async def failing(process: object) -> None:
            raise RuntimeError("a bug in the restart path")

        supervised._exited = failing  # type: ignore[method-assign]
        os.kill(replica.pid, signal.SIGKILL)
        failed = await eventually(lambda: supervisor.replicas("v1")[0].last_error, what="the failure reported")

        assert failed == "its supervision failed: RuntimeError: a bug in the restart path"
        assert "it is no longer restarted" in caplog.text
