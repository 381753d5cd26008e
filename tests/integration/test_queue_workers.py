"""Queue execution on the local PostgreSQL: API side in this process, 2 real worker processes.

Workers are ``tests/integration/queue_worker.py`` (``uno-deploy worker`` with the platform
steps as doubles). Every wait polls with a deadline; every worker is stopped at the end.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from uno.core.errors import ErrorCode
from uno.deployment import bootstrap
from uno.deployment.domain.enums import DeploymentStatus
from uno.deployment.settings import Settings

WORKER = Path(__file__).with_name("queue_worker.py")
TTL = 2.0


@pytest.fixture
def queue_settings(postgres_url: str) -> Settings:
    return Settings(database_url=postgres_url, execution="queue", lease_ttl_seconds=TTL, worker_poll_seconds=0.2)


@pytest.fixture
async def api(queue_settings: Settings) -> AsyncIterator[bootstrap.Container]:
    container = bootstrap.build(queue_settings)
    yield container
    await container.aclose()


class Workers:
    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.environment = {
            **os.environ,
            "UNO_DEPLOY_EXECUTION": "queue",
            "UNO_DEPLOY_DATABASE_URL": str(settings.database_url),
            "UNO_DEPLOY_LEASE_TTL_SECONDS": str(TTL),
            "UNO_DEPLOY_WORKER_POLL_SECONDS": "0.2",
            "UNO_DEPLOY_LOG_LEVEL": "WARNING",
            "SLOW_STEP_SECONDS": "4",
        }
        self.tmp_path = tmp_path
        self.running: dict[str, subprocess.Popen[str]] = {}
        self.stopped: list[subprocess.Popen[str]] = []
        self.logs: list[Any] = []

    def start(self, name: str, **environment: str) -> subprocess.Popen[str]:
        log = (self.tmp_path / f"{name}.log").open("a")
        self.logs.append(log)
        if name in self.running:
            self.stopped.append(self.running[name])
        process = subprocess.Popen(
            [sys.executable, str(WORKER), name],
            env={**self.environment, **environment},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        self.running[name] = process
        return process

    def start_cli(self, name: str, *arguments: str) -> None:
        """``uno-deploy worker --name NAME ARGUMENTS`` itself (it prints no "ready": poll what it serves)."""
        log = (self.tmp_path / f"{name}.log").open("a")
        self.logs.append(log)
        self.running[name] = subprocess.Popen(
            [sys.executable, "-m", "uno.deployment.entrypoints.cli", "worker", "--name", name, *arguments],
            env=self.environment,
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
        )

    def stop_all(self) -> None:
        everyone = [*self.running.values(), *self.stopped]
        for process in everyone:
            if process.poll() is None:
                process.terminate()
        for process in everyone:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        for log in self.logs:
            log.close()


@pytest.fixture
def workers(queue_settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    made = Workers(queue_settings, tmp_path)
    yield made
    made.stop_all()


async def until(check: Callable[[], Any], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, f"{what}: not before the deadline"
        await asyncio.sleep(0.1)


async def configs_for(api: bootstrap.Container, *apps: str) -> dict[str, str]:
    made = {}
    for app in apps:
        created = await api.config_service.create_config(app, "1.0.0", "staging", platform="custom")
        assert created.is_success(), created
        made[app] = created.value.id.value
    return made


async def all_ended(api: bootstrap.Container, ids: list[str]) -> bool:
    for identifier in ids:
        record = (await api.deployment_service.get_deployment(identifier)).value
        if not record.status.is_complete:
            return False
    return True


async def test_fifty_deploys_across_five_apps_run_once_each_one_at_a_time_per_app(
    api: bootstrap.Container, workers: Workers
):
    workers.start("w1")
    workers.start("w2")
    apps = await configs_for(api, *(f"app-{index}" for index in range(5)))
    ids = []
    for round_ in range(10):
        for app, config_id in apps.items():
            started = await api.deployment_service.start_deploy(config_id, f"{app} round {round_}")
            assert started.value.status is DeploymentStatus.QUEUED
            ids.append(started.value.id.value)

    await until(lambda: all_ended(api, ids), 180, "every deployment ended")

    intervals: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    ran_by = set()
    for identifier in ids:
        record = (await api.deployment_service.get_deployment(identifier)).value
        assert record.status is DeploymentStatus.SUCCEEDED, record.message
        pipeline = (await api.pipeline_service.get_pipeline(record.pipeline_id)).value
        events = (await api.pipeline_service.get_events(pipeline.id)).value
        starts = [event for event in events if event.subject == "pipeline" and event.new == "running"]
        assert len(starts) == 1, f"{identifier} ran {len(starts)} times"
        deploy = pipeline.task_named("deploy")
        intervals[record.app_name].append((pipeline.started_at, pipeline.finished_at))
        ran_by.add(deploy.outputs["worker"])
    for app, spans in intervals.items():
        spans.sort()
        for (_, finished), (started, _) in itertools.pairwise(spans):
            assert finished <= started, f"two deploys of {app} overlapped"
    assert ran_by == {"w1", "w2"}


async def test_reject_refuses_while_another_waits_and_replace_supersedes_the_waiting(postgres_url: str):
    settings = Settings(
        database_url=postgres_url, execution="queue", queue_policies={"staging": "reject", "production": "replace"}
    )
    api = bootstrap.build(settings)
    try:
        staging = (await api.config_service.create_config("shop", "1.0.0", "staging", platform="custom")).value
        first = (await api.deployment_service.start_deploy(staging.id)).value
        refused = await api.deployment_service.start_deploy(staging.id)
        assert refused.error.code is ErrorCode.CONFLICT
        assert first.id.value in refused.error.message

        production = (await api.config_service.create_config("shop", "1.0.0", "production", platform="custom")).value
        older = [(await api.deployment_service.start_deploy(production.id, strict=False)).value for _ in range(2)]
        newest = (await api.deployment_service.start_deploy(production.id, strict=False)).value

        for superseded, by in zip(older, [*older[1:], newest], strict=True):
            record = (await api.deployment_service.get_deployment(superseded.id)).value
            assert record.status is DeploymentStatus.CANCELED
            assert record.message == f"superseded by {by.id.value}"
        assert (await api.deployment_service.get_deployment(newest.id)).value.status is DeploymentStatus.QUEUED
        queued = (await api.deployment_service.cancel(newest.id, "alice")).value
        assert queued.status is DeploymentStatus.CANCELED
    finally:
        await api.aclose()


async def holder_of(api: bootstrap.Container, key: str) -> str | None:
    lease = await api.leases.current(key)
    return lease.holder.rsplit("#", 1)[1] if lease else None


async def test_a_killed_worker_s_deployment_is_resumed_by_another_every_time(
    api: bootstrap.Container, workers: Workers
):
    workers.start("w1")
    workers.start("w2")
    apps = await configs_for(api, "slow-shop")
    for attempt in range(2):
        started = (await api.deployment_service.start_deploy(apps["slow-shop"], f"attempt {attempt}")).value
        found: dict[str, str] = {}

        async def deploying(found: dict[str, str] = found, started: Any = started) -> bool:
            holder = await holder_of(api, "slow-shop/staging")
            pipeline = (await api.pipeline_service.get_pipeline(started.pipeline_id)).value
            if holder is None or pipeline.task_named("deploy").status.value != "running":
                return False
            found["holder"] = holder
            return True

        await until(deploying, 30, "a worker is in the middle of the deploy step")
        victim = workers.running[found["holder"]]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        survivor = "w2" if found["holder"] == "w1" else "w1"
        workers.start(found["holder"])  # a replacement, so that two workers serve the next attempt

        ids = [started.id.value]
        await until(lambda ids=ids: all_ended(api, ids), 60, "the deployment ended after the kill")

        record = (await api.deployment_service.get_deployment(started.id)).value
        assert record.status is DeploymentStatus.SUCCEEDED, record.message
        events = (await api.pipeline_service.get_events(record.pipeline_id)).value
        assert any(event.message == "interrupted; running it again" for event in events)
        deploy = (await api.pipeline_service.get_pipeline(record.pipeline_id)).value.task_named("deploy")
        assert deploy.outputs["worker"] in {survivor, found["holder"]}


async def test_sigterm_hands_a_long_deployment_back_and_another_worker_finishes_it(
    api: bootstrap.Container, workers: Workers
):
    first = workers.start("w1", UNO_DEPLOY_WORKER_GRACE_SECONDS="0.5")
    apps = await configs_for(api, "slow-shop")
    started = (await api.deployment_service.start_deploy(apps["slow-shop"])).value

    async def deploying() -> bool:
        pipeline = (await api.pipeline_service.get_pipeline(started.pipeline_id)).value
        return pipeline.task_named("deploy").status.value == "running"

    await until(deploying, 30, "w1 is in the middle of the deploy step")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=20) == 0
    middle = (await api.deployment_service.get_deployment(started.id)).value
    assert middle.status is DeploymentStatus.RUNNING  # handed back, not ended
    workers.start("w2")

    await until(lambda: all_ended(api, [started.id.value]), 60, "the handed-back deployment ended")
    record = (await api.deployment_service.get_deployment(started.id)).value
    assert record.status is DeploymentStatus.SUCCEEDED, record.message
    deploy = (await api.pipeline_service.get_pipeline(record.pipeline_id)).value.task_named("deploy")
    events_of = [
        (e.subject, e.old, e.new, e.message) for e in (await api.pipeline_service.get_events(record.pipeline_id)).value
    ]
    assert deploy.outputs.get("worker") == "w2", (deploy, events_of)


async def test_a_cancel_asked_of_an_api_server_stops_the_run_on_its_worker_and_says_who(
    api: bootstrap.Container, workers: Workers
):
    workers.start("w1")
    apps = await configs_for(api, "slow-shop")
    started = (await api.deployment_service.start_deploy(apps["slow-shop"])).value

    async def deploying() -> bool:
        pipeline = (await api.pipeline_service.get_pipeline(started.pipeline_id)).value
        return pipeline.task_named("deploy").status.value == "running"

    await until(deploying, 30, "w1 is in the middle of the deploy step")
    asked = await api.deployment_service.cancel(started.id, "alice")
    assert asked.value.status is DeploymentStatus.RUNNING  # asked; its worker stops it
    again = await api.deployment_service.cancel(started.id, "bob")
    assert again.error.code is ErrorCode.CONFLICT

    await until(lambda: all_ended(api, [started.id.value]), 30, "the canceled deployment ended")
    record = (await api.deployment_service.get_deployment(started.id)).value
    pipeline = (await api.pipeline_service.get_pipeline(started.pipeline_id)).value
    assert record.status is DeploymentStatus.CANCELED
    assert pipeline.canceled_by == "alice"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return None


async def test_uno_deploy_worker_counts_what_it_ran_at_its_metrics_port(
    api: bootstrap.Container, workers: Workers, tmp_path: Path
):
    port = free_port()
    workers.start_cli("m1", "--metrics-port", str(port))  # the real command: real platform steps
    await until(lambda: asyncio.to_thread(scrape, port), 30, "the worker's /metrics answers")
    apps = await configs_for(api, "metered")

    started = (await api.deployment_service.start_deploy(apps["metered"], "counted")).value
    await until(lambda: all_ended(api, [started.id.value]), 60, "the deployment ended")

    ended = (await api.deployment_service.get_deployment(started.id)).value
    text = await asyncio.to_thread(scrape, port)
    assert text is not None
    where = 'app="metered",environment="staging",kind="deploy",platform="custom"'
    assert f'uno_deployments_total{{{where},status="{ended.status.value}"}} 1.0' in text
    assert 'uno_deployments_active{app="metered",environment="staging",platform="custom"} 0.0' in text
    assert "uno_task_duration_seconds_count" in text
    assert "_created" not in text


def test_a_worker_whose_metrics_port_is_taken_says_so_in_one_line(queue_settings: Settings):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environment = {
            **os.environ,
            "UNO_DEPLOY_EXECUTION": "queue",
            "UNO_DEPLOY_DATABASE_URL": str(queue_settings.database_url),
        }
        done = subprocess.run(
            [sys.executable, "-m", "uno.deployment.entrypoints.cli", "worker", "--metrics-port", str(port)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[0].startswith(f"error: cannot serve metrics on 127.0.0.1:{port}: ")
