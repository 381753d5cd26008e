"""Choosing the store: URLs, the embedded default file, memory, the settings file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from uno.deployment import bootstrap
from uno.deployment.adapters.repositories import memory
from uno.deployment.adapters.repositories.sql import connecting, stores
from uno.deployment.settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://deployer@db.example.com/uno",
        "postgres://deployer@db.example.com/uno",
        "postgresql+psycopg://deployer@db.example.com/uno",
    ],
)
def test_a_postgresql_url_is_mapped_to_psycopg_for_both_engines(url: str):
    where = connecting.target(url)

    assert where.dialect == "postgresql"
    assert where.async_url.drivername == where.sync_url.drivername == "postgresql+psycopg"
    assert (where.async_url.host, where.async_url.database, where.async_url.username) == (
        "db.example.com",
        "uno",
        "deployer",
    )


def test_a_password_in_a_url_is_never_shown():
    where = connecting.target("postgresql://deployer:hunter2@db.example.com:6432/uno")

    assert where.describe() == "postgresql+psycopg://deployer:***@db.example.com:6432/uno"
    assert "hunter2" not in repr(Settings(database_url="postgresql://deployer:hunter2@db.example.com/uno"))


def test_relative_sqlite_paths_become_absolute_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)

    relative, absolute, bare = (
        connecting.target("sqlite:///data/uno.db"),
        connecting.target(f"sqlite:///{tmp_path}/data/uno.db"),
        connecting.target("data/uno.db"),
    )

    assert relative.path == absolute.path == bare.path == tmp_path / "data" / "uno.db"
    assert relative.async_url.drivername == "sqlite+aiosqlite"
    assert relative.sync_url.drivername == "sqlite"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite://", "memory://"),
        ("sqlite:///:memory:", "memory://"),
        ("postgresql+asyncpg://h/db", "not supported"),
    ],
)
def test_urls_the_store_cannot_use_are_refused_with_the_alternative(url: str, says: str):
    with pytest.raises(connecting.UnsupportedDatabase, match=says):
        connecting.target(url)


@pytest.mark.parametrize("url", ["mysql://root@localhost/uno", "memory://extra", "redis://localhost"])
def test_settings_refuse_a_store_they_do_not_know_without_echoing_the_url(url: str):
    with pytest.raises(ValidationError) as refused:
        Settings(database_url=url)

    assert url not in str(refused.value)


async def test_the_default_store_is_a_sqlite_file_in_the_user_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("UNO_DEPLOY_DATABASE_URL")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    expected = tmp_path / "data" / "uno-deployment" / "uno-deploy.db"

    container = bootstrap.build()
    try:
        created = await container.config_service.create_config(app_name="shop", app_version="1.0.0", environment="dev")
        assert created.is_success()
    finally:
        await container.aclose()

    assert connecting.default_database_path() == expected
    assert expected.is_file()
    reopened = bootstrap.build()
    try:
        assert (await reopened.config_service.get_config(created.value.id)).value == created.value
    finally:
        await reopened.aclose()


def test_memory_is_chosen_by_url_and_touches_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UNO_DEPLOY_DATABASE_URL", "memory://")
    monkeypatch.chdir(tmp_path)

    container = bootstrap.build()

    assert isinstance(container.configs, memory.MemoryConfigRepository)
    assert list(tmp_path.iterdir()) == []


def test_postgresql_is_chosen_by_url(postgres_url: str):
    container = bootstrap.build(Settings(database_url=postgres_url))

    assert isinstance(container.configs, stores.SqlConfigRepository)


def test_a_settings_file_is_read_and_the_environment_wins_over_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    settings_file = tmp_path / "uno-deploy.toml"
    settings_file.write_text('database_url = "memory://"\nmax_parallel_tasks = 3\nlease_ttl_seconds = 20\n')
    monkeypatch.setenv("UNO_DEPLOY_SETTINGS_FILE", str(settings_file))
    monkeypatch.delenv("UNO_DEPLOY_DATABASE_URL")
    monkeypatch.setenv("UNO_DEPLOY_MAX_PARALLEL_TASKS", "5")

    settings = Settings()

    assert (settings.database_url, settings.max_parallel_tasks, settings.lease_ttl_seconds) == ("memory://", 5, 20)
    assert Settings(max_parallel_tasks=7).max_parallel_tasks == 7


def test_a_missing_settings_file_is_an_error_not_a_silent_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UNO_DEPLOY_SETTINGS_FILE", str(tmp_path / "nowhere.toml"))

    with pytest.raises(ValueError, match=r"nowhere\.toml"):
        Settings()
