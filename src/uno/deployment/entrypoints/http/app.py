"""The HTTP API: one FastAPI application over the same services as the Python API and the CLI.

``create_app`` builds it; the container (settings, store, services) is built at start-up
unless one is given (tests, or an embedding application that owns it). Deployments and
pipelines started through the API run in this process's background; when the server
stops they are stopped in order and recorded as canceled, never left ``running``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, disable_created_metrics
from starlette.middleware.base import RequestResponseEndpoint
from starlette.types import Message

from uno.core.errors import ErrorCode
from uno.deployment import bootstrap
from uno.deployment.bootstrap import Container
from uno.deployment.entrypoints.http import problems
from uno.deployment.entrypoints.http.metrics import DeploymentMetrics
from uno.deployment.entrypoints.http.routes import configs, deployments, operations, pipelines
from uno.deployment.entrypoints.http.security import Authenticate, Guard
from uno.deployment.settings import Settings

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted (413 beyond): a configuration is a few kilobytes."""


def create_app(
    container: Container | None = None,
    *,
    settings: Settings | None = None,
    auth: bool = True,
    authenticate: Authenticate | None = None,
) -> FastAPI:
    """The API. ``auth=False`` lets every caller do everything: only for a loopback-bound server.

    ``authenticate`` replaces the token check (tests); by default tokens are checked
    against the store through the access service.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = container is None
        built = container or bootstrap.build(settings)
        app.state.container = built
        app.state.guard = Guard(_authenticator(built, authenticate) if auth else None)
        observer = DeploymentMetrics(app.state.registry)
        built.observers.add(observer)
        try:
            yield
        finally:
            built.observers.remove(observer)
            await built.deployment_service.stop_background()
            await built.pipeline_service.stop_background()
            if owned:
                await built.aclose()

    app = FastAPI(
        title="uno-deployment",
        version=version("uno-deployment"),
        description="Deployment configurations, pipelines, deployments and rollbacks.",
        lifespan=lifespan,
    )
    disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series only double the scrape
    app.state.registry = CollectorRegistry()
    problems.install(app)
    app.middleware("http")(_limit_body)
    for router in (operations.router, configs.router, deployments.router, pipelines.router):
        app.include_router(router)
    return app


def _authenticator(container: Container, given: Authenticate | None) -> Authenticate:
    return given if given is not None else container.access_service.authenticate


async def _limit_body(request: Request, call_next: RequestResponseEndpoint) -> Response:
    """Refuse an oversized body before reading it (by its Content-Length) and while reading it."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        return _too_large()
    if length is None and request.headers.get("transfer-encoding", "").lower() == "chunked":
        received = 0
        receive = request.receive

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise _BodyTooLarge
            return message

        request._receive = limited  # Starlette reads the body through this
        try:
            return await call_next(request)
        except _BodyTooLarge:
            return _too_large()
    return await call_next(request)


class _BodyTooLarge(Exception):
    pass


def _too_large() -> JSONResponse:
    body = {
        "type": problems.TYPE_BASE + "too-large",
        "title": "Content Too Large",
        "status": 413,
        "detail": f"the request body must be at most {MAX_BODY_BYTES} bytes",
        "code": ErrorCode.VALIDATION_ERROR.value,
    }
    return JSONResponse(body, status_code=413, media_type=problems.PROBLEM_JSON)
