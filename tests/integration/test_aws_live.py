"""The aws driver against a real AWS account: opt in with UNO_DEPLOY_TEST_AWS=1. Never run in CI.

What to create once, and the file this reads, are in docs/how-to/aws.md. Credentials come
from the standard AWS chain (environment, profile, SSO, role). The suite deploys a public
nginx image twice with blue-green, checks the listener's weights and the running tasks,
rolls back (a warm switch), and removes every version set it made, whatever happened.
It takes several minutes: ECS starts real tasks and the load balancer health-checks them.
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
    pytest.mark.skipif(os.environ.get("UNO_DEPLOY_TEST_AWS") != "1", reason="live AWS: set UNO_DEPLOY_TEST_AWS=1"),
]

APP = os.environ.get("UNO_DEPLOY_TEST_AWS_APP", "uno-live")
IMAGE = "public.ecr.aws/nginx/nginx:stable"  # listens on 80 and answers / with 200


def live_settings() -> dict[str, Any]:
    """custom_settings from the JSON file UNO_DEPLOY_TEST_AWS_SETTINGS names (docs/how-to/aws.md)."""
    path = os.environ.get("UNO_DEPLOY_TEST_AWS_SETTINGS", "")
    if not path:
        pytest.fail("set UNO_DEPLOY_TEST_AWS_SETTINGS to the JSON file of your account's settings (docs/how-to/aws.md)")
    settings: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return {"image": IMAGE, "container_port": 80, "health_check_grace_seconds": 30, **settings}


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
        await driver.set_traffic(APP, "dev", {})
        for version in listed.value:
            await driver.destroy_version(version, drain_timeout=0)


async def deploy(container: bootstrap.Container, version: str) -> Any:
    service = container.config_service
    custom = {**live_settings(), "health_deadline_seconds": 600, "drain_seconds": 5}
    found = (await service.list_configs(app_name=APP)).value
    if found:
        config = (await service.update_config(found[0].id, app_version=version, custom_settings=custom)).value
    else:
        made = await service.create_config(
            app_name=APP,
            app_version=version,
            environment="dev",
            platform="aws",
            strategy="blue-green",
            resource_requirements={"replicas_min": 1, "cpu_max": "250m", "memory_max": "512Mi"},
            network_config={"health_check_path": "/"},
            security_config={"scan_images": False},
            custom_settings=custom,
        )
        config = made.value
    return (await container.deployment_service.deploy(config.id)).value


async def serving(container: bootstrap.Container) -> dict[str, int]:
    config = (await container.config_service.list_configs(app_name=APP)).value[0]
    driver = container.runner.tools.platforms.driver_for(config).value
    return {item.version: item.weight for item in (await driver.list_versions(APP, "dev")).value if item.weight}


async def test_blue_green_and_a_warm_rollback_on_a_real_account(deployer):
    first = await deploy(deployer, "1.0.0")
    assert first.status is DeploymentStatus.SUCCEEDED, first.message

    second = await deploy(deployer, "2.0.0")
    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert await serving(deployer) == {"2.0.0": 100}

    rollback = (await deployer.deployment_service.rollback(second.id)).value
    assert rollback.status is DeploymentStatus.SUCCEEDED, rollback.message
    assert await serving(deployer) == {"1.0.0": 100}
