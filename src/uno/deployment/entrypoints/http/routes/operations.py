"""For the people and machines that run the server: liveness, readiness, metrics."""

from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from uno.core.errors import ErrorCode, ErrorDetails
from uno.deployment.entrypoints.http.dependencies import Services
from uno.deployment.entrypoints.http.problems import Problem
from uno.deployment.entrypoints.http.schemas import Health
from uno.deployment.ports.repositories import StorageError

router = APIRouter(tags=["operations"])
_VERSION = version("uno-deployment")


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: the process answers. It checks nothing else, so a slow database never restarts it."""
    return Health(status="ok", version=_VERSION)


@router.get("/readyz", response_model=Health, responses={503: {"description": "The store cannot be reached."}})
async def readyz(services: Services) -> Health:
    """Readiness: the store answers a query. 503 (problem+json) while it does not."""
    try:
        found = await services.config_service.list_configs(limit=1)
    except StorageError as error:
        raise Problem(ErrorDetails(ErrorCode.UNAVAILABLE, f"not ready: {error.error.message}")) from None
    if not found.is_success():
        raise Problem(ErrorDetails(ErrorCode.UNAVAILABLE, "not ready: the store did not answer"))
    return Health(status="ready", version=_VERSION)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus metrics, in the text exposition format."""
    registry: CollectorRegistry = request.app.state.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
