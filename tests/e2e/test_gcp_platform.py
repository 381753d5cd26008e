"""The gcp platform end to end: DeploymentService.deploy against the fake Cloud Run API.

The container is built by the real composition root, which registers the gcp driver; the
driver reaches the fake through ``UNO_DEPLOY_GCP_ENDPOINT`` in the environment, with the
official google-cloud-run client (REST transport), as it would Cloud Run. Every exchange is
checked against Cloud Run's discovery document (``gcp_support.cloud_run``). Cloud Run has no
request metrics here (``traffic_stats=False``), so canaries are judged on health alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fake_cloud_run import FakeCloudRun
from tests.gcp_support import IMAGE, environ, settings
from uno.deployment import DeploymentStatus, Settings, bootstrap

pytestmark = pytest.mark.integration

NOT_SCANNED = {"scan_images": False}  # not about the scan: trivy is not installed here
QUICK = {"health_deadline_seconds": 10, "drain_seconds": 0}
BROKEN = IMAGE.replace(":1", ":broken")


@pytest.fixture
async def deployer(cloud_run: FakeCloudRun) -> AsyncIterator[bootstrap.Container]:
    container = bootstrap.build(Settings(database_url="memory://", log_level="WARNING"), environ=environ(cloud_run))
    try:
        yield container
    finally:
        await container.aclose()


async def deploy(deployer: bootstrap.Container, version: str, strategy: str, **extra: Any):
    service = deployer.config_service
    custom = settings(**{**QUICK, **extra})
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
                platform="gcp",
                strategy=strategy,
                resource_requirements={"replicas_min": 2, "replicas_max": 4},
                security_config=NOT_SCANNED,
                custom_settings=custom,
            )
        ).value
    return (await deployer.deployment_service.deploy(config.id)).value


def serving(fake: FakeCloudRun) -> dict[str, int]:
    """App version -> percent, as the fake Cloud Run routes it."""
    found = {}
    for name, percent in fake.traffic_of("shop-staging").items():
        revision = next(value for key, value in fake.revisions.items() if key.endswith(f"/revisions/{name}"))
        found[revision["annotations"]["uno-deployment/uno-version"]] = percent
    return found


def versions(fake: FakeCloudRun) -> list[str]:
    return sorted(value["annotations"]["uno-deployment/uno-version"] for value in fake.revisions.values())


async def steps_of(deployer: bootstrap.Container, record, name: str) -> list[str]:
    pipeline = (await deployer.pipeline_service.get_pipeline(record.pipeline_id)).value
    return list(pipeline.task_named(name).outputs["steps"])


async def test_blue_green_switches_the_traffic_and_rolls_back_with_a_warm_switch(deployer, cloud_run):
    first = await deploy(deployer, "1.0.0", "blue-green")
    assert first.status is DeploymentStatus.SUCCEEDED, first.message

    second = await deploy(deployer, "2.0.0", "blue-green")

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert serving(cloud_run) == {"2.0.0": 100}
    assert versions(cloud_run) == ["1.0.0", "2.0.0"]  # the previous release is kept warm
    blue = next(name for name in cloud_run.revision_names() if name.startswith("shop-staging-1-0-0-"))
    annotations = cloud_run.services[next(iter(cloud_run.services))]["annotations"]
    assert blue in json.loads(annotations["uno-deployment/retire"])  # the end of its rollback window

    rollback = (await deployer.deployment_service.rollback(second.id)).value

    assert rollback.status is DeploymentStatus.SUCCEEDED, rollback.message
    assert serving(cloud_run) == {"1.0.0": 100}
    assert f"{blue} is still running: switching traffic back" in await steps_of(deployer, rollback, "rollback")
    assert versions(cloud_run) == ["1.0.0"]


async def test_a_canary_steps_through_the_percents_judged_on_health(deployer, cloud_run):
    await deploy(deployer, "1.0.0", "blue-green")
    canary = {"steps": [10, 50, 100], "analysis": "health", "analysis_seconds": 0.1}
    before = len(cloud_run.traffic_requests())

    second = await deploy(deployer, "2.0.0", "canary", canary=canary)

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    seen = [
        {name.split("-")[2]: percent for name, percent in split.items()}
        for split in cloud_run.traffic_requests()[before:]
    ]
    assert seen[:3] == [{"1": 90, "2": 10}, {"1": 50, "2": 50}, {"2": 100}]  # major version -> percent
    assert serving(cloud_run) == {"2.0.0": 100}


async def test_a_canary_that_asks_for_traffic_analysis_is_refused_before_anything_changes(deployer, cloud_run):
    await deploy(deployer, "1.0.0", "blue-green")
    before = list(cloud_run.revisions)

    refused = await deploy(deployer, "2.0.0", "canary", canary={"steps": [10, 100]})

    assert refused.status is DeploymentStatus.FAILED
    assert 'set custom_settings.canary.analysis to "health"' in refused.message
    assert list(cloud_run.revisions) == before


async def test_rolling_moves_traffic_in_proportion_then_all_and_recreate_makes_the_service_again(deployer, cloud_run):
    await deploy(deployer, "1.0.0", "rolling")
    before = len(cloud_run.traffic_requests())

    rolled = await deploy(deployer, "2.0.0", "rolling")

    assert rolled.status is DeploymentStatus.SUCCEEDED, rolled.message
    splits = [sorted(split.values()) for split in cloud_run.traffic_requests()[before:]]
    assert splits[:2] == [[50, 50], [100]]  # revisions are made at full size: half and half, then all
    assert versions(cloud_run) == ["2.0.0"]

    recreated = await deploy(deployer, "3.0.0", "recreate")

    assert recreated.status is DeploymentStatus.SUCCEEDED, recreated.message
    assert versions(cloud_run) == ["3.0.0"]
    assert serving(cloud_run) == {"3.0.0": 100}
    assert any(
        request.method == "DELETE" and request.path.endswith("/services/shop-staging") for request in cloud_run.requests
    )


async def test_a_failing_revision_never_gets_traffic_and_the_next_deploy_works(deployer, cloud_run):
    cloud_run.broken_images = {BROKEN}
    await deploy(deployer, "1.0.0", "blue-green")
    before = len(cloud_run.traffic_requests())

    failed = await deploy(deployer, "2.0.0", "blue-green", image=BROKEN)

    assert failed.status in (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK), failed.message
    assert "failed the configured startup probe" in failed.message
    assert all(
        not name.startswith("shop-staging-2-0-0-") for split in cloud_run.traffic_requests()[before:] for name in split
    )
    assert serving(cloud_run) == {"1.0.0": 100}
    assert versions(cloud_run) == ["1.0.0"]

    again = await deploy(deployer, "2.0.1", "blue-green")

    assert again.status is DeploymentStatus.SUCCEEDED, again.message
    assert serving(cloud_run) == {"2.0.1": 100}


async def test_a_config_without_a_project_fails_before_cloud_run_is_called(deployer, cloud_run):
    record = await deploy(deployer, "1.0.0", "blue-green", project=None)

    assert record.status is DeploymentStatus.FAILED
    assert "custom_settings.project" in record.message
    assert record.reached_platform is False
    assert cloud_run.requests == []


async def test_diff_says_nothing_would_change_then_names_the_changed_field(deployer, cloud_run):
    first = await deploy(deployer, "1.0.0", "blue-green")
    assert first.status is DeploymentStatus.SUCCEEDED, first.message
    config = (await deployer.config_service.list_configs(app_name="shop")).value[0]

    same = (await deployer.deployment_service.diff(config.id)).value
    await deployer.config_service.update_config(config.id, environment_variables={"MODE": "fast"})
    changed = (await deployer.deployment_service.diff(config.id)).value

    assert same.changed is False, same.to_document()
    assert changed.changed is True
    document = json.dumps(changed.to_document())
    assert "MODE" in document
