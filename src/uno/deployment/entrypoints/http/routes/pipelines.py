"""Pipelines by hand: create, add stages and tasks, execute (202), cancel, approve, follow events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Success
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent
from uno.deployment.entrypoints.http.dependencies import Deployer, Reader, Services, next_offset, unwrap
from uno.deployment.entrypoints.http.problems import Problem
from uno.deployment.entrypoints.http.schemas import (
    COMMON_PROBLEMS,
    Decide,
    DecisionOut,
    EventOut,
    PipelineCreate,
    PipelineOut,
    PipelinePage,
    StageCreate,
    StageOut,
    TaskCreate,
    TaskOut,
)
from uno.deployment.ports.approvals import Decision
from uno.deployment.ports.repositories import MAX_PAGE
from uno.deployment.services.pipeline_service import PipelineService

router = APIRouter(prefix="/api/pipelines", tags=["pipelines"], responses=COMMON_PROBLEMS)

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
STREAM_POLL_SECONDS = 0.25
STREAM_HEARTBEAT_SECONDS = 15.0
MAX_EVENT_SEQUENCE = 10_000_000


def out(pipeline: Pipeline) -> PipelineOut:
    return PipelineOut.model_validate(pipeline.to_document())


def event_out(sequence: int, event: PipelineEvent) -> EventOut:
    return EventOut(sequence=sequence, **event.to_document())


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PipelineOut)
async def create_pipeline(body: PipelineCreate, services: Services, _: Deployer, response: Response) -> PipelineOut:
    """A new, empty pipeline for a configuration or a deployment."""
    pipeline = unwrap(
        await services.pipeline_service.create_pipeline(body.name, body.description, deployment_id=body.deployment_id)
    )
    response.headers["Location"] = f"{router.prefix}/{pipeline.id.value}"
    return out(pipeline)


@router.get("", response_model=PipelinePage)
async def list_pipelines(
    services: Services,
    _: Reader,
    deployment_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PipelinePage:
    found = unwrap(await services.pipeline_service.list_pipelines(deployment_id, limit=limit, offset=offset))
    return PipelinePage(
        items=[out(pipeline) for pipeline in found],
        limit=limit,
        offset=offset,
        next_offset=next_offset(len(found), limit, offset),
    )


@router.get("/{pipeline_id}", response_model=PipelineOut)
async def get_pipeline(pipeline_id: str, services: Services, _: Reader) -> PipelineOut:
    return out(unwrap(await services.pipeline_service.get_pipeline(pipeline_id)))


@router.post("/{pipeline_id}/stages", status_code=status.HTTP_201_CREATED, response_model=StageOut)
async def add_stage(pipeline_id: str, body: StageCreate, services: Services, _: Deployer) -> StageOut:
    """Append a stage; stages run in the order they were added."""
    stage = unwrap(await services.pipeline_service.add_stage(pipeline_id, body.name, body.description, body.fail_fast))
    return StageOut.model_validate(stage.to_document())


@router.post("/{pipeline_id}/stages/{stage_id}/tasks", status_code=status.HTTP_201_CREATED, response_model=TaskOut)
async def add_task(pipeline_id: str, stage_id: str, body: TaskCreate, services: Services, caller: Deployer) -> TaskOut:
    """Add a task to a stage; its action and parameters are checked now, not when it runs.

    A free-form action (``command``, ``http_check``, ``db_restore``...) needs ``admin``: 403 otherwise.
    """
    task = unwrap(
        await services.pipeline_service.add_task(
            pipeline_id,
            stage_id,
            body.name,
            body.description,
            body.dependencies,
            body.action,
            body.params,
            body.timeout,
            body.retries,
            body.skip_on_failure,
            caller=caller.caller,
        )
    )
    return TaskOut.model_validate(task.to_document())


@router.post("/{pipeline_id}/execute", status_code=status.HTTP_202_ACCEPTED, response_model=PipelineOut)
async def execute(pipeline_id: str, services: Services, caller: Deployer, response: Response) -> PipelineOut:
    """Start a pending pipeline; it runs in the background. Follow it at its events.

    403 for a ``deploy`` caller when a free-form task in it was not defined by an admin.
    """
    pipeline = unwrap(await services.pipeline_service.start_pipeline(pipeline_id, caller=caller.caller))
    response.headers["Location"] = f"{router.prefix}/{pipeline.id.value}"
    return out(pipeline)


@router.post("/{pipeline_id}/cancel", response_model=PipelineOut)
async def cancel(pipeline_id: str, services: Services, caller: Deployer) -> PipelineOut:
    """Stop a pipeline: a running one stops promptly, a pending one never starts."""
    return out(unwrap(await services.pipeline_service.cancel_pipeline(pipeline_id, canceled_by=caller.label)))


@router.post("/{pipeline_id}/tasks/{task_id}/approve", response_model=DecisionOut)
async def approve(
    pipeline_id: str, task_id: str, services: Services, caller: Deployer, body: Decide | None = None
) -> DecisionOut:
    """Let an approval gate pass (the first decision on a gate wins; a second is 409)."""
    comment = body.comment if body else ""
    return _decision(
        unwrap(await services.pipeline_service.approve(pipeline_id, task_id, by=caller.label, comment=comment))
    )


@router.post("/{pipeline_id}/tasks/{task_id}/reject", response_model=DecisionOut)
async def reject(
    pipeline_id: str, task_id: str, services: Services, caller: Deployer, body: Decide | None = None
) -> DecisionOut:
    """Stop at an approval gate: its task fails with the rejection as its message."""
    comment = body.comment if body else ""
    return _decision(
        unwrap(await services.pipeline_service.reject(pipeline_id, task_id, by=caller.label, comment=comment))
    )


@router.get("/{pipeline_id}/events", response_model=list[EventOut])
async def events(
    pipeline_id: str, services: Services, _: Reader, after: Annotated[int, Query(ge=0, le=10_000_000)] = 0
) -> list[EventOut]:
    """The pipeline's journal after the ``after``-th event: every status change, in order."""
    found = unwrap(await services.pipeline_service.get_events(pipeline_id, after=after))
    return [event_out(after + index + 1, event) for index, event in enumerate(found)]


