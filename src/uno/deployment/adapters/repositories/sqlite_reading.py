"""A read-only look at the embedded SQLite store, over the standard library's ``sqlite3``.

``uno-deploy status``, ``history`` and ``config list`` read a few rows; importing
SQLAlchemy and building the services to read them took several times longer than the
reading. This module answers exactly those queries from the same tables
(``sql/tables.py``), with the same filters and the same order as the SQL repositories
(``sql/documents.page``: newest first by ``created_at``, then ``id``), and gives back
the stored documents as they were written (a pipeline as the domain's ``Pipeline``,
its recorded states laid over its structure as ``sql/pipelines`` does).

Invariants:
- it never writes: the file is opened with ``mode=ro``, and ``open_reader`` answers None
  (the caller then takes the full path, which migrates or reports) unless the file exists
  and its schema is the revision this version ships (``revisions.newest``);
- it knows no business rule: which answers it may give (a deployment that may be an
  orphan must go through the services, which end orphans) is the caller's choice;
- ``tests/integration/test_sqlite_reading.py`` reads one store through it and through
  the SQL repositories and compares: a query changed there must be changed here.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from uno.deployment.adapters.repositories.sql import locations, revisions
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.ports.reading import ReadingFailed

_NEWEST_FIRST = "ORDER BY created_at DESC, id DESC LIMIT ?"


class SqliteReader:
    """Reads of one SQLite store, on one read-only connection; close it when done.

    Every read raises ``ReadingFailed`` when SQLite fails (locked past the busy timeout,
    a damaged file, a document that is not JSON): the caller then asks the services.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def close(self) -> None:
        self._connection.close()

    def deployment(self, deployment_id: str) -> dict[str, Any] | None:
        """The stored document of one deployment record; None when there is none."""
        return self._one("SELECT document FROM deployments WHERE id = ?", deployment_id)

    def deployments(self, app_name: str | None, environment: str | None, limit: int) -> list[dict[str, Any]]:
        """Deployment records' documents, newest first, filtered as ``DeploymentQuery`` filters."""
        where, values = _equal(("app_name", app_name), ("environment", environment))
        return self._documents(f"SELECT document FROM deployments {where} {_NEWEST_FIRST}", *values, limit)

    def configs(self, app_name: str | None, environment: str | None, limit: int) -> list[dict[str, Any]]:
        """Configurations' documents, newest first; an older duplicate migration 0004 kept is not listed."""
        where, values = _equal(("app_name", app_name), ("environment", environment))
        where = f"{where} AND superseded_by IS NULL" if where else "WHERE superseded_by IS NULL"
        return self._documents(f"SELECT document FROM configs {where} {_NEWEST_FIRST}", *values, limit)

    def pipeline(self, pipeline_id: str) -> Pipeline | None:
        """The pipeline with its recorded states, read in one snapshot; None when there is none."""
        with _translated(), self._connection:  # one transaction: the structure and its states at one moment
            self._connection.execute("BEGIN")
            found = self._connection.execute(
                "SELECT version, document FROM pipelines WHERE id = ?", (pipeline_id,)
            ).fetchone()
            states = self._connection.execute(
                "SELECT subject_kind, subject_id, state FROM pipeline_states WHERE pipeline_id = ?", (pipeline_id,)
            ).fetchall()
        if found is None:
            return None
        with _translated():
            pipeline = Pipeline.from_document(_document(found[1]))
            pipeline.apply([(kind, subject_id, _document(state)) for kind, subject_id, state in states])
        pipeline.version = int(found[0])
        return pipeline

    def _one(self, statement: str, *values: object) -> dict[str, Any] | None:
        with _translated():
            row = self._connection.execute(statement, values).fetchone()
            return _document(row[0]) if row is not None else None

    def _documents(self, statement: str, *values: object) -> list[dict[str, Any]]:
        with _translated():
            return [_document(row[0]) for row in self._connection.execute(statement, values)]


def open_reader(url: str | None) -> SqliteReader | None:
    """A reader of the store ``url`` names (None: the embedded default file).

    None unless it is a SQLite file that exists, opens read-only, and is at the newest
    schema revision: anything else (PostgreSQL, a store to migrate or create, a URL in a
    form only ``connecting`` reads) is for the full path.
    """
    path = locations.sqlite_file(url)
    head = revisions.newest()
    if path is None or head is None or not path.is_file():
        return None
    try:
        connection = sqlite3.connect(_read_only(path), uri=True, timeout=locations.BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error:
        return None
    connection.isolation_level = None  # autocommit: ``pipeline`` begins its own snapshot
    if revisions.stored_in(connection) != head:
        connection.close()
        return None
    return SqliteReader(connection)


def _read_only(path: Path) -> str:
    return f"file:{quote(str(path))}?mode=ro"


def _equal(*pairs: tuple[str, str | None]) -> tuple[str, list[str]]:
    """``WHERE column = ? AND ...`` for each pair whose value is given (None: no filter)."""
    given = [(column, value) for column, value in pairs if value is not None]
    if not given:
        return "", []
    return "WHERE " + " AND ".join(f"{column} = ?" for column, _ in given), [value for _, value in given]


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, ValueError, KeyError, TypeError) as failed:
        raise ReadingFailed(f"the store could not be read directly: {failed}") from failed


def _document(text: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(text)
    return document
