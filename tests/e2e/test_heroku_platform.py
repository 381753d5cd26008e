"""The heroku platform end to end: DeploymentService.deploy against the fake Platform API.

The container is built by the real composition root, which registers the heroku driver;
the driver reaches the fake through ``HEROKU_API_URL`` in the environment, with httpx, as
it would api.heroku.com, and every request and answer is checked against Heroku's
vendored hyper-schema (the ``heroku`` fixture fails a test that broke it). Heroku runs one
release at a time and weighs no traffic: these tests show what each strategy becomes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.heroku_support import APP, HerokuWorld
from uno.deployment import DeploymentStatus, Settings, bootstrap

pytestmark = pytest.mark.integration

NOT_SCANNED = {"scan_images": False}
QUICK = {"health_deadline_seconds": 10, "drain_seconds": 0}


@pytest.fixture
async def deployer(heroku: HerokuWorld) -> AsyncIterator[bootstrap.Container]:
    container = bootstrap.build(Settings(database_url="memory://", log_level="WARNING"), environ=heroku.environ)
    try:
        yield container
    finally:
        await container.aclose()


async def deploy(
    deployer: bootstrap.Container, heroku: HerokuWorld, version: str, strategy: str, behaviour: str = "", **extra: Any
):
    service = deployer.config_service
    custom = heroku.settings(heroku.source(f"v{version}", behaviour), **{**QUICK, **extra})
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
                platform="heroku",
                strategy=strategy,
                resource_requirements={"replicas_min": 2, "replicas_max": 2},
                security_config=NOT_SCANNED,
                environment_variables={"LOG_FORMAT": "json"},
                secrets=["SHOP_API_KEY"],
                custom_settings=custom,
            )
        ).value
    return (await deployer.deployment_service.deploy(config.id)).value


async def serving(deployer: bootstrap.Container) -> dict[str, int]:
    """App version -> weight, as the platform reports it."""
    config = (await deployer.config_service.list_configs(app_name="shop")).value[0]
    driver = deployer.runner.tools.platforms.driver_for(config).value
    listed = (await driver.list_versions("shop", "staging")).value
    return {version.version: version.weight for version in listed if version.weight}


async def steps_of(deployer: bootstrap.Container, record, name: str) -> list[str]:
    pipeline = (await deployer.pipeline_service.get_pipeline(record.pipeline_id)).value
    return list(pipeline.task_named(name).outputs["steps"])


async def test_blue_green_is_a_preboot_release_and_says_the_old_one_is_not_kept(deployer, heroku: HerokuWorld):
    first = await deploy(deployer, heroku, "1.0.0", "blue-green")
    assert first.status is DeploymentStatus.SUCCEEDED, first.message

    second = await deploy(deployer, heroku, "2.0.0", "blue-green")

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert await serving(deployer) == {"2.0.0": 100}
    app = heroku.fake.apps[APP]
    assert app.preboot is True
    assert app.downtime == []  # with preboot, no release stopped the running dynos first
    steps = await steps_of(deployer, second, "deploy")
    assert any("is not kept running: the heroku platform runs one release at a time" in step for step in steps)
    assert app.config["SHOP_API_KEY"] == "s3cr3t-value-never-stored"
    pipeline = (await deployer.pipeline_service.get_pipeline(second.pipeline_id)).value
    assert "s3cr3t-value-never-stored" not in repr(pipeline)


async def test_rolling_is_the_platforms_own_replacement_in_one_batch(deployer, heroku: HerokuWorld):
    await deploy(deployer, heroku, "1.0.0", "rolling")

    second = await deploy(deployer, heroku, "2.0.0", "rolling")

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert await serving(deployer) == {"2.0.0": 100}
    steps = await steps_of(deployer, second, "deploy")
    assert "the heroku platform cannot weigh traffic per batch: it replaces the release itself, in one batch" in steps
    assert heroku.fake.apps[APP].preboot is True


async def test_recreate_stops_the_dynos_then_releases_without_preboot(deployer, heroku: HerokuWorld):
    await deploy(deployer, heroku, "1.0.0", "recreate")

    second = await deploy(deployer, heroku, "2.0.0", "recreate")

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert await serving(deployer) == {"2.0.0": 100}
    assert heroku.fake.apps[APP].preboot is False
    quantities = [item.body["updates"][0]["quantity"] for item in heroku.fake.calls("PATCH", r"/apps/[^/]+/formation")]
    assert quantities == [2, 0, 2]  # the first release, the old dynos stopped, the new release


async def test_a_canary_is_refused_before_anything_changes(deployer, heroku: HerokuWorld):
    await deploy(deployer, heroku, "1.0.0", "blue-green")
    before = len(heroku.fake.requests)

    refused = await deploy(deployer, heroku, "2.0.0", "canary")

    assert refused.status is DeploymentStatus.FAILED
    assert "the heroku platform cannot weigh and measure traffic per version: use blue-green" in refused.message
    changes = [item for item in heroku.fake.requests[before:] if item.method != "GET"]
    assert changes == []
    assert await serving(deployer) == {"1.0.0": 100}


async def test_a_crashing_release_is_rolled_back_by_the_platform_and_the_record_says_so(deployer, heroku: HerokuWorld):
    await deploy(deployer, heroku, "1.0.0", "blue-green")

    failed = await deploy(deployer, heroku, "2.0.0", "blue-green", behaviour="crash")

    assert failed.status in (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK), failed.message
    assert "is failing" in failed.message
    assert await serving(deployer) == {"1.0.0": 100}
    assert heroku.fake.live(APP)["description"].startswith("Rollback to v")
    steps = await steps_of(deployer, failed, "deploy")
    assert any("rolling back to it with the platform's rollback" in step for step in steps)


async def test_a_failed_build_never_replaces_the_live_release(deployer, heroku: HerokuWorld):
    await deploy(deployer, heroku, "1.0.0", "blue-green")
    releases = len(heroku.fake.apps[APP].releases)

    failed = await deploy(deployer, heroku, "2.0.0", "blue-green", behaviour="build-fails")

    assert failed.status in (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK), failed.message
    assert "build" in failed.message
    assert await serving(deployer) == {"1.0.0": 100}
    assert len(heroku.fake.apps[APP].releases) == releases + 1  # the config vars' release only


async def test_rollback_to_any_earlier_release_is_a_platform_rollback(deployer, heroku: HerokuWorld):
    first = await deploy(deployer, heroku, "1.0.0", "blue-green")
    await deploy(deployer, heroku, "2.0.0", "blue-green")
    third = await deploy(deployer, heroku, "3.0.0", "blue-green")
    assert third.status is DeploymentStatus.SUCCEEDED, third.message
    builds = len(heroku.fake.apps[APP].builds)

    rollback = (await deployer.deployment_service.rollback(third.id, to=first.id)).value

    assert rollback.status is DeploymentStatus.SUCCEEDED, rollback.message
    assert await serving(deployer) == {"1.0.0": 100}
    assert len(heroku.fake.apps[APP].builds) == builds  # nothing rebuilt: the earlier slug starts again
    assert heroku.fake.live(APP)["description"].startswith("Rollback to v")
    assert heroku.fake.apps[APP].config["APP_VERSION"] == "1.0.0"


async def test_diff_shows_what_a_deploy_would_change_and_nothing_after_it(deployer, heroku: HerokuWorld):
    first = await deploy(deployer, heroku, "1.0.0", "blue-green")
    assert first.status is DeploymentStatus.SUCCEEDED, first.message
    config = (await deployer.config_service.list_configs(app_name="shop")).value[0]

    unchanged = (await deployer.deployment_service.diff(config.id)).value

    assert unchanged.changed is False, [item.to_document() for item in unchanged.objects]
    changed = (
        await deployer.config_service.update_config(
            config.id,
            app_version="1.1.0",
            resource_requirements={"replicas_min": 3, "replicas_max": 3},
            environment_variables={"LOG_FORMAT": "text"},
        )
    ).value

    before = len(heroku.fake.requests)

    found = (await deployer.deployment_service.diff(changed.id)).value

    assert found.changed is True
    fields = {
        (item.kind, change.path): (change.before, change.after) for item in found.objects for change in item.fields
    }
    assert fields[("Formation", "quantity")] == (2, 3)
    assert fields[("ConfigVars", "LOG_FORMAT")] == ("json", "text")
    assert fields[("Release", "app_version")] == ("1.0.0", "1.1.0")
    assert "s3cr3t-value-never-stored" not in repr(found.to_document())
    assert {item.method for item in heroku.fake.requests[before:]} == {"GET"}  # a diff reads only
