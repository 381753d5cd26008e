"""The digitalocean driver against real App Platform: opt in with UNO_DEPLOY_TEST_DIGITALOCEAN=1. Never run in CI.

What it needs is in docs/how-to/digitalocean.md: a token in DIGITALOCEAN_TOKEN with the
``app`` scopes, and an app name (UNO_DEPLOY_TEST_DIGITALOCEAN_APP) the suite creates from a
public image, deploys twice (rolling), rolls back (App Platform's rollback) and deletes at
the end, whatever happened. It takes minutes: App Platform pulls and health-checks for real.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from uno.deployment import DeploymentStatus, Settings, bootstrap

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("UNO_DEPLOY_TEST_DIGITALOCEAN") != "1",
        reason="live DigitalOcean: set UNO_DEPLOY_TEST_DIGITALOCEAN=1",
    ),
]

APP = os.environ.get("UNO_DEPLOY_TEST_DIGITALOCEAN_APP", "uno-live")
IMAGE = "docker.io/library/nginx"  # listens on 80 and answers / with 200


@pytest.fixture
async def deployer() -> AsyncIterator[bootstrap.Container]:
    if not os.environ.get("DIGITALOCEAN_TOKEN"):
        pytest.fail("set DIGITALOCEAN_TOKEN (docs/how-to/digitalocean.md)")
    container = bootstrap.build(Settings(database_url="memory://", log_level="INFO"), environ=os.environ)
    try:
        yield container
    finally:
        import pydo

        client = pydo.Client(token=os.environ["DIGITALOCEAN_TOKEN"])
        for app in client.apps.list().get("apps", []):
            if app["spec"]["name"] == APP:
                client.apps.delete(app["id"])  # made by this suite
        await container.aclose()


async def test_two_rolling_deployments_then_app_platforms_rollback(deployer: bootstrap.Container):
    service = deployer.config_service
    custom = {"app": APP, "image": f"{IMAGE}:1.27", "region": "ams", "health_deadline_seconds": 900}
    config = (
        await service.create_config(
            app_name="live",
            app_version="1.27",
            environment="staging",
            platform="digitalocean",
            strategy="rolling",
            resource_requirements={"replicas_min": 1, "replicas_max": 1},
            network_config={"port": 80, "health_check_path": "/"},
            custom_settings=custom,
        )
    ).value
    first = (await deployer.deployment_service.deploy(config.id)).value
    assert first.status is DeploymentStatus.SUCCEEDED, first.message
    config = (
        await service.update_config(config.id, app_version="1.28", custom_settings={**custom, "image": f"{IMAGE}:1.28"})
    ).value

    second = (await deployer.deployment_service.deploy(config.id)).value

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    rollback = (await deployer.deployment_service.rollback(second.id)).value
    assert rollback.status is DeploymentStatus.SUCCEEDED, rollback.message
