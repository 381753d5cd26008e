"""Statements shared by the repositories that store aggregates whole, as JSON documents.

One row per aggregate: its document, the columns its queries filter and sort on, and its
``version``. ``save`` is one ``UPDATE ... WHERE id = ? AND version = ?``: the database
decides the race, so of two writers holding the same version exactly one wins, on any
number of connections or processes. Only when it changed nothing is the row read again,
to tell ``NOT_FOUND`` from ``CONFLICT``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result
from uno.deployment.domain import texts
from uno.deployment.ports.repositories import StorageError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Saved:
    """What a versioned update found: ``stored`` is None when the row is missing."""

    done: bool
    stored: int | None = None


def insert(connection: sa.Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ``ON CONFLICT`` for this connection's dialect (same API on both)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def add(connection: sa.Connection, table: sa.Table, row: dict[str, Any]) -> bool:
    """Insert the row unless its key exists: False means a duplicate, never an exception.

    RETURNING tells whether a row went in: drivers need not report an INSERT's rowcount.
    """
    statement = insert(connection, table).values(row).on_conflict_do_nothing().returning(*table.primary_key.columns)
    return connection.execute(statement).first() is not None


def save(connection: sa.Connection, table: sa.Table, row: dict[str, Any], expected: int) -> Saved:
    """Replace the row if its stored version is ``expected``; ``row`` holds the new version."""
    key = table.c.id == row["id"]
    updated = connection.execute(sa.update(table).where(key, table.c.version == expected).values(row))
    if updated.rowcount == 1:
        return Saved(True)
    return Saved(False, connection.execute(sa.select(table.c.version).where(key)).scalar_one_or_none())


def one(connection: sa.Connection, table: sa.Table, identifier: str) -> dict[str, Any] | None:
    document: dict[str, Any] | None = connection.execute(
        sa.select(table.c.document).where(table.c.id == identifier)
    ).scalar_one_or_none()
    return document


def page(
    connection: sa.Connection,
    table: sa.Table,
    conditions: Sequence[sa.ColumnElement[bool]],
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Documents matching every condition, newest first (created_at, then id), one page."""
    statement = (
        sa.select(table.c.document)
        .where(*conditions)
        .order_by(table.c.created_at.desc(), table.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [row[0] for row in connection.execute(statement)]


def refusal(kind: str, identifier: str, version: int, saved: Saved) -> ErrorDetails:
    """Why a save changed nothing, worded exactly as the memory repositories word it."""
    if saved.stored is None:
        return ErrorDetails.not_found(kind, identifier)
    return ErrorDetails.conflict(
        f"{kind} {identifier!r} was changed by someone else (you have version {version}, stored is {saved.stored}); "
        "read it again and retry",
        kind=kind,
        id=identifier,
        version=version,
        stored_version=saved.stored,
    )


def unstorable(kind: str, row: dict[str, Any]) -> Failure | None:
    """A row whose document no store can hold (NUL, lone surrogates, too deep): refused before writing."""
    problem = texts.unstorable(kind, row["document"])
    return Failure(problem) if problem is not None else None


def duplicate(kind: str, identifier: str) -> Failure:
    return Failure(ErrorDetails.conflict(f"{kind} {identifier!r} already exists"))


async def as_result(pending: Awaitable[Result[T]]) -> Result[T]:
    """For methods that return a ``Result``: a failed store is ``Failure(STORAGE_ERROR)``."""
    try:
        return await pending
    except StorageError as failed:
        return Failure(failed.error)
