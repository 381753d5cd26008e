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
busy timeout.

Transactions are ours, not the drivers': both drivers run in autocommit mode and the
``begin`` hook emits the ``BEGIN`` an operation asks for (execution option ``BEGIN``):
none for an operation of one statement (atomic by itself, and one round trip instead of
three on PostgreSQL), ``BEGIN IMMEDIATE`` for a SQLite write (it takes the write lock
first, so two writers queue on the busy timeout instead of failing on a lock upgrade),
``REPEATABLE READ`` for a PostgreSQL read that must see one snapshot.

Passwords in URLs are never printed: ``describe`` hides them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from uno.deployment.adapters.repositories.sql.locations import (  # noqa: F401 (connecting's names, as before)
    APP_NAME,
    BUSY_TIMEOUT_MS,
    DEFAULT_FILE,
    default_database_path,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

#: The execution option naming the transaction an operation needs: one of ``BEGINS``' keys.
BEGIN = "uno_begin"
BEGINS: dict[str, dict[str, str | None]] = {
    "sqlite": {"none": None, "read": "BEGIN", "snapshot": "BEGIN", "write": "BEGIN IMMEDIATE"},
    "postgresql": {
        "none": None,
        "read": "BEGIN",
        "snapshot": "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        "write": "BEGIN",
    },
}
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
    """The engine the repositories use; it connects lazily, on first use.

    SQLAlchemy's asyncio layer (which loads its ORM) is imported here, on the first
    operation that needs it: a command whose reads take SQLite's hot path never pays it.
    """
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415

    if where.is_sqlite:
        engine = create_async_engine(where.async_url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    else:
        engine = create_async_engine(where.async_url, isolation_level="AUTOCOMMIT", pool_size=10, max_overflow=10)
    _take_over_transactions(engine.sync_engine, where)
    return engine


def sync_engine(where: Target) -> sa.Engine:
    """An engine for migrations and, on SQLite, for the hot path run in a worker thread."""
    if where.is_sqlite:
        engine = sa.create_engine(
            where.sync_url,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
    else:
        engine = sa.create_engine(where.sync_url, isolation_level="AUTOCOMMIT", pool_size=2)
    _take_over_transactions(engine, where)
    return engine


def prepare(where: Target) -> None:
    """Make what must exist before a first connection (the SQLite file's directory)."""
    if where.path is not None:
        where.path.parent.mkdir(parents=True, exist_ok=True)


def _take_over_transactions(engine: sa.Engine, where: Target) -> None:
    begins = BEGINS[where.dialect]

    def begin(connection: sa.Connection) -> None:
        statement = begins[connection.get_execution_options().get(BEGIN, "write")]
        if statement is not None:  # on the DBAPI cursor: this runs for every transaction
            cursor = connection.connection.cursor()
            cursor.execute(statement)
            cursor.close()

    if where.is_sqlite:
        sa.event.listen(engine, "connect", _on_sqlite_connect)
    sa.event.listen(engine, "begin", begin)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # autocommit: BEGIN is ours (_take_over_transactions)
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


def merge_json(stored: str, new: str) -> str:
    """``{**stored, **new}`` for two JSON objects: SQLite's ``json_patch`` merges nested
    objects and drops nulls, which is not what the memory store does."""
    return json.dumps({**json.loads(stored), **json.loads(new)}, separators=(",", ":"))
