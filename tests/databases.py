"""Databases for tests: a temporary SQLite file, or a PostgreSQL database made for this run.

PostgreSQL is the server at ``UNO_TEST_POSTGRES_URL`` (default: the local one on
127.0.0.1:5432, user postgres). A test session creates one database with a unique name,
migrates it once, empties its tables before each test that uses it and drops it at the
end. An unreachable server fails those tests loudly: it is never a reason to skip them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from uno.deployment.adapters.repositories.sql import migrating, tables
from uno.deployment.adapters.repositories.sql.connecting import target

SERVER_URL = os.environ.get("UNO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _server() -> sa.Engine:
    url = make_url(SERVER_URL).set(drivername="postgresql+psycopg")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


@contextmanager
def fresh_postgres_database(prefix: str = "uno_test") -> Iterator[str]:
    """A new, empty, migrated PostgreSQL database, dropped on exit; yields its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    server = _server()
    try:
        with server.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as unreachable:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {make_url(SERVER_URL).render_as_string(hide_password=True)}: "
            f"start it (CI does: bash scripts/postgres) or set UNO_TEST_POSTGRES_URL ({unreachable.orig})"
        ) from None
    url = make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrating.upgrade(target(url))
        yield url
    finally:
        with server.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.dispose()


def empty(url: str) -> None:
    """Delete every row (the schema stays) so a test starts from an empty store."""
    engine = sa.create_engine(target(url).sync_url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            queue = ["procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs"]
            queue.append("procrastinate_workers")
            names = ", ".join([*(table.name for table in tables.ALL), *queue])
            connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()
