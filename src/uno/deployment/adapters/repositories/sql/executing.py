"""Running repository operations: each one transaction, on the connection that suits it.

A repository operation is a plain function of a SQLAlchemy ``Connection``, written once
for both dialects, and run one of two ways:

- through the async engine (psycopg, or aiosqlite when the hot path is off) with
  ``AsyncConnection.run_sync``: its statements go through the driver's async API without
  blocking the event loop;
- on SQLite's hot path (every operation, reads and writes), on one worker thread that
  keeps one plain ``sqlite3`` connection (through SQLAlchemy's sync engine). aiosqlite
  crosses threads once per statement and per fetch; the worker crosses once per
  operation. ``benchmarks/storage.py`` measures both and docs/how-to/storage.md has the
  figures that justify the second path. It also spares every command on the embedded
  store SQLAlchemy's asyncio layer (which loads its ORM) and aiosqlite: importing them
  cost a ``deploy`` or a ``rollback`` more than their writes take. SQLite has one writer
  at a time anyway, so queueing this process's writes on one thread loses nothing; a
  write waiting for another process's lock holds this process's reads behind it, for
  the busy timeout at most, as the journal writes always did.

Both paths share the schema, the statements and the transaction rules, and both end in
``translated``: the one place where a driver's exception becomes a ``StorageError``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DataError, DBAPIError, SQLAlchemyError

from uno.core.errors import ErrorCode, ErrorDetails
from uno.deployment.adapters.repositories.sql import connecting
from uno.deployment.ports.repositories import StorageError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
Operation = Callable[[sa.Connection], T]

_MISSING_SCHEMA = ("no such table", "does not exist")


class Database:
    """One database as the repositories use it: operations in, results or ``StorageError`` out."""

    def __init__(self, where: connecting.Target, *, hot_path: bool = True) -> None:
        self.target = where
        self._engine: AsyncEngine | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker = _Worker(where) if where.is_sqlite and hot_path else None
        self._inline = _Inline(where) if where.is_sqlite and hot_path else None

    @property
    def dialect(self) -> str:
        return self.target.dialect

    async def read(self, operation: Operation[T], *, snapshot: bool = False) -> T:
        """Run a read: of one statement, or of several that must see one moment (``snapshot``).

        On SQLite's hot path every read takes the worker: one thread hop per read.
        """
        return await self._dispatch(operation, "snapshot" if snapshot else "none")

    async def peek(self, operation: Operation[T]) -> T:
        """Run a read of one row by an index, on SQLite inline: no thread hop, no await.

        For the reads a client polls (a deployment's stamp). In WAL mode a reader never
        waits for a writer, so the event loop is held for the lookup only (tens of
        microseconds); elsewhere this is ``read``.
        """
        if self._inline is None:
            return await self.read(operation)
        with translated(self.target):
            return self._inline.call(operation)

    async def write(self, operation: Operation[T], *, single: bool = False) -> T:
        """Run a write in one transaction: all of it is stored, or none.

        ``single``: the operation changes the store with one statement, atomic by itself,
        so it runs without BEGIN and COMMIT (two round trips fewer on PostgreSQL).
        """
        return await self._dispatch(operation, "none" if single else "write")

    async def _dispatch(self, operation: Operation[T], begin: str) -> T:
        if self._worker is not None:
            return await self._worker.run(operation, begin)
        with translated(self.target):
            async with self._current_engine().connect() as connection:
                await connection.execution_options(**{connecting.BEGIN: begin})
                async with connection.begin():
                    return await connection.run_sync(operation)

    async def aclose(self) -> None:
        """Close every connection and the worker thread: the database is not used after this."""
        engine, self._engine = self._engine, None
        with translated(self.target):
            if engine is not None:
                await engine.dispose()
            if self._worker is not None:
                await self._worker.aclose()
            if self._inline is not None:
                self._inline.close()

    def _current_engine(self) -> AsyncEngine:
        """The engine of the running event loop: async connections cannot move between loops."""
        loop = asyncio.get_running_loop()
        if self._engine is None or self._loop is not loop:
            if self._engine is not None:
                self._engine.sync_engine.dispose(close=False)
            self._engine, self._loop = connecting.async_engine(self.target), loop
        return self._engine


class _Worker:
    """One thread with one SQLite connection: an operation costs a single thread hop."""

    def __init__(self, where: connecting.Target) -> None:
        self._target = where
        self._engine = connecting.sync_engine(where)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uno-sqlite")
        self._local = threading.local()

    async def run(self, operation: Operation[T], begin: str) -> T:
        loop = asyncio.get_running_loop()
        with translated(self._target):
            return await loop.run_in_executor(self._executor, self._call, operation, begin)

    def _call(self, operation: Operation[T], begin: str) -> T:
        connection: sa.Connection | None = getattr(self._local, "connection", None)
        if connection is None or connection.closed:
            connection = self._local.connection = self._engine.connect()
        try:
            connection.execution_options(**{connecting.BEGIN: begin})
            with connection.begin():
                return operation(connection)
        except BaseException:
            # whatever failed (a lock timeout, a broken file), the next operation starts
            # from a new connection rather than one in an unknown transaction state
            self._local.connection = None
            connection.close()
            raise

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        connection: sa.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
        self._engine.dispose()


class _Inline:
    """One SQLite connection for reads run on the event loop's thread (``Database.peek``)."""

    def __init__(self, where: connecting.Target) -> None:
        self._engine = connecting.sync_engine(where)
        self._connection: sa.Connection | None = None
        self._thread: int | None = None

    def call(self, operation: Operation[T]) -> T:
        connection = self._connection
        if connection is None or connection.closed or self._thread != threading.get_ident():
            # a connection stays on the thread that opened it (another loop, another thread: another one)
            connection = self._connection = self._engine.connect()
            self._thread = threading.get_ident()
            connection.execution_options(**{connecting.BEGIN: "none"})
        try:
            with connection.begin():
                return operation(connection)
        except BaseException:
            self._connection = None
            connection.close()
            raise

    def close(self) -> None:
        if self._connection is not None and self._thread == threading.get_ident():
            self._connection.close()
        self._connection = None
        self._engine.dispose()


@contextmanager
def translated(where: connecting.Target) -> Iterator[None]:
    """Turn driver and database failures into ``StorageError`` (the adapter's boundary)."""
    try:
        yield
    except StorageError:
        raise
    except (SQLAlchemyError, sqlite3.Error, OSError, UnicodeError) as error:
        raise StorageError(storage_error(error, where)) from error


def storage_error(error: BaseException, where: connecting.Target) -> ErrorDetails:
    """What a user reads when the store fails: the database's own words, no parameters, no password."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = str(cause).strip().splitlines()
    reason = lines[0] if lines else type(cause).__name__
    if _is_bad_value(error, cause):
        return ErrorDetails.validation("", f"a value cannot be stored: {reason}", database=where.describe())
    if any(marker in reason for marker in _MISSING_SCHEMA):
        reason += " (is the schema migrated? run: uno-deploy db upgrade)"
    return ErrorDetails(
        ErrorCode.STORAGE_ERROR,
        f"the store at {where.describe()} failed: {reason}",
        {"database": where.describe()},
    )


_DATA_EXCEPTION = "22"
"""SQLSTATE class 22, data exception: invalid byte sequence, untranslatable character, NUL, out of range."""


def _is_bad_value(error: BaseException, cause: BaseException) -> bool:
    """A value the database refused (not the database failing): the caller's input, not an outage."""
    if isinstance(error, DataError | sqlite3.DataError) or isinstance(cause, UnicodeError):
        return True
    state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return isinstance(state, str) and state.startswith(_DATA_EXCEPTION)
