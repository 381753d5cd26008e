"""The local supervisor with real processes: ports, environment, logs, restarts, scaling, stopping."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.local_support import FAST, HELLO, alive, answer, eventually, supervising
from uno.deployment.adapters.platforms.local.replicas import ReplicaState
from uno.deployment.adapters.platforms.local.supervising import (
    ProcessStartError,
    Supervisor,
    SupervisorError,
    UnknownVersionError,
    VersionExistsError,
)

pytestmark = [pytest.mark.integration, pytest.mark.every_loop]  # the agent runs these parts on uvloop

CRASH = [sys.executable, "-c", "import sys; sys.exit(3)"]

# Ignores SIGTERM and forks a child that ignores it too; prints the child's pid.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
child = subprocess.Popen([sys.executable, "-c", code])
print(f"CHILD-PID {child.pid}", flush=True)
time.sleep(600)
"""

PRINT_ENV = """
import json, os, time
print(json.dumps({name: os.environ.get(name) for name in ("BASE", "EXTRA", "PORT")}), flush=True)
time.sleep(600)
"""


@pytest.fixture
async def supervisor(tmp_path: Path) -> AsyncIterator[Supervisor]:
    async with supervising(tmp_path / "state", policy=FAST) as supervisor:
        yield supervisor


def log_of(state_dir: Path, version_id: str, index: int) -> str:
    path = state_dir / "logs" / version_id / f"replica-{index}.log"
    return path.read_text() if path.exists() else ""


def output_of(state_dir: Path, version_id: str, index: int, prefix: str) -> str:
    """The first line the replica's program printed that starts with ``prefix`` (not the supervisor's notes)."""
    lines = log_of(state_dir, version_id, index).splitlines()
    return next((line for line in lines if line.startswith(prefix)), "")


async def test_replicas_listen_on_distinct_ports_and_answer_with_their_version(supervisor: Supervisor):
    replicas = await supervisor.start_version("hello-1", HELLO, replicas=3, env={"HELLO_VERSION": "1.2.3"})

    assert [replica.index for replica in replicas] == [0, 1, 2]
    assert len({replica.port for replica in replicas}) == 3
    assert all(replica.state is ReplicaState.RUNNING and replica.restarts == 0 for replica in replicas)
    for replica in replicas:
        status, body = await answer(replica.port)
        assert (status, body["version"]) == (200, "1.2.3")


async def test_output_lands_in_one_log_file_per_replica(tmp_path: Path, supervisor: Supervisor):
    replicas = await supervisor.start_version("hello-1", HELLO, replicas=2, env={})

    for replica in replicas:
        line = f"serving on http://127.0.0.1:{replica.port}"
        await eventually(
            lambda replica=replica, line=line: line in log_of(tmp_path / "state", "hello-1", replica.index), what=line
        )


async def test_the_port_wins_over_the_versions_env_which_wins_over_the_base_environment(tmp_path: Path):
    base = {"PATH": os.environ["PATH"], "BASE": "base", "EXTRA": "base"}
    async with supervising(tmp_path / "state", base_env=base) as supervisor:
        [replica] = await supervisor.start_version(
            "env-1", [sys.executable, "-c", PRINT_ENV], replicas=1, env={"EXTRA": "version", "PORT": "1"}
        )
        line = await eventually(lambda: output_of(tmp_path / "state", "env-1", 0, "{"), what="the env line")

    assert json.loads(line) == {"BASE": "base", "EXTRA": "version", "PORT": str(replica.port)}


async def test_a_killed_replica_is_restarted_on_the_same_port_and_counted(supervisor: Supervisor):
    [first, other] = await supervisor.start_version("hello-1", HELLO, replicas=2, env={"HELLO_VERSION": "1"})
    assert first.pid is not None

    os.kill(first.pid, signal.SIGKILL)
    restarted = await eventually(
        lambda: next(
            (r for r in supervisor.replicas("hello-1") if r.index == 0 and r.pid not in {None, first.pid}), None
        ),
        what="the restart",
    )

    assert (restarted.port, restarted.restarts) == (first.port, 1)
    assert restarted.runs[0].returncode == -signal.SIGKILL
    assert supervisor.replicas("hello-1")[1].pid == other.pid  # the others are left alone
    assert (await answer(first.port))[1]["version"] == "1"


