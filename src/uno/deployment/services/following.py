"""Following deployments: where one is now, and which ones there are.

``status`` is polled often (CLIs following a deploy, dashboards, CI jobs), so the last
answer per deployment is kept with the store's stamp of it; while the stamp is unchanged
(one small query) the answer is reused. A deployment that says it runs is also checked,
at most once a second, for a dead runner: an orphan is ended there and then
(``Recovery.check``), so nobody polls a ``running`` that will never change.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from uno.core.result import Failure, Result, Success
from uno.deployment.domain.deployments import DeploymentProgress, DeploymentResult
from uno.deployment.domain.enums import DeploymentEnvironment, DeploymentStatus
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.repositories import DeploymentQuery, PipelineRepository
from uno.deployment.services import inputs
from uno.deployment.services.recording import Recorder
from uno.deployment.services.recovering import Recovery

_STATUSES_KEPT = 10_000
_ORPHAN_CHECK_EVERY = timedelta(seconds=1)
_MAYBE_ORPHANED = (DeploymentStatus.RUNNING, DeploymentStatus.PENDING)


class Follower:
    def __init__(self, pipelines: PipelineRepository, recorder: Recorder, recovery: Recovery) -> None:
        self._pipelines = pipelines
        self._recorder = recorder
        self._recovery = recovery
        self._statuses: dict[DeploymentId, tuple[tuple[int, int], DeploymentProgress]] = {}
        self._checked_at: dict[DeploymentId, datetime] = {}

    async def status(self, deployment_id: DeploymentId | str, *, by: str) -> Result[DeploymentProgress]:
        key = inputs.deployment_id(deployment_id)
        if isinstance(key, Failure):
            return key
        stamp = await self._recorder.deployments.stamp(key.value)
        known = self._statuses.get(key.value)
        if stamp is not None and known is not None and known[0] == stamp and not self._check_due(known[1]):
            return Success(known[1])
        found = await self._recorder.find(key.value)
        if isinstance(found, Failure):
            return found
        record = await self.current(found.value, by=by)
        if record is not found.value:
            stamp = await self._recorder.deployments.stamp(key.value)
        answer = await self._progress(record)
        if stamp is not None:
            if len(self._statuses) >= _STATUSES_KEPT:
                self._statuses.clear()
                self._checked_at.clear()
            # The stamp was read before the record: a change in between makes it stale, never wrong.
            self._statuses[key.value] = (stamp, answer)
        return Success(answer)

    async def current(self, record: DeploymentResult, *, by: str) -> DeploymentResult:
        """``record``, or what it is after ending it when it turned out to be an orphan."""
        if record.status not in _MAYBE_ORPHANED or not self._check_due_for(record.id):
            return record
        self._checked_at[record.id] = self._recorder.clock.now()
        return await self._recovery.check(record, by=by)

    def _check_due(self, known: DeploymentProgress) -> bool:
        return known.status in _MAYBE_ORPHANED and self._check_due_for(known.deployment_id)

    def _check_due_for(self, deployment_id: DeploymentId) -> bool:
        last = self._checked_at.get(deployment_id)
        return last is None or self._recorder.clock.now() - last >= _ORPHAN_CHECK_EVERY

    async def _progress(self, record: DeploymentResult) -> DeploymentProgress:
        pipeline = await self._pipelines.get(record.pipeline_id) if record.pipeline_id else None
        stage, task = pipeline.current() if pipeline else (None, None)
        progress = pipeline.progress if pipeline else (1.0 if record.status.is_complete else 0.0)
        return DeploymentProgress(
            deployment_id=record.id,
            status=record.status,
            success=record.success,
            message=record.message,
            progress=round(progress, 4),
            current_stage=stage.name if stage else None,
            current_task=task.name if task else None,
            current_task_message=task.message if task else None,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            pipeline_id=record.pipeline_id,
            not_honoured=tuple(record.details.get("not_honoured", ())),
        )

    async def list(
        self,
        app_name: str | None,
        environment: DeploymentEnvironment | str | None,
        status: DeploymentStatus | str | None,
        config_id: DeploymentId | str | None,
        limit: int,
        offset: int,
        *,
        by: str,
    ) -> Result[list[DeploymentResult]]:
        chosen_environment = inputs.optional_enum(DeploymentEnvironment, environment, "environment")
        chosen_status = inputs.optional_enum(DeploymentStatus, status, "status")
        chosen_config = inputs.deployment_id(config_id, "config_id") if config_id is not None else Success(None)
        checked_app = inputs.optional_text(app_name, "app_name")
        if problem := inputs.first_failure(
            inputs.page(limit, offset), chosen_environment, chosen_status, chosen_config, checked_app
        ):
            return problem
        query = DeploymentQuery(
            app_name=app_name,
            environment=chosen_environment.value,
            status=chosen_status.value,
            config_id=chosen_config.value,
            limit=limit,
            offset=offset,
        )
        found = await self._recorder.deployments.find(query)
        return Success([await self.current(record, by=by) for record in found])
