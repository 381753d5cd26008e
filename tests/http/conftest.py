"""An API over a memory store whose platform steps are doubles, and an async client for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.support import PlatformStep
from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment import bootstrap
from uno.deployment.engine.actions import ActionContext, ActionOutcome, ActionRegistry
from uno.deployment.entrypoints.http import create_app
from uno.deployment.ports.access import ApiToken, Scope
from uno.deployment.settings import Settings

# Three tokens for the auth tests; the real token store has its own tests.
TOKENS = {
    "reader-secret": frozenset({Scope.READ}),
    "deployer-secret": frozenset({Scope.DEPLOY}),
    "admin-secret": frozenset({Scope.ADMIN}),
}


async def fake_authenticate(secret: str | None, needed: Scope) -> Result[ApiToken]:
    from datetime import UTC, datetime

    scopes = TOKENS.get(secret or "")
    if scopes is None:
        return Failure(ErrorDetails(ErrorCode.UNAUTHENTICATED, "unknown or revoked token"))
    name = (secret or "").removesuffix("-secret")
    return Success(ApiToken(f"tok-{name}", name, scopes, "digest", datetime.now(UTC)))


@pytest.fixture
def calls() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def failing() -> set[str]:
    return set()


class HeldDeploy(PlatformStep):
    """The deploy step, held while ``held`` is set, until the test sets ``release``."""

    def __init__(self, calls: list[tuple[str, str]], failing: set[str]) -> None:
        super().__init__("deploy", calls, failing)
        self.held = False
        self.release = asyncio.Event()

    async def run(self, context: ActionContext) -> ActionOutcome:
        if self.held:
            await self.release.wait()
        return await super().run(context)


@pytest.fixture
def held(calls, failing) -> HeldDeploy:
    return HeldDeploy(calls, failing)


@pytest.fixture(params=["memory", "sqlite"])
def store_settings(request: pytest.FixtureRequest, memory_settings, sqlite_url: str) -> Settings:
    """The API over the memory store and over a SQLite file (reads and writes cross threads there)."""
    return memory_settings if request.param == "memory" else Settings(database_url=sqlite_url)


@pytest.fixture
def api_container(environ, actions: ActionRegistry, calls, failing, held, memory_settings) -> bootstrap.Container:
    # The outside world (the platform, the spec's database at postgres-db) is a double here:
    # what is under test is the HTTP layer over the real services and engine.
    for kind in ("check_dependencies", "db_backup", "db_migrate", "verify", "health_check", "rollback"):
        actions.register(PlatformStep(kind, calls, failing))
    actions.register(held)
    return bootstrap.build(memory_settings, environ=environ, actions=actions)


@pytest.fixture
async def any_store_client(
    environ, actions: ActionRegistry, calls, failing, held, store_settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    for kind in ("check_dependencies", "db_backup", "db_migrate", "verify", "health_check", "rollback"):
        actions.register(PlatformStep(kind, calls, failing))
    actions.register(held)
    container = bootstrap.build(store_settings, environ=environ, actions=actions)
    app = create_app(container, auth=False, close_container=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


ClientFactory = Callable[..., Any]


@pytest.fixture
async def client(api_container: bootstrap.Container) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an API without auth (as ``serve --no-auth`` on loopback)."""
    app = create_app(api_container, auth=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
async def guarded(api_container: bootstrap.Container) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an API with auth on; send ``Authorization: Bearer <one of TOKENS>``."""
    app = create_app(api_container, authenticate=fake_authenticate)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_settings(request: pytest.FixtureRequest) -> Settings:
    """A SQLite file or the test's PostgreSQL database: the stores bad text used to break."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return Settings(database_url=request.getfixturevalue(fixture))


@pytest.fixture
async def authorized(
    environ, actions: ActionRegistry, calls, failing, sql_settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """A client with an admin token of the real token store, auth on, over a SQL store."""
    for kind in ("check_dependencies", "db_backup", "db_migrate", "deploy", "verify", "health_check", "rollback"):
        actions.register(PlatformStep(kind, calls, failing))
    container = bootstrap.build(sql_settings, environ=environ, actions=actions)
    made = await container.access_service.create_token("fuzz", ["admin"])
    app = create_app(container, close_container=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # a 500 is an answer, not raised
        headers = {"Authorization": f"Bearer {made.value[1]}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers) as http:
            yield http
