"""SQL approval decisions: the first decision for a gate wins, from any process.

The insert is ``ON CONFLICT DO NOTHING`` keyed by (pipeline, task), so of two people
deciding at once exactly one is stored; the other reads the stored one in the same
transaction to say who decided first, in the memory repository's words.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.repositories.sql import documents, tables
from uno.deployment.adapters.repositories.sql.executing import Database
from uno.deployment.domain.ids import PipelineId, TaskId
from uno.deployment.ports.approvals import Decision

_c = tables.decisions.c
_READ = sa.select(_c.approved, _c.decided_by, _c.decided_at, _c.comment).where(
    _c.pipeline_id == sa.bindparam("d_pipeline"), _c.task_id == sa.bindparam("d_task")
)


class SqlDecisionRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def decide(self, decision: Decision) -> Result[Decision]:
        return await documents.as_result(
            self._database.write(lambda connection: _decide(connection, decision), single=True)
        )

    async def get(self, pipeline_id: PipelineId, task_id: TaskId) -> Decision | None:
        key = {"d_pipeline": pipeline_id.value, "d_task": task_id.value}
        row = await self._database.read(lambda connection: connection.execute(_READ, key).one_or_none())
        return _decision(pipeline_id, task_id, row) if row is not None else None


def _decide(connection: sa.Connection, decision: Decision) -> Result[Decision]:
    row = {
        "pipeline_id": decision.pipeline_id.value,
        "task_id": decision.task_id.value,
        "approved": decision.approved,
        "decided_by": decision.by,
        "decided_at": decision.at,
        "comment": decision.comment,
    }
    if documents.add(connection, tables.decisions, row):
        return Success(decision)
    key = {"d_pipeline": decision.pipeline_id.value, "d_task": decision.task_id.value}
    existing = _decision(decision.pipeline_id, decision.task_id, connection.execute(_READ, key).one())
    verdict = "approved" if existing.approved else "rejected"
    return Failure(ErrorDetails.conflict(f"this gate was already {verdict} by {existing.by}"))


def _decision(pipeline_id: PipelineId, task_id: TaskId, row: Any) -> Decision:
    return Decision(pipeline_id, task_id, approved=bool(row[0]), by=row[1], at=row[2], comment=row[3])
