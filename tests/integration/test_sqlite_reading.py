"""The CLI's short read path agrees with the SQL repositories, on one store read both ways.

``uno-deploy status``, ``history`` and ``config list`` read an embedded store with
``sqlite_reading`` (``entrypoints/cli/looking``) and render what it returns with the same
``views``/``showing`` functions as the full path; so what they print is what the full
path prints when the values agree: same records, same order (newest first, ties by id),
same filters and limits, same pipeline with its recorded states. Where the short path
has no answer (a missing id, a deployment that may be an orphan, a store to migrate) the
command takes the full path, whose words and exit codes are checked here through the CLI.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli.support import uno_deploy
from uno.deployment import bootstrap
from uno.deployment.adapters.clocks import SystemClock
from uno.deployment.adapters.repositories import sqlite_reading
from uno.deployment.adapters.repositories.sql import stores
from uno.deployment.domain import configuring
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import (
    DeploymentEnvironment,
    DeploymentKind,
    DeploymentStatus,
    PipelineStatus,
    StageStatus,
    TaskStatus,
)
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId, new_config_id, new_deployment_id
from uno.deployment.domain.pipelines import Pipeline, Stage, Task, Transition
from uno.deployment.entrypoints import views
from uno.deployment.entrypoints.cli import showing
from uno.deployment.entrypoints.cli.backends import Deployment
from uno.deployment.ports.repositories import ConfigQuery, DeploymentQuery

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FILTERS = [(None, None), ("shop", None), (None, "dev"), ("shop", "production"), ("nobody", None)]


def a_config(app: str, environment: str, minutes: int) -> DeploymentConfig:
    given = {"app_name": app, "app_version": f"1.{minutes}.0", "environment": environment, "platform": "local"}
    return configuring.build(new_config_id(), given, T0 + timedelta(minutes=minutes)).value


def a_pipeline(owner: DeploymentId, minutes: int) -> Pipeline:
    tasks = [Task(TaskId.new(), name, "wait", params={"seconds": 0}) for name in ("first", "second")]
    stage = Stage(StageId.new(), "deployment", tasks=tasks)
    return Pipeline(PipelineId.new(), "p", owner, T0 + timedelta(minutes=minutes), stages=[stage])


async def fill(store: stores.SqlStore) -> dict[str, Any]:
    """Configurations of two apps in two environments, and deployments of every kind, some at the same moment."""
    configs = [a_config("shop", "dev", 0), a_config("shop", "production", 1), a_config("blog", "dev", 1)]
    for config in configs:
        assert (await store.configs.add(config)).is_success()
    records = []
    for minutes, config, status, kind in [
        (0, configs[0], DeploymentStatus.SUCCEEDED, DeploymentKind.DEPLOY),
        (1, configs[0], DeploymentStatus.FAILED, DeploymentKind.DEPLOY),
        (1, configs[1], DeploymentStatus.SUCCEEDED, DeploymentKind.DEPLOY),  # same moment: ordered by id
        (2, configs[2], DeploymentStatus.CANCELED, DeploymentKind.DEPLOY),
        (3, configs[0], DeploymentStatus.SUCCEEDED, DeploymentKind.ROLLBACK),
    ]:
        at = T0 + timedelta(minutes=minutes)
        record = DeploymentResult(
            new_deployment_id(), config.id, config, at, kind=kind, status=status, success=status.is_complete
        )
        record.started_at, record.finished_at, record.message = at, at + timedelta(seconds=3), f"{status.value}"
        record.details = {"not_honoured": [{"field": "resources.cpu", "message": "not honoured on local: x"}]}
        if kind is DeploymentKind.ROLLBACK:
            record.rollback_of = records[0].id
        records.append(record)
    pipeline = a_pipeline(records[1].id, 1)
    records[1].pipeline_id = pipeline.id
    for record in records:
        assert (await store.deployments.add(record)).is_success()
    assert (await store.pipelines.add(pipeline)).is_success()
    stage, task = pipeline.stages[0], pipeline.stages[0].tasks[0]
    at = T0 + timedelta(minutes=1)
    started = [
        Transition.of(pipeline.move(PipelineStatus.RUNNING, at), pipeline),
        Transition.of(stage.move(pipeline.id, StageStatus.RUNNING, at), stage),
        Transition.of(task.move(pipeline.id, TaskStatus.RUNNING, at), task),
    ]
    task.outputs = {"steps": ["created v1"], "version_set": "shop-dev-v1"}
    failed = [Transition.of(task.move(pipeline.id, TaskStatus.FAILED, at + timedelta(seconds=2), "broke"), task)]
    assert (await store.pipelines.record(pipeline.id, started)).is_success()
    assert (await store.pipelines.record(pipeline.id, failed)).is_success()
    return {"configs": configs, "records": records, "pipeline": pipeline}


@pytest.fixture
async def filled(sqlite_url: str) -> Any:
    store = stores.open_store(sqlite_url, SystemClock())
    made = await fill(store)
    yield store, made
    await store.aclose()


async def test_listings_and_records_are_the_repositories_own(filled: Any, sqlite_url: str):
    store, made = filled
    reader = sqlite_reading.open_reader(sqlite_url)
    assert reader is not None
    try:
        for app_name, environment in FILTERS:
            for limit in (1, 2, 100):
                expected = await store.deployments.find(
                    DeploymentQuery(
                        app_name=app_name, environment=environment and _environment(environment), limit=limit
                    )
                )
                read = reader.deployments(app_name, environment, limit)
                assert [views.stored_deployment(document) for document in read] == [
                    views.deployment(record) for record in expected
                ]
                configs = await store.configs.find(
                    ConfigQuery(app_name=app_name, environment=environment and _environment(environment), limit=limit)
                )
                documents = reader.configs(app_name, environment, limit)
                assert documents == [config.to_document() for config in configs]
                assert [views.ConfigRow.stored(document) for document in documents] == [
                    views.ConfigRow.of(config) for config in configs
                ]
        for record in made["records"]:
            document = reader.deployment(record.id.value)
            assert document is not None
            assert views.stored_deployment(document) == views.deployment(await store.deployments.get(record.id))
        assert reader.deployment("dep-missing") is None

        pipeline_id = made["pipeline"].id
        read_pipeline, stored_pipeline = reader.pipeline(pipeline_id.value), await store.pipelines.get(pipeline_id)
        assert read_pipeline is not None
        assert stored_pipeline is not None
        assert (read_pipeline.to_document(), read_pipeline.version) == (
            stored_pipeline.to_document(),
            stored_pipeline.version,
        )
        assert read_pipeline.stages[0].tasks[0].status is TaskStatus.FAILED
        assert reader.pipeline("pipe-missing") is None
    finally:
        reader.close()


async def test_the_cli_prints_what_the_full_path_renders(filled: Any, sqlite_url: str, monkeypatch: pytest.MonkeyPatch):
    store, made = filled
    monkeypatch.setenv("UNO_DEPLOY_DATABASE_URL", sqlite_url)
    full = [Deployment.of(record) for record in await store.deployments.find(DeploymentQuery(app_name="shop", limit=2))]
    listed = [views.ConfigRow.of(config) for config in await store.configs.find(ConfigQuery(limit=100))]
    failed = made["records"][1]
    shown = showing.deployment_lines(Deployment.of(failed), await store.pipelines.get(failed.pipeline_id))

    history = uno_deploy("history", "shop", "--limit", "2")
    as_json = uno_deploy("history", "shop", "--limit", "2", "--json")
    configs = uno_deploy("config", "list")
    status = uno_deploy("status", failed.id.value)

    assert history.returncode == 0, history.stderr
    assert history.stdout.splitlines() == showing.deployments_table(full)
    assert json.loads(as_json.stdout) == json.loads(json.dumps([item.to_document() for item in full], default=str))
    assert configs.stdout.splitlines() == showing.configs_table(listed)
    assert status.stdout.splitlines() == shown


def test_a_missing_or_malformed_id_and_a_bad_filter_fail_as_the_services_say(
    filled: Any, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("UNO_DEPLOY_DATABASE_URL", sqlite_url)

    missing = uno_deploy("status", "dep-missing")
    malformed = uno_deploy("status", "dep missing")
    environment = uno_deploy("history", "--env", "moon")

    assert (missing.returncode, missing.stderr.splitlines()[0]) == (2, "error: deployment 'dep-missing' not found")
    assert malformed.returncode == 2
    assert "invalid DeploymentId 'dep missing'" in malformed.stderr
    assert environment.returncode == 2
    assert "'moon' is not one of dev, test, staging, production" in environment.stderr


async def test_a_deployment_that_may_be_an_orphan_is_left_to_the_services(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
):
    store = stores.open_store(sqlite_url, SystemClock())
    config = a_config("shop", "dev", 0)
    await store.configs.add(config)
    running = DeploymentResult(new_deployment_id(), config.id, config, T0, status=DeploymentStatus.RUNNING)
    running.started_at = T0
    await store.deployments.add(running)
    await store.aclose()
    monkeypatch.setenv("UNO_DEPLOY_DATABASE_URL", sqlite_url)

    status = uno_deploy("status", running.id.value)
    history = uno_deploy("history")

    # no process runs it, so the services end it as they answer; the short path would have said "running"
    assert status.returncode == 0, status.stderr
    assert "running" not in status.stdout.splitlines()[1]
    assert "running" not in history.stdout


def test_no_reader_for_a_store_to_migrate_or_create_or_not_sqlite(tmp_path: Path, sqlite_url: str):
    assert sqlite_reading.open_reader(str(tmp_path / "none.db")) is None
    assert bootstrap.sqlite_reader("memory://") is None
    assert sqlite_reading.open_reader("postgresql://deployer@db.example.com/uno") is None
    stores.open_store(sqlite_url, SystemClock())  # migrated to the newest revision
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0003'")
    connection.close()

    assert sqlite_reading.open_reader(sqlite_url) is None
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [("0003",)]
    connection.close()


def test_the_reader_never_writes(filled: Any, sqlite_url: str):
    reader = sqlite_reading.open_reader(sqlite_url)
    assert reader is not None
    connection = reader._connection
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            connection.execute("DELETE FROM deployments")
    finally:
        reader.close()


def _environment(name: str) -> DeploymentEnvironment:
    return DeploymentEnvironment(name)
