"""Real backups and restores: pg_dump/pg_restore on the local PostgreSQL, SQLite's online backup.

The PostgreSQL tests create their own database with a unique name and drop it after.
"""

from __future__ import annotations

import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from uno.deployment import Settings, bootstrap
from uno.deployment.domain.enums import PipelineStatus

pytestmark = pytest.mark.integration

PG = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]


def psql(database: str, sql: str) -> str:
    completed = subprocess.run(
        ["psql", *PG, "-d", database, "-tAq", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return completed.stdout.strip()


@pytest.fixture
def pg_database() -> Iterator[str]:
    name = f"uno_test_{uuid.uuid4().hex[:12]}"
    psql("postgres", f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def container(environ, tmp_path: Path) -> bootstrap.Container:
    return bootstrap.build(Settings(database_url="memory://", backup_dir=tmp_path / "backups"), environ=environ)


async def run_steps(container: bootstrap.Container, database: dict, *steps: tuple[str, dict]) -> object:
    config = await container.config_service.create_config(
        app_name="shop", app_version="1.0.0", environment="dev", database_config={**database, "backup_retention": 2}
    )
    service = container.pipeline_service
    pipeline = (await service.create_pipeline("db", deployment_id=config.value.id)).value
    stage = (await service.add_stage(pipeline.id, "database")).value
    for name, params in steps:
        added = await service.add_task(pipeline.id, stage.id, name, params=params, timeout=120)
        assert added.is_success(), added
    return (await service.execute_pipeline(pipeline.id)).value


async def test_postgres_backup_and_restore_round_trip(container, pg_database, tmp_path: Path):
    psql(pg_database, "CREATE TABLE orders (id int primary key, item text); INSERT INTO orders VALUES (1, 'book')")
    database = {"host": "127.0.0.1", "port": 5432, "name": pg_database, "user": "postgres"}

    backed_up = await run_steps(container, database, ("backup-database", {}))
    backup = backed_up.task_named("backup-database").outputs["backup_path"]
    psql(pg_database, "ALTER TABLE orders ADD COLUMN price int; UPDATE orders SET item = 'lost', price = 3")
    restored = await run_steps(container, database, ("restore-database", {"backup_path": backup}))

    assert backed_up.status is PipelineStatus.SUCCEEDED, backed_up.message
    assert Path(backup).parent == tmp_path / "backups" / "shop" / "dev"
    assert restored.status is PipelineStatus.SUCCEEDED, restored.message
    assert psql(pg_database, "SELECT item FROM orders") == "book"
    columns = "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns"
    assert psql(pg_database, f"{columns} WHERE table_name = 'orders'") == "id,item"


async def test_a_failed_pg_dump_fails_the_step_and_leaves_no_file(container, tmp_path: Path):
    database = {"host": "127.0.0.1", "port": 5432, "name": f"missing_{uuid.uuid4().hex[:8]}", "user": "postgres"}

    pipeline = await run_steps(container, database, ("backup-database", {}))

    task = pipeline.task_named("backup-database")
    assert task.status.value == "failed"
    assert task.message.startswith("backup failed: pg_dump exited with code 1")
    assert "does not exist" in task.message
    assert not any((tmp_path / "backups").rglob("*.dump"))


async def test_sqlite_backup_restore_and_retention(container, tmp_path: Path):
    live = tmp_path / "app.db"
    with sqlite3.connect(live) as connection:
        connection.execute("CREATE TABLE orders (item TEXT)")
        connection.execute("INSERT INTO orders VALUES ('book')")
    connection.close()
    database = {"engine": "sqlite", "name": str(live)}

    paths = []
    for _ in range(3):
        pipeline = await run_steps(container, database, ("backup-database", {}))
        paths.append(pipeline.task_named("backup-database").outputs["backup_path"])
    with sqlite3.connect(live) as connection:
        connection.execute("DELETE FROM orders")
    connection.close()
    restored = await run_steps(container, database, ("restore-database", {"backup_path": paths[-1]}))

    assert restored.status is PipelineStatus.SUCCEEDED, restored.message
    with sqlite3.connect(live) as connection:
        assert connection.execute("SELECT item FROM orders").fetchall() == [("book",)]
    connection.close()
    kept = sorted(str(path) for path in (tmp_path / "backups" / "shop" / "dev").iterdir())
    assert kept == sorted(paths[1:])  # retention 2: the oldest is gone


async def test_restoring_a_missing_backup_fails_clearly(container, tmp_path: Path):
    database = {"engine": "sqlite", "name": str(tmp_path / "app.db")}

    pipeline = await run_steps(container, database, ("restore-database", {"backup_path": str(tmp_path / "nope")}))

    assert pipeline.task_named("restore-database").message == f"restore failed: backup '{tmp_path / 'nope'}' not found"
