"""The gcp driver's primitives against the fake Cloud Run API, through the official client's REST transport.

Every exchange is checked against Cloud Run's discovery document (``gcp_support.cloud_run``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.fake_cloud_run import FakeCloudRun
from tests.gcp_support import IMAGE, SERVICE, environ, release
from uno.core.errors import ErrorCode
from uno.deployment.adapters.platforms import gcp
from uno.deployment.adapters.platforms.gcp.driver import GcpDriver
from uno.deployment.ports.platforms import VersionSet

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def windows(fake: FakeCloudRun) -> dict[str, str]:
    """Revision -> the end of its rollback window, as the service's annotation holds them."""
    return json.loads(fake.services[SERVICE].get("annotations", {}).get("uno-deployment/retire", "{}"))


def driver_for(fake: FakeCloudRun, clock: Clock | None = None) -> GcpDriver:
    made = gcp.make_driver(environ(fake))
    assert isinstance(made, GcpDriver)
    if clock is not None:
        made._now = clock  # the rollback window is read on this clock
    made.client._poll = 0.01
    return made


async def created(driver: GcpDriver, version: str, deployment: str, **extra) -> VersionSet:
    chosen = release(version, deployment, **extra)
    assert driver.check(chosen.config).is_success()
    made = await driver.create_version(chosen, 1)
    assert made.is_success(), made
    return made.value


async def test_a_version_set_is_a_named_revision_marked_as_ours_and_the_first_takes_the_traffic(cloud_run):
    driver = driver_for(cloud_run)

    blue = await created(driver, "1.0.0", "dep-aaaa1111")

    assert blue.id == "shop-staging-1-0-0-aaaa1111"
    assert (blue.version, blue.deployment_id, blue.replicas, blue.weight) == ("1.0.0", "dep-aaaa1111", 2, 100)
    revision = cloud_run.revisions[f"{SERVICE}/revisions/{blue.id}"]
    assert revision["labels"]["managed-by"] == "uno-deployment"
    assert revision["labels"]["uno-version"] == "1-0-0"
    assert revision["annotations"]["uno-deployment/uno-version"] == "1.0.0"
    assert revision["scaling"] == {"minInstanceCount": 2, "maxInstanceCount": 4}  # staging turns auto_scaling on
    assert revision["containers"][0]["image"] == IMAGE
    assert cloud_run.traffic_of("shop-staging") == {blue.id: 100}


async def test_a_later_release_is_a_new_revision_at_0_percent_with_its_own_tag(cloud_run):
    driver = driver_for(cloud_run)
    blue = await created(driver, "1.0.0", "dep-aaaa1111")

    green = await created(driver, "2.0.0", "dep-bbbb2222")

    assert green.weight == 0
    assert cloud_run.traffic_of("shop-staging") == {blue.id: 100}
    tags = {entry["revision"]: entry.get("tag") for entry in cloud_run.services[SERVICE]["traffic"]}
    assert tags == {blue.id: "v1-0-0-aaaa1111", green.id: "v2-0-0-bbbb2222"}
    listed = (await driver.list_versions("shop", "staging")).value
    assert [(item.version, item.weight) for item in listed] == [("1.0.0", 100), ("2.0.0", 0)]


async def test_set_traffic_is_one_patch_with_every_percent(cloud_run):
    driver = driver_for(cloud_run)
    blue = await created(driver, "1.0.0", "dep-aaaa1111")
    green = await created(driver, "2.0.0", "dep-bbbb2222")
    before = len(cloud_run.requests)

    moved = await driver.set_traffic("shop", "staging", {blue.id: 75, green.id: 25})

    assert moved.is_success(), moved
    patches = [request for request in cloud_run.requests[before:] if request.method == "PATCH"]
    assert len(patches) == 1
    assert cloud_run.traffic_of("shop-staging") == {blue.id: 75, green.id: 25}
    await driver.set_traffic("shop", "staging", {blue.id: 1, green.id: 2})  # Cloud Run needs 100 exactly
    assert cloud_run.traffic_of("shop-staging") == {blue.id: 33, green.id: 67}


