"""Fenced writes: a writer that lost its lease writes nothing (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.contract.test_repositories import a_config, a_pipeline, a_record
from uno.core.errors import ErrorCode
from uno.deployment.adapters.clocks import FakeClock
from uno.deployment.adapters.leases import MemoryLeaseRepository
from uno.deployment.adapters.repositories import memory
from uno.deployment.adapters.repositories.sql import stores
from uno.deployment.domain.enums import DeploymentStatus, PipelineStatus
from uno.deployment.domain.pipelines import Transition


async def _nothing() -> None:
    return None


@dataclass
class Fenced:
    leases: Any
    pipelines: Any
    deployments: Any
    clock: FakeClock
    close: Callable[[], Awaitable[None]] = _nothing


def _memory(request: pytest.FixtureRequest, clock: FakeClock) -> Fenced:
    leases = MemoryLeaseRepository(clock)
    return Fenced(
        leases,
        memory.MemoryPipelineRepository(leases.holds),
        memory.MemoryDeploymentResultRepository(leases.holds),
        clock,
    )


def _sql(url_fixture: str) -> Callable[[pytest.FixtureRequest, FakeClock], Fenced]:
    def build(request: pytest.FixtureRequest, clock: FakeClock) -> Fenced:
        store = stores.open_store(request.getfixturevalue(url_fixture), clock)
        return Fenced(store.leases, store.pipelines, store.deployments, clock, store.aclose)

    return build


BACKENDS = {"memory": _memory, "sqlite": _sql("sqlite_url"), "postgresql": _sql("postgres_url")}


@pytest.fixture(params=sorted(BACKENDS))
async def fenced(request: pytest.FixtureRequest) -> AsyncIterator[Fenced]:
    made = BACKENDS[request.param](request, FakeClock())
    yield made
    await made.close()


async def test_a_writer_whose_lease_was_taken_writes_nothing(fenced: Fenced):
    config = a_config()
    record = a_record(config)
    pipeline = a_pipeline(record.id)
    await fenced.deployments.add(record)
    await fenced.pipelines.add(pipeline)
    old = await fenced.leases.acquire("shop/dev", "worker-1", ttl=30)
    start = pipeline.move(PipelineStatus.RUNNING, fenced.clock.now())

    assert (await fenced.pipelines.record(pipeline.id, [Transition.of(start, pipeline)], old)).is_success()
    fenced.clock.advance(31)  # worker-1 stalls past its TTL; worker-2 takes over
    new = await fenced.leases.acquire("shop/dev", "worker-2", ttl=30)
    assert new.token > old.token

    task = next(task for _, task in pipeline.tasks())
    late = task.move(pipeline.id, task.status.RUNNING, fenced.clock.now())
    refused = await fenced.pipelines.record(pipeline.id, [Transition.of(late, task)], old)
    record.move(DeploymentStatus.RUNNING, fenced.clock.now())
    refused_save = await fenced.deployments.save(record, old)

    for failure in (refused, refused_save):
        assert failure.error.code is ErrorCode.CONFLICT
        assert failure.error.context["fenced"] is True
    assert len(await fenced.pipelines.events(pipeline.id)) == 1
    assert (await fenced.deployments.get(record.id)).status is DeploymentStatus.PENDING
    assert (await fenced.deployments.save(record, new)).is_success()
    assert (await fenced.pipelines.record(pipeline.id, [Transition.of(late, task)], new)).is_success()


async def test_an_expired_lease_nobody_took_still_renews_and_writes(fenced: Fenced):
    config = a_config()
    record = a_record(config)
    await fenced.deployments.add(record)
    lease = await fenced.leases.acquire("shop/dev", "worker-1", ttl=30)
    fenced.clock.advance(45)

    renewed = await fenced.leases.renew(lease, ttl=30)
    record.move(DeploymentStatus.RUNNING, fenced.clock.now())

    assert renewed is not None
    assert renewed.token == lease.token
    assert (await fenced.deployments.save(record, lease)).is_success()


async def test_a_released_lease_fences_its_old_holder(fenced: Fenced):
    config = a_config()
    record = a_record(config)
    await fenced.deployments.add(record)
    lease = await fenced.leases.acquire("shop/dev", "worker-1", ttl=30)
    await fenced.leases.release(lease)

    record.move(DeploymentStatus.RUNNING, fenced.clock.now())

    assert (await fenced.deployments.save(record, lease)).error.context["fenced"] is True
    assert await fenced.leases.renew(lease, ttl=30) is None
