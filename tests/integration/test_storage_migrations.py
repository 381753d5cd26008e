"""Migrations: every revision goes up and down on both dialects, and head equals the models."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tests import databases
from uno.core.errors import ErrorCode
from uno.deployment import bootstrap
from uno.deployment.adapters.repositories.sql import connecting, migrating, tables
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import new_config_id
from uno.deployment.settings import Settings

pytestmark = pytest.mark.integration

UNO_DEPLOY = Path(sys.executable).with_name("uno-deploy")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all (the session's PostgreSQL one, taken down to base and back)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url = str(request.getfixturevalue("postgres_session_url"))
    migrating.downgrade(connecting.target(url), "base")
    yield url
    migrating.upgrade(connecting.target(url))


def _ours(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    return not (kind == "table" and reflected and name is not None and name.startswith("procrastinate_"))


def schema_differences(url: str) -> list[object]:
    engine = connecting.sync_engine(connecting.target(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": _ours})
            return list(compare_metadata(context, tables.metadata))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = connecting.sync_engine(connecting.target(url))
    try:
        names = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
        return {name for name in names if not name.startswith("procrastinate_")}
    finally:
        engine.dispose()


def test_every_revision_goes_up_and_down_and_head_equals_the_models(empty_database: str):
    where = connecting.target(empty_database)
    revisions = [script.revision for script in ScriptDirectory(str(migrating.MIGRATIONS)).walk_revisions()]
    revisions.reverse()  # oldest first

    for revision in revisions:
        assert migrating.upgrade(where, revision).after == revision
    assert schema_differences(empty_database) == []
    assert table_names(empty_database) == {table.name for table in tables.ALL}

    for previous in [*reversed(revisions[:-1]), "base"]:
        migrating.downgrade(where, previous)
    assert migrating.current(where).after is None
    assert table_names(empty_database) == set()

    again = migrating.upgrade(where)
    assert (again.before, again.after) == (None, migrating.head())
    assert schema_differences(empty_database) == []


def test_upgrading_a_current_schema_changes_nothing(empty_database: str):
    where = connecting.target(empty_database)
    migrating.upgrade(where)

    again = migrating.upgrade(where)

    assert not again.changed
    assert again.after == again.head


async def test_0004_keeps_an_old_stores_duplicates_and_lists_the_newest_as_the_configuration(empty_database: str):
    where = connecting.target(empty_database)
    migrating.upgrade(where, "0003")
    now = datetime.now(UTC)
    made = [
        configuring.build(new_config_id(), {"app_name": "hello", "app_version": version, "environment": "dev"}, at)
        for version, at in (("1.0.0", now - timedelta(hours=2)), ("2.0.0", now - timedelta(hours=1)), ("3.0.0", now))
    ]
    older, middle, newest = (built.value for built in made)
    engine = connecting.sync_engine(where)
    try:
        with engine.begin() as connection:
            for config in (older, middle, newest):
                row = {
                    "id": config.id.value,
                    "app_name": "hello",
                    "environment": "dev",
                    "platform": "local",
                    "created_at": config.created_at,
                    "version": 1,
                    "document": config.to_document(),
                }
                connection.execute(sa.insert(_configs_at_0003()).values(row))
    finally:
        engine.dispose()

    migrating.upgrade(where)

    container = bootstrap.build(Settings(database_url=empty_database))
    try:
        service = container.config_service
        listed = await service.list_configs(app_name="hello", environment="dev")
        assert [config.id for config in listed.value] == [newest.id]
        for kept in (older, middle):  # still there, by id: deployments that name them read them
            assert (await service.get_config(kept.id)).value.app_version == kept.app_version
        again = await service.create_config(app_name="hello", app_version="4.0.0", environment="dev")
        assert again.error.code is ErrorCode.CONFLICT
        assert again.error.context["existing_id"] == newest.id.value
    finally:
        await container.aclose()


def _configs_at_0003() -> sa.Table:
    columns = ("id", "app_name", "environment", "platform", "created_at", "version", "document")
    types = (sa.String, sa.String, sa.String, sa.String, sa.DateTime(timezone=True), sa.Integer, sa.JSON)
    return sa.Table(
        "configs", sa.MetaData(), *(sa.Column(name, kind) for name, kind in zip(columns, types, strict=True))
    )


async def test_without_auto_migrate_the_store_says_to_upgrade_and_db_upgrade_fixes_it(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'manual.db'}"
    container = bootstrap.build(Settings(database_url=url, auto_migrate=False))
    try:
        refused = await container.config_service.create_config(app_name="shop", app_version="1.0.0", environment="dev")
        assert refused.error.code is ErrorCode.STORAGE_ERROR
        assert "uno-deploy db upgrade" in refused.error.message

        upgrading = await asyncio.create_subprocess_exec(
            str(UNO_DEPLOY), "db", "upgrade", "--url", url, stdout=asyncio.subprocess.PIPE
        )
        output, _ = await asyncio.wait_for(upgrading.communicate(), timeout=60)
        assert upgrading.returncode == 0
        assert f"upgraded from an empty schema to {migrating.head()}" in output.decode()

        created = await container.config_service.create_config(app_name="shop", app_version="1.0.0", environment="dev")
        assert created.is_success()
    finally:
        await container.aclose()


def test_db_current_reports_the_revision_and_db_upgrade_is_idempotent(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def uno_deploy(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(UNO_DEPLOY), "db", *arguments, "--url", url], capture_output=True, text=True, timeout=60, check=False
        )

    assert "behind: run `uno-deploy db upgrade`" in uno_deploy("current").stdout
    assert uno_deploy("upgrade").returncode == 0
    second = uno_deploy("upgrade")
    assert second.returncode == 0
    assert f"already at {migrating.head()}" in second.stdout
    assert f"at {migrating.head()}, newest {migrating.head()}" in uno_deploy("current").stdout


def test_db_upgrade_on_an_unreachable_database_prints_one_line_and_exits_3():
    completed = subprocess.run(
        [str(UNO_DEPLOY), "db", "upgrade", "--url", "postgresql://someone:hunter2@127.0.0.1:1/nothing"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 3
    assert completed.stdout == ""
    [line] = completed.stderr.splitlines()
    assert line.startswith("error: the store at postgresql+psycopg://someone:***@127.0.0.1:1/nothing failed:")
    assert "hunter2" not in completed.stderr


def test_build_brings_an_old_schema_to_head(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    where = connecting.target(url)
    migrating.upgrade(where)
    migrating.downgrade(where, "base")

    container = bootstrap.build(Settings(database_url=url))

    assert migrating.current(where).after == migrating.head()
    assert container.settings.auto_migrate


def test_two_processes_migrating_one_fresh_postgres_database_at_once_both_succeed():
    with databases.fresh_postgres_database("uno_race") as url:
        where = connecting.target(url)
        migrating.downgrade(where, "base")
        script = (
            "import sys; from uno.deployment.adapters.repositories.sql import connecting, migrating; "
            "print(migrating.upgrade(connecting.target(sys.argv[1])).after)"
        )
        racers = [
            subprocess.Popen(
                [sys.executable, "-c", script, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outcomes = [racer.communicate(timeout=60) for racer in racers]

        assert [racer.returncode for racer in racers] == [0, 0], outcomes
        assert [out.strip() for out, _ in outcomes] == [migrating.head()] * 2
        assert schema_differences(url) == []
