"""A failing store is a STORAGE_ERROR value (or StorageError), never a driver exception,
and the store works again once the cause is gone."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from uno.core.errors import ErrorCode
from uno.deployment.adapters.clocks import SystemClock
from uno.deployment.adapters.repositories.sql import connecting, stores
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId, new_config_id
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Stage, Task, Transition
from uno.deployment.ports.repositories import StorageError

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def test_a_locked_sqlite_file_is_a_storage_error_and_the_store_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(connecting, "BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "locked.db"
    store = stores.open_store(str(path), SystemClock())
    pipeline = Pipeline(PipelineId.new(), "p", DeploymentId("cfg-x"), T0, stages=[Stage(StageId.new(), "s", [])])
    pipeline.stages[0].tasks.append(Task(TaskId.new(), "t", "noop"))
    assert (await store.pipelines.add(pipeline)).is_success()
    event = PipelineEvent(T0, pipeline.id, "pipeline", pipeline.id.value, "pending", "running")
    config = configuring.build(
        new_config_id(), {"app_name": "a", "app_version": "1.0.0", "environment": "dev"}, T0
    ).value
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock

        recorded = await store.pipelines.record(pipeline.id, [Transition(event, {"status": "running"})])
        added = await store.configs.add(config)
        with pytest.raises(StorageError) as deleting:
            await store.configs.delete(config.id)

        for error in (recorded.error, added.error, deleting.value.error):
            assert error.code is ErrorCode.STORAGE_ERROR
            assert "database is locked" in error.message
            assert str(path) in error.message
        other.execute("ROLLBACK")

        assert (await store.pipelines.record(pipeline.id, [Transition(event, {"status": "running"})])).value == 2
        assert (await store.configs.add(config)).is_success()
    finally:
        other.close()
        await store.aclose()


async def test_an_unreachable_postgres_server_is_a_storage_error_without_the_password():
    store = stores.open_store("postgresql://someone:hunter2@127.0.0.1:1/nothing", SystemClock(), migrate=False)
    try:
        with pytest.raises(StorageError) as failed:
            await store.configs.get(DeploymentId("cfg-x"))
        recorded = await store.pipelines.record(PipelineId.new(), [])
    finally:
        await store.aclose()

    assert failed.value.error.code is ErrorCode.STORAGE_ERROR
    assert "hunter2" not in failed.value.error.message
    assert "127.0.0.1" in failed.value.error.message
    assert recorded.error.code is ErrorCode.STORAGE_ERROR