async def test_set_traffic_refuses_an_unknown_revision_and_all_zero_weights(cloud_run):
    driver = driver_for(cloud_run)
    blue = await created(driver, "1.0.0", "dep-aaaa1111")

    unknown = await driver.set_traffic("shop", "staging", {"shop-staging-9-9-9-zzzz": 100})
    nothing = await driver.set_traffic("shop", "staging", {blue.id: 0})

    assert unknown.is_failure()
    assert "is not a revision of" in unknown.error.message
    assert nothing.is_failure()
    assert "give at least one a weight" in nothing.error.message
    assert cloud_run.traffic_of("shop-staging") == {blue.id: 100}


async def test_health_is_the_revisions_ready_condition(cloud_run):
    cloud_run.ready_after_reads = 3
    cloud_run.broken_images = {"europe-west1-docker.pkg.dev/shop-project-1/apps/shop:broken"}
    driver = driver_for(cloud_run)
    blue = await created(driver, "1.0.0", "dep-aaaa1111")
    broken = await created(driver, "2.0.0", "dep-bbbb2222", image=next(iter(cloud_run.broken_images)))

    healthy = (await driver.version_health(blue)).value
    failing = (await driver.version_health(broken)).value

    assert (healthy.ready, healthy.total, healthy.healthy) == (2, 2, True)
    assert failing.failing is True
    assert failing.ready == 0
    assert "failed the configured startup probe" in failing.message
    assert cloud_run.traffic_of("shop-staging") == {blue.id: 100}  # the broken one never got any


async def test_destroy_takes_the_revision_out_of_the_traffic_then_deletes_it_and_the_last_takes_the_service(
    cloud_run,
):
    driver = driver_for(cloud_run)
    blue = await created(driver, "1.0.0", "dep-aaaa1111")
    green = await created(driver, "2.0.0", "dep-bbbb2222")
    await driver.set_traffic("shop", "staging", {green.id: 100})

    removed = await driver.destroy_version(blue, drain_timeout=0)

    assert removed.is_success(), removed
    assert cloud_run.revision_names() == [green.id]
    assert [entry["revision"] for entry in cloud_run.services[SERVICE]["traffic"]] == [green.id]
    assert (await driver.destroy_version(blue, drain_timeout=0)).is_success()  # gone already: nothing to do

    last = await driver.destroy_version(green, drain_timeout=0)

    assert last.is_success(), last
    assert cloud_run.services == {}
    assert cloud_run.revisions == {}


async def test_removing_a_failed_newest_revision_puts_the_serving_ones_template_back(cloud_run):
    cloud_run.broken_images = {"europe-west1-docker.pkg.dev/shop-project-1/apps/shop:broken"}
    driver = driver_for(cloud_run)
    blue = await created(driver, "1.0.0", "dep-aaaa1111")
    broken = await created(driver, "2.0.0", "dep-bbbb2222", image=next(iter(cloud_run.broken_images)))

    removed = await driver.destroy_version(broken, drain_timeout=0)

    assert removed.is_success(), removed
    assert cloud_run.revision_names() == [blue.id]
    assert cloud_run.services[SERVICE]["template"]["revision"] == blue.id
    assert cloud_run.services[SERVICE]["template"]["containers"][0]["image"] == IMAGE


async def test_a_retired_revision_stays_warm_until_its_window_ends_unless_traffic_comes_back(cloud_run):
    clock = Clock()
    driver = driver_for(cloud_run, clock)
    blue = await created(driver, "1.0.0", "dep-aaaa1111")
    green = await created(driver, "2.0.0", "dep-bbbb2222")
    await driver.set_traffic("shop", "staging", {green.id: 100})

    assert (await driver.retire_version(blue, after=60, drain_timeout=0)).is_success()
    assert list(windows(cloud_run)) == [blue.id]
    assert len((await driver.list_versions("shop", "staging")).value) == 2  # still inside the window

    await driver.set_traffic("shop", "staging", {blue.id: 100})  # a rollback inside the window
    assert windows(cloud_run) == {}

    await driver.set_traffic("shop", "staging", {green.id: 100})
    await driver.retire_version(blue, after=60, drain_timeout=0)
    clock.now += timedelta(seconds=61)
    listed = (await driver.list_versions("shop", "staging")).value

    assert [item.id for item in listed] == [green.id]
    assert cloud_run.revision_names() == [green.id]


