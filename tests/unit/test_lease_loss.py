"""A run that loses its lease stops writing; an operator can end a lease by hand, on the record."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import PlatformStep, ScriptedAction, eventually
from tests.unit.test_deployment_service import _Blocking
from uno.core.errors import ErrorCode
from uno.deployment import DeploymentStatus, bootstrap
from uno.deployment.adapters.clocks import FakeClock
from uno.deployment.domain.enums import PipelineStatus


@pytest.fixture
def container(environ, actions, scripted: ScriptedAction, memory_settings, fake_clock: FakeClock):
    actions.register(_Blocking(scripted))
    calls: list[tuple[str, str]] = []
    for kind in ("verify", "health_check"):
        actions.register(PlatformStep(kind, calls, set()))
    return bootstrap.build(memory_settings, environ=environ, actions=actions, clock=fake_clock)


async def test_a_run_whose_lease_was_taken_is_handed_back_and_writes_nothing(container, scripted, fake_clock):
    config = (await container.config_service.create_config("shop", "1.0.0", "dev")).value
    running = asyncio.create_task(container.deployment_service.deploy(config.id))
    await eventually(lambda: "deploy" in scripted.running)
    [record] = (await container.deployment_service.list_deployments()).value
    before = len((await container.pipeline_service.get_events(record.pipeline_id)).value)

    fake_clock.advance(container.settings.lease_ttl_seconds + 1)  # this process stalled past the TTL...
    thief = await container.leases.acquire("shop/dev", "another-worker", container.settings.lease_ttl_seconds)
    assert thief is not None  # ...and another holder took the lease
    fake_clock.advance(container.settings.lease_ttl_seconds / 3)  # the heartbeat finds it lost
    await asyncio.wait_for(running, 5)

    stored = (await container.deployment_service.get_deployment(record.id)).value
    pipeline = (await container.pipeline_service.get_pipeline(record.pipeline_id)).value
    assert stored.status is DeploymentStatus.RUNNING  # left for the new holder, not ended here
    assert pipeline.status is PipelineStatus.RUNNING
    assert len((await container.pipeline_service.get_events(record.pipeline_id)).value) == before
    assert (await container.leases.current("shop/dev")).holder == "another-worker"


async def test_an_operator_ends_a_lease_on_the_record_and_its_old_holder_is_fenced(container, scripted):
    config = (await container.config_service.create_config("shop", "1.0.0", "dev")).value
    running = asyncio.create_task(container.deployment_service.deploy(config.id))
    await eventually(lambda: "deploy" in scripted.running)
    [record] = (await container.deployment_service.list_deployments()).value

    released = await container.deployment_service.release_lease("shop", "dev", by="alice", reason="host lost")
    scripted.release("deploy")  # the old holder wakes up and tries to go on
    await asyncio.wait_for(running, 5)

    assert released.value.holder == record.id.value
    stored = (await container.deployment_service.get_deployment(record.id)).value
    assert stored.details["lease_releases"][0] | {"at": None} == {
        "by": "alice",
        "at": None,
        "reason": "host lost",
        "holder": record.id.value,
    }
    assert stored.status is DeploymentStatus.RUNNING  # its old holder could not write the outcome
    again = await container.deployment_service.release_lease("shop", "dev", by="alice", reason="again")
    assert again.error.code is ErrorCode.NOT_FOUND


async def test_a_lease_renewed_during_a_long_run_is_free_as_soon_as_the_run_ends(container, scripted, fake_clock):
    config = (await container.config_service.create_config("shop", "1.0.0", "dev")).value
    running = asyncio.create_task(container.deployment_service.deploy(config.id))
    await eventually(lambda: "deploy" in scripted.running)
    first = await container.leases.current("shop/dev")
    for _ in range(4):  # several heartbeats: the lease is renewed, its expiry moves on
        fake_clock.advance(container.settings.lease_ttl_seconds / 3)
        await asyncio.sleep(0.01)
    renewed = await container.leases.current("shop/dev")
    assert renewed.expires_at > first.expires_at

    scripted.release("deploy")
    await asyncio.wait_for(running, 5)

    assert await container.leases.current("shop/dev") is None
    again = await container.leases.acquire("shop/dev", "next", container.settings.lease_ttl_seconds)
    assert again is not None
