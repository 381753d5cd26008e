"""Shared fixtures: a container built by the real composition root, with test doubles."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import databases
from tests.support import ScriptedAction
from uno.deployment import bootstrap
from uno.deployment.adapters.clocks import FakeClock
from uno.deployment.adapters.platforms.local import loops
from uno.deployment.engine.actions import ActionRegistry
from uno.deployment.engine.builtin_actions import builtin_actions
from uno.deployment.settings import MEMORY_URL, Settings

# The kubernetes driver's tests need its extra (scripts/setup installs it; a bare install may not).
collect_ignore_glob = [] if importlib.util.find_spec("kubernetes_validate") else ["*/test_kubernetes_*.py"]
# The aws driver's tests need its extra and moto (scripts/setup installs both).
_AWS = importlib.util.find_spec("moto") is not None and importlib.util.find_spec("boto3") is not None
collect_ignore_glob += [] if _AWS else ["*/test_aws_*.py"]
# The heroku and digitalocean tests validate against the platforms' own schemas with jsonschema (a dev extra).
_HEROKU = importlib.util.find_spec("jsonschema") is not None
collect_ignore_glob += [] if _HEROKU else ["*/test_heroku_*.py", "*/test_digitalocean_*.py"]
# The digitalocean driver's tests need its extra (pydo) and trustme (the fake's TLS).
_DIGITALOCEAN = _HEROKU and all(importlib.util.find_spec(name) for name in ("pydo", "trustme"))
collect_ignore_glob += (
    []
    if _DIGITALOCEAN
    else ["*/test_digitalocean_driver.py", "*/test_digitalocean_platform.py", "*/test_digitalocean_live.py"]
)
# The gcp driver's tests need its extra (google-cloud-run) and jsonschema (scripts/setup installs both).
_GCP = (
    importlib.util.find_spec("google.cloud.run_v2") is not None and importlib.util.find_spec("jsonschema") is not None
)
collect_ignore_glob += [] if _GCP else ["*/test_gcp_*.py"]
pytest_plugins = [
    "tests.kube_support",
    *(["tests.aws_support"] if _AWS else []),
    *(["tests.heroku_support"] if _HEROKU else []),
    *(["tests.digitalocean_support"] if _DIGITALOCEAN else []),
    *(["tests.gcp_support"] if _GCP else []),
]


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Tests marked ``every_loop`` run on each loop the local agent may run on; others on asyncio's."""
    if item.get_closest_marker("every_loop") is None:
        return {"asyncio": asyncio.new_event_loop}
    return {name: loops.factory(name) or asyncio.new_event_loop for name in loops.LOOPS}


@pytest.fixture(autouse=True)
async def _store_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Path]:
    """Anything that builds the default store (``configure()``, subprocesses) uses a file in tmp.

    No test may touch the user's data directory, where the embedded default, backups and
    the local platform's agent live; and no test leaves a local agent running behind it.
    """
    path = tmp_path / "uno-deploy.db"
    monkeypatch.setenv("UNO_DEPLOY_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("UNO_DEPLOY_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("UNO_DEPLOY_LOCAL_DIR", str(tmp_path / "local"))
    monkeypatch.delenv("UNO_DEPLOY_SETTINGS_FILE", raising=False)
    yield path
    if (tmp_path / "local" / "agent.sock").exists():
        await bootstrap.stop_local_platform(Settings(database_url=MEMORY_URL, local_dir=tmp_path / "local"))


@pytest.fixture
def memory_settings() -> Settings:
    return Settings(database_url=MEMORY_URL)


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    """One PostgreSQL database for this test session, migrated, dropped at the end."""
    with databases.fresh_postgres_database() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_session_url: str) -> str:
    """The session's PostgreSQL database, emptied for this test."""
    databases.empty(postgres_session_url)
    return postgres_session_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file of this test's own (created and migrated by whoever opens it)."""
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def environ() -> dict[str, Any]:
    """The deployer's environment as the engine sees it (a copy: tests may change it)."""
    import os

    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DB_PASSWORD": "s3cret-value"}


@pytest.fixture
def scripted() -> ScriptedAction:
    return ScriptedAction()


@pytest.fixture
def actions(scripted: ScriptedAction) -> ActionRegistry:
    registry = ActionRegistry(builtin_actions())
    registry.register(scripted)
    return registry


@pytest.fixture
def container(environ: dict[str, Any], actions: ActionRegistry, memory_settings: Settings) -> bootstrap.Container:
    return bootstrap.build(memory_settings, environ=environ, actions=actions)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
async def _forget_inject() -> AsyncIterator[None]:
    yield
    forgotten = bootstrap.reset()
    if forgotten is not None:
        await forgotten.aclose()
