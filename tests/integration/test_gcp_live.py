"""The gcp driver against a real Google Cloud project: opt in with UNO_DEPLOY_TEST_GCP=1. Never run in CI.

What to create once, and the file this reads, are in docs/how-to/gcp.md. Credentials are
Application Default Credentials. The suite deploys Google's public sample image twice with
blue-green, checks the traffic percents, rolls back (a warm switch), and deletes the
service it made, whatever happened.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from uno.deployment import DeploymentStatus, Settings, bootstrap

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("UNO_DEPLOY_TEST_GCP") != "1", reason="live Cloud Run: set UNO_DEPLOY_TEST_GCP=1"
    ),
]

APP = os.environ.get("UNO_DEPLOY_TEST_GCP_APP", "uno-live")
IMAGE = "us-docker.pkg.dev/cloudrun/container/hello"  # listens on $PORT and answers / with 200


def live_settings() -> dict[str, Any]:
    """custom_settings from the JSON file UNO_DEPLOY_TEST_GCP_SETTINGS names (docs/how-to/gcp.md)."""
    path = os.environ.get("UNO_DEPLOY_TEST_GCP_SETTINGS", "")
    if not path:
        pytest.fail("set UNO_DEPLOY_TEST_GCP_SETTINGS to the JSON file of your project's settings (docs/how-to/gcp.md)")
    settings: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return {"image": IMAGE, "health_deadline_seconds": 300, "drain_seconds": 0, **settings}


@pytest.fixture
async def deployer() -> AsyncIterator[bootstrap.Container]:
    container = bootstrap.build(Settings(database_url="memory://", log_level="INFO"), environ=os.environ)
    try:
        yield container
    finally:
        await _remove_everything(container)
        await container.aclose()


async def _remove_everything(container: bootstrap.Container) -> None:
    found = (await container.config_service.list_configs(app_name=APP)).value
    if not found:
        return
    driver = container.runner.tools.platforms.driver_for(found[0]).value
    driver.check(found[0])
    listed = await driver.list_versions(APP, "dev")
    if listed.is_success():
        for version in sorted(listed.value, key=lambda item: item.weight):  # the serving one last: it takes the service
            await driver.destroy_version(version, drain_timeout=0)


async def deploy(container: bootstrap.Container, version: str):
    service = container.config_service
    found = (await service.list_configs(app_name=APP)).value
    if found:
        config = (await service.update_config(found[0].id, app_version=version)).value
    else:
        config = (
            await service.create_config(
                app_name=APP,
                app_version=version,
                environment="dev",
                platform="gcp",
                strategy="blue-green",
                resource_requirements={"replicas_min": 1, "replicas_max": 1},
                security_config={"scan_images": False},
                custom_settings=live_settings(),
            )
        ).value
    return (await container.deployment_service.deploy(config.id)).value


async def test_blue_green_and_a_warm_rollback_on_cloud_run(deployer):
    first = await deploy(deployer, "1.0.0")
    assert first.status is DeploymentStatus.SUCCEEDED, first.message
    second = await deploy(deployer, "2.0.0")
    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    config = (await deployer.config_service.list_configs(app_name=APP)).value[0]
    driver = deployer.runner.tools.platforms.driver_for(config).value
    listed = (await driver.list_versions(APP, "dev")).value
    assert {version.version: version.weight for version in listed} == {"1.0.0": 0, "2.0.0": 100}

    rollback = (await deployer.deployment_service.rollback(second.id)).value

    assert rollback.status is DeploymentStatus.SUCCEEDED, rollback.message
    listed = (await driver.list_versions(APP, "dev")).value
    assert {version.version: version.weight for version in listed} == {"1.0.0": 100}
