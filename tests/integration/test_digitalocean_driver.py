"""The digitalocean driver's primitives against the fake App Platform API, through pydo over TLS.

The driver is pointed at the fake by ``DIGITALOCEAN_API_URL`` and trusts its test CA through
``SSL_CERT_FILE`` in the environment it is given; every request pydo sends and every answer
the fake gives is validated against DigitalOcean's vendored OpenAPI description.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.digitalocean_support import DoWorld
from tests.support import eventually
from uno.core.errors import ErrorCode
from uno.deployment.adapters.platforms import digitalocean as digitalocean_platform
from uno.deployment.adapters.platforms.digitalocean.driver import DigitalOceanDriver
from uno.deployment.ports.platforms import Release, VersionSet

pytestmark = pytest.mark.integration


def driver_for(world: DoWorld, **environ: str) -> DigitalOceanDriver:
    made = digitalocean_platform.make_driver({**world.environ, **environ})
    assert isinstance(made, DigitalOceanDriver)
    made._poll = 0.01
    return made


async def created(driver: DigitalOceanDriver, release: Release) -> VersionSet:
    assert driver.check(release.config).is_success()
    made = await driver.create_version(release, 2)
    assert made.is_success(), made
    return made.value


async def test_the_first_release_creates_the_app_and_its_deployment_becomes_active(digitalocean: DoWorld):
    driver = driver_for(digitalocean)

    version = await created(driver, digitalocean.release("1.0.0", "dep-1"))

    [app] = digitalocean.fake.apps.values()
    spec = digitalocean.fake.active_spec(app.id)
    assert spec is not None
    [service] = spec["services"]
    assert service["image"] == {"registry_type": "DOCR", "registry": "shop", "repository": "web", "tag": "1.0.0"}
    assert service["instance_count"] == 2
    envs = {env["key"]: env for env in service["envs"]}
    assert envs["SHOP_API_KEY"]["type"] == "SECRET"
    assert envs["SHOP_API_KEY"]["value"] == "s3cr3t-value-never-stored"  # read from the deployer's environment
    assert (version.version, version.deployment_id, version.weight) == ("1.0.0", "dep-1", 100)
    assert (await driver.version_health(version)).value.healthy
    assert (await driver.list_versions("shop", "staging")).value == [version]


async def test_a_failing_deployment_never_replaces_the_active_one(digitalocean: DoWorld):
    driver = driver_for(digitalocean)
    first = await created(driver, digitalocean.release("1.0.0", "dep-1"))

    failed = await driver.create_version(digitalocean.release("2.0.0-broken", "dep-2"), 2)

    assert failed.is_failure()
    assert failed.error.code is ErrorCode.PLATFORM_ERROR
    assert "ended ERROR: the health check of web failed" in failed.error.message
    assert (await driver.list_versions("shop", "staging")).value == [first]


async def test_traffic_goes_back_to_an_earlier_deployment_with_app_platforms_rollback(digitalocean: DoWorld):
    driver = driver_for(digitalocean)
    first = await created(driver, digitalocean.release("1.0.0", "dep-1"))
    await created(driver, digitalocean.release("2.0.0", "dep-2"))

    switched = await driver.set_traffic("shop", "staging", {first.id: 100})

    assert switched.is_success(), switched
    assert len(digitalocean.fake.calls("POST", r"/v2/apps/[^/]+/rollback/validate")) == 1
    assert len(digitalocean.fake.calls("POST", r"/v2/apps/[^/]+/rollback")) == 1
    assert len(digitalocean.fake.calls("POST", r"/v2/apps/[^/]+/rollback/commit")) == 1
    [live] = (await driver.list_versions("shop", "staging")).value
    assert (live.version, live.deployment_id) == ("1.0.0", "dep-1")


async def test_an_existing_apps_other_components_are_kept(digitalocean: DoWorld):
    made = digitalocean.fake.add_app({"name": "shop", "services": [{"name": "admin", "instance_count": 1}]})
    driver = driver_for(digitalocean)

    await created(driver, digitalocean.release("1.0.0", "dep-1", app=None, app_id=made.id))

    spec = digitalocean.fake.active_spec(made.id)
    assert spec is not None
    assert [item["name"] for item in spec["services"]] == ["admin", "web"]


async def test_an_interrupted_attempts_deployment_is_carried_on_not_made_again(digitalocean: DoWorld):
    driver = driver_for(digitalocean)
    release = digitalocean.release("1.0.0", "dep-1")
    await created(driver, release)

    again = await created(driver_for(digitalocean), release)

    assert len(digitalocean.fake.calls("POST", "/v2/apps")) == 1
    assert digitalocean.fake.calls("PUT", r"/v2/apps/[^/]+") == []
    assert again.deployment_id == "dep-1"


async def test_rate_limited_calls_are_retried(digitalocean: DoWorld):
    driver = driver_for(digitalocean)
    digitalocean.fake.throttle(2)

    await created(driver, digitalocean.release("1.0.0", "dep-1"))

    assert [item.status for item in digitalocean.fake.requests[:3]] == [429, 429, 200]


async def test_without_the_token_nothing_is_sent_and_the_error_names_the_variable(digitalocean: DoWorld):
    driver = driver_for(digitalocean, DIGITALOCEAN_TOKEN="")

    made = await driver.create_version(digitalocean.release("1.0.0", "dep-1"), 2)

    assert made.is_failure()
    assert "DIGITALOCEAN_TOKEN" in made.error.message
    assert digitalocean.fake.requests == []


async def test_an_api_error_names_the_call_and_resource_and_never_the_token(digitalocean: DoWorld):
    driver = driver_for(digitalocean)
    missing = "4f6c71e2-1e90-4762-9fee-6cc4a0a9f2cf"

    made = await driver.create_version(digitalocean.release("1.0.0", "dep-1", app=None, app_id=missing), 2)

    assert made.is_failure()
    assert made.error.code is ErrorCode.PLATFORM_ERROR
    assert made.error.message.startswith(f"apps.get on {missing}: The resource you were accessing could not be found")
    assert "dop_v1_test_token" not in repr(made.error)


async def test_a_split_of_traffic_is_refused_naming_why(digitalocean: DoWorld):
    driver = driver_for(digitalocean)
    first = await created(driver, digitalocean.release("1.0.0", "dep-1"))

    split = await driver.set_traffic("shop", "staging", {first.id: 75, "other": 25})

    assert split.is_failure()
    assert "cannot split traffic" in split.error.message


async def test_a_deploy_handed_back_mid_deployment_is_carried_on_by_another_driver(digitalocean: DoWorld):
    digitalocean.fake.phase_reads = 1_000_000  # the deployment stays pending while the first driver polls it
    release = digitalocean.release("1.0.0", "dep-1")
    first = driver_for(digitalocean)
    assert first.check(release.config).is_success()
    attempt = asyncio.create_task(first.create_version(release, 2))
    await eventually(lambda: digitalocean.fake.calls("GET", r"/v2/apps/[^/]+/deployments/[^/]+"), timeout=10)
    attempt.cancel()  # the worker handing the deploy back, mid-deployment
    with contextlib.suppress(asyncio.CancelledError):
        await attempt
    digitalocean.fake.phase_reads = 1

    carried_on = await created(driver_for(digitalocean), release)  # a new worker's driver

    assert len(digitalocean.fake.calls("POST", "/v2/apps")) == 1
    assert digitalocean.fake.calls("PUT", r"/v2/apps/[^/]+") == []
    assert len(digitalocean.fake.deployments) == 1
    assert (carried_on.deployment_id, carried_on.weight) == ("dep-1", 100)
