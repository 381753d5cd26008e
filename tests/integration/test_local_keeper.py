"""The keeper: an agent killed under load comes back by itself, and no new connection is refused meanwhile.

Real processes: the driver starts the keeper, which forks the agent; the tests kill them
with signals as an operator (or the OOM killer) would, and look from outside, as a user:
the application's port, the agent's ``ping``, the processes in ``/proc``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.local_support import HELLO, alive, eventually, get_json, release
from tests.loadgen import Load, run_load
from uno.core.result import Success
from uno.deployment.adapters.platforms.local import holding, wire
from uno.deployment.adapters.platforms.local.driver import LocalDriver

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def driver(tmp_path: Path) -> AsyncIterator[LocalDriver]:
    driver = LocalDriver(tmp_path / "local", {})
    try:
        yield driver
    finally:
        assert isinstance(await driver.shutdown(), Success)


async def deploy(driver: LocalDriver, app: str) -> tuple[int, list[int]]:
    """``app`` 1.0.0 on a free port with two replicas, all traffic on it: the port and the replicas' pids."""
    port = free_port()
    settings = {"command": HELLO, "port": port, "health_interval_seconds": 0.2}
    created = await driver.create_version(release(settings, app=app), 2)
    assert isinstance(created, Success), created
    assert isinstance(await driver.set_traffic(app, "dev", {created.value.id: 100}), Success)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (await driver.version_health(created.value)).value.ready < 2:  # as a strategy waits before routing
        assert loop.time() < deadline, f"{app} not healthy"
        await asyncio.sleep(0.05)
    state = await asyncio.to_thread(_replicas, driver)
    return port, state[created.value.id]


def _replicas(driver: LocalDriver) -> dict[str, list[int]]:
    recorded = json.loads((driver.socket_path.parent / "processes" / "supervisor.json").read_text())
    return {name: [r["pid"] for r in version["replicas"]] for name, version in recorded["versions"].items()}


async def ping(driver: LocalDriver) -> dict[str, Any] | None:
    answered = await wire.call(driver.socket_path, {"op": "ping"}, timeout=2)
    return answered.value if isinstance(answered, Success) else None


async def new_agent(driver: LocalDriver, old: int) -> dict[str, Any]:
    """The agent's ping once another agent than ``old`` answers (polled, with a deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (pinged := await ping(driver)) is None or pinged["pid"] == old:
        assert loop.time() < deadline, "no new agent answered"
        await asyncio.sleep(0.02)
    return pinged


def refused(load: Load) -> list[str]:
    return [failure for failure in load.failures if "Refused" in failure]


async def kill_under_load(driver: LocalDriver, port: int) -> tuple[dict[str, Any], Load]:
    """Kill the agent under a small load; a new connection opened once it is dead must be answered."""
    stop = asyncio.Event()
    load = Load()
    running = asyncio.create_task(run_load(port, stop, clients=2, into=load))
    try:
        await eventually(lambda: len(load.versions) > 20, what="the load answered")
        agent = (await ping(driver) or {})["pid"]
        os.kill(agent, signal.SIGKILL)
        await eventually(lambda: not alive(agent), what="the agent dead")
        answered_before = len(load.versions)
        status, body = await get_json(port, "/")  # no retry: it waits in the held port's backlog
        pinged = await new_agent(driver, agent)
        await eventually(lambda: len(load.versions) > answered_before + 20, what="answers after the kill")
    finally:
        stop.set()
        await running
    assert (status, body["version"]) == (200, "1.0.0")
    return pinged, load


async def test_a_killed_agent_comes_back_by_itself_and_refuses_no_new_connection(driver: LocalDriver):
    port, replicas = await deploy(driver, "shop")

    pinged, load = await kill_under_load(driver, port)

    assert refused(load) == []
    assert len(load.failures) <= 2  # at most the request in flight on each client's connection
    assert (await get_json(port, "/"))[1]["version"] == "1.0.0"
    assert pinged["keeper"]["restarts"] == 1
    assert pinged["keeper"]["last_exit"] == "was killed by SIGKILL"
    assert all(alive(pid) for pid in replicas)  # adopted, not restarted
    shown = await uno_deploy_agent(driver.socket_path.parent)
    assert f"keeper {pinged['keeper']['pid']}: restarted the agent 1 time(s) (last: was killed by SIGKILL)" in shown
    assert "background loop 'backend sync': running" in shown


async def uno_deploy_agent(local_dir: Path) -> str:
    """What ``uno-deploy agent`` prints, as a user runs it."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "uno-deploy"),
        "agent",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "UNO_DEPLOY_LOCAL_DIR": str(local_dir)},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


async def test_an_app_deployed_after_a_restart_is_held_too(driver: LocalDriver):
    first, _ = await deploy(driver, "shop")
    agent = (await ping(driver) or {})["pid"]
    os.kill(agent, signal.SIGKILL)
    await new_agent(driver, agent)
    second, _ = await deploy(driver, "blog")  # its socket is handed to the keeper by the second agent

    _, load = await kill_under_load(driver, second)

    assert refused(load) == []
    assert (await get_json(first, "/"))[0] == 200
    assert (await get_json(second, "/"))[0] == 200


async def test_an_agent_asked_to_stop_is_not_restarted(driver: LocalDriver):
    port, replicas = await deploy(driver, "shop")
    agent = (await ping(driver) or {})["pid"]

    os.kill(agent, signal.SIGTERM)

    state_dir = driver.socket_path.parent
    await eventually(lambda: not holding.keeper_running(state_dir), what="the keeper gone with its agent")
    assert await ping(driver) is None
    assert await asyncio.to_thread(_refused, port)  # the keeper let the port go
    assert all(alive(pid) for pid in replicas)  # as before keepers: SIGTERM stops the agent, not the apps


async def test_down_stops_the_keeper_the_agent_and_the_replicas(driver: LocalDriver):
    port, replicas = await deploy(driver, "shop")
    pinged = await ping(driver) or {}

    assert isinstance(await driver.shutdown(), Success)

    assert not holding.keeper_running(driver.socket_path.parent)
    assert not alive(pinged["pid"])
    assert not alive(pinged["keeper"]["pid"])
    assert not [pid for pid in replicas if alive(pid)]
    assert await asyncio.to_thread(_refused, port)
    assert (await uno_deploy_agent(driver.socket_path.parent)).startswith("no local agent runs")  # nor starts one
    assert await ping(driver) is None


async def test_a_killed_keeper_leaves_the_agent_serving(driver: LocalDriver):
    port, replicas = await deploy(driver, "shop")
    pinged = await ping(driver) or {}

    os.kill(pinged["keeper"]["pid"], signal.SIGKILL)
    await eventually(lambda: not alive(pinged["keeper"]["pid"]), what="the keeper dead")

    assert (await get_json(port, "/"))[1]["version"] == "1.0.0"
    assert (await ping(driver) or {})["pid"] == pinged["pid"]
    assert (await ping(driver) or {})["keeper"] is None  # says so: a death now closes the port
    assert isinstance(await driver.shutdown(), Success)  # down still stops everything
    assert not alive(pinged["pid"])
    assert not [pid for pid in replicas if alive(pid)]


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False
