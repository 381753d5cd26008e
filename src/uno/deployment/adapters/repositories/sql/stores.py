"""Opening a SQL store: every repository over one ``Database``, with the schema at head.

Opening is synchronous and cheap: engines connect lazily, on the first operation, in
whichever event loop runs it. When ``migrate`` is on (the default setting), the schema is
brought to head first, with the sync driver, so the first operation never finds an old
schema; a SQLite schema already at head costs one query and no Alembic (``revisions``).
With it off, the store uses the schema as it is and a missing table is a
``STORAGE_ERROR`` that says to run ``uno-deploy db upgrade``.
"""

from __future__ import annotations

from dataclasses import dataclass

from uno.deployment.adapters.repositories.sql import connecting, revisions
from uno.deployment.adapters.repositories.sql.access import SqlIdempotencyRepository, SqlTokenRepository
from uno.deployment.adapters.repositories.sql.decisions import SqlDecisionRepository
from uno.deployment.adapters.repositories.sql.executing import Database, translated
from uno.deployment.adapters.repositories.sql.leases import SqlLeaseRepository
from uno.deployment.adapters.repositories.sql.pipelines import SqlPipelineRepository
from uno.deployment.adapters.repositories.sql.repositories import (
    SqlConfigRepository,
    SqlDeploymentResultRepository,
)
from uno.deployment.ports.clock import Clock


@dataclass(frozen=True, slots=True)
class SqlStore:
    database: Database
    configs: SqlConfigRepository
    pipelines: SqlPipelineRepository
    deployments: SqlDeploymentResultRepository
    leases: SqlLeaseRepository
    decisions: SqlDecisionRepository
    tokens: SqlTokenRepository
    idempotency: SqlIdempotencyRepository

    async def aclose(self) -> None:
        await self.database.aclose()


def open_store(url: str | None, clock: Clock, *, migrate: bool = True, hot_path: bool = True) -> SqlStore:
    """The store at ``url`` (None: the embedded default SQLite file).

    Raises ``UnsupportedDatabase`` (a ``ValueError``) for a URL naming no usable database,
    and ``StorageError`` when the database cannot be prepared or migrated.

    ``hot_path`` off runs SQLite's operations through aiosqlite, as PostgreSQL's run through psycopg
    (the benchmark compares the two).
    """
    where = connecting.target(url)
    if migrate and not revisions.at_head(where):
        # Alembic loads only when there is something to migrate (``revisions``)
        from uno.deployment.adapters.repositories.sql import migrating  # noqa: PLC0415

        migrating.upgrade(where)
    else:
        with translated(where):
            connecting.prepare(where)
    database = Database(where, hot_path=hot_path)
    return SqlStore(
        database=database,
        configs=SqlConfigRepository(database),
        pipelines=SqlPipelineRepository(database),
        deployments=SqlDeploymentResultRepository(database),
        leases=SqlLeaseRepository(database, clock),
        decisions=SqlDecisionRepository(database),
        tokens=SqlTokenRepository(database),
        idempotency=SqlIdempotencyRepository(database),
    )
