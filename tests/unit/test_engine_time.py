"""Deadlines and backoff on a fake clock: time moves only when the test says so."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import ScriptedAction, eventually
from uno.deployment import bootstrap
from uno.deployment.adapters.clocks import FakeClock
from uno.deployment.domain.enums import PipelineStatus, TaskStatus


@pytest.fixture
def clocked(environ, actions, fake_clock: FakeClock, memory_settings) -> bootstrap.Container:
    return bootstrap.build(memory_settings, environ=environ, actions=actions, clock=fake_clock)


async def one_task_pipeline(container: bootstrap.Container, **task) -> object:
    config = await container.config_service.create_config(app_name="shop", app_version="1.0.0", environment="dev")
    service = container.pipeline_service
    pipeline = (await service.create_pipeline("p", deployment_id=config.value.id)).value
    stage = (await service.add_stage(pipeline.id, "only")).value
    assert (await service.add_task(pipeline.id, stage.id, "t", action="scripted", **task)).is_success()
    return pipeline.id


async def test_a_hung_task_fails_when_its_deadline_passes_on_the_clock(clocked, fake_clock, scripted):
    pipeline_id = await one_task_pipeline(clocked, params={"outcome": "hang"}, timeout=600)
    running = asyncio.create_task(clocked.pipeline_service.execute_pipeline(pipeline_id))
    await eventually(lambda: "t" in scripted.running)

    fake_clock.advance(599)
    await asyncio.sleep(0)
    assert not running.done()
    fake_clock.advance(1)
    pipeline = (await running).value

    task = pipeline.task_named("t")
    assert (task.status, task.message) == (TaskStatus.FAILED, "timed out after 600s")
    assert task.duration == 600.0


async def test_retries_back_off_exponentially_on_the_clock(clocked, fake_clock, scripted: ScriptedAction):
    pipeline_id = await one_task_pipeline(clocked, params={"fail_times": 3}, retries=3)
    running = asyncio.create_task(clocked.pipeline_service.execute_pipeline(pipeline_id))

    waits = []
    for expected_attempts in (1, 2, 3):
        await eventually(lambda n=expected_attempts: scripted.started.count("t") == n and fake_clock.sleepers >= 1)
        before = fake_clock.monotonic()
        while scripted.started.count("t") == expected_attempts:
            fake_clock.advance(0.5)
            await asyncio.sleep(0.001)
        waits.append(fake_clock.monotonic() - before)
    pipeline = (await running).value

    assert waits == [1.0, 2.0, 4.0]
    assert pipeline.status is PipelineStatus.SUCCEEDED
    assert pipeline.task_named("t").attempts == 4


async def test_the_fake_clock_timeout_leaves_other_cancellations_alone(fake_clock: FakeClock):
    async def guarded() -> None:
        async with fake_clock.timeout(10):
            await asyncio.Event().wait()

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0)
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    fake_clock.advance(60)  # the alarm was removed: nothing fires
