"""The composition root: settings -> adapters -> engine -> services -> ``inject``.

This is the only module that imports adapters. Tests build the same container with
fakes (a fake clock, a fake command runner), so the wiring that ships is the wiring
that is tested.

The store is chosen here and nowhere else, from ``Settings.database_url``: memory, or a
SQL store (SQLite by default, PostgreSQL by URL) whose schema is brought to head while
the container is built, unless ``auto_migrate`` is off.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success

if TYPE_CHECKING:
    import asyncio

    from uno.deployment.adapters.platforms.local.driver import LocalDriver
    from uno.deployment.adapters.queue.procrastinate_queue import ProcrastinateQueue
    from uno.deployment.adapters.repositories.sql import connecting, migrating
    from uno.deployment.engine.actions import ActionRegistry
    from uno.deployment.engine.running import PipelineRunner
    from uno.deployment.engine.telemetry import Observer, Observers
    from uno.deployment.ports.access import IdempotencyRepository, TokenRepository
    from uno.deployment.ports.approvals import DecisionRepository
    from uno.deployment.ports.backups import DatabaseBackups
    from uno.deployment.ports.clock import Clock
    from uno.deployment.ports.commands import CommandRunner
    from uno.deployment.ports.http import HttpProber
    from uno.deployment.ports.leases import LeaseRepository
    from uno.deployment.ports.platforms import PlatformDriver, PlatformDrivers
    from uno.deployment.ports.reading import StoreReader
    from uno.deployment.ports.repositories import (
        DeploymentConfigRepository,
        DeploymentResultRepository,
        PipelineRepository,
    )
    from uno.deployment.services.access import AccessService
    from uno.deployment.services.config_service import DeploymentConfigService
    from uno.deployment.services.deployment_service import DeploymentService
    from uno.deployment.services.pipeline_service import PipelineService
    from uno.deployment.settings import Settings

# Everything loads where it is used (PLC0415 below): importing this module costs almost
# nothing, so a CLI listing that reads the store through ``sqlite_reader`` pays for
# neither the services nor the engine nor structlog nor pydantic; ``build
# pays for the services, and for the store and the platform it uses, not for SQL,
# Alembic, Kubernetes and the local agent all at once.


@dataclass(frozen=True)
class Container:
    """Everything the entry points need, built once and shared."""

    settings: Settings
    clock: Clock
    configs: DeploymentConfigRepository
    pipelines: PipelineRepository
    deployments: DeploymentResultRepository
    leases: LeaseRepository
    actions: ActionRegistry
    runner: PipelineRunner
    config_service: DeploymentConfigService
    pipeline_service: PipelineService
    deployment_service: DeploymentService
    decisions: DecisionRepository
    observers: Observers
    tokens: TokenRepository
    idempotency: IdempotencyRepository
    access_service: AccessService
    queue: ProcrastinateQueue | None
    close_store: Callable[[], Awaitable[None]] = field(repr=False, compare=False)

    async def aclose(self) -> None:
        """Close the store's connections (and SQLite's worker thread). Call it once, at the end."""
        await self.close_store()


@dataclass(frozen=True)
class _Stores:
    configs: DeploymentConfigRepository
    pipelines: PipelineRepository
    deployments: DeploymentResultRepository
    leases: LeaseRepository
    decisions: DecisionRepository
    tokens: TokenRepository
    idempotency: IdempotencyRepository
    close: Callable[[], Awaitable[None]]


async def _nothing_to_close() -> None:
    return None


def _open_stores(settings: Settings, clock: Clock) -> _Stores:
    if settings.uses_memory:
        from uno.deployment.adapters.leases import MemoryLeaseRepository  # noqa: PLC0415
        from uno.deployment.adapters.repositories.memory import (  # noqa: PLC0415
            MemoryConfigRepository,
            MemoryDecisionRepository,
            MemoryDeploymentResultRepository,
            MemoryIdempotencyRepository,
            MemoryPipelineRepository,
            MemoryTokenRepository,
        )

        leases = MemoryLeaseRepository(clock)
        return _Stores(
            MemoryConfigRepository(),
            MemoryPipelineRepository(leases.holds),
            MemoryDeploymentResultRepository(leases.holds),
            leases,
            MemoryDecisionRepository(),
            MemoryTokenRepository(),
            MemoryIdempotencyRepository(),
            _nothing_to_close,
        )
    from uno.deployment.adapters.repositories.sql import stores  # noqa: PLC0415

    store = stores.open_store(settings.database_url, clock, migrate=settings.auto_migrate)
    return _Stores(
        store.configs,
        store.pipelines,
        store.deployments,
        store.leases,
        store.decisions,
        store.tokens,
        store.idempotency,
        store.aclose,
    )


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    commands: CommandRunner | None = None,
    environ: Mapping[str, str] | None = None,
    actions: ActionRegistry | None = None,
    http: HttpProber | None = None,
    backups: DatabaseBackups | None = None,
    platforms: PlatformDrivers | None = None,
    worker_name: str | None = None,
) -> Container:
    """Wire everything; a test passes fakes for what it controls (``actions`` replaces the registry).

    With ``execution = "queue"`` deployments go to the PostgreSQL queue; ``worker_name``
    names this process as a worker (``run_worker``).
    """
    from uno.deployment.adapters.backups import FileBackups  # noqa: PLC0415
    from uno.deployment.adapters.clocks import SystemClock  # noqa: PLC0415
    from uno.deployment.adapters.commands import SubprocessRunner  # noqa: PLC0415
    from uno.deployment.adapters.http import UrllibProber  # noqa: PLC0415
    from uno.deployment.adapters.platforms.registry import DriverRegistry  # noqa: PLC0415
    from uno.deployment.adapters.runners import ProcessIdentity  # noqa: PLC0415
    from uno.deployment.engine import logs, plugins  # noqa: PLC0415
    from uno.deployment.engine.actions import Tools  # noqa: PLC0415
    from uno.deployment.engine.builtin_actions import builtin_actions  # noqa: PLC0415
    from uno.deployment.engine.running import PipelineRunner  # noqa: PLC0415
    from uno.deployment.engine.telemetry import Observers  # noqa: PLC0415
    from uno.deployment.services.access import AccessService  # noqa: PLC0415
    from uno.deployment.services.config_service import DeploymentConfigService  # noqa: PLC0415
    from uno.deployment.services.deployment_service import DeploymentService  # noqa: PLC0415
    from uno.deployment.services.leasing import LeaseKeeper  # noqa: PLC0415
    from uno.deployment.services.pipeline_service import PipelineService  # noqa: PLC0415
    from uno.deployment.settings import Settings  # noqa: PLC0415

    settings = settings or Settings()
    clock = clock or SystemClock()
    environ = os.environ if environ is None else environ
    commands = commands or SubprocessRunner(environ)
    actions = actions or plugins.registry_with_plugins(builtin_actions())
    opened = _open_stores(settings, clock)
    configs, pipelines, deployments, leases = opened.configs, opened.pipelines, opened.deployments, opened.leases
    backups = backups or FileBackups(settings.resolved_backup_dir(), commands, clock)
    local_dir = settings.resolved_local_dir()
    platforms = platforms or DriverRegistry.with_plugins(
        {
            "local": lambda: _local_driver(local_dir, environ),
            "kubernetes": lambda: _kubernetes_driver(environ),
            "aws": lambda: _aws_driver(environ),
            "heroku": lambda: _heroku_driver(environ),
            "digitalocean": lambda: _digitalocean_driver(environ),
            "gcp": lambda: _gcp_driver(environ),
        }
    )
    tools = Tools(
        clock,
        commands,
        environ,
        http or UrllibProber(),
        opened.decisions,
        backups,
        platforms,
        known_secrets=_server_secrets(settings),
    )
    observers = Observers()
    runner = PipelineRunner(
        pipelines,
        actions,
        tools,
        max_parallel=settings.max_parallel_tasks,
        log_floor=logging.getLevelName(settings.log_level),
        observers=observers,
    )
    keeper = LeaseKeeper(leases, clock, settings.lease_ttl_seconds)
    queue = _queue(settings)
    logs.through_logging_if_loaded()  # the loggers of the core do it themselves when they first write
    close_store = opened.close if queue is None else _closing_both(queue.aclose, opened.close)
    return Container(
        settings=settings,
        clock=clock,
        configs=configs,
        pipelines=pipelines,
        deployments=deployments,
        leases=leases,
        actions=actions,
        runner=runner,
        config_service=DeploymentConfigService(configs, deployments, clock),
        pipeline_service=PipelineService(
            pipelines, configs, deployments, opened.decisions, runner, actions, keeper, clock
        ),
        deployment_service=DeploymentService(
            configs,
            deployments,
            pipelines,
            runner,
            keeper,
            clock,
            opened.idempotency,
            observers,
            queue=queue,
            policies=settings.queue_policies,
            worker_name=worker_name or f"{socket.gethostname()}:{os.getpid()}",
            runners=ProcessIdentity(),
            strict_environments=settings.strict_environments,
        ),
        decisions=opened.decisions,
        observers=observers,
        tokens=opened.tokens,
        idempotency=opened.idempotency,
        access_service=AccessService(opened.tokens, clock),
        queue=queue,
        close_store=close_store,
    )


def sqlite_reader(database_url: str | None) -> StoreReader | None:
    """A read-only reader of the store ``database_url`` names (the settings'), for the CLI's listings.

    There is one only when the store is a SQLite file that exists at the schema revision
    this version ships (``sqlite_reading.open_reader``); it loads ``sqlite3`` alone. None:
    ``build`` instead.
    """
    from uno.deployment import settings  # noqa: PLC0415
    from uno.deployment.adapters.repositories import sqlite_reading  # noqa: PLC0415

    if database_url == settings.MEMORY_URL:
        return None
    return sqlite_reading.open_reader(database_url)


def _local_driver(local_dir: Path, environ: Mapping[str, str] | None = None) -> LocalDriver:
    from uno.deployment.adapters.platforms.local.driver import LocalDriver  # noqa: PLC0415

    return LocalDriver(local_dir, environ)


def _kubernetes_driver(environ: Mapping[str, str]) -> PlatformDriver:
    from uno.deployment.adapters.platforms import kubernetes  # noqa: PLC0415

    return kubernetes.make_driver(environ)


def _aws_driver(environ: Mapping[str, str]) -> PlatformDriver:
    from uno.deployment.adapters.platforms import aws  # noqa: PLC0415

    return aws.make_driver(environ)


def _heroku_driver(environ: Mapping[str, str]) -> PlatformDriver:
    from uno.deployment.adapters.platforms import heroku  # noqa: PLC0415

    return heroku.make_driver(environ)


def _digitalocean_driver(environ: Mapping[str, str]) -> PlatformDriver:
    from uno.deployment.adapters.platforms import digitalocean  # noqa: PLC0415

    return digitalocean.make_driver(environ)


def _gcp_driver(environ: Mapping[str, str]) -> PlatformDriver:
    from uno.deployment.adapters.platforms import gcp  # noqa: PLC0415

    return gcp.make_driver(environ)


def _server_secrets(settings: Settings) -> frozenset[str]:
    """What records must never show of the settings, wherever they were read from: a store URL with credentials."""
    url = settings.database_url or ""
    return frozenset({url}) if "@" in url else frozenset()


def _queue(settings: Settings) -> ProcrastinateQueue | None:
    """The deployment queue, for queue execution only (its library loads only then)."""
    if settings.execution != "queue":
        return None
    from uno.deployment.adapters.queue.procrastinate_queue import ProcrastinateQueue  # noqa: PLC0415

    return ProcrastinateQueue(str(settings.database_url), poll_seconds=settings.worker_poll_seconds)


def _closing_both(
    first: Callable[[], Awaitable[None]], then: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        try:
            await first()
        finally:
            await then()

    return close


async def run_worker(
    settings: Settings,
    *,
    name: str,
    concurrency: int,
    stop: asyncio.Event,
    observers: Sequence[Observer] = (),
    **overrides: Any,
) -> None:
    """Be a worker until ``stop`` is set: take queued deployments and run them (``uno-deploy worker``).

    On ``stop`` running deployments get ``worker_grace_seconds`` to finish; what is still
    running then is handed back (left ``running`` with its journal) and queued again, so
    another worker resumes it. ``observers`` are told every change it records (metrics);
    ``overrides`` replace parts as in ``build`` (tests).
    """
    import asyncio  # noqa: PLC0415

    from uno.deployment.domain.ids import DeploymentId  # noqa: PLC0415
    from uno.deployment.engine import logs  # noqa: PLC0415
    from uno.deployment.services.leasing import lease_key  # noqa: PLC0415

    if settings.execution != "queue":
        raise ValueError("a worker needs execution = 'queue' (and a PostgreSQL database_url)")
    log = logs.get_logger("uno.deployment.worker")
    container = build(settings, worker_name=name, **overrides)
    for observer in observers:
        container.observers.add(observer)
    queue = container.queue
    assert queue is not None
    service = container.deployment_service

    async def handle(deployment_id: str) -> None:
        try:
            outcome = await service.execute(deployment_id)
        except asyncio.CancelledError:
            if not service.handed_back(deployment_id):
                raise
            record = await container.deployments.get(DeploymentId.stored(deployment_id))
            if record is not None:
                await queue.enqueue(deployment_id, lease_key(record.config))
            return
        if isinstance(outcome, Failure):
            log.warning("a queued deployment could not run", deployment_id=deployment_id, error=outcome.error.message)

    async def hand_back() -> None:
        await service.hand_back_all()

    ttl = settings.lease_ttl_seconds
    try:
        await queue.work(
            handle,
            name=name,
            concurrency=concurrency,
            heartbeat_seconds=max(0.5, ttl / 3),
            stalled_after_seconds=ttl,
            stop=stop,
            graceful_seconds=settings.worker_grace_seconds,
            on_graceful_timeout=hand_back,
        )
    finally:
        await container.aclose()


def configure_logging() -> None:
    """The CLI's and the server's output (an application's choice, never the library's): the
    ``uno.deployment`` logs on stderr (``engine.output``), structlog's lines among them.
    """
    from uno.deployment.engine import logs, output  # noqa: PLC0415

    logs.through_logging()
    output.configure_logging()


_configured: Container | None = None


def configure(settings: Settings | None = None, *, container: Container | None = None) -> Container:
    """Bind the services for ``inject.instance(...)`` and return the container.

    Called again without arguments it keeps the existing container (and its state): the
    one ``inject`` built on first use, if any; with new settings or a container it
    replaces it.
    """
    import inject  # noqa: PLC0415

    from uno.deployment.services.access import AccessService  # noqa: PLC0415
    from uno.deployment.services.config_service import DeploymentConfigService  # noqa: PLC0415
    from uno.deployment.services.deployment_service import DeploymentService  # noqa: PLC0415
    from uno.deployment.services.pipeline_service import PipelineService  # noqa: PLC0415
    from uno.deployment.settings import Settings  # noqa: PLC0415

    global _configured
    if _configured is not None and settings is None and container is None and inject.is_configured():
        return _configured
    chosen = container or build(settings)

    def bindings(binder: inject.Binder) -> None:
        binder.bind(Container, chosen)
        binder.bind(Settings, chosen.settings)
        binder.bind(DeploymentConfigService, chosen.config_service)
        binder.bind(PipelineService, chosen.pipeline_service)
        binder.bind(DeploymentService, chosen.deployment_service)
        binder.bind(AccessService, chosen.access_service)

    inject.configure(bindings, clear=True)
    _configured = chosen
    return chosen


def install_defaults() -> None:
    """Leave ``inject`` ready with the embedded defaults, as the spec's examples use it.

    Nothing is built here (importing ``uno.deployment`` opens no store): the container is
    built from ``Settings()`` the first time a service is asked for, and is the one
    ``configure()`` then returns. An application that configured ``inject`` itself is
    left alone; ``configure(settings)`` replaces these bindings.
    """
    import inject  # noqa: PLC0415

    from uno.deployment.services.access import AccessService  # noqa: PLC0415
    from uno.deployment.services.config_service import DeploymentConfigService  # noqa: PLC0415
    from uno.deployment.services.deployment_service import DeploymentService  # noqa: PLC0415
    from uno.deployment.services.pipeline_service import PipelineService  # noqa: PLC0415
    from uno.deployment.settings import Settings  # noqa: PLC0415

    if inject.is_configured():
        return

    def bindings(binder: inject.Binder) -> None:
        binder.bind_to_provider(Container, _default_container)
        binder.bind_to_provider(Settings, lambda: _default_container().settings)
        binder.bind_to_provider(DeploymentConfigService, lambda: _default_container().config_service)
        binder.bind_to_provider(PipelineService, lambda: _default_container().pipeline_service)
        binder.bind_to_provider(DeploymentService, lambda: _default_container().deployment_service)
        binder.bind_to_provider(AccessService, lambda: _default_container().access_service)

    inject.configure(bindings)


def _default_container() -> Container:
    global _configured
    if _configured is None:
        _configured = build(None)
    return _configured


def reset() -> Container | None:
    """Forget the configured container (tests use this between cases) and return it.

    ``inject`` is left with the embedded defaults again, built on first use. The caller
    closes what it returns (``await container.aclose()``) when it used a SQL store.
    """
    import inject  # noqa: PLC0415

    global _configured
    forgotten, _configured = _configured, None
    inject.clear()
    install_defaults()
    return forgotten


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a store's schema is: ``database`` is safe to print (no password)."""

    database: str
    before: str | None
    after: str | None
    head: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def upgrade_database(settings: Settings | None = None) -> Result[SchemaStatus]:
    """Bring the configured store's schema to head (``uno-deploy db upgrade``)."""
    from uno.deployment.adapters.repositories.sql import migrating  # noqa: PLC0415

    return _schema(settings, migrating.upgrade)


def database_status(settings: Settings | None = None) -> Result[SchemaStatus]:
    """The configured store's schema revision, changing nothing (``uno-deploy db current``)."""
    from uno.deployment.adapters.repositories.sql import migrating  # noqa: PLC0415

    return _schema(settings, migrating.current)


def _schema(
    settings: Settings | None, operation: Callable[[connecting.Target], migrating.Revisions]
) -> Result[SchemaStatus]:
    from uno.deployment.adapters.repositories.sql import connecting  # noqa: PLC0415
    from uno.deployment.ports.repositories import StorageError  # noqa: PLC0415
    from uno.deployment.settings import Settings  # noqa: PLC0415

    settings = settings or Settings()
    if settings.uses_memory:
        return Failure(ErrorDetails.invalid_state("the memory store has no schema: it lives and ends with its process"))
    try:
        where = connecting.target(settings.database_url)
        revisions = operation(where)
    except connecting.UnsupportedDatabase as unsupported:
        return Failure(ErrorDetails.validation("database_url", str(unsupported)))
    except StorageError as failed:
        return Failure(failed.error)
    return Success(SchemaStatus(where.describe(), revisions.before, revisions.after, revisions.head))


async def stop_local_platform(settings: Settings | None = None) -> Result[None]:
    """Stop the local agent and everything it runs (``uno-deploy down``); fine if nothing runs."""
    from uno.deployment.settings import Settings  # noqa: PLC0415

    settings = settings or Settings()
    return await _local_driver(settings.resolved_local_dir()).shutdown()


async def local_agent_status(settings: Settings | None = None) -> Result[dict[str, Any] | None]:
    """What the local agent reports of itself (``uno-deploy agent``); None when no agent runs."""
    from uno.deployment.settings import Settings  # noqa: PLC0415

    settings = settings or Settings()
    return await _local_driver(settings.resolved_local_dir()).agent_status()


def local_replica_logs(settings: Settings, version_set: str) -> list[Path]:
    """Where the local platform keeps a version set's replica logs (``uno-deploy logs``); [] when none."""
    return _local_driver(settings.resolved_local_dir()).replica_logs(version_set)
