"""Leases: who holds an application's lease in an environment; end one by hand (admin)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from uno.core.errors import ErrorDetails
from uno.deployment.domain.enums import DeploymentEnvironment
from uno.deployment.entrypoints.http.dependencies import Admin, Reader, Services, unwrap
from uno.deployment.entrypoints.http.problems import Problem
from uno.deployment.entrypoints.http.schemas import COMMON_PROBLEMS, PathName
from uno.deployment.ports.leases import Lease
from uno.deployment.services import inputs

router = APIRouter(prefix="/api/leases", tags=["leases"], responses=COMMON_PROBLEMS)


class LeaseOut(BaseModel):
    key: str
    holder: str
    token: int
    expires_at: datetime | None


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200)


def _out(lease: Lease) -> LeaseOut:
    return LeaseOut(key=lease.key, holder=lease.holder, token=lease.token, expires_at=lease.expires_at)


@router.get("/{app_name}/{environment}", response_model=LeaseOut)
async def show(app_name: PathName, environment: str, services: Services, _: Reader) -> LeaseOut:
    """The live lease of an application in an environment (404 when nobody holds it)."""
    chosen = unwrap(inputs.enum_value(DeploymentEnvironment, environment, "environment"))
    key = f"{app_name}/{chosen.value}"
    lease = await services.leases.current(key)
    if lease is None:
        raise Problem(ErrorDetails.not_found("lease", key))
    return _out(lease)


@router.post("/{app_name}/{environment}/release", response_model=LeaseOut)
async def release(app_name: str, environment: str, body: ReleaseRequest, services: Services, caller: Admin) -> LeaseOut:
    """End a lease whose holder is gone, now rather than at its expiry; recorded on the deployment it held."""
    released = await services.deployment_service.release_lease(
        app_name, environment, by=caller.label, reason=body.reason
    )
    return _out(unwrap(released))
