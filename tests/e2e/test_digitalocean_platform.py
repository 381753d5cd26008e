"""The digitalocean platform end to end: DeploymentService.deploy against the fake App Platform API.

The container is built by the real composition root, which registers the digitalocean
driver; the driver reaches the fake with pydo over TLS (``DIGITALOCEAN_API_URL``, the test
CA in ``SSL_CERT_FILE``), and every request and answer is checked against DigitalOcean's
vendored OpenAPI description. App Platform runs one deployment at a time and weighs no
traffic: these tests show what each strategy becomes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.digitalocean_support import DoWorld
from uno.deployment import DeploymentStatus, Settings, bootstrap

pytestmark = pytest.mark.integration

NOT_SCANNED = {"scan_images": False}
QUICK = {"health_deadline_seconds": 10, "drain_seconds": 0}


@pytest.fixture
async def deployer(digitalocean: DoWorld) -> AsyncIterator[bootstrap.Container]:
    container = bootstrap.build(Settings(database_url="memory://", log_level="WARNING"), environ=digitalocean.environ)
    try:
        yield container
    finally:
        await container.aclose()


async def deploy(deployer: bootstrap.Container, world: DoWorld, version: str, strategy: str, **extra: Any):
    service = deployer.config_service
    custom = world.settings(version, **{**QUICK, **extra})
    found = (await service.list_configs(app_name="shop")).value
    if found:
        config = (
            await service.update_config(found[0].id, app_version=version, strategy=strategy, custom_settings=custom)
        ).value
    else:
        config = (
            await service.create_config(
                app_name="shop",
                app_version=version,
                environment="staging",
                platform="digitalocean",
                strategy=strategy,
                resource_requirements={"replicas_min": 2, "replicas_max": 2},
                security_config=NOT_SCANNED,
                secrets=["SHOP_API_KEY"],
                custom_settings=custom,
            )
        ).value
    driver = deployer.runner.tools.platforms.driver_for(config).value
    driver._poll = 0.01  # type: ignore[attr-defined]
    return (await deployer.deployment_service.deploy(config.id)).value


async def serving(deployer: bootstrap.Container) -> dict[str, int]:
    config = (await deployer.config_service.list_configs(app_name="shop")).value[0]
    driver = deployer.runner.tools.platforms.driver_for(config).value
    listed = (await driver.list_versions("shop", "staging")).value
    return {version.version: version.weight for version in listed if version.weight}


@pytest.mark.parametrize("strategy", ["rolling", "blue-green", "recreate"])
async def test_each_strategy_ends_with_the_new_deployment_active(deployer, digitalocean: DoWorld, strategy: str):
    first = await deploy(deployer, digitalocean, "1.0.0", strategy)
    assert first.status is DeploymentStatus.SUCCEEDED, first.message

    second = await deploy(deployer, digitalocean, "2.0.0", strategy)

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert await serving(deployer) == {"2.0.0": 100}


async def test_a_canary_is_refused_before_anything_changes(deployer, digitalocean: DoWorld):
    await deploy(deployer, digitalocean, "1.0.0", "rolling")
    before = len(digitalocean.fake.requests)

    refused = await deploy(deployer, digitalocean, "2.0.0", "canary")

    assert refused.status is DeploymentStatus.FAILED
    assert "the digitalocean platform cannot weigh and measure traffic per version: use blue-green" in refused.message
    assert [item for item in digitalocean.fake.requests[before:] if item.method != "GET"] == []


async def test_a_failing_deployment_never_replaces_the_active_one(deployer, digitalocean: DoWorld):
    await deploy(deployer, digitalocean, "1.0.0", "rolling")

    failed = await deploy(deployer, digitalocean, "2.0.0-broken", "rolling")

    assert failed.status in (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK), failed.message
    assert "the health check of web failed" in failed.message
    assert await serving(deployer) == {"1.0.0": 100}


async def test_rollback_to_an_earlier_release_is_app_platforms_rollback(deployer, digitalocean: DoWorld):
    first = await deploy(deployer, digitalocean, "1.0.0", "rolling")
    await deploy(deployer, digitalocean, "2.0.0", "rolling")
    third = await deploy(deployer, digitalocean, "3.0.0", "rolling")
    assert third.status is DeploymentStatus.SUCCEEDED, third.message

    rollback = (await deployer.deployment_service.rollback(third.id, to=first.id)).value

    assert rollback.status is DeploymentStatus.SUCCEEDED, rollback.message
    assert await serving(deployer) == {"1.0.0": 100}
    assert len(digitalocean.fake.calls("POST", r"/v2/apps/[^/]+/rollback")) == 1


async def test_diff_shows_the_service_fields_a_deploy_would_change(deployer, digitalocean: DoWorld):
    first = await deploy(deployer, digitalocean, "1.0.0", "rolling")
    assert first.status is DeploymentStatus.SUCCEEDED, first.message
    config = (await deployer.config_service.list_configs(app_name="shop")).value[0]
    changed = (
        await deployer.config_service.update_config(
            config.id,
            app_version="1.1.0",
            resource_requirements={"replicas_min": 3, "replicas_max": 3},
            custom_settings=digitalocean.settings("1.1.0", **QUICK),
        )
    ).value
    before = len(digitalocean.fake.requests)

    found = (await deployer.deployment_service.diff(changed.id)).value

    assert found.changed is True
    [item] = found.objects
    fields = {change.path: (change.before, change.after) for change in item.fields}
    assert fields["instance_count"] == (2, 3)
    assert fields["image.tag"] == ("1.0.0", "1.1.0")
    assert fields["envs.APP_VERSION.value"] == ("1.0.0", "1.1.0")
    assert "s3cr3t-value-never-stored" not in repr(found.to_document())
    assert {request.method for request in digitalocean.fake.requests[before:]} == {"GET"}  # a diff reads only
