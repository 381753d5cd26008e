"""A rollout handed back half-way (its worker stopped) is carried on by the next run, not failed.

Queue execution on the local PostgreSQL, in this process: ``execute`` is what a worker
calls, ``hand_back_all`` what a stopping worker does past its grace. The fake platform
holds the rollout just after a chosen primitive (the world has changed: a version set
created, traffic moved), the run is handed back there, and a second ``execute`` (the next
worker) carries it on. Before deploy steps were idempotent, that second run failed the
step ("not idempotent, so not run again") and rolled back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from uno.deployment import bootstrap
from uno.deployment.adapters.platforms.fake import FakeDriver
from uno.deployment.adapters.platforms.registry import DriverRegistry
from uno.deployment.domain.enums import DeploymentStatus
from uno.deployment.ports.platforms import TrafficStats
from uno.deployment.settings import Settings

pytestmark = pytest.mark.integration

QUICK = {"health_deadline_seconds": 5, "drain_seconds": 0, "canary": {"analysis_seconds": 0.01, "min_requests": 10}}


class Holding:
    """A platform driver, holding the rollout right after the ``nth`` call of ``primitive`` (mixed in first)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, Any]] = getattr(self, "calls", [])
        self.hold: tuple[str, int] | None = None
        self.counts: dict[str, int] = {}
        self.held = asyncio.Event()
        self.go_on = asyncio.Event()
        self.handed_back_at = 0  # how many calls were made before the hand-back

    async def _after(self, primitive: str) -> None:
        if self.hold is None or self.hold[0] != primitive:
            return
        self.counts[primitive] = self.counts.get(primitive, 0) + 1
        if self.counts[primitive] == self.hold[1]:
            self.held.set()
            await self.go_on.wait()  # until the run is handed back (cancelled), or the test lets it go on

    async def create_version(self, *args: Any, **kwargs: Any) -> Any:
        made = await super().create_version(*args, **kwargs)  # type: ignore[misc]
        await self._after("create_version")
        return made

    async def scale_version(self, *args: Any, **kwargs: Any) -> Any:
        scaled = await super().scale_version(*args, **kwargs)  # type: ignore[misc]
        await self._after("scale_version")
        return scaled

    async def set_traffic(self, *args: Any, **kwargs: Any) -> Any:
        routed = await super().set_traffic(*args, **kwargs)  # type: ignore[misc]
        await self._after("set_traffic")
        return routed

    async def destroy_version(self, *args: Any, **kwargs: Any) -> Any:
        removed = await super().destroy_version(*args, **kwargs)  # type: ignore[misc]
        await self._after("destroy_version")
        return removed


class HeldDriver(Holding, FakeDriver):
    """The fake platform, held where a test says."""


@pytest.fixture
def platform() -> HeldDriver:
    return HeldDriver()


@pytest.fixture
async def worker(postgres_url: str, environ, platform: HeldDriver) -> AsyncIterator[bootstrap.Container]:
    settings = Settings(database_url=postgres_url, execution="queue", lease_ttl_seconds=2, worker_poll_seconds=0.2)
    registry = DriverRegistry()
    registry.register("local", platform)
    container = bootstrap.build(settings, environ=environ, platforms=registry)
    yield container
    await container.aclose()


async def queued(
    worker: bootstrap.Container,
    version: str,
    strategy: str,
    replicas: int,
    platform_kind: str = "local",
    custom: dict[str, Any] | None = None,
) -> str:
    """Queue ``version`` of shop in staging with ``strategy`` (a worker runs it); the deployment's id."""
    configs = worker.config_service
    custom = {**QUICK, "max_surge": 1, "max_unavailable": 0} if custom is None else custom
    found = (await configs.list_configs(app_name="shop")).value
    if found:
        config = (
            await configs.update_config(found[0].id, app_version=version, strategy=strategy, custom_settings=custom)
        ).value
    else:
        config = (
            await configs.create_config(
                app_name="shop",
                app_version=version,
                environment="staging",
                platform=platform_kind,
                strategy=strategy,
                resource_requirements={"replicas_min": replicas, "replicas_max": max(replicas, 4)},
                security_config={"scan_images": False},  # not about the scan
                custom_settings=custom,
            )
        ).value
    started = (await worker.deployment_service.start_deploy(config.id)).value
    assert started.status is DeploymentStatus.QUEUED
    return started.id.value


