"""The local platform autoscales like an HPA: replicas added under CPU load, removed after it, recorded.

Real processes: the driver starts the agent, which runs an application whose replicas
burn CPU (a fifth of a core each) while a flag file exists. The test drives the load
with that file and checks what a user would: how many replicas run (the agent's answer,
and their processes in ``/proc``), the scale events ``uno-deploy agent`` shows, the
agent's log, and that a new agent (the old one killed) keeps the policy and the events.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.contract.test_repositories import T0
from tests.integration.local_support import alive, eventually
from tests.integration.test_local_keeper import uno_deploy_agent
from uno.core.result import Success
from uno.deployment.adapters.platforms.local import processes, wire
from uno.deployment.adapters.platforms.local.driver import LocalDriver
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import new_config_id
from uno.deployment.ports.platforms import Release, VersionSet

pytestmark = pytest.mark.integration

T = TypeVar("T")

# Burns CPU 20 ms in every 100 ms while the file named by FLAG exists; idle otherwise.
BUSY_APP = """
import http.server, os, pathlib, threading, time
flag = pathlib.Path(os.environ["FLAG"])
def burn():
    while True:
        if flag.exists():
            end = time.monotonic() + 0.02
            while time.monotonic() < end:
                pass
        time.sleep(0.08)
threading.Thread(target=burn, daemon=True).start()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture
async def driver(tmp_path: Path) -> AsyncIterator[LocalDriver]:
    driver = LocalDriver(tmp_path / "local", {})
    try:
        yield driver
    finally:
        assert isinstance(await driver.shutdown(), Success)


def autoscaled(flag: Path, port: int | None = None) -> Release:
    """One replica at rest, up to three; 50 m of CPU requested, a 50 % target; measured every second."""
    given = {
        "app_name": "shop",
        "app_version": "1.0.0",
        "environment": "dev",
        "environment_variables": {"FLAG": str(flag)},
        "resources": {
            "replicas_min": 1,
            "replicas_max": 3,
            "cpu_min": "50m",
            "auto_scaling": True,
            "auto_scaling_cpu_threshold": 50,
        },
        "custom_settings": {
            "command": [sys.executable, "-c", BUSY_APP],
            "port": port or processes.free_port(set()),
            "health_path": "/",
            "health_interval_seconds": 0.5,  # probes cost CPU too: few of them keep the idle replicas near 0 %
            "autoscale_interval_seconds": 1,  # a clock tick (10 ms) is then 20 % of a 50 m request
            "scale_down_stabilization_seconds": 2,
        },
    }
    return Release("deployment-1", configuring.build(new_config_id(), given, T0).value)


