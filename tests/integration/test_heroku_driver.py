"""The heroku driver's primitives against the fake Platform API, through the driver's own httpx client.

The driver is pointed at the fake by ``HEROKU_API_URL`` in the environment it is given;
every request it sends and every answer the fake gives is validated against Heroku's
vendored JSON hyper-schema (the ``heroku`` fixture fails a test that broke it).
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.heroku_support import APP, HerokuWorld
from tests.support import eventually
from uno.core.errors import ErrorCode
from uno.deployment.adapters.platforms import heroku as heroku_platform
from uno.deployment.adapters.platforms.heroku.driver import HerokuDriver
from uno.deployment.ports.platforms import Release, VersionSet

pytestmark = pytest.mark.integration


def driver_for(world: HerokuWorld, **environ: str) -> HerokuDriver:
    made = heroku_platform.make_driver({**world.environ, **environ})
    assert isinstance(made, HerokuDriver)
    made._poll = 0.01
    return made


async def created(driver: HerokuDriver, release: Release, replicas: int = 2) -> VersionSet:
    assert driver.check(release.config).is_success()
    made = await driver.create_version(release, replicas)
    assert made.is_success(), made
    return made.value


async def healthy(driver: HerokuDriver, version: VersionSet) -> bool:
    for _ in range(5):  # the fake boots a release's dynos on the second read
        found = await driver.version_health(version)
        assert found.is_success(), found
        if found.value.healthy:
            return True
    return False


async def test_a_version_set_is_a_release_built_from_the_uploaded_source(heroku: HerokuWorld):
    driver = driver_for(heroku)

    version = await created(driver, heroku.release("1.0.0", "dep-aaaa1111", heroku.source("v1")))

    app = heroku.fake.apps[APP]
    assert version.deployment_id == "dep-aaaa1111"
    assert version.version == "1.0.0"
    assert version.weight == 100
    [build] = app.builds
    assert build["source_blob"]["version"] == "uno:dep-aaaa1111:1.0.0"
    assert build["behaviour"] == ""  # the fake opened the uploaded gzipped tarball
    assert app.preboot is True  # blue-green: the new dynos start beside the old ones
    assert app.formation["web"] == {"quantity": 2, "size": "standard-2x"}  # memory_max 1Gi
    assert app.config["SHOP_API_KEY"] == "s3cr3t-value-never-stored"  # read from the deployer's environment
    assert app.config["LOG_FORMAT"] == "json"
    assert app.config["UNO_DEPLOY_MANAGED"] == "APP_VERSION,LOG_FORMAT,SHOP_API_KEY"
    assert await healthy(driver, version)
    assert (await driver.list_versions("shop", "staging")).value == [version]


async def test_lists_are_read_through_range_pagination(heroku: HerokuWorld):
    driver = driver_for(heroku)
    await created(driver, heroku.release("1.0.0", "dep-1", heroku.source("v1")))
    second = await created(driver, heroku.release("2.0.0", "dep-2", heroku.source("v2")))

    listed = await driver.list_versions("shop", "staging")

    assert [item.version for item in listed.value] == ["2.0.0"]
    assert listed.value[0].id == second.id
    assert len(heroku.fake.apps[APP].releases) > heroku.fake.page_size
    assert any(item.status == 206 for item in heroku.fake.calls("GET", "/apps/shop-staging/releases"))


async def test_a_changed_variable_is_sent_alone_and_a_removed_one_is_unset(heroku: HerokuWorld):
    driver = driver_for(heroku)
    heroku.fake.apps[APP].config["ADDON_URL"] = "postgres://set-by-an-add-on"
    await created(driver, heroku.release("1.0.0", "dep-1", heroku.source("v1")))
    release = heroku.release("2.0.0", "dep-2", heroku.source("v2"))
    changed = release.config.model_copy(update={"environment_variables": {"FEATURE": "on"}})

    await created(driver, Release("dep-2", changed))

    patches = [item.body for item in heroku.fake.calls("PATCH", "/apps/shop-staging/config-vars")]
    assert patches[-1] == {
        "APP_VERSION": "2.0.0",
        "FEATURE": "on",
        "UNO_DEPLOY_MANAGED": "APP_VERSION,FEATURE,SHOP_API_KEY",
        "LOG_FORMAT": None,
    }
    assert heroku.fake.apps[APP].config["ADDON_URL"] == "postgres://set-by-an-add-on"  # never the driver's


async def test_recreate_turns_preboot_off(heroku: HerokuWorld):
    driver = driver_for(heroku)

    await created(driver, heroku.release("1.0.0", "dep-1", heroku.source("v1"), strategy="recreate"))

    assert heroku.fake.apps[APP].preboot is False
    assert heroku.fake.calls("PATCH", "/apps/shop-staging/features/preboot")[-1].body == {"enabled": False}


async def test_an_interrupted_attempts_build_is_adopted_not_built_again(heroku: HerokuWorld):
    driver = driver_for(heroku)
    release = heroku.release("1.0.0", "dep-1", heroku.source("v1"))
    await created(driver, release)

    again = await created(driver, release)

    assert len(heroku.fake.apps[APP].builds) == 1
    assert again.deployment_id == "dep-1"
    assert len(heroku.fake.calls("POST", "/sources")) == 1


async def test_a_failed_build_is_a_platform_error_and_the_live_release_keeps_serving(heroku: HerokuWorld):
    driver = driver_for(heroku)
    first = await created(driver, heroku.release("1.0.0", "dep-1", heroku.source("v1")))

    failed = await driver.create_version(heroku.release("2.0.0", "dep-2", heroku.source("v2", "build-fails")), 2)

    assert failed.is_failure()
    assert failed.error.code is ErrorCode.PLATFORM_ERROR
    assert "build" in failed.error.message
    assert "failed" in failed.error.message
    assert (await driver.list_versions("shop", "staging")).value[0].id == first.id


async def test_a_crashing_release_is_reported_failing(heroku: HerokuWorld):
    driver = driver_for(heroku)
    version = await created(driver, heroku.release("1.0.0", "dep-1", heroku.source("v1", "crash")))

    await driver.version_health(version)  # the dynos start
    found = await driver.version_health(version)

    assert found.value.failing is True
    assert "2 crashed" in found.value.message


async def test_dynos_up_but_the_app_url_failing_is_not_healthy(heroku: HerokuWorld):
    driver = driver_for(heroku)
    version = await created(driver, heroku.release("1.0.0", "dep-1", heroku.source("v1", "unhealthy")))

    await driver.version_health(version)
    found = await driver.version_health(version)

    assert found.value.healthy is False
    assert found.value.failing is False
    assert "http://shop-staging.herokuapp.com/health answered HTTP 503" in found.value.message


async def test_traffic_goes_back_to_an_earlier_release_with_a_platform_rollback(heroku: HerokuWorld):
    driver = driver_for(heroku)
    first = await created(driver, heroku.release("1.0.0", "dep-1", heroku.source("v1")))
    second = await created(driver, heroku.release("2.0.0", "dep-2", heroku.source("v2")))
    assert first.id != second.id

    switched = await driver.set_traffic("shop", "staging", {first.id: 100, second.id: 0})

    assert switched.is_success(), switched
    [rollback] = heroku.fake.calls("POST", "/apps/shop-staging/releases")
    live = heroku.fake.live(APP)
    assert live is not None
    assert live["description"].startswith("Rollback to v")
    assert heroku.fake.apps[APP].config["APP_VERSION"] == "1.0.0"  # Heroku restores its config vars too
    listed = (await driver.list_versions("shop", "staging")).value
    assert [(item.id, item.version, item.deployment_id) for item in listed] == [(first.id, "1.0.0", "dep-1")]
    assert rollback.body is not None


async def test_a_split_of_traffic_is_refused_naming_why(heroku: HerokuWorld):
    driver = driver_for(heroku)
    first = await created(driver, heroku.release("1.0.0", "dep-1", heroku.source("v1")))

    split = await driver.set_traffic("shop", "staging", {first.id: 75, "shop-staging-v9": 25})

    assert split.is_failure()
    assert "cannot split traffic" in split.error.message


async def test_rate_limited_calls_are_retried(heroku: HerokuWorld):
    driver = driver_for(heroku)
    heroku.fake.throttle(3)

    await created(driver, heroku.release("1.0.0", "dep-1", heroku.source("v1")))

    assert [item.status for item in heroku.fake.requests[:4]] == [429, 429, 429, 200]


async def test_without_the_token_nothing_is_sent_and_the_error_names_the_variable(heroku: HerokuWorld):
    driver = driver_for(heroku, HEROKU_API_KEY="")

    made = await driver.create_version(heroku.release("1.0.0", "dep-1", heroku.source("v1")), 2)

    assert made.is_failure()
    assert made.error.code is ErrorCode.PLATFORM_ERROR
    assert "HEROKU_API_KEY" in made.error.message
    assert heroku.fake.requests == []


async def test_an_app_in_another_region_is_refused_before_anything_changes(heroku: HerokuWorld):
    driver = driver_for(heroku)

    made = await driver.create_version(heroku.release("1.0.0", "dep-1", heroku.source("v1"), region="eu"), 2)

    assert made.is_failure()
    assert "is in region us, not eu" in made.error.message
    assert [item.method for item in heroku.fake.requests] == ["GET"]


async def test_a_heroku_error_names_the_call_and_resource_and_never_the_token(heroku: HerokuWorld):
    driver = driver_for(heroku)

    made = await driver.create_version(heroku.release("1.0.0", "dep-1", heroku.source("v1"), app="not-there"), 2)

    assert made.is_failure()
    assert made.error.code is ErrorCode.PLATFORM_ERROR
    assert made.error.message == "GET /apps/not-there on not-there: Couldn't find that app."
    assert made.error.context["status"] == 404
    assert "heroku-test-token" not in repr(made.error)


async def test_a_secret_missing_from_the_environment_is_refused_before_anything_is_sent(heroku: HerokuWorld):
    driver = driver_for(heroku, SHOP_API_KEY="")
    del driver._environ["SHOP_API_KEY"]  # type: ignore[attr-defined]

    made = await driver.create_version(heroku.release("1.0.0", "dep-1", heroku.source("v1")), 2)

    assert made.is_failure()
    assert "SHOP_API_KEY" in made.error.message
    assert heroku.fake.requests == []


async def test_a_deploy_handed_back_mid_build_is_carried_on_by_another_driver_without_building_again(
    heroku: HerokuWorld,
):
    heroku.fake.build_reads = 1_000_000  # the build stays pending while the first driver polls it
    release = heroku.release("1.0.0", "dep-1", heroku.source("v1"))
    first = driver_for(heroku)
    assert first.check(release.config).is_success()
    attempt = asyncio.create_task(first.create_version(release, 2))
    await eventually(lambda: heroku.fake.calls("POST", "/apps/shop-staging/builds"), timeout=10)
    attempt.cancel()  # the worker handing the deploy back, mid-build
    with contextlib.suppress(asyncio.CancelledError):
        await attempt
    heroku.fake.build_reads = 1

    carried_on = await created(driver_for(heroku), release)  # a new worker's driver

    assert len(heroku.fake.calls("POST", "/apps/shop-staging/builds")) == 1
    assert len(heroku.fake.calls("POST", "/sources")) == 1
    assert carried_on.deployment_id == "dep-1"
    assert carried_on.weight == 100
