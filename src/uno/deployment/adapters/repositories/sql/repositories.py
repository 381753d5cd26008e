"""SQL repositories of configurations and deployment records (SQLite and PostgreSQL).

They keep the contract of the memory repositories (``tests/contract``): the same results,
the same error codes and messages, the same order. Each aggregate is one row (see
``documents``), so an ``add`` or ``save`` is one statement in one transaction.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.repositories.sql import documents, fencing, tables
from uno.deployment.adapters.repositories.sql.executing import Database
from uno.deployment.domain import config_identity
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.repositories import ConfigQuery, DeploymentQuery

_CONFIG = "configuration"
_DEPLOYMENT = "deployment"


class SqlConfigRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, config: DeploymentConfig) -> Result[DeploymentConfig]:
        return await documents.as_result(self._add(config))

    async def _add(self, config: DeploymentConfig) -> Result[DeploymentConfig]:
        row = _config_row(config)
        if refused := documents.unstorable(_CONFIG, row):
            return refused
        if await self._database.write(lambda connection: documents.add(connection, tables.configs, row), single=True):
            return Success(config)
        if await self.get(config.id) is not None:
            return documents.duplicate(_CONFIG, config.id.value)
        existing = await self.find(ConfigQuery(app_name=config.app_name, environment=config.environment, limit=1))
        return Failure(config_identity.taken(config, existing[0].id if existing else None))

    async def get(self, config_id: DeploymentId) -> DeploymentConfig | None:
        document = await self._database.read(
            lambda connection: documents.one(connection, tables.configs, config_id.value)
        )
        return DeploymentConfig.from_document(document) if document is not None else None

    async def save(self, config: DeploymentConfig) -> Result[DeploymentConfig]:
        return await documents.as_result(self._save(config))

    async def _save(self, config: DeploymentConfig) -> Result[DeploymentConfig]:
        saved = config.model_copy(update={"version": config.version + 1})
        row = _config_row(saved)
        if refused := documents.unstorable(_CONFIG, row):
            return refused
        outcome = await self._database.write(
            lambda connection: documents.save(connection, tables.configs, row, config.version), single=True
        )
        if not outcome.done:
            return Failure(documents.refusal(_CONFIG, config.id.value, config.version, outcome))
        return Success(saved)

    async def delete(self, config_id: DeploymentId) -> bool:
        statement = sa.delete(tables.configs).where(tables.configs.c.id == config_id.value)
        deleted: int = await self._database.write(
            lambda connection: connection.execute(statement).rowcount, single=True
        )
        return deleted == 1

    async def find(self, query: ConfigQuery) -> list[DeploymentConfig]:
        columns = tables.configs.c
        conditions = [
            *_equal(
                (columns.app_name, query.app_name),
                (columns.environment, _value(query.environment)),
                (columns.platform, _value(query.platform)),
            ),
            columns.superseded_by.is_(None),  # an older duplicate migration 0004 kept is not listed
        ]
        found = await self._database.read(
            lambda connection: documents.page(connection, tables.configs, conditions, query.limit, query.offset)
        )
        return [DeploymentConfig.from_document(document) for document in found]


class SqlDeploymentResultRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, record: DeploymentResult) -> Result[DeploymentResult]:
        return await documents.as_result(self._add(record))

    async def _add(self, record: DeploymentResult) -> Result[DeploymentResult]:
        row = _deployment_row(record, record.version)
        if refused := documents.unstorable(_DEPLOYMENT, row):
            return refused
        if not await self._database.write(
            lambda connection: documents.add(connection, tables.deployments, row), single=True
        ):
            return documents.duplicate(_DEPLOYMENT, record.id.value)
        return Success(record)

    async def get(self, deployment_id: DeploymentId) -> DeploymentResult | None:
        document = await self._database.read(
            lambda connection: documents.one(connection, tables.deployments, deployment_id.value)
        )
        return DeploymentResult.from_document(document) if document is not None else None

    async def stamp(self, deployment_id: DeploymentId) -> tuple[int, int] | None:
        identifier = deployment_id.value
        row = await self._database.peek(lambda connection: connection.execute(_STAMP, {"id": identifier}).first())
        return (int(row[0]), int(row[1])) if row is not None else None

    async def save(self, record: DeploymentResult, fence: Lease | None = None) -> Result[DeploymentResult]:
        return await documents.as_result(self._save(record, fence))

    async def _save(self, record: DeploymentResult, fence: Lease | None) -> Result[DeploymentResult]:
        row = _deployment_row(record, record.version + 1)
        if refused := documents.unstorable(_DEPLOYMENT, row):
            return refused
        if fence is None:
            outcome = await self._database.write(
                lambda connection: documents.save(connection, tables.deployments, row, record.version), single=True
            )
        else:
            checked = await self._database.write(
                lambda connection: (
                    fencing.refusal(connection, fence)
                    or documents.save(connection, tables.deployments, row, record.version)
                )
            )
            if isinstance(checked, ErrorDetails):
                return Failure(checked)
            outcome = checked
        if not outcome.done:
            return Failure(documents.refusal(_DEPLOYMENT, record.id.value, record.version, outcome))
        record.version += 1
        return Success(record)

    async def find(self, query: DeploymentQuery) -> list[DeploymentResult]:
        conditions = _deployment_conditions(query)
        found = await self._database.read(
            lambda connection: documents.page(connection, tables.deployments, conditions, query.limit, query.offset)
        )
        return [DeploymentResult.from_document(document) for document in found]


def _deployment_conditions(query: DeploymentQuery) -> list[sa.ColumnElement[bool]]:
    columns = tables.deployments.c
    conditions = _equal(
        (columns.app_name, query.app_name),
        (columns.environment, _value(query.environment)),
        (columns.status, _value(query.status)),
        (columns.kind, _value(query.kind)),
        (columns.config_id, _value(query.config_id)),
    )
    if query.created_after is not None:
        conditions.append(columns.created_at >= query.created_after)
    if query.created_before is not None:
        conditions.append(columns.created_at < query.created_before)
    return conditions


def _equal(*pairs: tuple[sa.Column[Any], object]) -> list[sa.ColumnElement[bool]]:
    """``column = value`` for each pair whose value the query gives (None: no filter)."""
    return [column == value for column, value in pairs if value is not None]


def _value(member: Any) -> Any:
    return member.value if member is not None else None


def _config_row(config: DeploymentConfig) -> dict[str, Any]:
    return {
        "id": config.id.value,
        "app_name": config.app_name,
        "environment": config.environment.value,
        "platform": config.platform.value,
        "created_at": config.created_at,
        "version": config.version,
        "document": config.to_document(),
    }


def _deployment_row(record: DeploymentResult, version: int) -> dict[str, Any]:
    document = record.to_document()
    document["version"] = version
    return {
        "id": record.id.value,
        "config_id": record.config_id.value,
        "app_name": record.app_name,
        "environment": record.environment.value,
        "platform": record.platform.value,
        "status": record.status.value,
        "kind": record.kind.value,
        "created_at": record.created_at,
        "version": version,
        "document": document,
    }


_STAMP = sa.select(
    tables.deployments.c.version,
    sa.select(sa.func.coalesce(sa.func.sum(tables.pipelines.c.event_count), 0))
    .where(tables.pipelines.c.deployment_id == tables.deployments.c.id)
    .scalar_subquery(),
).where(tables.deployments.c.id == sa.bindparam("id"))
"""The deployment's version and its pipelines' event count: one indexed lookup."""