async def until(probe: Callable[[], Awaitable[T | None]], *, what: str, timeout: float = 40.0) -> T:
    """Poll the coroutine ``probe`` until it returns something truthy; fail with ``what`` at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := await probe()):
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
    return value


async def live(driver: LocalDriver) -> VersionSet:
    [version] = (await driver.list_versions("shop", "dev")).value
    return version


async def autoscaling(driver: LocalDriver, version_id: str | None = None) -> dict[str, Any]:
    """What the agent reports of an autoscaled version set, the only one by default (``uno-deploy agent`` shows it)."""
    versions = (await driver.agent_status()).value["autoscaling"]
    [version] = [version for version in versions if version_id in (None, version["id"])]
    return dict(version["autoscaling"])


def running_replicas(local_dir: Path) -> list[int]:
    """The pids of the replicas whose processes run, as /proc has them."""
    recorded = json.loads((local_dir / "processes" / "supervisor.json").read_text())
    [version] = recorded["versions"].values()
    return [replica["pid"] for replica in version["replicas"] if replica["pid"] and alive(replica["pid"])]


async def test_cpu_load_adds_replicas_up_to_replicas_max_and_they_go_after_it(tmp_path: Path, driver: LocalDriver):
    flag, local_dir = tmp_path / "busy", tmp_path / "local"
    created = await driver.create_version(autoscaled(flag), 1)
    assert isinstance(created, Success), created
    assert isinstance(await driver.set_traffic("shop", "dev", {created.value.id: 100}), Success)
    await until(lambda: _ready(driver, created.value, 1), what="the first replica ready")

    flag.touch()  # every replica now burns a fifth of a core: 400 % of its 50 m request
    await until(lambda: _replicas_are(driver, 3), what="three replicas under load")
    await until(lambda: _ready(driver, created.value, 3), what="the three replicas ready")
    assert len(running_replicas(local_dir)) == 3
    [up] = (await autoscaling(driver))["events"]
    assert (up["replicas_from"], up["replicas_to"]) == (1, 3)
    assert up["utilization"] > 100
    assert "target 50%" in up["reason"]

    flag.unlink()
    await until(lambda: _replicas_are(driver, 1), what="back to one replica after the load")
    await eventually(lambda: len(running_replicas(local_dir)) == 1, what="the removed replicas' processes gone")
    _, *downs = (await autoscaling(driver))["events"]  # in one step, or more as the load fades
    down = downs[-1]
    assert (down["replicas_to"], down["utilization"] < 50) == (1, True)
    assert (downs[0]["replicas_from"], downs[0]["replicas_to"] < 3) == (3, True)
    log = (local_dir / "agent.log").read_text()
    assert f"autoscaler: shop in dev, {created.value.id}: 1 -> 3 replicas (CPU " in log
    shown = await uno_deploy_agent(local_dir)
    assert f"autoscaling shop in dev ({created.value.id}): 1 replica(s) of 1..3, target 50%" in shown
    assert f"  scaled {down['at']}: {down['replicas_from']} -> 1 (" in shown

    await kill_agent(driver)
    assert (await live(driver)).replicas == 1  # a new agent, started on demand, adopts the version set
    kept = await autoscaling(driver)
    assert kept["events"] == [up, *downs]
    assert (kept["replicas_min"], kept["replicas_max"], kept["target"]) == (1, 3, 50)


async def _replicas_are(driver: LocalDriver, count: int) -> bool:
    return (await live(driver)).replicas == count


async def _ready(driver: LocalDriver, version: VersionSet, count: int) -> bool:
    health = (await driver.version_health(version)).value
    return health.ready == health.total == count


async def kill_agent(driver: LocalDriver) -> None:
    """Kill the agent and its keeper: no agent runs until the next call starts one."""
    pinged = (await wire.call(driver.socket_path, {"op": "ping"}, timeout=5)).value
    for pid in (pinged["keeper"]["pid"], pinged["pid"]):
        os.kill(pid, signal.SIGKILL)
        await eventually(lambda pid=pid: not alive(pid), what=f"{pid} gone")


async def test_a_rollout_under_way_pauses_the_autoscaler_and_the_new_release_takes_it_over(
    tmp_path: Path, driver: LocalDriver
):
    flag, port = tmp_path / "busy", processes.free_port(set())
    blue = (await driver.create_version(autoscaled(flag, port), 1)).value
    assert isinstance(await driver.set_traffic("shop", "dev", {blue.id: 100}), Success)
    await until(lambda: _ready(driver, blue, 1), what="blue ready")
    green = (await driver.create_version(autoscaled(flag, port), 1)).value  # a blue-green deploy's new release, at 0 %

    flag.touch()
    paused = await until(lambda: _wanting(driver, blue.id, "3 wanted"), what="blue measured under load")
    assert paused["state"] == f"paused: a rollout is under way ({green.id} runs beside it)"
    assert paused["events"] == []
    assert [(version.id, version.replicas) for version in (await driver.list_versions("shop", "dev")).value] == [
        (blue.id, 1),
        (green.id, 1),
    ]

    assert isinstance(await driver.set_traffic("shop", "dev", {green.id: 100, blue.id: 0}), Success)
    assert isinstance(await driver.retire_version(blue, after=3600, drain_timeout=0), Success)
    [up] = await until(lambda: _events(driver, green.id), what="green scaled up under load")
    assert (up["replicas_from"], up["replicas_to"]) == (1, 3)
    kept = await autoscaling(driver, blue.id)
    assert (kept["state"], kept["events"]) == ("paused: retiring (a previous release kept for its rollback window)", [])
    flag.unlink()


async def _wanting(driver: LocalDriver, version_id: str, wanted: str) -> dict[str, Any] | None:
    report = await autoscaling(driver, version_id)
    return report if report["reason"].endswith(wanted) else None


async def _events(driver: LocalDriver, version_id: str) -> list[dict[str, Any]]:
    return list((await autoscaling(driver, version_id))["events"])
