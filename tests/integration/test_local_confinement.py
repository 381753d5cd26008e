"""Replicas confined as their configuration asks, seen from outside: their uid, cgroup or rlimit, mounts.

Whatever this machine offers (cgroup v2, cgroup v1 or RLIMIT_AS for memory; root or not),
the tests check the mechanism ``confinement.probe`` says applies here, from ``/proc`` of the
replica and from what the replica itself can do (an HTTP answer). Only what cannot exist
on this machine is skipped, with the reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.test_repositories import T0
from tests.integration.local_support import FAST, alive, answer, eventually, supervising
from uno.core.result import Failure
from uno.deployment.adapters.platforms.local import confinement, processes, wire
from uno.deployment.adapters.platforms.local.confinement import Confinement, Offer
from uno.deployment.adapters.platforms.local.driver import LocalDriver
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import new_config_id
from uno.deployment.ports.platforms import Release, VersionSet

pytestmark = [pytest.mark.integration]

OFFER = confinement.probe()
# a Python every user may run (the test's own may live under /root, which nobody may enter)
PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or sys.executable
ROOT = os.geteuid() == 0
MIB = 2**20

# Answers GET with what the replica may do: its uid, and whether it can write its workdir, / and /tmp.
# (Its workdir by a relative path: under /tmp, the private tmpfs hides it by its absolute one.)
REPORT_APP = """
import http.server, json, os
def writable(directory):
    path = os.path.join(directory, ".uno-probe-%d" % os.getpid())
    try:
        with open(path, "w") as handle:
            handle.write("x")
    except OSError as error:
        return error.strerror
    os.unlink(path)
    return True
