"""Deployments: deploy and roll back (202, in the background), follow, list, cancel, steer a canary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.entrypoints import views
from uno.deployment.entrypoints.http.dependencies import Deployer, Reader, Services, next_offset, unwrap
from uno.deployment.entrypoints.http.fast_status import status_out
from uno.deployment.entrypoints.http.schemas import (
    COMMON_PROBLEMS,
    AbortRequest,
    Accepted,
    CancelRequest,
    DeploymentOut,
    DeploymentPage,
    DeploymentStatusOut,
    DeployRequest,
    Filter,
    PathName,
    PromoteRequest,
    RollbackRequest,
)
from uno.deployment.ports.repositories import MAX_PAGE
from uno.deployment.services import inputs

router = APIRouter(prefix="/api/deployments", tags=["deployments"], responses=COMMON_PROBLEMS)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Send the same key again (after a timeout, say) to get the same deployment, not a second one.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


def status_url(deployment_id: str) -> str:
    return f"{router.prefix}/status/{deployment_id}"


def out(record: DeploymentResult) -> DeploymentOut:
    return DeploymentOut(**views.deployment(record))


def _accepted(record: DeploymentResult, response: Response) -> Accepted:
    url = status_url(record.id.value)
    response.headers["Location"] = url
    return Accepted(
        deployment_id=record.id.value,
        status=record.status.value,
        status_url=url,
        pipeline_id=record.pipeline_id.value if record.pipeline_id else None,
        kind=record.kind.value,
        created_at=record.created_at,
        not_honoured=list(record.details.get("not_honoured", [])),
        deprecated=list(record.details.get("deprecated", [])),
    )


@router.post("/deploy", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def deploy(
    body: DeployRequest,
    services: Services,
    caller: Deployer,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Start deploying a configuration's release; it runs in the background. Follow ``status_url``."""
    record = unwrap(
        await services.deployment_service.start_deploy(
            body.config_id,
            body.description,
            idempotency_key=idempotency_key,
            requester=caller.id,
            strict=body.strict,
            config_version=body.config_version,
        )
    )
    return _accepted(record, response)


