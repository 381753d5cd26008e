"""The local platform for real: the example app deployed with each strategy under load.

A local agent runs the replicas and the router in the background; every test stops it.
Requests go to 127.0.0.1 only, from a bounded load generator.
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

import pytest

from tests.loadgen import Load, run_load
from uno.deployment import DeploymentStatus, Settings, bootstrap
from uno.deployment.adapters.platforms.local import wire
from uno.deployment.adapters.platforms.local.driver import LocalDriver
from uno.deployment.adapters.platforms.registry import DriverRegistry

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[2] / "examples" / "hello" / "app.py"
QUICK = {"health_deadline_seconds": 30, "drain_seconds": 2, "health_interval_seconds": 0.2}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def local(tmp_path: Path, environ) -> AsyncIterator[tuple[bootstrap.Container, LocalDriver, int]]:
    driver = LocalDriver(tmp_path / "local", environ)
    registry = DriverRegistry()
    registry.register("local", driver)
    settings = Settings(database_url="memory://", log_level="WARNING")
    container = bootstrap.build(settings, environ=environ, platforms=registry)
    try:
        yield container, driver, free_port()
    finally:
        await driver.shutdown()
        await container.aclose()


async def deploy(container: bootstrap.Container, port: int, version: str, strategy: str, **extra):
    service = container.config_service
    settings = {"command": [sys.executable, str(APP)], "port": port, **QUICK, **extra}  # probed at /health
    found = (await service.list_configs(app_name="hello")).value
    if found:
        config = (
            await service.update_config(found[0].id, app_version=version, strategy=strategy, custom_settings=settings)
        ).value
    else:
        config = (
            await service.create_config(
                app_name="hello",
                app_version=version,
                environment="staging",
                strategy=strategy,
                resource_requirements={"replicas_min": 2, "replicas_max": 4},
                # not about the scan (pip-audit may not be installed) nor the user and filesystem staging turns on
                # (this Python and the test's directories are root's only)
                security_config={"scan_images": False, "run_as_non_root": False, "read_only_root_filesystem": False},
                custom_settings=settings,
            )
        ).value
    return (await container.deployment_service.deploy(config.id)).value


async def under_load(port: int, work) -> tuple[object, Load]:
    stop = asyncio.Event()
    load = asyncio.create_task(run_load(port, stop))
    try:
        result = await work
    finally:
        stop.set()
    return result, await load


@pytest.mark.parametrize("strategy", ["blue-green", "rolling", "canary"])
async def test_a_new_version_goes_live_with_no_failed_request(local, strategy):
    container, _, port = local
    first = await deploy(container, port, "1.0.0", strategy)
    assert first.status is DeploymentStatus.SUCCEEDED, first.message

    canary = {"analysis_seconds": 0.5, "min_requests": 10, "p99_slack_ms": 10_000}  # latency: not judged here
    second, load = await under_load(port, deploy(container, port, "2.0.0", strategy, canary=canary))

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert load.failures == []
    assert load.counts["1.0.0"] > 0
    assert load.counts["2.0.0"] > 0
    assert load.versions[-1] == "2.0.0"
    if strategy == "canary":
        pipeline = (await container.pipeline_service.get_pipeline(second.pipeline_id)).value
        for judged in pipeline.task_named("deploy").outputs["analyses"]:
            total = judged["canary_requests"] + judged["stable_requests"]
            assert total >= 50, judged
            assert abs(judged["canary_requests"] / total - judged["step"] / 100) < 0.1, judged  # weights honoured


async def test_rollback_switches_back_to_the_warm_version(local):
    container, _, port = local
    await deploy(container, port, "1.0.0", "blue-green")
    second = await deploy(container, port, "2.0.0", "blue-green")

    rollback, load = await under_load(port, container.deployment_service.rollback(second.id))

    assert rollback.value.success is True, rollback.value.message
    assert load.failures == []
    assert load.versions[-1] == "1.0.0"


async def test_a_canary_that_answers_errors_is_aborted_and_v1_serves_throughout(local):
    container, _, port = local
    await deploy(container, port, "1.0.0", "canary")
    canary = {"analysis_seconds": 1.0, "min_requests": 5, "p99_slack_ms": 10_000}

    second, load = await under_load(port, deploy_failing(container, port, "2.0.0", canary=canary))

    assert second.status is DeploymentStatus.FAILED
    assert "canary analysis failed at 10%: error rate" in second.message
    assert set(load.versions) == {"1.0.0"}  # every good answer came from v1
    assert load.failures  # the canary's 500s were seen, at its 10% share at most
    assert len(load.failures) < len(load.versions) * 0.2
    _, settled = await under_load(port, asyncio.sleep(0.5))
    assert settled.failures == []
    assert set(settled.versions) == {"1.0.0"}


async def test_a_paused_canary_serves_both_versions_until_promoted(local):
    container, _, port = local
    await deploy(container, port, "1.0.0", "canary")
    canary = {"steps": [25, 100], "analysis_seconds": 0.2, "pause_after": [25], "pause_timeout_seconds": 120}
    running = asyncio.create_task(deploy(container, port, "2.0.0", "canary", canary=canary))
    service = container.deployment_service

    async with asyncio.timeout(60):
        while True:
            found = (await service.list_deployments(app_name="hello", status="running")).value
            status = (await service.get_status(found[0].id)).value if found else None
            if status and (status.current_task_message or "").startswith("paused at 25% until promoted"):
                break
            await asyncio.sleep(0.05)
        _, paused = await under_load(port, asyncio.sleep(0.5))
        promoted = await service.promote(status.deployment_id, by="alice")
        second = await running

    assert set(paused.versions) == {"1.0.0", "2.0.0"}  # a quarter of the traffic to the paused canary
    assert promoted.is_success(), promoted
    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    _, after = await under_load(port, asyncio.sleep(0.3))
    assert set(after.versions) == {"2.0.0"}


async def test_a_version_whose_health_check_fails_never_gets_traffic(local):
    container, _, port = local
    await deploy(container, port, "1.0.0", "blue-green")

    second, load = await under_load(
        port, deploy_failing(container, port, "2.0.0", unhealthy=True, health_deadline_seconds=3)
    )

    assert second.status is DeploymentStatus.FAILED
    assert "not healthy after 3s" in second.message
    assert load.failures == []
    assert set(load.versions) == {"1.0.0"}


async def deploy_failing(container, port, version, *, unhealthy=False, **extra):
    """Deploy ``version`` with the example app told to fail (its answers, or its health check)."""
    service = container.config_service
    [config] = (await service.list_configs(app_name="hello")).value
    variable = "HELLO_UNHEALTHY" if unhealthy else "HELLO_FAIL"
    settings = {"command": [sys.executable, str(APP)], "port": port, **QUICK, **extra}  # probed at /health
    updated = (
        await service.update_config(
            config.id, app_version=version, environment_variables={variable: "1"}, custom_settings=settings
        )
    ).value
    return (await container.deployment_service.deploy(updated.id)).value


async def test_a_killed_agent_is_replaced_and_tells_the_truth(local):
    container, driver, port = local
    first = await deploy(container, port, "1.0.0", "blue-green")
    before = (await driver.list_versions("hello", "staging")).value
    agent = (await wire.call(driver.socket_path, {"op": "ping"}, timeout=5)).value["pid"]

    os.kill(agent, signal.SIGKILL)  # replicas run on in their own sessions; the keeper holds the port
    after = (await driver.list_versions("hello", "staging")).value  # the keeper's next agent adopts them

    assert [(v.id, v.weight, v.replicas) for v in after] == [(v.id, v.weight, v.replicas) for v in before]
    assert (await wire.call(driver.socket_path, {"op": "ping"}, timeout=5)).value["pid"] != agent
    _, load = await under_load(port, asyncio.sleep(0.5))
    assert load.failures == []
    assert set(load.versions) == {"1.0.0"}
    assert first.success


async def test_recreate_reports_its_downtime(local):
    container, _, port = local
    await deploy(container, port, "1.0.0", "recreate")

    second = await deploy(container, port, "2.0.0", "recreate")

    pipeline = (await container.pipeline_service.get_pipeline(second.pipeline_id)).value
    assert second.success, second.message
    assert pipeline.task_named("deploy").outputs["downtime_seconds"] > 0


async def test_uno_deploy_down_stops_everything(local, tmp_path):
    container, _, port = local
    await deploy(container, port, "1.0.0", "blue-green")
    replicas = _replica_pids(tmp_path / "local")
    assert replicas

    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "uno-deploy"),
        "down",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "UNO_DEPLOY_LOCAL_DIR": str(tmp_path / "local")},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)

    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().startswith("the local platform is stopped")
    assert await asyncio.to_thread(_all_gone, tmp_path / "local", replicas)


def _replica_pids(local_dir: Path) -> list[int]:
    state = json.loads((local_dir / "processes" / "supervisor.json").read_text())
    return [
        replica["pid"]
        for version in state["versions"].values()
        for replica in version["replicas"]
        if replica.get("pid")
    ]


def _all_gone(local_dir: Path, pids: list[int]) -> bool:
    """No agent socket and no replica left (a zombie waiting for its reaper counts as gone)."""
    return not (local_dir / "agent.sock").exists() and all(_gone(pid) for pid in pids)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def test_health_thresholds_are_honoured(local):
    container, _, port = local

    first = await deploy(container, port, "1.0.0", "blue-green", healthy_threshold=100, health_deadline_seconds=2)

    assert first.status is DeploymentStatus.FAILED
    assert "not healthy after 2s" in first.message


async def test_a_program_that_cannot_start_frees_the_port(local):
    container, _, port = local
    broken = await deploy(container, port, "1.0.0", "blue-green", command=["/nonexistent/program"])

    working = await deploy(container, port, "1.0.1", "blue-green")

    assert broken.status is DeploymentStatus.FAILED
    assert working.status is DeploymentStatus.SUCCEEDED, working.message


async def test_replicas_get_their_configuration_not_the_deployers_environment(local, tmp_path, monkeypatch):
    container, driver, port = local
    monkeypatch.setenv("DEPLOYER_ONLY_SECRET", "should-not-leak")
    await driver.shutdown()  # a fresh agent is started by this test's deployer

    await deploy(container, port, "1.0.0", "blue-green")

    environments = await asyncio.to_thread(_environments, _replica_pids(tmp_path / "local"))
    assert environments
    assert all(b"DEPLOYER_ONLY_SECRET=should-not-leak" not in environment for environment in environments)
    assert all(b"APP_VERSION=1.0.0" in environment for environment in environments)


async def test_down_after_the_agent_was_killed_still_stops_the_replicas(local, tmp_path):
    container, driver, port = local
    await deploy(container, port, "1.0.0", "blue-green")
    replicas = _replica_pids(tmp_path / "local")
    agent = (await wire.call(driver.socket_path, {"op": "ping"}, timeout=5)).value["pid"]
    os.kill(agent, signal.SIGKILL)

    stopped = await driver.shutdown()

    assert stopped.is_success()
    assert await asyncio.to_thread(_all_gone, tmp_path / "local", replicas)


def _environments(pids: list[int]) -> list[list[bytes]]:
    return [Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") for pid in pids]


async def test_the_previous_release_goes_when_its_rollback_window_ends(local):
    container, driver, port = local
    await deploy(container, port, "1.0.0", "blue-green")

    await deploy(container, port, "2.0.0", "blue-green", blue_green={"rollback_window_seconds": 1})

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while [v.version for v in (await driver.list_versions("hello", "staging")).value] != ["2.0.0"]:
        assert loop.time() < deadline, "1.0.0 was not removed after its rollback window"
        await asyncio.sleep(0.1)
    _, load = await under_load(port, asyncio.sleep(0.3))
    assert load.failures == []
    assert set(load.versions) == {"2.0.0"}