class Handler(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    def do_GET(self):
        report = {"uid": os.getuid(), "workdir": writable("."), "root": writable("/"), "tmp": writable("/tmp")}
        body = json.dumps(report).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

# Touches 200 MiB (bytes of "x", not zero pages) before it would serve.
HOG_APP = """
import os, time
data = b"x" * (200 * 2**20)
print("allocated", len(data), flush=True)
time.sleep(3600)
"""


def release(command: list[str], **sections: Any) -> Release:
    settings = {
        "command": command,
        "port": processes.free_port(set()),
        "health_path": "/",
        "health_interval_seconds": 0.1,
    }
    settings.update(sections.pop("custom", {}))
    given = {"app_name": "shop", "app_version": "1.0.0", "environment": "dev", "custom_settings": settings, **sections}
    return Release("deployment-1", configuring.build(new_config_id(), given, T0).value)


@pytest.fixture
async def driver(tmp_path: Path) -> AsyncIterator[LocalDriver]:
    driver = LocalDriver(tmp_path / "local", {"PATH": os.environ.get("PATH", "")})
    try:
        yield driver
    finally:
        await driver.shutdown()


async def deploy(driver: LocalDriver, app: str, **sections: Any) -> tuple[VersionSet, int, int]:
    """The version set, its replica's pid and the replica's own port (the router routes nothing yet)."""
    created = await driver.create_version(release([PYTHON, "-c", app], **sections), 1)
    assert not isinstance(created, Failure), created
    state = json.loads((driver._state_dir / "processes" / "supervisor.json").read_text())
    [replica] = state["versions"][created.value.id]["replicas"]
    return created.value, int(replica["pid"]), int(replica["port"])


def proc_text(pid: int, name: str) -> str:
    return Path(f"/proc/{pid}/{name}").read_text()


def status_field(pid: int, name: str) -> list[str]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split()[1:]
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def cgroup_dir(pid: int, controller: str) -> Path:
    """The replica's cgroup directory for ``controller``, as ``/proc/<pid>/cgroup`` names it."""
    assert OFFER.memory is not None or OFFER.cpu is not None
    hierarchy = OFFER.memory if controller == "memory" else OFFER.cpu
    assert hierarchy is not None
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        ident, names, path = line.split(":", 2)
        if (hierarchy.version == 2 and ident == "0") or (hierarchy.version == 1 and controller in names.split(",")):
            return hierarchy.mount / path.lstrip("/")
    raise AssertionError(f"no {controller} cgroup for {pid}")


def address_space_limit(pid: int) -> int | None:
    """The replica's RLIMIT_AS (soft), None when unlimited."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max address space"):
            soft = line.split()[3]
            return None if soft == "unlimited" else int(soft)
    raise AssertionError("no address space limit line")


async def test_a_replica_runs_under_its_memory_limit_and_cpu_cap(driver: LocalDriver):
    resources = {"memory_max": "64Mi", "cpu_max": "250m"}
    _, pid, _ = await deploy(driver, REPORT_APP, resources=resources)

    if OFFER.memory is None:
        assert address_space_limit(pid) == 64 * MIB
    elif OFFER.memory.version == 1:
        assert int((cgroup_dir(pid, "memory") / "memory.limit_in_bytes").read_text()) == 64 * MIB
    else:
        assert int((cgroup_dir(pid, "memory") / "memory.max").read_text()) == 64 * MIB
    if OFFER.cpu is not None and OFFER.cpu.version == 1:
        directory = cgroup_dir(pid, "cpu")
        assert int((directory / "cpu.cfs_quota_us").read_text()) == 25_000
        assert int((directory / "cpu.cfs_period_us").read_text()) == 100_000
    elif OFFER.cpu is not None:
        assert (cgroup_dir(pid, "cpu") / "cpu.max").read_text().split() == ["25000", "100000"]


async def test_a_replica_over_its_memory_limit_is_killed_and_its_health_says_so(driver: LocalDriver):
    version, _, _ = await deploy(driver, HOG_APP, resources={"memory_max": "64Mi"})

    async def said() -> str:
        health = await driver.version_health(version)
        assert not isinstance(health, Failure), health
        return health.value.message

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while "exceeded its memory limit (64 MiB" not in (message := await said()):
        assert loop.time() < deadline, f"never reported over its memory limit: {message!r}"
        await asyncio.sleep(0.05)
    assert "replica 0 " in message
    logs = driver.replica_logs(version.id)[0].read_text()
    assert "exceeded its memory limit (64 MiB" in logs


async def test_without_resources_a_replica_is_not_limited(driver: LocalDriver):
    _, pid, _ = await deploy(driver, REPORT_APP)

    assert address_space_limit(pid) is None
    assert "uno-" not in proc_text(pid, "cgroup")


@pytest.mark.skipif(not ROOT, reason="only a root agent changes its replicas' user; others run them as themselves")
async def test_run_as_non_root_runs_the_replica_as_nobody(driver: LocalDriver):
    _, pid, port = await deploy(driver, REPORT_APP, security={"run_as_non_root": True})

    assert status_field(pid, "Uid") == ["65534"] * 4
    assert status_field(pid, "Gid") == [str(pwd.getpwnam("nobody").pw_gid)] * 4
    status, report = await answer(port, "/")
    assert status == 200
    assert report["uid"] == 65534


@pytest.mark.skipif(not OFFER.private_mounts, reason="no private mount namespace can be made on this machine")
async def test_read_only_root_filesystem_leaves_only_tmp_writable(driver: LocalDriver, tmp_path: Path):
    workdir = tmp_path / "app"
    workdir.mkdir()
    asked = {"security": {"read_only_root_filesystem": True}, "custom": {"workdir": str(workdir)}}
    _, pid, port = await deploy(driver, REPORT_APP, **asked)

    status, report = await answer(port, "/")
    assert status == 200
    assert report["workdir"] == "Read-only file system"
    assert report["root"] == "Read-only file system"
    assert report["tmp"] is True
    mounts = {line.split()[4]: line.split() for line in proc_text(pid, "mountinfo").splitlines()}
    assert "ro" in mounts["/"][5].split(",")
    assert "tmpfs" in mounts["/tmp"]
    assert alive(pid)
    assert list(workdir.iterdir()) == []  # and outside its namespace nothing was written either


async def test_removed_replicas_leave_no_cgroup_behind(driver: LocalDriver):
    if not OFFER.hierarchies:
        pytest.skip("no writable cgroup on this machine: replicas get an rlimit, no cgroup")
    version, pid, _ = await deploy(driver, REPORT_APP, resources={"memory_max": "64Mi", "cpu_min": "100m"})
    directories = [cgroup_dir(pid, hierarchy.controller) for hierarchy in OFFER.hierarchies]
    assert all(directory.is_dir() for directory in directories)

    assert not isinstance(await driver.destroy_version(version, drain_timeout=0), Failure)

    await eventually(lambda: not any(directory.exists() for directory in directories), what="cgroups removed")
    assert not any(directory.parent.exists() for directory in directories)  # the agent's own, now empty


async def test_a_replica_that_cannot_start_leaves_no_cgroup_behind(driver: LocalDriver):
    if not OFFER.hierarchies:
        pytest.skip("no writable cgroup on this machine: replicas get an rlimit, no cgroup")
    asked = {"resources": {"memory_max": "64Mi"}, "custom": {"workdir": "/nonexistent/uno-workdir"}}

    created = await driver.create_version(release([PYTHON, "-c", REPORT_APP], **asked), 1)

    assert isinstance(created, Failure)
    key = confinement.agent_key(driver._state_dir / "processes")
    made = [path for hierarchy in OFFER.hierarchies for path in (hierarchy.base / f"uno-{key}").glob("*")]
    assert not [path for path in made if path.is_dir()]  # a cgroup is a directory; the rest is the kernel's files


@pytest.mark.skipif(not ROOT, reason="only a root agent changes its replicas' user")
async def test_a_workdir_the_unprivileged_user_cannot_read_fails_the_version_set_at_once(
    driver: LocalDriver, tmp_path: Path
):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    asked = {"security": {"run_as_non_root": True}, "custom": {"workdir": str(private)}}

    created = await driver.create_version(release([PYTHON, "-c", REPORT_APP], **asked), 1)

    assert isinstance(created, Failure)
    assert f"user nobody (uid 65534) cannot read its working directory: '{private}'" in created.error.message
    assert (await driver.list_versions("shop", "dev")).value == []


async def test_without_a_writable_cgroup_memory_max_is_an_address_space_limit_and_reported(tmp_path: Path):
    """The fallback every Linux machine has: RLIMIT_AS, and a failed allocation is reported as over the limit."""
    no_cgroups = Offer(memory=None, cpu=None, root=ROOT, private_mounts=False)
    async with supervising(tmp_path / "processes", policy=FAST, offer=no_cgroups) as supervisor:
        sleeper = [PYTHON, "-c", "import time; time.sleep(3600)"]
        limited = Confinement(memory_max=64 * MIB)
        [replica] = await supervisor.start_version("calm", sleeper, replicas=1, env={}, confined=limited)
        assert replica.pid is not None
        assert address_space_limit(replica.pid) == 64 * MIB
        assert "uno-" not in proc_text(replica.pid, "cgroup")

        await supervisor.start_version("hog", [PYTHON, "-c", HOG_APP], replicas=1, env={}, confined=limited)

        def reported() -> str | None:
            [info] = supervisor.replicas("hog")
            return info.last_exit if info.last_exit and "memory" in info.last_exit else None

        said = await eventually(reported, what="the hog reported over its memory limit")
        assert said == "exited with status 1: it exceeded its memory limit (64 MiB, RLIMIT_AS): an allocation failed"


async def kill_agent(driver: LocalDriver) -> None:
    """Kill the agent and its keeper, as a crash would: the replicas run on, nobody's children."""
    pinged = (await wire.call(driver.socket_path, {"op": "ping"}, timeout=5)).value
    for pid in (pinged["keeper"]["pid"], pinged["pid"]):
        os.kill(pid, signal.SIGKILL)
        await eventually(lambda pid=pid: not alive(pid), what=f"{pid} gone")


async def test_an_agent_started_again_removes_the_cgroups_of_adopted_and_lost_replicas(driver: LocalDriver):
    if not OFFER.hierarchies:
        pytest.skip("no writable cgroup on this machine: replicas get an rlimit, no cgroup")
    version, pid, _ = await deploy(driver, REPORT_APP, resources={"memory_max": "64Mi"})
    directory = cgroup_dir(pid, "memory")
    lost = directory.parent / "shop-dev-0.9.0-gone.0"  # as an agent that died while removing it would leave it
    lost.mkdir()
    await kill_agent(driver)

    assert not isinstance(await driver.destroy_version(version, drain_timeout=0), Failure)  # a new agent adopts

    assert not alive(pid)
    assert not directory.exists()
    assert not lost.exists()
