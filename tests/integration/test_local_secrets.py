"""Secrets survive a restart of the local agent, and are never written anywhere.

The agent keeps secret values in memory only. When it is killed and started again on
demand, it reads them back from a replica that survived (its ``/proc/<pid>/environ``), so a
replica it must restart gets them too; with no survivor it says that they are lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.local_support import SECRET_APP, alive, answer, eventually, release
from uno.deployment.adapters.platforms.local import processes, wire
from uno.deployment.adapters.platforms.local.driver import LocalDriver
from uno.deployment.ports.platforms import VersionSet

pytestmark = [pytest.mark.integration, pytest.mark.every_loop]  # the agent runs these parts on uvloop

SECRET = "s3cret-value-0b5e7c"  # in no file, ever
DIGEST = hashlib.sha256(SECRET.encode()).hexdigest()


@pytest.fixture
async def driver(tmp_path: Path) -> AsyncIterator[LocalDriver]:
    driver = LocalDriver(tmp_path / "local", {"PATH": os.environ.get("PATH", ""), "DB_PASSWORD": SECRET})
    try:
        yield driver
    finally:
        await driver.shutdown()


async def deploy_two_replicas(driver: LocalDriver) -> VersionSet:
    settings = {"command": [sys.executable, "-c", SECRET_APP], "port": processes.free_port(set())}
    created = await driver.create_version(release(settings, secrets=("DB_PASSWORD",)), 2)
    assert created.is_success(), created
    return created.value


def replicas(local_dir: Path) -> list[dict]:
    """The replicas as the state file has them: index, port, pid (None while restarting)."""
    versions = json.loads((local_dir / "processes" / "supervisor.json").read_text())["versions"]
    [version] = versions.values()
    return version["replicas"]


async def kill_agent(driver: LocalDriver) -> None:
    """Kill the agent and its keeper (which would start the next agent at once): no agent runs until the next call."""
    pinged = (await wire.call(driver.socket_path, {"op": "ping"}, timeout=5)).value
    for pid in (pinged["keeper"]["pid"], pinged["pid"]):
        os.kill(pid, signal.SIGKILL)
        await eventually(lambda pid=pid: not alive(pid), what=f"{pid} gone")  # its locks go with it


async def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: not alive(pid), what=f"replica {pid} gone")


async def restarted(local_dir: Path, index: int, old_pid: int) -> dict:
    return await eventually(
        lambda: (r := replicas(local_dir)[index])["pid"] not in {None, old_pid} and r, what=f"replica {index} restarted"
    )


def files_holding_the_secret(local_dir: Path) -> list[Path]:
    files = [path for path in local_dir.rglob("*") if path.is_file()]
    assert {"agent.json", "supervisor.json", "agent.log", "replica-0.log"} <= {path.name for path in files}
    return [path for path in files if SECRET.encode() in path.read_bytes()]


async def test_a_replica_restarted_by_a_new_agent_gets_the_secret_back_from_a_survivor(
    tmp_path: Path, driver: LocalDriver
):
    version = await deploy_two_replicas(driver)
    survivor, victim = replicas(tmp_path / "local")
    assert (await answer(victim["port"]))[1] == {"set": True, "sha256": DIGEST}

    await kill_agent(driver)
    health = await driver.version_health(version)  # a new agent, started on demand, adopts both replicas
    await kill(victim["pid"])  # a crash the new agent must repair, with the secret it never received
    revived = await restarted(tmp_path / "local", 1, victim["pid"])

    assert (await answer(revived["port"]))[1] == {"set": True, "sha256": DIGEST}
    assert replicas(tmp_path / "local")[0]["pid"] == survivor["pid"]  # adopted, not restarted
    assert "lost" not in health.value.message
    assert json.loads((tmp_path / "local" / "processes" / "supervisor.json").read_text())["versions"][version.id][
        "secret_names"
    ] == ["DB_PASSWORD"]
    assert files_holding_the_secret(tmp_path / "local") == []


async def test_with_no_survivor_the_secret_is_reported_lost_until_the_next_deploy(tmp_path: Path, driver: LocalDriver):
    version = await deploy_two_replicas(driver)
    first, second = replicas(tmp_path / "local")

    await kill_agent(driver)
    await kill(first["pid"])
    await kill(second["pid"])
    health = await driver.version_health(version)  # the new agent finds nobody to read the secret from
    revived = await restarted(tmp_path / "local", 0, first["pid"])

    assert "secret(s) DB_PASSWORD lost with the previous agent" in health.value.message
    assert "until the next deploy" in health.value.message
    assert (await answer(revived["port"]))[1] == {"set": False, "sha256": None}
    log = (tmp_path / "local" / "processes" / "logs" / version.id / "replica-0.log").read_text()
    assert "without secret(s) DB_PASSWORD, lost with an earlier agent" in log
    assert files_holding_the_secret(tmp_path / "local") == []
