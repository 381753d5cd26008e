"""A blue-green rollout on Cloud Run (the fake), interrupted right after its switch, handed back and carried on.

The revision the interrupted attempt made is adopted, not made again (its name carries the
deployment's id), and the release that served before is kept warm for the rollback window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fake_cloud_run import FakeCloudRun
from tests.gcp_support import environ, settings
from tests.integration.test_resumed_rollouts import Holding, deploy_outputs, handed_back_then_carried_on
from uno.deployment import bootstrap
from uno.deployment.adapters.platforms.gcp.driver import GcpDriver
from uno.deployment.adapters.platforms.registry import DriverRegistry
from uno.deployment.settings import Settings

pytestmark = pytest.mark.integration


class HeldGcp(Holding, GcpDriver):
    """The gcp driver, held where a test says."""


@pytest.fixture
async def gcp_worker(postgres_url: str, cloud_run: FakeCloudRun) -> AsyncIterator[tuple[bootstrap.Container, HeldGcp]]:
    settings_ = Settings(database_url=postgres_url, execution="queue", lease_ttl_seconds=2, worker_poll_seconds=0.2)
    driver = HeldGcp(environ(cloud_run))
    registry = DriverRegistry()
    registry.register("gcp", driver)
    container = bootstrap.build(settings_, environ=environ(cloud_run), platforms=registry)
    yield container, driver
    await container.aclose()


async def test_blue_green_on_cloud_run_handed_back_after_the_switch_adopts_the_new_revision_and_keeps_the_old(
    gcp_worker, cloud_run: FakeCloudRun
):
    worker, driver = gcp_worker
    custom = settings(health_deadline_seconds=10, drain_seconds=0)

    record = await handed_back_then_carried_on(
        worker, driver, "blue-green", ("set_traffic", 1), platform_kind="gcp", custom=custom
    )

    listed = (await driver.list_versions("shop", "staging")).value
    assert {(version.version, version.weight) for version in listed} == {("1.0.0", 0), ("2.0.0", 100)}
    green = next(version.id for version in listed if version.version == "2.0.0")
    steps = (await deploy_outputs(worker, record))["steps"]
    assert f"adopted {green} with 2 replica(s), left by the interrupted attempt" in steps
    assert any(step.startswith("kept shop-staging-1-0-0-") for step in steps)
    assert len(cloud_run.revisions) == 2  # one revision per release: the carried-on attempt made none
