"""Where the database is and how to connect to it: URLs, engines and SQLite's settings.

A user writes one URL; this module turns it into the two SQLAlchemy URLs the store needs:
an async one for the repositories (``sqlite+aiosqlite``, ``postgresql+psycopg``) and a
sync one for migrations and SQLite's hot path (``sqlite`` with the standard ``sqlite3``
module, ``postgresql+psycopg``). Accepted:

- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (or any ``sqlite+driver``
  form), or a bare filesystem path; relative paths are made absolute once, here, so a
  later change of working directory never opens another file;
- ``postgresql://user@host/db`` (also ``postgres://`` and ``postgresql+psycopg://``),
  always mapped to psycopg 3.

Every SQLite connection gets the same settings on connect: WAL (readers never block the
writer), ``synchronous=NORMAL`` (a commit is durable once the WAL is synced at checkpoint;
a crash can lose the last commits but never corrupts the file), ``foreign_keys=ON`` and a
busy timeout. SQLAlchemy, not ``sqlite3``, emits ``BEGIN``, so a read sees one snapshot and
a write takes the write lock first (``BEGIN IMMEDIATE``): two writers then queue on the
busy timeout instead of failing on a lock upgrade.

Passwords in URLs are never printed: ``describe`` hides them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

APP_NAME = "uno-deployment"
DEFAULT_FILE = "uno-deploy.db"
BUSY_TIMEOUT_MS = 30_000
#: An execution option: the transaction about to begin will write (SQLite: BEGIN IMMEDIATE).
WRITES = "uno_writes"
MERGE_FUNCTION = "uno_merge_json"

_POSTGRES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg_async"}


class UnsupportedDatabase(ValueError):
    """The URL names no database this store can use (a configuration mistake)."""


@dataclass(frozen=True, slots=True)
class Target:
    """One database, as the store connects to it."""

    dialect: str  # "sqlite" or "postgresql"
    async_url: URL
    sync_url: URL

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def path(self) -> Path | None:
        """The SQLite file (None for PostgreSQL)."""
        return Path(self.sync_url.database) if self.is_sqlite and self.sync_url.database else None

    def describe(self) -> str:
        """The URL with its password hidden: safe to print and log."""
        return self.sync_url.render_as_string(hide_password=True)


def default_database_path() -> Path:
    """The embedded default: one SQLite file in the user's data directory."""
    return platformdirs.user_data_path(APP_NAME) / DEFAULT_FILE


def target(url: str | None) -> Target:
    """The database a setting names (None: the embedded default file)."""
    if url is None:
        return _sqlite(default_database_path())
    if "://" not in url:
        return _sqlite(Path(url))
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UnsupportedDatabase(f"{_hidden(url)} is not a database URL") from None
    if parsed.drivername == "sqlite" or parsed.drivername.startswith("sqlite+"):
        if not parsed.database or parsed.database == ":memory:" or parsed.query.get("mode") == "memory":
            raise UnsupportedDatabase("an in-memory SQLite database is not shared between connections: use memory://")
        return _sqlite(Path(parsed.database))
    if parsed.drivername in _POSTGRES:
        postgres = parsed.set(drivername="postgresql+psycopg")
        return Target("postgresql", postgres, postgres)
    raise UnsupportedDatabase(
        f"{parsed.drivername}:// is not supported: use sqlite:///path/to/file.db or postgresql://user@host/db"
    )


def _sqlite(path: Path) -> Target:
    absolute = path.expanduser().absolute()
    return Target(
        "sqlite",
        URL.create("sqlite+aiosqlite", database=str(absolute)),
        URL.create("sqlite", database=str(absolute)),
    )


def _hidden(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}" if "@" in rest else url


def async_engine(where: Target) -> AsyncEngine:
    """The engine the repositories use; it connects lazily, on first use."""
    if where.is_sqlite:
        engine = create_async_engine(where.async_url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(where.async_url, pool_size=10, max_overflow=10, pool_pre_ping=False)


def sync_engine(where: Target) -> sa.Engine:
    """An engine for migrations and, on SQLite, for the hot path run in a worker thread."""
    if where.is_sqlite:
        engine = sa.create_engine(
            where.sync_url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(where.sync_url, pool_size=2, max_overflow=2)


def prepare(where: Target) -> None:
    """Make what must exist before a first connection (the SQLite file's directory)."""
    if where.path is not None:
        where.path.parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: sa.Engine) -> None:
    sa.event.listen(engine, "connect", _on_connect)
    sa.event.listen(engine, "begin", _on_begin)


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (_on_begin)
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        f"busy_timeout={BUSY_TIMEOUT_MS}",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
    dbapi_connection.create_function(MERGE_FUNCTION, 2, merge_json, deterministic=True)


def _on_begin(connection: sa.Connection) -> None:
    writes = connection.get_execution_options().get(WRITES, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def merge_json(stored: str, new: str) -> str:
    """``{**stored, **new}`` for two JSON objects: SQLite's ``json_patch`` merges nested
    objects and drops nulls, which is not what the memory store does."""
    return json.dumps({**json.loads(stored), **json.loads(new)}, separators=(",", ":"))
