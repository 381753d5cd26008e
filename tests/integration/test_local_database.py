"""The database settings reach the local replicas: DATABASE_URL (its password never written anywhere) and pool sizes.

A real deploy, through the deployment service, of an app that answers with what it was
given: the URL's parts, the SHA-256 of its password (never the value) and the pool sizes.
The store is a SQLite file and the agent keeps its state in files: neither, nor any log,
holds the password, as it is or URL-quoted.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
import structlog.testing

from tests.integration.local_support import answer
from uno.deployment import DeploymentStatus, Settings, bootstrap
from uno.deployment.adapters.platforms.local.driver import LocalDriver
from uno.deployment.adapters.platforms.registry import DriverRegistry

pytestmark = pytest.mark.integration

PASSWORD = "p@ss:w/rd?#-7f3a9c"  # every character a URL would break on
DATABASE_APP = """
import hashlib, http.server, json, os
from urllib.parse import unquote, urlsplit
url = urlsplit(os.environ["DATABASE_URL"])
seen = {
    "scheme": url.scheme, "user": url.username, "host": url.hostname, "port": url.port,
    "database": url.path.lstrip("/"), "query": url.query,
    "password_sha256": hashlib.sha256(unquote(url.password or "").encode()).hexdigest(),
    "pool_min": os.environ.get("DATABASE_POOL_MIN"), "pool_max": os.environ.get("DATABASE_POOL_MAX"),
}
body = json.dumps(seen).encode()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
print("connecting to", url.hostname, "as", url.username, flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""
DATABASE = {
    "engine": "postgresql",
    "host": "db.internal",
    "port": 5433,
    "name": "shop",
    "user": "shop_app",
    "password_env_var": "SHOP_DB_PASSWORD",
    "ssl_mode": "require",
    "connection_pool_min": 2,
    "connection_pool_max": 7,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def local(tmp_path: Path, environ) -> AsyncIterator[tuple[bootstrap.Container, LocalDriver]]:
    environ["SHOP_DB_PASSWORD"] = PASSWORD
    driver = LocalDriver(tmp_path / "local", environ)
    registry = DriverRegistry()
    registry.register("local", driver)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'store.db'}")
    container = bootstrap.build(settings, environ=environ, platforms=registry)
    try:
        yield container, driver
    finally:
        await driver.shutdown()
        await container.aclose()


def files_holding_the_password(folder: Path) -> list[Path]:
    secrets = [PASSWORD.encode(), quote(PASSWORD, safe="").encode()]
    files = [path for path in folder.rglob("*") if path.is_file()]
    assert {"store.db", "agent.json", "supervisor.json", "agent.log", "replica-0.log"} <= {path.name for path in files}
    return [path for path in files if any(secret in path.read_bytes() for secret in secrets)]


async def test_replicas_get_the_database_url_and_pool_sizes_and_the_password_is_stored_nowhere(
    tmp_path: Path, local: tuple[bootstrap.Container, LocalDriver]
):
    container, _ = local
    port = free_port()
    created = await container.config_service.create_config(
        app_name="shop",
        app_version="1.0.0",
        environment="dev",
        strategy="recreate",
        database_config=DATABASE,
        testing_config={"run_unit_tests": False},
        monitoring_config={"log_level": "DEBUG"},  # every log line, to find none with the password
        custom_settings={"command": [sys.executable, "-c", DATABASE_APP], "port": port, "health_path": "/"},
    )

    with structlog.testing.capture_logs() as logs:
        record = (await container.deployment_service.deploy(created.value.id)).value

    assert record.status is DeploymentStatus.SUCCEEDED, record.message
    assert "not_honoured" not in record.details  # the pool sizes were written, and are honoured
    status, seen = await answer(port, "/")
    assert status == 200
    assert seen == {
        "scheme": "postgresql",
        "user": "shop_app",
        "host": "db.internal",
        "port": 5433,
        "database": "shop",
        "query": "sslmode=require",
        "password_sha256": hashlib.sha256(PASSWORD.encode()).hexdigest(),
        "pool_min": "2",
        "pool_max": "7",
    }
    plan = (await container.deployment_service.plan(created.value.id)).value
    [_, processes] = plan.platform_objects["objects"]
    assert processes["body"]["env"]["DATABASE_POOL_MAX"] == "7"
    assert "DATABASE_URL" in processes["body"]["secrets"]
    built = "DATABASE_URL is built from database.*, its password from $SHOP_DB_PASSWORD"
    assert built in plan.platform_objects["notes"]
    assert (tmp_path / "local" / "agent.log").is_file()
    assert files_holding_the_password(tmp_path) == []  # the store, the agent's state, every log
    assert PASSWORD not in str(record.details) + record.message
    logged = json.dumps(logs, default=str)
    assert record.id.value in logged
    assert PASSWORD not in logged
    assert quote(PASSWORD, safe="") not in logged