async def handed_back_then_carried_on(
    worker: bootstrap.Container,
    platform: Holding,
    strategy: str,
    hold: tuple[str, int],
    replicas: int = 2,
    **config: Any,
) -> Any:
    """Deploy 1.0.0, then 2.0.0 held after ``hold`` and handed back there, then carried on; the record."""
    service = worker.deployment_service
    first = await service.execute(await queued(worker, "1.0.0", strategy, replicas, **config))
    assert first.value.status is DeploymentStatus.SUCCEEDED, first.value.message
    second = await queued(worker, "2.0.0", strategy, replicas, **config)
    platform.hold, platform.calls[:] = hold, []

    running = asyncio.create_task(service.execute(second))
    await asyncio.wait_for(platform.held.wait(), 30)
    assert (await service.get_deployment(second)).value.message.startswith("running on worker ")  # not "queued"
    assert await service.hand_back_all()
    platform.handed_back_at = len(platform.calls)
    with pytest.raises(asyncio.CancelledError):
        await running
    assert (await service.get_deployment(second)).value.status is DeploymentStatus.RUNNING
    platform.held.clear()
    platform.hold, platform.counts = ("set_traffic", 1), {}  # held once more, to read the record meanwhile
    carried_on = asyncio.create_task(service.execute(second))  # the next worker
    await asyncio.wait_for(platform.held.wait(), 30)
    assert (await service.get_deployment(second)).value.message.startswith("carried on by worker ")
    platform.go_on.set()
    carried = await asyncio.wait_for(carried_on, 60)

    record = carried.value
    assert record.status is DeploymentStatus.SUCCEEDED, record.message
    return record


async def deploy_outputs(worker: bootstrap.Container, record: Any) -> dict[str, Any]:
    pipeline = (await worker.pipeline_service.get_pipeline(record.pipeline_id)).value
    return dict(pipeline.task_named("deploy").outputs)


def created(platform: HeldDriver) -> list[Any]:
    return [args for call, args in platform.calls if call == "create_version"]


async def test_blue_green_handed_back_after_the_switch_keeps_blue_warm_and_creates_nothing_more(worker, platform):
    record = await handed_back_then_carried_on(worker, platform, "blue-green", ("set_traffic", 1))

    assert platform.serving() == {"2.0.0": 100}
    assert sorted(version.version for version in platform.versions.values()) == ["1.0.0", "2.0.0"]
    assert created(platform) == [("2.0.0", 2)]  # green adopted, not created twice
    blue = next(version.id for version in platform.versions.values() if version.version == "1.0.0")
    assert blue in platform.retiring  # kept warm for the rollback window, though it served 0% when resumed
    outputs = await deploy_outputs(worker, record)
    assert outputs["previous"] == [blue]
    assert any(step.startswith("attempt 2 carries on") for step in outputs["steps"])
    assert any(step.startswith("adopted ") for step in outputs["steps"])
    assert outputs["steps"][0].startswith("created ")  # the first attempt's steps come first


async def test_a_canary_handed_back_at_a_step_carries_on_from_that_step_with_the_same_canary(worker, platform):
    platform.traffic = {"1.0.0": TrafficStats(100, 0), "2.0.0": TrafficStats(100, 0)}

    record = await handed_back_then_carried_on(worker, platform, "canary", ("set_traffic", 2), replicas=4)

    assert platform.serving() == {"2.0.0": 100}
    assert created(platform) == [("2.0.0", 1)]  # the one made for 10%, adopted: not created again
    canary = next(v.id for v in platform.versions.values() if v.version == "2.0.0")
    shares = [weights.get(canary) for call, weights in platform.calls if call == "set_traffic"]
    assert shares[:2] == [10, 25]  # the interrupted attempt
    assert shares[2:] == [25, 50, 100]  # carried on at 25%, never back to 10%
    assert (
        "carrying on at 25%, the step the interrupted attempt was at" in (await deploy_outputs(worker, record))["steps"]
    )
    assert sorted(version.version for version in platform.versions.values()) == ["1.0.0", "2.0.0"]
    assert next(v for v in platform.versions.values() if v.version == "2.0.0").replicas == 4


async def test_rolling_handed_back_half_way_finishes_from_the_sizes_it_finds(worker, platform):
    await handed_back_then_carried_on(worker, platform, "rolling", ("scale_version", 2), replicas=4)

    assert platform.serving() == {"2.0.0": 100}
    assert created(platform) == [("2.0.0", 1)]
    assert [(version.version, version.replicas) for version in platform.versions.values()] == [("2.0.0", 4)]


async def test_recreate_handed_back_after_it_stopped_the_old_version_starts_the_new_one_once(worker, platform):
    record = await handed_back_then_carried_on(worker, platform, "recreate", ("destroy_version", 1))

    assert platform.serving() == {"2.0.0": 100}
    assert created(platform) == [("2.0.0", 2)]
    assert (await deploy_outputs(worker, record))["downtime_seconds"] >= 0
