"""The SQL pipeline repository: a structure document plus the small rows a run writes.

``record`` is the engine's hot path (every task start and end goes through it, batched by
the engine's group commit), so it is one transaction of at most three statements,
whatever the batch size:

1. one ``UPDATE pipelines ... RETURNING`` that refuses an ended pipeline, bumps the
   version once per pipeline transition, keeps the status column and reserves the
   journal's sequence numbers; on PostgreSQL it also locks the row, so concurrent
   ``record`` calls on one pipeline queue up instead of interleaving (SQLite's
   ``BEGIN IMMEDIATE`` already serializes writers);
2. one upsert of the changed subjects' states, merged in SQL with the stored state
   (``{**stored, **new}``, as the memory repository does);
3. one multi-row insert of the journal events.

Only when the ``UPDATE`` changes nothing is the pipeline read again, to tell
``NOT_FOUND`` from ``INVALID_STATE``. ``get`` reads the document and the state rows in one
snapshot and lays the states over the structure with ``Pipeline.apply``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.repositories.sql import connecting, documents, fencing, tables
from uno.deployment.adapters.repositories.sql.executing import Database
from uno.deployment.domain.ids import PipelineId
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Transition
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.repositories import PipelineQuery

ENDED = ("succeeded", "failed", "canceled")
_KIND = "pipeline"

_p, _s, _e = tables.pipelines.c, tables.pipeline_states.c, tables.pipeline_events.c
_ADVANCE = (
    sa.update(tables.pipelines)
    .where(_p.id == sa.bindparam("p_id"), *(_p.status != status for status in ENDED))
    .values(
        version=_p.version + sa.bindparam("p_bumps", type_=sa.Integer()),
        event_count=_p.event_count + sa.bindparam("p_count", type_=sa.Integer()),
        status=sa.func.coalesce(sa.bindparam("p_status", type_=sa.String()), _p.status),
    )
    .returning(_p.version, _p.event_count)
)
_STATUS = sa.select(_p.status).where(_p.id == sa.bindparam("p_id"))
_DOCUMENT = sa.select(_p.version, _p.document).where(_p.id == sa.bindparam("p_id"))
_STATES = sa.select(_s.subject_kind, _s.subject_id, _s.state).where(_s.pipeline_id == sa.bindparam("p_id"))
_EVENTS = (
    sa.select(_e.at, _e.subject_kind, _e.subject_id, _e.old, _e.new, _e.message)
    .where(_e.pipeline_id == sa.bindparam("p_id"), _e.seq > sa.bindparam("p_after"))
    .order_by(_e.seq)
)
_CLEAR_STATES = sa.delete(tables.pipeline_states).where(_s.pipeline_id == sa.bindparam("p_id"))
_INSERT_EVENTS = sa.insert(tables.pipeline_events)


class SqlPipelineRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, pipeline: Pipeline) -> Result[Pipeline]:
        return await documents.as_result(self._add(pipeline))

    async def _add(self, pipeline: Pipeline) -> Result[Pipeline]:
        row = {**_row(pipeline, pipeline.version), "event_count": 0}
        if refused := documents.unstorable(_KIND, row):
            return refused
        if not await self._database.write(
            lambda connection: documents.add(connection, tables.pipelines, row), single=True
        ):
            return documents.duplicate(_KIND, pipeline.id.value)
        return Success(pipeline)

    async def get(self, pipeline_id: PipelineId) -> Pipeline | None:
        return await self._database.read(lambda connection: _get(connection, pipeline_id), snapshot=True)

    async def save(self, pipeline: Pipeline) -> Result[Pipeline]:
        return await documents.as_result(self._save(pipeline))

    async def _save(self, pipeline: Pipeline) -> Result[Pipeline]:
        row = _row(pipeline, pipeline.version + 1)
        if refused := documents.unstorable(_KIND, row):
            return refused
        outcome = await self._database.write(lambda connection: _replace(connection, row, pipeline.version))
        if not outcome.done:
            return Failure(documents.refusal(_KIND, pipeline.id.value, pipeline.version, outcome))
        pipeline.version += 1
        return Success(pipeline)

    async def find(self, query: PipelineQuery) -> list[Pipeline]:
        return await self._database.read(lambda connection: _find(connection, query), snapshot=True)

    async def record(
        self, pipeline_id: PipelineId, transitions: Sequence[Transition], fence: Lease | None = None
    ) -> Result[int]:
        return await documents.as_result(
            self._database.write(lambda connection: _record(connection, pipeline_id.value, transitions, fence))
        )

    async def events(self, pipeline_id: PipelineId, *, after: int = 0) -> list[PipelineEvent]:
        rows = await self._database.read(
            lambda connection: connection.execute(_EVENTS, {"p_id": pipeline_id.value, "p_after": after}).all()
        )
        return [PipelineEvent(row[0], pipeline_id, row[1], row[2], row[3], row[4], row[5]) for row in rows]


def _record(
    connection: sa.Connection, pipeline_id: str, transitions: Sequence[Transition], fence: Lease | None
) -> Result[int]:
    if (refused := fencing.refusal(connection, fence)) is not None:
        return Failure(refused)
    status: str | None = None
    bumps = 0
    states: dict[tuple[str, str], dict[str, Any]] = {}
    for transition in transitions:
        event = transition.event
        key = (event.subject, event.subject_id)
        states[key] = {**states.get(key, {}), **transition.state}
        if event.subject == "pipeline":
            bumps += 1
            if event.subject_id == pipeline_id and "status" in transition.state:
                status = transition.state["status"]
    values = {"p_id": pipeline_id, "p_bumps": bumps, "p_count": len(transitions), "p_status": status}
    advanced = connection.execute(_ADVANCE, values).one_or_none()
    if advanced is None:
        return Failure(_refusal(connection, pipeline_id))
    version, count = advanced
    if transitions:
        connection.execute(_upsert_states(connection), _state_rows(pipeline_id, states))
        connection.execute(_INSERT_EVENTS, _event_rows(pipeline_id, transitions, count - len(transitions)))
    return Success(int(version))


def _refusal(connection: sa.Connection, pipeline_id: str) -> ErrorDetails:
    status = connection.execute(_STATUS, {"p_id": pipeline_id}).scalar_one_or_none()
    if status is None:
        return ErrorDetails.not_found("pipeline", pipeline_id)
    return ErrorDetails.invalid_state(f"pipeline {pipeline_id} already {status}")


def _upsert_states(connection: sa.Connection) -> Any:
    """Insert or merge states: ``jsonb ||`` on PostgreSQL, the registered function on SQLite."""
    dialect = connection.dialect.name
    if dialect not in _UPSERTS:
        statement = documents.insert(connection, tables.pipeline_states)
        if dialect == "postgresql":
            merged: Any = _s.state.op("||")(statement.excluded.state)
        else:
            merged = getattr(sa.func, connecting.MERGE_FUNCTION)(_s.state, statement.excluded.state)
        _UPSERTS[dialect] = statement.on_conflict_do_update(
            index_elements=[_s.pipeline_id, _s.subject_kind, _s.subject_id], set_={"state": merged}
        )
    return _UPSERTS[dialect]


_UPSERTS: dict[str, Any] = {}


def _state_rows(pipeline_id: str, states: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"pipeline_id": pipeline_id, "subject_kind": kind, "subject_id": subject_id, "state": state}
        for (kind, subject_id), state in states.items()
    ]


def _event_rows(pipeline_id: str, transitions: Sequence[Transition], start: int) -> list[dict[str, Any]]:
    return [
        {
            "pipeline_id": pipeline_id,
            "seq": start + number,
            "at": transition.event.at,
            "subject_kind": transition.event.subject,
            "subject_id": transition.event.subject_id,
            "old": transition.event.old,
            "new": transition.event.new,
            "message": transition.event.message,
        }
        for number, transition in enumerate(transitions, start=1)
    ]


def _get(connection: sa.Connection, pipeline_id: PipelineId) -> Pipeline | None:
    found = connection.execute(_DOCUMENT, {"p_id": pipeline_id.value}).one_or_none()
    if found is None:
        return None
    states = connection.execute(_STATES, {"p_id": pipeline_id.value}).all()
    return _loaded(found[0], found[1], [(row[0], row[1], row[2]) for row in states])


def _find(connection: sa.Connection, query: PipelineQuery) -> list[Pipeline]:
    conditions = []
    if query.deployment_id is not None:
        conditions.append(_p.deployment_id == query.deployment_id.value)
    if query.status is not None:
        conditions.append(_p.status == query.status.value)
    rows = connection.execute(
        sa.select(_p.id, _p.version, _p.document)
        .where(*conditions)
        .order_by(_p.created_at.desc(), _p.id.desc())
        .limit(query.limit)
        .offset(query.offset)
    ).all()
    states: dict[str, list[tuple[str, str, dict[str, Any]]]] = {row[0]: [] for row in rows}
    if rows:
        selected = sa.select(_s.pipeline_id, _s.subject_kind, _s.subject_id, _s.state).where(_s.pipeline_id.in_(states))
        for owner, kind, subject_id, state in connection.execute(selected):
            states[owner].append((kind, subject_id, state))
    return [_loaded(row[1], row[2], states[row[0]]) for row in rows]


def _loaded(version: int, document: dict[str, Any], states: list[tuple[str, str, dict[str, Any]]]) -> Pipeline:
    pipeline = Pipeline.from_document(document)
    pipeline.apply(states)
    pipeline.version = int(version)
    return pipeline


def _replace(connection: sa.Connection, row: dict[str, Any], expected: int) -> documents.Saved:
    """A structural save: the new document, and the run's states start again from it."""
    saved = documents.save(connection, tables.pipelines, row, expected)
    if saved.done:
        connection.execute(_CLEAR_STATES, {"p_id": row["id"]})
    return saved


def _row(pipeline: Pipeline, version: int) -> dict[str, Any]:
    document = pipeline.to_document()
    document["version"] = version
    return {
        "id": pipeline.id.value,
        "deployment_id": pipeline.deployment_id.value,
        "status": pipeline.status.value,
        "created_at": pipeline.created_at,
        "version": version,
        "document": document,
    }
