"""Deploying, rolling back and following deployments.

``deploy`` records a new deployment (its own id, a snapshot of the configuration),
takes the (application, environment) lease so that no other deployment of the same
application runs in the same environment meanwhile, runs the default pipeline and
records its outcome. The lease has a TTL and is renewed while the pipeline runs, so a
crashed deployer never leaves it behind. A deployment is never left ``running`` by an
error here: whatever happens, it ends with an outcome.
"""

from __future__ import annotations

import contextlib

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.deployments import DeploymentProgress, DeploymentResult
from uno.deployment.domain.enums import (
    DeploymentEnvironment,
    DeploymentKind,
    DeploymentStatus,
    PipelineStatus,
    TaskStatus,
)
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId, new_deployment_id
from uno.deployment.domain.pipelines import Pipeline, Stage, Task
from uno.deployment.engine import templates
from uno.deployment.engine.running import PipelineRunner
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.repositories import (
    DeploymentConfigRepository,
    DeploymentQuery,
    DeploymentResultRepository,
    PipelineRepository,
)
from uno.deployment.services import inputs
from uno.deployment.services.leasing import LeaseKeeper


class DeploymentService:
    def __init__(
        self,
        configs: DeploymentConfigRepository,
        deployments: DeploymentResultRepository,
        pipelines: PipelineRepository,
        runner: PipelineRunner,
        leases: LeaseKeeper,
        clock: Clock,
    ) -> None:
        self._configs = configs
        self._deployments = deployments
        self._pipelines = pipelines
        self._runner = runner
        self._leases = leases
        self._clock = clock

    async def deploy(self, config_id: DeploymentId | str, description: str = "") -> Result[DeploymentResult]:
        """Deploy the configuration's release and return the deployment's record when it ends.

        ``Failure`` means the deployment could not start (unknown configuration, another
        deployment of the application running in the environment); once started, the
        outcome is in the record: ``success``, ``status`` and ``message``.
        """
        key = inputs.deployment_id(config_id, "config_id")
        checked_description = inputs.text(description, "description", required=False, max_length=2000)
        if problem := inputs.first_failure(key, checked_description):
            return problem
        config = await self._configs.get(key.value)
        if config is None:
            return Failure(ErrorDetails.not_found("configuration", key.value.value))
        record = DeploymentResult(
            id=new_deployment_id(),
            config_id=config.id,
            config=config,
            created_at=self._clock.now(),
            description=checked_description.value,
        )
        built = templates.default_pipeline(config, record.id, self._clock.now())
        record.pipeline_id = built.pipeline.id
        if built.left_out:
            record.details["left_out"] = built.left_out
        return await self._run(record, built.pipeline)

    async def rollback(self, deployment_id: DeploymentId | str) -> Result[DeploymentResult]:
        """Restore the release that ran before this deployment; returns the rollback's own record."""
        found = await self.get_deployment(deployment_id)
        if isinstance(found, Failure):
            return found
        target = found.value
        refusal = _rollback_refusal(target)
        if refusal:
            return Failure(ErrorDetails.invalid_state(refusal, deployment_id=target.id.value))
        previous = await self._previous_release(target)
        if previous is None:
            return Failure(
                ErrorDetails.invalid_state(
                    f"no earlier successful release of {target.app_name} in {target.environment.value} "
                    f"to roll back to from {target.id.value}",
                    deployment_id=target.id.value,
                )
            )
        record = DeploymentResult(
            id=new_deployment_id(),
            config_id=previous.config_id,
            config=previous.config,
            created_at=self._clock.now(),
            kind=DeploymentKind.ROLLBACK,
            rollback_of=target.id,
            description=f"Roll back {target.id.value} ({target.app_version}) to {previous.app_version}",
            details={
                "restores": previous.id.value,
                "from_version": target.app_version,
                "to_version": previous.app_version,
            },
        )
        pipeline = _rollback_pipeline(record, previous, self._clock)
        record.pipeline_id = pipeline.id
        return await self._run(record, pipeline, rolling_back=target)

    async def cancel(self, deployment_id: DeploymentId | str, canceled_by: str = "user") -> Result[DeploymentResult]:
        """Stop a running deployment: its pipeline stops promptly and the record says who stopped it."""
        found = await self.get_deployment(deployment_id)
        if isinstance(found, Failure):
            return found
        record = found.value
        if record.status.is_complete or record.pipeline_id is None:
            return Failure(ErrorDetails.invalid_state(f"deployment {record.id.value} already {record.status.value}"))
        if self._runner.request_cancel(record.pipeline_id, canceled_by):
            await self._runner.wait(record.pipeline_id)
            return await self.get_deployment(record.id)
        return Failure(
            ErrorDetails.invalid_state(
                f"deployment {record.id.value} is {record.status.value} but no runner in this process holds it",
                status=record.status.value,
            )
        )

    async def get_deployment(self, deployment_id: DeploymentId | str) -> Result[DeploymentResult]:
        key = inputs.deployment_id(deployment_id)
        if isinstance(key, Failure):
            return key
        record = await self._deployments.get(key.value)
        return Success(record) if record else Failure(ErrorDetails.not_found("deployment", key.value.value))

    async def get_status(self, deployment_id: DeploymentId | str) -> Result[DeploymentProgress]:
        """Where a deployment is now: status, progress, current stage and task, timestamps."""
        found = await self.get_deployment(deployment_id)
        if isinstance(found, Failure):
            return found
        record = found.value
        pipeline = await self._pipelines.get(record.pipeline_id) if record.pipeline_id else None
        stage, task = pipeline.current() if pipeline else (None, None)
        progress = pipeline.progress if pipeline else (1.0 if record.status.is_complete else 0.0)
        return Success(
            DeploymentProgress(
                deployment_id=record.id,
                status=record.status,
                success=record.success,
                message=record.message,
                progress=round(progress, 4),
                current_stage=stage.name if stage else None,
                current_task=task.name if task else None,
                created_at=record.created_at,
                started_at=record.started_at,
                finished_at=record.finished_at,
                pipeline_id=record.pipeline_id,
            )
        )

    async def list_deployments(
        self,
        app_name: str | None = None,
        environment: DeploymentEnvironment | str | None = None,
        status: DeploymentStatus | str | None = None,
        config_id: DeploymentId | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Result[list[DeploymentResult]]:
        """Deployments matching every filter given, newest first."""
        chosen_environment = inputs.optional_enum(DeploymentEnvironment, environment, "environment")
        chosen_status = inputs.optional_enum(DeploymentStatus, status, "status")
        chosen_config = inputs.deployment_id(config_id, "config_id") if config_id is not None else Success(None)
        if problem := inputs.first_failure(
            inputs.page(limit, offset), chosen_environment, chosen_status, chosen_config
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
        return Success(await self._deployments.find(query))

    async def _run(
        self, record: DeploymentResult, pipeline: Pipeline, *, rolling_back: DeploymentResult | None = None
    ) -> Result[DeploymentResult]:
        lease = await self._leases.acquire(record.config, record.id.value)
        if isinstance(lease, Failure):
            return lease
        async with self._leases.held(lease.value):
            return await self._run_holding_lease(record, pipeline, rolling_back)

    async def _run_holding_lease(
        self, record: DeploymentResult, pipeline: Pipeline, rolling_back: DeploymentResult | None
    ) -> Result[DeploymentResult]:
        try:
            added = await self._deployments.add(record)
            if isinstance(added, Failure):
                return added
            stored = await self._pipelines.add(pipeline)
            if isinstance(stored, Failure):
                await self._move(
                    record, DeploymentStatus.FAILED, f"its pipeline could not be stored: {stored.error.message}"
                )
                return stored
            if rolling_back is not None:
                await self._move(rolling_back, DeploymentStatus.ROLLING_BACK, f"being rolled back by {record.id.value}")
            await self._move(record, DeploymentStatus.RUNNING)
            outcome = await self._runner.run(pipeline, record.config)
            await self._conclude(record, outcome, rolling_back)
            return Success(record)
        except BaseException:
            await self._abandon(record, rolling_back)
            raise

    async def _conclude(
        self, record: DeploymentResult, outcome: Result[Pipeline], rolling_back: DeploymentResult | None
    ) -> None:
        if isinstance(outcome, Failure):
            await self._move(
                record, DeploymentStatus.FAILED, f"the pipeline's record was lost: {outcome.error.message}"
            )
        else:
            pipeline = outcome.value
            record.reached_platform = _reached_platform(pipeline)
            status = {
                PipelineStatus.SUCCEEDED: DeploymentStatus.SUCCEEDED,
                PipelineStatus.CANCELED: DeploymentStatus.CANCELED,
            }.get(pipeline.status, DeploymentStatus.FAILED)
            await self._move(record, status, _summary(record, pipeline))
        if rolling_back is not None:
            if record.success:
                await self._move(rolling_back, DeploymentStatus.ROLLED_BACK, f"rolled back by {record.id.value}")
            else:
                before = DeploymentStatus(rolling_back.details.pop("status_before_rollback", "failed"))
                await self._move(rolling_back, before, f"rollback {record.id.value} failed: {record.message}")

    async def _move(self, record: DeploymentResult, status: DeploymentStatus, message: str = "") -> None:
        if status is DeploymentStatus.ROLLING_BACK:
            record.details["status_before_rollback"] = record.status.value
        elif record.status is DeploymentStatus.ROLLING_BACK:
            record.details.pop("status_before_rollback", None)
        record.move(status, self._clock.now(), message)
        saved = await self._deployments.save(record)
        if isinstance(saved, Failure):
            raise RuntimeError(f"deployment {record.id.value} could not be saved: {saved.error.message}")

    async def _abandon(self, record: DeploymentResult, rolling_back: DeploymentResult | None) -> None:
        """Record an interrupted deployment as ended, so nothing is left ``running``."""
        with contextlib.suppress(Exception):
            stored = await self._deployments.get(record.id)
            if stored is not None and not stored.status.is_complete:
                stored.move(DeploymentStatus.FAILED, self._clock.now(), "interrupted before it finished")
                await self._deployments.save(stored)
            if rolling_back is not None:
                stored = await self._deployments.get(rolling_back.id)
                if stored is not None and stored.status is DeploymentStatus.ROLLING_BACK:
                    before = DeploymentStatus(stored.details.pop("status_before_rollback", "failed"))
                    stored.move(before, self._clock.now(), "rollback interrupted")
                    await self._deployments.save(stored)

    async def _previous_release(self, target: DeploymentResult) -> DeploymentResult | None:
        query = DeploymentQuery(
            app_name=target.app_name,
            environment=target.environment,
            kind=DeploymentKind.DEPLOY,
            status=DeploymentStatus.SUCCEEDED,
            created_before=target.created_at,
            limit=1,
        )
        earlier = [record for record in await self._deployments.find(query) if record.id != target.id]
        return earlier[0] if earlier else None


def _rollback_refusal(target: DeploymentResult) -> str | None:
    if target.kind is DeploymentKind.ROLLBACK:
        return f"{target.id.value} is itself a rollback; deploy the release you want instead"
    if target.status.is_active or target.status is DeploymentStatus.PENDING:
        return f"deployment {target.id.value} is {target.status.value}; wait for it to end or cancel it first"
    if target.status is DeploymentStatus.ROLLED_BACK:
        return f"deployment {target.id.value} is already rolled back"
    if target.status not in (DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED):
        return f"deployment {target.id.value} was {target.status.value}; only a finished deployment can be rolled back"
    if not target.reached_platform:
        return f"deployment {target.id.value} never changed the platform: there is nothing to roll back"
    return None


def _rollback_pipeline(record: DeploymentResult, previous: DeploymentResult, clock: Clock) -> Pipeline:
    restore = Task(
        TaskId.new(),
        "rollback",
        "rollback",
        f"Restore release {previous.app_version} ({previous.id.value})",
        {"to_deployment": previous.id.value},
        timeout=templates.STEP_TIMEOUTS["deploy"],
    )
    health = Task(
        TaskId.new(),
        "health-check",
        "health_check",
        "Check the restored release's health",
        timeout=templates.DEFAULT_STEP_TIMEOUT,
    )
    verify = Task(
        TaskId.new(),
        "verify-deployment",
        "verify",
        "Verify the restored release",
        dependencies=[health.id],
        timeout=templates.DEFAULT_STEP_TIMEOUT,
    )
    return Pipeline(
        id=PipelineId.new(),
        name=f"{record.app_name}-{record.environment.value}-rollback",
        description=record.description,
        deployment_id=record.id,
        config_id=previous.config_id,
        stages=[
            Stage(StageId.new(), "rollback", "Restore the previous release", tasks=[restore]),
            Stage(StageId.new(), "verification", "Verify the restored release", tasks=[health, verify]),
        ],
        created_at=clock.now(),
    )


def _reached_platform(pipeline: Pipeline) -> bool:
    """Whether a platform step ran for real (an unavailable driver changes nothing)."""
    return any(
        task.action in ("deploy", "rollback", "promote")
        and task.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED)
        and task.attempts > 0
        and not task.outputs.get("unavailable")
        for _, task in pipeline.tasks()
    )


def _summary(record: DeploymentResult, pipeline: Pipeline) -> str:
    release = f"{record.app_name} {record.app_version} in {record.environment.value}"
    rollback = record.kind is DeploymentKind.ROLLBACK
    if pipeline.status is PipelineStatus.SUCCEEDED:
        return f"rolled back to {release}" if rollback else f"deployed {release}"
    if pipeline.status is PipelineStatus.CANCELED:
        return f"{release}: {pipeline.message}"
    return (
        f"rollback to {release} failed: {pipeline.message}"
        if rollback
        else f"{release} not deployed: {pipeline.message}"
    )
