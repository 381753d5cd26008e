"""The composition root: settings -> adapters -> engine -> services -> ``inject``.

This is the only module that imports adapters. Tests build the same container with
fakes (a fake clock, a fake command runner), so the wiring that ships is the wiring
that is tested.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import inject
import structlog

from uno.deployment.adapters.backups import FileBackups
from uno.deployment.adapters.clocks import SystemClock
from uno.deployment.adapters.commands import SubprocessRunner
from uno.deployment.adapters.http import UrllibProber
from uno.deployment.adapters.leases import MemoryLeaseRepository
from uno.deployment.adapters.repositories.memory import (
    MemoryConfigRepository,
    MemoryDecisionRepository,
    MemoryDeploymentResultRepository,
    MemoryPipelineRepository,
)
from uno.deployment.engine import plugins
from uno.deployment.engine.actions import ActionRegistry, Tools
from uno.deployment.engine.builtin_actions import builtin_actions
from uno.deployment.engine.running import PipelineRunner
from uno.deployment.ports.backups import DatabaseBackups
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.commands import CommandRunner
from uno.deployment.ports.http import HttpProber
from uno.deployment.ports.leases import LeaseRepository
from uno.deployment.ports.repositories import (
    DeploymentConfigRepository,
    DeploymentResultRepository,
    PipelineRepository,
)
from uno.deployment.services.config_service import DeploymentConfigService
from uno.deployment.services.deployment_service import DeploymentService
from uno.deployment.services.leasing import LeaseKeeper
from uno.deployment.services.pipeline_service import PipelineService
from uno.deployment.settings import Settings


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


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    commands: CommandRunner | None = None,
    environ: Mapping[str, str] | None = None,
    actions: ActionRegistry | None = None,
    http: HttpProber | None = None,
    backups: DatabaseBackups | None = None,
) -> Container:
    """Wire everything; a test passes fakes for what it controls (``actions`` replaces the registry)."""
    settings = settings or Settings()
    clock = clock or SystemClock()
    environ = os.environ if environ is None else environ
    commands = commands or SubprocessRunner(environ)
    actions = actions or plugins.registry_with_plugins(builtin_actions())
    configs, pipelines = MemoryConfigRepository(), MemoryPipelineRepository()
    deployments, leases = MemoryDeploymentResultRepository(), MemoryLeaseRepository(clock)
    decisions = MemoryDecisionRepository()
    backups = backups or FileBackups(settings.resolved_backup_dir(), commands, clock)
    tools = Tools(clock, commands, environ, http or UrllibProber(), decisions, backups)
    configure_logging()
    runner = PipelineRunner(
        pipelines,
        actions,
        tools,
        max_parallel=settings.max_parallel_tasks,
        log_floor=logging.getLevelName(settings.log_level),
    )
    keeper = LeaseKeeper(leases, clock, settings.lease_ttl_seconds)
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
        pipeline_service=PipelineService(pipelines, configs, deployments, decisions, runner, actions, keeper, clock),
        deployment_service=DeploymentService(configs, deployments, pipelines, runner, keeper, clock),
    )


def configure_logging() -> None:
    """Structured logs on stderr: JSON lines when not a terminal, readable columns when one.

    Left alone when the application already configured structlog itself.
    """
    if structlog.is_configured():
        return
    renderer: Any = structlog.dev.ConsoleRenderer() if sys.stderr.isatty() else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


_configured: Container | None = None


def configure(settings: Settings | None = None, *, container: Container | None = None) -> Container:
    """Bind the services for ``inject.instance(...)`` and return the container.

    Called again without arguments it keeps the existing container (and its state);
    with new settings or a container it replaces it.
    """
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

    inject.configure(bindings, clear=True)
    _configured = chosen
    return chosen


def reset() -> None:
    """Forget the configured container (tests use this between cases)."""
    global _configured
    _configured = None
    inject.clear()