async def test_a_crash_looping_program_is_restarted_with_growing_delays(supervisor: Supervisor):
    await supervisor.start_version("crash-1", CRASH, replicas=1, env={})

    replica = await eventually(
        lambda: next((r for r in supervisor.replicas("crash-1") if r.restarts >= 4), None), what="4 restarts"
    )

    assert replica.state is ReplicaState.CRASHING
    runs = [run for run in replica.runs if run.exited is not None]
    assert all(run.returncode == 3 for run in runs)
    gaps = [following.started - (previous.exited or 0) for previous, following in itertools.pairwise(runs)]
    assert all(gap >= expected - 1e-3 for gap, expected in zip(gaps, [0.05, 0.1, 0.2, 0.4], strict=False))
    # without backoff a program that exits at once starts dozens of times in 0.35 s; with it, 3 times at most
    assert len([run for run in replica.runs if run.started < runs[0].started + 0.35]) <= 3


async def test_scaling_up_adds_replicas_on_new_ports_and_down_stops_the_highest(supervisor: Supervisor):
    [first] = await supervisor.start_version("hello-1", HELLO, replicas=1, env={})

    grown = await supervisor.scale_version("hello-1", 3)
    assert [replica.index for replica in grown] == [0, 1, 2]
    assert grown[0].pid == first.pid
    assert len({replica.port for replica in grown}) == 3
    for replica in grown:
        await answer(replica.port)

    shrunk = await supervisor.scale_version("hello-1", 1, grace=2.0)
    assert [(replica.index, replica.pid) for replica in shrunk] == [(0, first.pid)]
    assert not [replica.pid for replica in grown[1:] if alive(replica.pid or 0)]

    again = await supervisor.scale_version("hello-1", 2)
    assert (again[1].index, again[1].port == grown[1].port) == (1, False)


async def test_stop_kills_a_group_that_ignores_sigterm_and_nothing_restarts(tmp_path: Path, supervisor: Supervisor):
    [replica] = await supervisor.start_version("stubborn-1", [sys.executable, "-c", STUBBORN], replicas=1, env={})
    line = await eventually(lambda: output_of(tmp_path / "state", "stubborn-1", 0, "CHILD-PID "), what="the child")
    child = int(line.split()[1])
    assert replica.pid is not None
    assert [alive(replica.pid), alive(child)] == [True, True]

    await supervisor.stop_version("stubborn-1", grace=0.2)

    assert [alive(replica.pid), alive(child)] == [False, False]
    assert supervisor.versions() == []
    with pytest.raises(UnknownVersionError):
        supervisor.replicas("stubborn-1")


async def test_a_program_that_cannot_start_is_an_error_and_leaves_nothing(tmp_path: Path, supervisor: Supervisor):
    with pytest.raises(ProcessStartError, match="no-such-program"):
        await supervisor.start_version("missing-1", ["/nonexistent/no-such-program"], replicas=2, env={})
    with pytest.raises(ProcessStartError):
        await supervisor.start_version("workdir-1", HELLO, replicas=1, env={}, workdir=str(tmp_path / "missing"))

    assert supervisor.versions() == []
    assert json.loads((tmp_path / "state" / "supervisor.json").read_text())["versions"] == {}


async def test_requests_that_make_no_sense_are_refused(supervisor: Supervisor):
    await supervisor.start_version("hello-1", HELLO, replicas=1, env={})

    with pytest.raises(VersionExistsError):
        await supervisor.start_version("hello-1", HELLO, replicas=1, env={})
    with pytest.raises(ValueError, match="version id"):
        await supervisor.start_version("../escape", HELLO, replicas=1, env={})
    with pytest.raises(ValueError, match="argv"):
        await supervisor.start_version("empty-1", [], replicas=1, env={})
    with pytest.raises(UnknownVersionError):
        await supervisor.scale_version("nope", 2)


async def test_one_supervisor_per_state_directory(tmp_path: Path):
    first = Supervisor(tmp_path / "state")
    with pytest.raises(SupervisorError, match="another supervisor"):
        Supervisor(tmp_path / "state")
    await first.close()

    second = Supervisor(tmp_path / "state")
    await second.close()
    with pytest.raises(SupervisorError, match="closed"):
        await second.start_version("hello-1", HELLO, replicas=1, env={})
