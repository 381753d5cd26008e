"""A blue-green rollout on AWS (moto), interrupted right after its switch, handed back and carried on.

The ECS service the interrupted attempt made is adopted, not made again (its name carries
the deployment's id), and the release that served before is kept warm for the rollback window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.aws_support import EcsStandIn, World
from tests.integration.test_resumed_rollouts import Holding, deploy_outputs, handed_back_then_carried_on
from uno.deployment import bootstrap
from uno.deployment.adapters.platforms.aws.driver import AwsDriver
from uno.deployment.adapters.platforms.registry import DriverRegistry
from uno.deployment.settings import Settings

pytestmark = pytest.mark.integration


class HeldAws(Holding, AwsDriver):
    """The aws driver, held where a test says."""


@pytest.fixture
async def aws_worker(postgres_url: str, world: World) -> AsyncIterator[tuple[bootstrap.Container, HeldAws]]:
    settings = Settings(database_url=postgres_url, execution="queue", lease_ttl_seconds=2, worker_poll_seconds=0.2)
    driver = HeldAws(world.environ, poll_seconds=0.01)
    registry = DriverRegistry()
    registry.register("aws", driver)
    container = bootstrap.build(settings, environ=world.environ, platforms=registry)
    yield container, driver
    await container.aclose()


async def test_blue_green_on_aws_handed_back_after_the_switch_adopts_the_new_service_and_keeps_the_old(
    aws_worker, world: World
):
    worker, driver = aws_worker
    custom = world.settings(health_deadline_seconds=10, drain_seconds=0)

    with EcsStandIn(world):
        record = await handed_back_then_carried_on(
            worker, driver, "blue-green", ("set_traffic", 1), platform_kind="aws", custom=custom
        )

    listed = (await driver.list_versions("shop", "staging")).value
    assert {(version.version, version.weight) for version in listed} == {("1.0.0", 0), ("2.0.0", 100)}
    green = next(version.id for version in listed if version.version == "2.0.0")
    steps = (await deploy_outputs(worker, record))["steps"]
    assert f"adopted {green} with 2 replica(s), left by the interrupted attempt" in steps
    assert any(step.startswith("kept shop-staging-1-0-0-") for step in steps)
    assert len(world.services()) == 2  # one service per release: the carried-on attempt made none
