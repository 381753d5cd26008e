"""The embedded backend: the services of the container ``bootstrap`` builds, in this process.

Deployments it starts run in this process's background (``runs_here``); the command
that started one follows it to its end. A deployment another ``uno-deploy`` process
runs is canceled by asking that process (``runs``), since only the process running a
pipeline can stop it promptly.
"""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment import bootstrap
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.differences import Diff
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.entrypoints.cli import runs
from uno.deployment.entrypoints.cli.backends import Deployment
from uno.deployment.ports.approvals import Decision
from uno.deployment.services import inputs
from uno.deployment.services.planning import DeploymentPlan

STOP_DEADLINE = 120.0
"""How long ``cancel`` waits for another process to stop the deployment it runs."""
_POLL = 0.2


def who() -> str:
    """Who is acting, as records name them: the operating system's user, through the CLI."""
    try:
        return f"{getpass.getuser()} (uno-deploy)"
    except (KeyError, OSError):
        return "uno-deploy"


class EmbeddedBackend:
    def __init__(self, container: bootstrap.Container, runs_dir: Path) -> None:
        self._container = container
        self._runs = runs_dir
        self._started: set[str] = set()

    @property
    def where(self) -> str:
        return "the embedded store"

    @property
    def runs_here(self) -> bool:
        return True

    async def wait_ended(self, deployment_id: str, seconds: float) -> None:
        await self._container.deployment_service.wait_ended(deployment_id, seconds)

    @property
    def container(self) -> bootstrap.Container:
        return self._container

    async def create_config(self, values: dict[str, Any]) -> Result[DeploymentConfig]:
        return await self._container.config_service.create_config_from(values)

    async def list_configs(
        self, app_name: str | None, environment: str | None, limit: int
    ) -> Result[list[DeploymentConfig]]:
        return await self._container.config_service.list_configs(app_name, environment, limit=limit)

    async def get_config(self, config_id: str) -> Result[DeploymentConfig]:
        return await self._container.config_service.get_config(config_id)

    async def update_config(
        self, config_id: str, changes: dict[str, Any], expected_version: int | None
    ) -> Result[DeploymentConfig]:
        return await self._container.config_service.update_config(
            config_id, expected_version=expected_version, **changes
        )

    async def replace_config(self, config_id: str, values: dict[str, Any]) -> Result[DeploymentConfig]:
        return await self._container.config_service.replace_config(config_id, values)

    async def delete_config(self, config_id: str) -> Result[None]:
        deleted = await self._container.config_service.delete_config(config_id)
        return deleted if isinstance(deleted, Failure) else Success(None)

    async def plan(self, config_id: str, *, live: bool = True) -> Result[DeploymentPlan]:
        return await self._container.deployment_service.plan(config_id, live=live)

    async def plan_values(self, values: dict[str, Any], *, live: bool = True) -> Result[DeploymentPlan]:
        return await self._container.deployment_service.plan_values(values, live=live)

    async def diff(self, config_id: str) -> Result[Diff]:
        return await self._container.deployment_service.diff(config_id)

    async def diff_values(self, values: dict[str, Any]) -> Result[Diff]:
        return await self._container.deployment_service.diff_values(values)

    async def deploy(
        self, config_id: str, description: str, *, strict: bool | None = None, config_version: int | None = None
    ) -> Result[Deployment]:
        service = self._container.deployment_service
        started = await service.start_deploy(config_id, description, strict=strict, config_version=config_version)
        return self._started_one(started)

    async def rollback(self, deployment_id: str, to: str | None, restore_database: bool) -> Result[Deployment]:
        started = await self._container.deployment_service.start_rollback(deployment_id, restore_database, to)
        return self._started_one(started)

    def _started_one(self, started: Any) -> Result[Deployment]:
        if isinstance(started, Failure):
            return started
        self._started.add(started.value.id.value)
        return Success(Deployment.of(started.value))

    async def deployment(self, deployment_id: str) -> Result[Deployment]:
        found = await self._container.deployment_service.get_deployment(deployment_id)
        return found if isinstance(found, Failure) else Success(Deployment.of(found.value))

    async def deployments(self, app_name: str | None, environment: str | None, limit: int) -> Result[list[Deployment]]:
        found = await self._container.deployment_service.list_deployments(app_name, environment, limit=limit)
        return found if isinstance(found, Failure) else Success([Deployment.of(record) for record in found.value])

    async def pipeline(self, pipeline_id: str) -> Result[Pipeline]:
        return await self._container.pipeline_service.get_pipeline(pipeline_id)

    async def cancel(self, deployment_id: str, reason: str, *, by: str | None = None) -> Result[Deployment]:
        by = by or (f"{who()}: {reason}" if reason else who())
        key = inputs.deployment_id(deployment_id)
        if isinstance(key, Failure):
            return key
        # as stored: a look through the service would end an orphan before it could be canceled
        found = await self._container.deployments.get(key.value)
        if found is None:
            return Failure(ErrorDetails.not_found("deployment", key.value.value))
        elsewhere = deployment_id not in self._started and found.status.is_active
        if elsewhere and runs.request_stop(self._runs, deployment_id, by):
            return await self._stopped(deployment_id)
        canceled = await self._container.deployment_service.cancel(deployment_id, canceled_by=by)
        if isinstance(canceled, Failure) and elsewhere:
            message = f"{canceled.error.message} (no uno-deploy process on this machine runs it either)"
            return Failure(ErrorDetails(canceled.error.code, message, canceled.error.context))
        return canceled if isinstance(canceled, Failure) else Success(Deployment.of(canceled.value))

    async def _stopped(self, deployment_id: str) -> Result[Deployment]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_DEADLINE
        while True:
            found = await self.deployment(deployment_id)
            if isinstance(found, Failure) or found.value.status.is_complete:
                return found
            if loop.time() > deadline:
                message = f"asked the process running {deployment_id} to cancel it, but it is still running"
                return Failure(ErrorDetails.invalid_state(message, deployment_id=deployment_id))
            await asyncio.sleep(_POLL)

    async def promote(self, deployment_id: str, full: bool) -> Result[Deployment]:
        promoted = await self._container.deployment_service.promote(deployment_id, full=full, by=who())
        return promoted if isinstance(promoted, Failure) else Success(Deployment.of(promoted.value))

    async def abort(self, deployment_id: str, reason: str) -> Result[Deployment]:
        aborted = await self._container.deployment_service.abort(deployment_id, by=who(), reason=reason)
        return aborted if isinstance(aborted, Failure) else Success(Deployment.of(aborted.value))

    async def decide(self, pipeline_id: str, task_id: str, approved: bool, comment: str) -> Result[Decision]:
        service = self._container.pipeline_service
        decide = service.approve if approved else service.reject
        return await decide(pipeline_id, task_id, by=who(), comment=comment)

    async def aclose(self) -> None:
        await self._container.deployment_service.stop_background()
        await self._container.aclose()
