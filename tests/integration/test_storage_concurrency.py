"""Concurrency: many writers on one aggregate, each on its own connection, lose nothing.

Every writer has its own store (its own engine and connections), as separate processes
or API servers would; they run at once on one event loop, so their statements interleave
at the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from uno.core.errors import ErrorCode
from uno.deployment.adapters.clocks import SystemClock
from uno.deployment.adapters.repositories.sql import stores
from uno.deployment.domain import configuring
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.enums import TaskStatus
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId, new_config_id
from uno.deployment.domain.pipelines import Pipeline, Stage, Task, Transition

pytestmark = pytest.mark.integration

WRITERS = 20
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url"))


@pytest.fixture
async def connections(url: str) -> AsyncIterator[Callable[[], stores.SqlStore]]:
    """Opens stores on ``url``: the first migrates, the others only connect."""
    opened: list[stores.SqlStore] = []

    def open_one() -> stores.SqlStore:
        opened.append(stores.open_store(url, SystemClock(), migrate=not opened))
        return opened[-1]

    yield open_one
    for store in opened:
        await store.aclose()


async def a_stored_config(store: stores.SqlStore) -> DeploymentConfig:
    given = {"app_name": "shop", "app_version": "1.0.0", "environment": "dev"}
    config = configuring.build(new_config_id(), given, T0).value
    assert (await store.configs.add(config)).is_success()
    return config


async def test_of_twenty_writers_holding_one_version_exactly_one_wins(connections: Any):
    first = connections()
    config = await a_stored_config(first)
    writers = [first] + [connections() for _ in range(WRITERS - 1)]
    barrier = asyncio.Barrier(WRITERS)

    async def write(index: int, store: stores.SqlStore) -> Any:
        mine = await store.configs.get(config.id)
        await barrier.wait()  # everyone holds version 1 before anyone saves
        return await store.configs.save(mine.model_copy(update={"description": f"writer {index}"}))

    results = await asyncio.gather(*(write(index, store) for index, store in enumerate(writers)))

    winners = [result for result in results if result.is_success()]
    assert len(winners) == 1
    assert [result.error.code for result in results if result.is_failure()] == [ErrorCode.CONFLICT] * (WRITERS - 1)
    stored = await first.configs.get(config.id)
    assert stored.version == 2
    assert stored.description == winners[0].value.description


async def test_twenty_writers_that_retry_on_conflict_lose_no_update(connections: Any):
    first = connections()
    config = await a_stored_config(first)
    writers = [first] + [connections() for _ in range(WRITERS - 1)]
    conflicts = 0

    async def append_mark(index: int, store: stores.SqlStore) -> None:
        nonlocal conflicts
        while True:
            current = await store.configs.get(config.id)
            marked = current.model_copy(update={"description": f"{current.description} w{index}".strip()})
            saved = await store.configs.save(marked)
            if saved.is_success():
                return
            assert saved.error.code is ErrorCode.CONFLICT
            conflicts += 1

    await asyncio.wait_for(asyncio.gather(*(append_mark(i, store) for i, store in enumerate(writers))), timeout=120)

    stored = await first.configs.get(config.id)
    assert stored.version == 1 + WRITERS
    assert sorted(stored.description.split()) == sorted(f"w{index}" for index in range(WRITERS))
    assert conflicts > 0  # they really raced


def a_pipeline(tasks: int) -> Pipeline:
    stage = Stage(StageId.new(), "s", tasks=[Task(TaskId.new(), f"t{index}", "noop") for index in range(tasks)])
    return Pipeline(PipelineId.new(), "p", DeploymentId("cfg-x"), T0, stages=[stage])


def runs_of(pipeline: Pipeline, tasks: list[Task]) -> list[list[Transition]]:
    """Each task started and then finished, one record call each (as the engine writes them)."""
    batches = []
    for number, task in enumerate(tasks):
        at = T0 + timedelta(seconds=number)
        batches.append([Transition.of(task.move(pipeline.id, TaskStatus.RUNNING, at), task)])
        batches.append([Transition.of(task.move(pipeline.id, TaskStatus.SUCCEEDED, at, f"{task.name} ok"), task)])
    return batches


async def test_two_connections_recording_one_pipeline_lose_no_event(connections: Any):
    left, right = connections(), connections()
    pipeline = a_pipeline(60)
    assert (await left.pipelines.add(pipeline)).is_success()
    tasks = pipeline.stages[0].tasks
    halves = {left: runs_of(pipeline, tasks[0::2]), right: runs_of(pipeline, tasks[1::2])}

    async def record_all(store: stores.SqlStore, batches: list[list[Transition]]) -> None:
        for batch in batches:
            assert (await store.pipelines.record(pipeline.id, batch)).is_success()

    await asyncio.gather(*(record_all(store, batches) for store, batches in halves.items()))

    events = await right.pipelines.events(pipeline.id)
    assert len(events) == 2 * len(tasks)
    for batches in halves.values():  # each writer's events are all there, in its order
        mine = [batch[0].event for batch in batches]
        assert [event for event in events if event in mine] == mine
    stored = await left.pipelines.get(pipeline.id)
    assert all(task.status is TaskStatus.SUCCEEDED and task.attempts == 1 for _, task in stored.tasks())
    assert stored.to_document() == pipeline.to_document()
    assert await left.pipelines.events(pipeline.id, after=len(events) - 3) == events[-3:]


async def test_of_twenty_processes_asking_for_one_lease_exactly_one_gets_it(connections: Any):
    contenders = [connections() for _ in range(WRITERS)]

    granted = await asyncio.gather(
        *(store.leases.acquire("shop/dev", f"dep-{index}", ttl=30) for index, store in enumerate(contenders))
    )

    holders = [lease for lease in granted if lease is not None]
    assert len(holders) == 1
    assert await contenders[0].leases.current("shop/dev") == holders[0]
    await contenders[-1].leases.release(holders[0])
    again = await contenders[3].leases.acquire("shop/dev", "dep-3", ttl=30)
    assert again.token > holders[0].token  # the token never goes back, even after a release
