"""A restarted agent tells the truth: it adopts the replicas that still run and restarts the others.

The first agent is a real process (``local_agent``) killed with SIGKILL, as a crash would:
its replicas, in their own sessions, keep running and are nobody's children any more.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.integration.local_support import HELLO, alive, answer, eventually, orphaned, supervising
from uno.deployment.adapters.platforms.local import processes
from uno.deployment.adapters.platforms.local.replicas import ReplicaInfo
from uno.deployment.adapters.platforms.local.supervising import Supervisor, SupervisorError

pytestmark = [pytest.mark.integration, pytest.mark.every_loop]  # the agent runs these parts on uvloop


@pytest.fixture
async def orphans(tmp_path: Path) -> AsyncIterator[dict[str, list[list[int]]]]:
    """Version sets started by an agent that was then killed: ``{version_id: [[pid, port], ...]}``."""
    async with orphaned(tmp_path / "state") as started:
        yield started


def by_key(supervisor: Supervisor) -> dict[tuple[str, int], ReplicaInfo]:
    return {(version.version_id, r.index): r for version in supervisor.versions() for r in version.replicas}


async def test_a_new_supervisor_adopts_the_running_replicas_and_restarts_the_dead_one(
    tmp_path: Path, orphans: dict[str, list[list[int]]]
):
    [[pid_0, port_0], [pid_1, port_1]], [[pid_2, port_2]] = orphans["v1"], orphans["v2"]
    assert all(alive(pid) for pid in (pid_0, pid_1, pid_2))  # the agent's death did not reach them
    os.kill(pid_1, signal.SIGKILL)  # dies while no agent watches
    await eventually(lambda: not alive(pid_1), what="replica v1/1 dead")

    async with supervising(tmp_path / "state") as supervisor:
        versions = await supervisor.adopt()
        replicas = by_key(supervisor)

        assert [(version.version_id, version.env) for version in versions] == [
            ("v1", {"HELLO_VERSION": "1.0.0"}),
            ("v2", {"HELLO_VERSION": "2.0.0"}),
        ]
        assert (replicas["v1", 0].pid, replicas["v1", 0].port, replicas["v1", 0].adopted) == (pid_0, port_0, True)
        assert (replicas["v2", 0].pid, replicas["v2", 0].port, replicas["v2", 0].adopted) == (pid_2, port_2, True)
        revived = await eventually(lambda: (r := by_key(supervisor)["v1", 1]).pid and r, what="v1/1 restarted")
        assert (revived.port, revived.restarts, revived.adopted) == (port_1, 1, False)
        assert revived.pid != pid_1
        assert (await answer(port_1))[1]["version"] == "1.0.0"

        os.kill(pid_2, signal.SIGKILL)  # an adopted replica dies: it is not our child, yet it is noticed
        again = await eventually(
            lambda: (r := by_key(supervisor)["v2", 0]).pid not in {None, pid_2} and r, what="v2/0 restarted"
        )
        assert (again.port, again.restarts) == (port_2, 1)
        assert (await answer(port_2))[1]["version"] == "2.0.0"
        survivors = [replica.pid for replica in by_key(supervisor).values()]

    assert not [pid for pid in [pid_0, *survivors] if pid and alive(pid)]


async def test_the_state_file_follows_every_change(tmp_path: Path):
    state_file = tmp_path / "state" / "supervisor.json"
    async with supervising(tmp_path / "state", base_env={**os.environ, "DB_PASSWORD": "s3cret-value"}) as supervisor:
        started = await supervisor.start_version(
            "v1", HELLO, replicas=2, env={"HELLO_VERSION": "1.0.0"}, secret_env={"API_TOKEN": "t0ken-value"}
        )
        recorded = json.loads(state_file.read_text())["versions"]["v1"]
        assert (recorded["argv"], recorded["env"], recorded["workdir"]) == (HELLO, {"HELLO_VERSION": "1.0.0"}, None)
        assert recorded["secret_names"] == ["API_TOKEN"]  # the name, so that a new agent knows what to recover
        assert "t0ken-value" not in state_file.read_text()
        assert [(r["index"], r["pid"], r["port"], r["restarts"]) for r in recorded["replicas"]] == [
            (replica.index, replica.pid, replica.port, 0) for replica in started
        ]
        assert [r["start_ticks"] for r in recorded["replicas"]] == [
            processes.start_ticks(replica.pid or 0) for replica in started
        ]
        assert "s3cret-value" not in state_file.read_text()  # the base environment is never written
        assert state_file.stat().st_mode & 0o777 == 0o600

        await supervisor.scale_version("v1", 1)
        assert len(json.loads(state_file.read_text())["versions"]["v1"]["replicas"]) == 1
        await supervisor.stop_version("v1")
        assert json.loads(state_file.read_text())["versions"] == {}

    assert [path.name for path in state_file.parent.iterdir() if path.name.startswith(".")] == []  # no temp files


@pytest.fixture
def decoy() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not a replica: in the test's process group, not its own."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("mismatch", ["start time", "process group"])
async def test_a_recorded_pid_that_now_names_another_process_is_never_adopted_nor_signalled(
    tmp_path: Path, decoy: subprocess.Popen[bytes], mismatch: str
):
    ticks = processes.start_ticks(decoy.pid)
    assert ticks is not None
    if mismatch == "start time":
        ticks += 1  # as if the replica died and its pid was reused
    port = processes.free_port(avoid=set())
    replica = {"index": 0, "port": port, "pid": decoy.pid, "start_ticks": ticks, "started_at": None, "restarts": 0}
    state = {"format": 1, "versions": {"v1": {"argv": HELLO, "env": {}, "workdir": None, "replicas": [replica]}}}
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "supervisor.json").write_text(json.dumps(state))

    async with supervising(tmp_path / "state") as supervisor:
        await supervisor.adopt()
        restarted = await eventually(lambda: (r := supervisor.replicas("v1")[0]).pid and r, what="a restart")
        assert (restarted.pid != decoy.pid, restarted.port, restarted.adopted, restarted.restarts) == (
            True,
            port,
            False,
            1,
        )

    assert decoy.poll() is None  # still running: the supervisor never signalled it


@pytest.mark.parametrize("mismatch", ["start time", "process group"])
def test_the_environment_of_a_process_that_is_not_the_recorded_replica_is_never_read(
    decoy: subprocess.Popen[bytes], mismatch: str
):
    ticks = processes.start_ticks(decoy.pid)
    assert ticks is not None
    if mismatch == "start time":
        ticks += 1

    assert processes.read_environ(decoy.pid, ticks) is None  # a decoy never leads its own group


async def test_a_replicas_environment_is_read_back_by_pid_and_start_time(tmp_path: Path):
    async with supervising(tmp_path / "state") as supervisor:
        [replica] = await supervisor.start_version("v1", HELLO, replicas=1, env={}, secret_env={"API_TOKEN": "t0ken"})
        assert replica.pid is not None
        ticks = processes.start_ticks(replica.pid)

        environment = processes.read_environ(replica.pid, ticks)

    assert environment is not None
    assert (environment["API_TOKEN"], environment["PORT"]) == ("t0ken", str(replica.port))
    assert processes.read_environ(replica.pid, ticks) is None  # stopped: nothing to read any more


async def test_adopt_comes_first_and_an_unreadable_state_is_an_error(tmp_path: Path):
    async with supervising(tmp_path / "state") as supervisor:
        await supervisor.start_version("v1", HELLO, replicas=1, env={})
        with pytest.raises(SupervisorError, match="before"):
            await supervisor.adopt()

    (tmp_path / "state" / "supervisor.json").write_text('{"format": 99, "versions": {}}')
    async with supervising(tmp_path / "state") as supervisor:
        with pytest.raises(SupervisorError, match="format 99"):
            await supervisor.adopt()