async def test_throttling_is_retried_and_other_errors_name_the_call_and_the_resource(cloud_run):
    driver = driver_for(cloud_run)
    blue = await created(driver, "1.0.0", "dep-aaaa1111")
    cloud_run.throttle(3)

    health = await driver.version_health(blue)

    assert health.is_success(), health
    assert [request.method for request in cloud_run.requests[-4:]] == ["GET"] * 4
    cloud_run.refuse("GET", "/revisions/", 403)
    refused = await driver.version_health(blue)
    assert refused.is_failure()
    assert refused.error.code is ErrorCode.PLATFORM_ERROR
    assert refused.error.message.startswith(f"revisions.get on {SERVICE}/revisions/{blue.id}: ")
    assert refused.error.context["http_status"] == 403


async def test_a_service_uno_deploy_did_not_make_is_never_touched(cloud_run):
    driver = driver_for(cloud_run)
    await created(driver, "1.0.0", "dep-aaaa1111")
    cloud_run.services[SERVICE]["labels"] = {"team": "payments"}  # someone else's service of that name
    before = len(cloud_run.requests)

    made = await driver.create_version(release("2.0.0", "dep-bbbb2222"), 1)

    assert made.is_failure()
    assert "is not managed by uno-deploy" in made.error.message
    assert {request.method for request in cloud_run.requests[before:]} == {"GET"}


async def test_an_interrupted_create_is_adopted_not_made_again(cloud_run):
    driver = driver_for(cloud_run)
    await created(driver, "1.0.0", "dep-aaaa1111")
    green = await created(driver, "2.0.0", "dep-bbbb2222")
    before = len(cloud_run.revisions)

    again = await driver.create_version(release("2.0.0", "dep-bbbb2222"), 1)

    assert again.is_success(), again
    assert again.value.id == green.id
    assert len(cloud_run.revisions) == before


async def test_scale_version_cannot_grow_a_revision_past_its_maximum(cloud_run):
    driver = driver_for(cloud_run)
    blue = await created(driver, "1.0.0", "dep-aaaa1111")

    same = await driver.scale_version(blue, 2)
    more = await driver.scale_version(blue, 5)

    assert same.is_success()
    assert same.value.replicas == 2
    assert more.is_failure()
    assert "is immutable" in more.error.message


async def test_a_configuration_is_checked_with_field_paths_before_anything_is_called(cloud_run):
    driver = driver_for(cloud_run)

    missing = driver.check(release("1.0.0", "dep-aaaa1111", project=None).config)
    big = driver.check(release("1.0.0", "dep-aaaa1111", resources={"cpu_max": "16", "cpu_min": "1"}).config)

    assert missing.is_failure()
    assert missing.error.context["field"] == "custom_settings.project"
    assert big.is_failure()
    assert "above Cloud Run's 8 CPUs" in big.error.message
    assert cloud_run.requests == []


async def test_live_objects_compare_the_release_with_the_serving_revision_and_change_nothing(cloud_run):
    driver = driver_for(cloud_run)
    nothing_yet = (await driver.live_objects(release("1.0.0", "dep-aaaa1111"))).value
    assert [(item.kind, item.name, item.live) for item in nothing_yet] == [("Service", SERVICE, None)]
    await created(driver, "1.0.0", "dep-aaaa1111")
    before = len(cloud_run.requests)

    same = (await driver.live_objects(release("1.0.0", "dep-cccc3333"))).value[0]
    changed = (await driver.live_objects(release("1.0.1", "dep-dddd4444", image=IMAGE + "1"))).value[0]

    assert same.wanted == same.live  # another deploy of the same configuration changes nothing
    assert same.note == "compared with revision shop-staging-1-0-0-aaaa1111"
    assert changed.wanted["template"]["containers"][0]["image"] == IMAGE + "1"
    assert changed.live["template"]["containers"][0]["image"] == IMAGE
    assert {request.method for request in cloud_run.requests[before:]} == {"GET"}


async def test_throttling_past_the_calls_deadline_is_a_platform_error_that_says_so(cloud_run):
    driver = driver_for(cloud_run)
    blue = await created(driver, "1.0.0", "dep-aaaa1111")
    driver.client._deadline = 0.3
    cloud_run.throttle(100_000)

    health = await driver.version_health(blue)

    assert health.is_failure()
    assert health.error.code is ErrorCode.PLATFORM_ERROR
    assert "still throttled after 0.3s of retries" in health.error.message
    assert health.error.context["http_status"] == 429