@router.post("/rollback", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def rollback(
    body: RollbackRequest,
    services: Services,
    caller: Deployer,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Start restoring the release that ran before a deployment (or ``to``, any earlier one)."""
    record = unwrap(
        await services.deployment_service.start_rollback(
            body.deployment_id,
            body.restore_database,
            body.to,
            idempotency_key=idempotency_key,
            requester=caller.id,
        )
    )
    return _accepted(record, response)


@router.get("/status/{deployment_id}", response_model=DeploymentStatusOut)
async def get_status(deployment_id: str, services: Services, _: Reader) -> DeploymentStatusOut:
    """Where a deployment is now: status, progress, current stage and task, timestamps."""
    return status_out(unwrap(await services.deployment_service.get_status(deployment_id)))


@router.get("", response_model=DeploymentPage)
async def list_deployments(
    services: Services,
    _: Reader,
    app_name: Filter = None,
    environment: Filter = None,
    status: Filter = None,
    config_id: Filter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DeploymentPage:
    """Deployments matching every filter given, newest first."""
    found = unwrap(
        await services.deployment_service.list_deployments(
            app_name=app_name, environment=environment, status=status, config_id=config_id, limit=limit, offset=offset
        )
    )
    return DeploymentPage(
        items=[out(record) for record in found],
        limit=limit,
        offset=offset,
        next_offset=next_offset(len(found), limit, offset),
    )


@router.get("/history/{app_name}/{environment}", response_model=DeploymentPage)
async def history(
    app_name: PathName, environment: PathName, services: Services, _: Reader, limit: Limit = 100, offset: Offset = 0
) -> DeploymentPage:
    """Every deployment and rollback of an application in an environment, newest first."""
    return await list_deployments(services, _, app_name=app_name, environment=environment, limit=limit, offset=offset)


@router.get("/{deployment_id}", response_model=DeploymentOut)
async def get_deployment(deployment_id: str, services: Services, _: Reader) -> DeploymentOut:
    return out(unwrap(await services.deployment_service.get_deployment(deployment_id)))


@router.post("/{deployment_id}/cancel", response_model=DeploymentOut)
async def cancel(
    deployment_id: str, services: Services, caller: Deployer, body: CancelRequest | None = None
) -> DeploymentOut:
    """Stop a running deployment: its pipeline stops promptly and the record says who stopped it."""
    # DeploymentService.cancel takes who canceled, not a reason: the reason is checked here, as its services would.
    reason = unwrap(inputs.text(body.reason if body else "", "reason", required=False, max_length=2000))
    by = f"{caller.label}: {reason}" if reason else caller.label
    return out(unwrap(await services.deployment_service.cancel(deployment_id, canceled_by=by)))


@router.post("/{deployment_id}/promote", response_model=DeploymentOut)
async def promote(
    deployment_id: str, services: Services, caller: Deployer, body: PromoteRequest | None = None
) -> DeploymentOut:
    """Let a running canary go on to its next step (``full``: straight to 100%, still health-checked).

    The decision is for the step the canary is at; 409 when that step was already decided
    or the deployment is no canary in progress.
    """
    full = bool(body and body.full)
    return out(unwrap(await services.deployment_service.promote(deployment_id, full=full, by=caller.label)))


@router.post("/{deployment_id}/abort", response_model=DeploymentOut)
async def abort(
    deployment_id: str, services: Services, caller: Deployer, body: AbortRequest | None = None
) -> DeploymentOut:
    """Stop a running canary: all traffic back to the stable version, the canary removed, the deploy failed."""
    reason = body.reason if body else ""
    return out(unwrap(await services.deployment_service.abort(deployment_id, by=caller.label, reason=reason)))


class PlanRequest(BaseModel):
    """A stored configuration (``config_id``), or one given whole (``config``, as for creating it), never both."""

    model_config = ConfigDict(extra="forbid")

    config_id: str | None = Field(default=None, max_length=128, examples=["cfg-01jz8x3v5q6w7e8r9t0y1u2i3o"])
    config: dict[str, Any] | None = Field(default=None, description="A configuration to plan without storing it.")
    live: bool = Field(
        default=True,
        description="plan: also compare with what is live (diff), reading the platform; false touches no platform.",
    )

    @model_validator(mode="after")
    def _one(self) -> PlanRequest:
        if (self.config_id is None) == (self.config is None):
            raise ValueError("give config_id or config, not both")
        return self


class PlannedTaskOut(BaseModel):
    name: str
    action: str
    description: str
    depends_on: list[str]
    timeout: float


class PlannedStageOut(BaseModel):
    name: str
    description: str
    tasks: list[PlannedTaskOut]


class ScheduleOut(BaseModel):
    strategy: str
    steps: list[str]
    settings: dict[str, Any]


class RestorableOut(BaseModel):
    deployment_id: str
    app_version: str
    finished_at: datetime | None


class FieldChangeOut(BaseModel):
    path: str = Field(examples=["spec.template.spec.containers[name=shop].env[name=LOG_LEVEL].value"])
    change: str = Field(description="added, removed or changed", examples=["changed"])
    before: Any = None
    after: Any = None


class ObjectDiffOut(BaseModel):
    kind: str = Field(examples=["Deployment"])
    name: str = Field(examples=["shop-blue"])
    change: str = Field(description="added, removed, changed or unchanged")
    fields: list[FieldChangeOut]
    note: str = ""
    live: list[str] = Field(description="The live object's leaves as 'path: value' lines, secrets masked.")
    wanted: list[str] = Field(description="The object as a deploy would leave it, as 'path: value' lines.")


class DiffOut(BaseModel):
    """What a deploy of the configuration would change on its platform; nothing was changed to answer."""

    app_name: str
    environment: str
    platform: str
    changed: bool = Field(description="True when any object would be added, removed or changed.")
    objects: list[ObjectDiffOut]
    notes: list[str]


class PlanOut(BaseModel):
    """What a deploy of the configuration would do; nothing was changed to answer."""

    config_id: str | None
    app_name: str
    app_version: str
    environment: str
    platform: str
    strategy: str
    replicas: int
    stages: list[PlannedStageOut]
    left_out: list[str]
    schedule: ScheduleOut
    platform_objects: dict[str, Any] | None
    lease: str
    lease_holder: str | None
    rollback_to: RestorableOut | None
    problems: list[dict[str, str]]
    not_honoured: list[dict[str, str]] = Field(default_factory=list)
    strict: bool = Field(default=False, description="A deploy is strict by default here: not_honoured would refuse it.")
    deprecated: list[dict[str, str]] = Field(
        default_factory=list, description="Deprecated custom_settings keys used, with the setting that replaces each."
    )
    diff: DiffOut | None = Field(default=None, description="What a deploy would change against what is live.")
    diff_note: str = Field(default="", description="Why there is no diff: the platform cannot be reached or say.")


@router.post("/plan", response_model=PlanOut)
async def plan(body: PlanRequest, services: Services, _: Reader) -> PlanOut:
    """What deploying a configuration would do, without doing it: the pipeline's stages and tasks,
    the strategy's schedule, the platform objects, the lease and the release a rollback would restore.
    """
    service = services.deployment_service
    if body.config_id is not None:
        planned = unwrap(await service.plan(body.config_id, live=body.live))
    else:
        planned = unwrap(await service.plan_values(body.config or {}, live=body.live))
    return PlanOut.model_validate(planned.to_document())


@router.post("/diff", response_model=DiffOut)
async def diff(body: PlanRequest, services: Services, _: Reader) -> DiffOut:
    """What deploying a configuration would change on its platform, against what is live there, per object
    and field, secrets masked (Kubernetes: a server-side dry run; local: the agent's state). Nothing changes.
    A platform that cannot be reached answers 502/503; a driver that cannot read what is live, 502.
    """
    service = services.deployment_service
    if body.config_id is not None:
        found = unwrap(await service.diff(body.config_id))
    else:
        found = unwrap(await service.diff_values(body.config or {}))
    return DiffOut.model_validate(found.to_document())
