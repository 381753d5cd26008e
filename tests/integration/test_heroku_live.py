"""The heroku driver against a real Heroku app: opt in with UNO_DEPLOY_TEST_HEROKU=1. Never run in CI.

What to create once is in docs/how-to/heroku.md: an app (UNO_DEPLOY_TEST_HEROKU_APP, made
with ``heroku create``, on a paid dyno type: preboot needs one) and a token in
HEROKU_API_KEY. The suite builds a tiny Python web app twice with blue-green (real
builds, real dynos, real preboot), checks the live release, rolls back to the first
(a platform rollback), and scales the web formation to 0 at the end, whatever happened.
It takes minutes: Heroku builds the source and boots dynos.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from uno.deployment import DeploymentStatus, Settings, bootstrap

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("UNO_DEPLOY_TEST_HEROKU") != "1", reason="live Heroku: set UNO_DEPLOY_TEST_HEROKU=1"
    ),
]

APP = os.environ.get("UNO_DEPLOY_TEST_HEROKU_APP", "")
SERVER = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("APP_VERSION", "?").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"""


def source(root: Path, version: str) -> str:
    directory = root / version
    directory.mkdir()
    (directory / "app.py").write_text(SERVER, encoding="utf-8")
    (directory / "Procfile").write_text("web: python app.py\n", encoding="utf-8")
    (directory / "requirements.txt").write_text("", encoding="utf-8")
    (directory / ".python-version").write_text("3.12\n", encoding="utf-8")
    return str(directory)


@pytest.fixture
async def deployer() -> AsyncIterator[bootstrap.Container]:
    if not APP or not os.environ.get("HEROKU_API_KEY"):
        pytest.fail("set UNO_DEPLOY_TEST_HEROKU_APP and HEROKU_API_KEY (docs/how-to/heroku.md)")
    container = bootstrap.build(Settings(database_url="memory://", log_level="INFO"), environ=os.environ)
    try:
        yield container
    finally:
        configs = (await container.config_service.list_configs(app_name="live")).value
        if configs:
            driver = container.runner.tools.platforms.driver_for(configs[0]).value
            for version in (await driver.list_versions("live", "staging")).value:
                await driver.destroy_version(version, drain_timeout=0)  # the formation back to 0 dynos
        await container.aclose()


async def test_blue_green_twice_then_a_platform_rollback(deployer: bootstrap.Container, tmp_path: Path):
    service = deployer.config_service
    custom = {"app": APP, "source_dir": source(tmp_path, "1.0.0"), "health_deadline_seconds": 600}
    config = (
        await service.create_config(
            app_name="live",
            app_version="1.0.0",
            environment="staging",
            platform="heroku",
            strategy="blue-green",
            resource_requirements={"replicas_min": 1, "replicas_max": 1},
            network_config={"health_check_path": "/"},
            custom_settings=custom,
        )
    ).value
    first = (await deployer.deployment_service.deploy(config.id)).value
    assert first.status is DeploymentStatus.SUCCEEDED, first.message
    custom = {**custom, "source_dir": source(tmp_path, "2.0.0")}
    config = (await service.update_config(config.id, app_version="2.0.0", custom_settings=custom)).value

    second = (await deployer.deployment_service.deploy(config.id)).value

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    rollback = (await deployer.deployment_service.rollback(second.id)).value
    assert rollback.status is DeploymentStatus.SUCCEEDED, rollback.message
    driver = deployer.runner.tools.platforms.driver_for(config).value
    listed = (await driver.list_versions("live", "staging")).value
    assert [version.version for version in listed] == ["1.0.0"]
