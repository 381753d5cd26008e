"""The aws platform end to end: DeploymentService.deploy against moto's HTTP server.

The container is built by the real composition root, which registers the aws driver; the
driver reaches moto through the standard AWS_ENDPOINT_URL in the environment, with boto3,
as it would AWS. ``EcsStandIn`` runs beside each deploy and does what ECS and the load
balancer would (tasks start, targets register healthy, requests are counted in
CloudWatch, with 5xx for the versions told to fail): moto runs no tasks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.aws_support import EcsStandIn, World
from uno.deployment import DeploymentStatus, Settings, bootstrap

pytestmark = pytest.mark.integration

NOT_SCANNED = {"scan_images": False}  # not about the scan: trivy is not installed here
QUICK = {"health_deadline_seconds": 30, "drain_seconds": 0}


@pytest.fixture
async def deployer(world: World) -> AsyncIterator[bootstrap.Container]:
    container = bootstrap.build(Settings(database_url="memory://", log_level="WARNING"), environ=world.environ)
    try:
        yield container
    finally:
        await container.aclose()


async def deploy(
    deployer: bootstrap.Container,
    world: World,
    version: str,
    strategy: str,
    *,
    ecs: EcsStandIn | None = None,
    **settings: Any,
):
    service = deployer.config_service
    custom = world.settings(**{**QUICK, **settings})
    found = (await service.list_configs(app_name="shop")).value
    if found:
        changed = await service.update_config(
            found[0].id, app_version=version, strategy=strategy, custom_settings=custom
        )
        config = changed.value
    else:
        config = (
            await service.create_config(
                app_name="shop",
                app_version=version,
                environment="staging",
                platform="aws",
                strategy=strategy,
                resource_requirements={"replicas_min": 2, "replicas_max": 4},
                security_config=NOT_SCANNED,
                custom_settings=custom,
            )
        ).value
    with ecs or EcsStandIn(world):
        return (await deployer.deployment_service.deploy(config.id)).value


async def serving(deployer: bootstrap.Container) -> dict[str, int]:
    """App version -> weight, as the platform reports it."""
    config = (await deployer.config_service.list_configs(app_name="shop")).value[0]
    driver = deployer.runner.tools.platforms.driver_for(config).value  # the driver the engine uses
    listed = (await driver.list_versions("shop", "staging")).value
    return {version.version: version.weight for version in listed if version.weight}


async def running(world: World) -> list[str]:
    return sorted(
        {tag["key"]: tag["value"] for tag in item["tags"]}["uno.version"] for item in world.services().values()
    )


async def steps_of(deployer: bootstrap.Container, record, name: str) -> list[str]:
    pipeline = (await deployer.pipeline_service.get_pipeline(record.pipeline_id)).value
    return list(pipeline.task_named(name).outputs["steps"])


async def test_blue_green_switches_the_listener_and_rolls_back_by_switching_again(deployer, world: World):
    first = await deploy(deployer, world, "1.0.0", "blue-green")
    assert first.status is DeploymentStatus.SUCCEEDED, first.message

    second = await deploy(deployer, world, "2.0.0", "blue-green")

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert await serving(deployer) == {"2.0.0": 100}
    assert await running(world) == ["1.0.0", "2.0.0"]  # the previous release is kept warm
    blue = next(name for name in world.services() if name.startswith("shop-staging-1-0-0-"))
    assert "uno.retire-after" in {tag["key"] for tag in world.services()[blue]["tags"]}

    rollback = (await deployer.deployment_service.rollback(second.id)).value

    assert rollback.status is DeploymentStatus.SUCCEEDED, rollback.message
    assert await serving(deployer) == {"1.0.0": 100}
    steps = await steps_of(deployer, rollback, "rollback")
    assert f"{blue} is still running: switching traffic back" in steps
    assert "uno.retire-after" not in {tag["key"] for tag in world.services()[blue]["tags"]}


async def test_a_canary_that_serves_5xx_is_aborted_by_its_analysis(deployer, world: World):
    first = await deploy(deployer, world, "1.0.0", "blue-green")
    assert first.status is DeploymentStatus.SUCCEEDED, first.message
    canary = {"steps": [25, 100], "analysis_seconds": 1, "min_requests": 10}

    second = await deploy(
        deployer, world, "2.0.0", "canary", ecs=EcsStandIn(world, failing_versions={"2.0.0"}), canary=canary
    )

    assert second.status in (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK), second.message
    assert "canary analysis failed at 25%" in second.message
    assert "error rate" in second.message
    assert await serving(deployer) == {"1.0.0": 100}
    assert await running(world) == ["1.0.0"]


async def test_a_healthy_canary_steps_through_weights_judged_on_cloudwatch(deployer, world: World):
    await deploy(deployer, world, "1.0.0", "blue-green")
    canary = {"steps": [25, 100], "analysis_seconds": 1, "min_requests": 10}

    second = await deploy(deployer, world, "2.0.0", "canary", canary=canary)

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert await serving(deployer) == {"2.0.0": 100}
    pipeline = (await deployer.pipeline_service.get_pipeline(second.pipeline_id)).value
    analyses = pipeline.task_named("deploy").outputs["analyses"]
    assert [(item["step"], item["passed"]) for item in analyses] == [(25, True)]
    assert analyses[0]["canary_requests"] >= 10
    assert analyses[0]["canary_errors"] == 0


@pytest.mark.parametrize("strategy", ["rolling", "recreate"])
async def test_rolling_and_recreate_end_with_one_version_serving(deployer, world: World, strategy: str):
    await deploy(deployer, world, "1.0.0", strategy)

    second = await deploy(deployer, world, "2.0.0", strategy)

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert await serving(deployer) == {"2.0.0": 100}
    assert await running(world) == ["2.0.0"]


async def test_a_release_that_never_starts_leaves_the_serving_version_alone_and_the_next_deploy_works(
    deployer, world: World
):
    await deploy(deployer, world, "1.0.0", "blue-green")

    failed = await deploy(
        deployer, world, "2.0.0", "blue-green", ecs=EcsStandIn(world, starting=False), health_deadline_seconds=1
    )

    assert failed.status in (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK), failed.message
    assert await serving(deployer) == {"1.0.0": 100}
    assert await running(world) == ["1.0.0"]

    again = await deploy(deployer, world, "2.0.1", "blue-green")

    assert again.status is DeploymentStatus.SUCCEEDED, again.message
    assert await serving(deployer) == {"2.0.1": 100}


async def test_a_config_without_a_listener_fails_before_aws_is_touched(deployer, world: World):
    record = await deploy(deployer, world, "1.0.0", "blue-green", listener_arn=None)

    assert record.status is DeploymentStatus.FAILED
    assert "custom_settings.listener_arn" in record.message
    assert record.reached_platform is False
    assert world.services() == {}


async def test_a_rollback_after_the_previous_release_is_gone_starts_it_again(deployer, world: World):
    no_warm = {"blue_green": {"keep_previous": False}}
    await deploy(deployer, world, "1.0.0", "blue-green", **no_warm)
    second = await deploy(deployer, world, "2.0.0", "blue-green", **no_warm)
    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert await running(world) == ["2.0.0"]

    with EcsStandIn(world):
        rollback = (await deployer.deployment_service.rollback(second.id)).value

    assert rollback.status is DeploymentStatus.SUCCEEDED, rollback.message
    assert await serving(deployer) == {"1.0.0": 100}
    assert await running(world) == ["1.0.0"]