@router.get(
    "/{pipeline_id}/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events, one per change."}},
)
async def stream_events(
    pipeline_id: str,
    request: Request,
    services: Services,
    _: Reader,
    after: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> StreamingResponse:
    """The journal live, as Server-Sent Events; the stream ends when the pipeline has ended.

    Each event's ``id`` is its sequence number: a client that reconnects with
    ``Last-Event-ID`` (browsers do) carries on where it stopped.
    """
    after = max(after, _resumed_after(last_event_id))
    unwrap(await services.pipeline_service.get_events(pipeline_id, after=after))  # 404 before the stream opens
    return StreamingResponse(
        _stream(services.pipeline_service, pipeline_id, after, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _resumed_after(last_event_id: str | None) -> int:
    """The sequence a reconnecting client saw last: one of our ids, a whole number (422 otherwise)."""
    if last_event_id is None or not last_event_id.strip():
        return 0
    given = last_event_id.strip()
    if not (given.isascii() and given.isdigit()) or int(given) > MAX_EVENT_SEQUENCE:
        message = f"must be the id of an event this stream sent: a whole number from 0 to {MAX_EVENT_SEQUENCE}"
        raise Problem(ErrorDetails.validation("Last-Event-ID", message))
    return int(given)


async def _stream(service: PipelineService, pipeline_id: str, after: int, request: Request) -> AsyncIterator[bytes]:
    sent = after
    quiet = 0.0
    yield b"retry: 2000\n\n"
    while not await request.is_disconnected():
        found = await service.get_events(pipeline_id, after=sent)
        fresh = found.value if isinstance(found, Success) else []
        for event in fresh:
            sent += 1
            data = event_out(sent, event).model_dump_json()
            yield f"id: {sent}\nevent: {event.subject}\ndata: {data}\n\n".encode()
        pipeline = await service.get_pipeline(pipeline_id)
        if isinstance(pipeline, Failure) or (pipeline.value.status.is_complete and not fresh):
            ended = pipeline.value.status.value if isinstance(pipeline, Success) else "gone"
            yield f"event: end\ndata: {json.dumps({'status': ended})}\n\n".encode()
            return
        quiet = 0.0 if fresh else quiet + STREAM_POLL_SECONDS
        if quiet >= STREAM_HEARTBEAT_SECONDS:
            quiet = 0.0
            yield b": keep-alive\n\n"
        await asyncio.sleep(STREAM_POLL_SECONDS)


def _decision(decision: Decision) -> DecisionOut:
    return DecisionOut(
        pipeline_id=decision.pipeline_id.value,
        task_id=decision.task_id.value,
        approved=decision.approved,
        by=decision.by,
        at=decision.at,
        comment=decision.comment,
    )
