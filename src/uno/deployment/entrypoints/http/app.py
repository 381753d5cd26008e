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

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, disable_created_metrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from uno.deployment import bootstrap
from uno.deployment.bootstrap import Container
from uno.deployment.entrypoints.http import problems
from uno.deployment.entrypoints.http.fast_status import FastStatus
from uno.deployment.entrypoints.http.routes import configs, deployments, leases, operations, pipelines
from uno.deployment.entrypoints.http.security import Authenticate, Guard
from uno.deployment.entrypoints.metrics import DeploymentMetrics
from uno.deployment.settings import Settings

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted (413 beyond): a configuration is a few kilobytes."""


def create_app(
    container: Container | None = None,
    *,
    settings: Settings | None = None,
    auth: bool = True,
    authenticate: Authenticate | None = None,
    close_container: bool = False,
) -> FastAPI:
    """The API. ``auth=False`` lets every caller do everything: only for a loopback-bound server.

    ``authenticate`` replaces the token check (tests); by default tokens are checked
    against the store through the access service. ``close_container``: the app closes
    the given container when it stops (``uno-deploy serve`` hands it one it built).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = container is None or close_container
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
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(FastStatus, owner=app)
    for router in (operations.router, configs.router, deployments.router, pipelines.router, leases.router):
        app.include_router(router)
    return app


def _authenticator(container: Container, given: Authenticate | None) -> Authenticate:
    return given if given is not None else container.access_service.authenticate


class BodyLimit:
    """Refuse a body over ``limit`` bytes with a 413 problem, before the app sees any of it.

    A body with a Content-Length is judged by it (the server reads no more than it
    declares); a chunked one is read here, up to the limit, and handed on whole. A chunked
    body past the limit is a 413, never a parse error.

    Plain ASGI (no per-request task, unlike ``BaseHTTPMiddleware``): it costs nothing on
    requests without a body, such as the status polls.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.limit:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        read = await self._read(receive)
        if read is None:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, _replay(read, receive), send)

    async def _read(self, receive: Receive) -> list[Message] | None:
        """The body's messages, or ``None`` once they pass the limit."""
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            received += len(message.get("body", b""))
            if received > self.limit:
                return None
            if message["type"] != "http.request" or not message.get("more_body", False):
                return messages

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = {
            "type": problems.TYPE_BASE + "too-large",
            "title": "Content Too Large",
            "status": 413,
            "detail": f"the request body must be at most {self.limit} bytes",
            "code": "VALIDATION_ERROR",
        }
        response = problems.problem_json(body, 413, {"Connection": "close"})
        await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        return messages.pop(0) if messages else await receive()

    return replayed
