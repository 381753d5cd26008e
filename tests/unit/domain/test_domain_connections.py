"""DATABASE_URL built in one place: the password from its variable, URL-quoted, or a placeholder."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from uno.deployment.domain import connections
from uno.deployment.domain.configs import DatabaseConfig

POSTGRES = DatabaseConfig(
    host="db.internal", port=5433, name="shop", user="shop app", password_env_var="DB_PW", ssl_mode="require"
)


def test_the_password_is_read_from_its_variable_and_quoted():
    url = connections.url_from(POSTGRES, {"DB_PW": "p@ss:w/rd?#"})

    assert url == "postgresql://shop%20app:p%40ss%3Aw%2Frd%3F%23@db.internal:5433/shop?sslmode=require"
    assert url is not None
    assert unquote(urlsplit(url).password or "") == "p@ss:w/rd?#"


def test_an_unset_password_variable_gives_no_url():
    assert connections.url_from(POSTGRES, {}) is None
    assert connections.url_from(POSTGRES, {"DB_PW": ""}) is None
    assert connections.replica_environment(POSTGRES, {}) is None


def test_without_a_password_variable_or_with_sqlite_no_password_is_asked_for():
    assert connections.url_from(DatabaseConfig(user="app", name="shop"), {}) == "postgresql://app@localhost:5432/shop"
    assert connections.url_from(DatabaseConfig(engine="sqlite", name="/srv/shop.db"), {}) == "sqlite:////srv/shop.db"


def test_a_platform_may_put_in_a_placeholder_it_fills_itself():
    assert connections.url_with(POSTGRES, "$(DB_PW)") == (
        "postgresql://shop%20app:$(DB_PW)@db.internal:5433/shop?sslmode=require"
    )


def test_replicas_get_the_pool_sizes_plainly_and_the_url_as_a_secret():
    database = POSTGRES.model_copy(update={"connection_pool_min": 2, "connection_pool_max": 7})

    plain, secret = connections.replica_environment(database, {"DB_PW": "pw-1234"}) or ({}, {})

    assert plain == {"DATABASE_POOL_MIN": "2", "DATABASE_POOL_MAX": "7"}
    assert list(secret) == ["DATABASE_URL"]
    assert connections.replica_environment(None, {}) == ({}, {})
