"""Running a deployment here and concluding it: lease, store, pipeline, outcome, automatic rollback.

``start`` takes the (application, environment) lease and stores the deployment as
running; ``finish`` runs its pipeline holding that lease and stores the outcome. A deploy
that put its release on the platform and then failed, with ``auto_rollback`` on, is rolled
back automatically under the same lease, before it is released. A deploy canceled
(``uno-deploy cancel``, Ctrl-C) after it reached the platform is undone whatever
``auto_rollback`` says (``undo``): a cancel leaves what served before. ``carry_on``
finishes a deployment whose pipeline another runner left ``running`` (or never started).
"""

from __future__ import annotations

import asyncio

from uno.core.result import Failure, Result, Success
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentKind, DeploymentStatus, PipelineStatus
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.engine.running import PipelineRunner
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.repositories import PipelineRepository
from uno.deployment.ports.runners import RunnerIdentity
from uno.deployment.services import orphans
from uno.deployment.services import rolling_back as rolling_back_rules
from uno.deployment.services.holding import LeaseHolder
from uno.deployment.services.preparing import Preparer
from uno.deployment.services.recording import Recorder
from uno.deployment.services.withdrawing import withdraw


class Executor:
    def __init__(
        self,
        pipelines: PipelineRepository,
        runner: PipelineRunner,
        recorder: Recorder,
        holder: LeaseHolder,
        preparer: Preparer,
        identity: RunnerIdentity,
        *,
        inline: bool,
    ) -> None:
        self._pipelines = pipelines
        self.runner = runner
        self._recorder = recorder
        self._holder = holder
        self._preparer = preparer
        self._identity = identity
        self._inline = inline

    async def run(
        self, record: DeploymentResult, pipeline: Pipeline, rolling_back: DeploymentResult | None = None
    ) -> Result[DeploymentResult]:
        started = await self.start(record, pipeline, rolling_back)
        if isinstance(started, Failure):
            return started
        return Success(await self.finish(record, pipeline, rolling_back, started.value))

    async def start(
        self, record: DeploymentResult, pipeline: Pipeline, rolling_back: DeploymentResult | None
    ) -> Result[Lease]:
        """Take the lease and store the deployment as running; the caller then runs it (``finish``)."""
        deployments, keeper = self._recorder.deployments, self._holder.leases
        lease = await orphans.take_lease(keeper, deployments, self._identity, record.config, record.id.value)
        if isinstance(lease, Failure):
            return lease
        try:
            stored = await self._store(record, pipeline, rolling_back)
        except BaseException as error:
            await self._recorder.abandon(record, rolling_back, stopped=isinstance(error, asyncio.CancelledError))
            await self._holder.leases.release(lease.value)
            raise
        if isinstance(stored, Failure):
            await self._holder.leases.release(lease.value)
            return stored
        return lease

    async def finish(
        self, record: DeploymentResult, pipeline: Pipeline, rolling_back: DeploymentResult | None, lease: Lease
    ) -> DeploymentResult:
        return await self._holder.holding(
            lease, record, pipeline, self._execute(record, pipeline, rolling_back), rolling_back
        )

    async def _store(
        self, record: DeploymentResult, pipeline: Pipeline, rolling_back: DeploymentResult | None
    ) -> Result[None]:
        record.details["runner"] = self._identity.current()
        added = await self._recorder.deployments.add(record)
        if isinstance(added, Failure):
            return added
        stored = await self._pipelines.add(pipeline)
        if isinstance(stored, Failure):
            message = f"its pipeline could not be stored: {stored.error.message}"
            await self._recorder.move(record, DeploymentStatus.FAILED, message)
            return stored
        if rolling_back is not None:
            message = f"being rolled back by {record.id.value}"
            await self._recorder.move(rolling_back, DeploymentStatus.ROLLING_BACK, message)
        await self._recorder.move(record, DeploymentStatus.RUNNING)
        return Success(None)

    async def _execute(
        self, record: DeploymentResult, pipeline: Pipeline, rolling_back: DeploymentResult | None
    ) -> None:
        if self._inline:
            await orphans.supersede(self._recorder, self._pipelines, self.runner, record)
        outcome = await self.runner.run(pipeline, record.config, self._recorder.fence_for(record))
        await self._concluded(record, outcome, rolling_back)

    async def carry_on(self, record: DeploymentResult, pipeline: Pipeline) -> None:
        """Finish a deployment another runner left: its pipeline goes on from its journal (lease held)."""
        record.details["runner"] = self._identity.current()
        await self._recorder.save(record)
        target = await self._recorder.deployments.get(record.rollback_of) if record.rollback_of else None
        rolling_back = target if target and target.status is DeploymentStatus.ROLLING_BACK else None
        fence = self._recorder.fence_for(record)
        if pipeline.status is PipelineStatus.PENDING:
            outcome = await self.runner.run(pipeline, record.config, fence)
        elif pipeline.status is PipelineStatus.RUNNING:
            outcome = await self.runner.resume(pipeline, record.config, fence)
        else:
            outcome = Success(pipeline)
        await self._concluded(record, outcome, rolling_back)

    async def _concluded(
        self, record: DeploymentResult, outcome: Result[Pipeline], rolling_back: DeploymentResult | None
    ) -> None:
        await self._recorder.conclude(record, outcome, rolling_back)
        if isinstance(outcome, Failure) or record.kind is not DeploymentKind.DEPLOY:
            return
        if rolling_back_rules.canceled_on_platform(record, outcome.value):
            await self.undo(record)
        elif rolling_back_rules.wants_automatic_rollback(record, outcome.value):
            await self.roll_back_automatically(record)
        elif rolling_back_rules.left_disturbed(outcome.value):
            note = "the release before it was stopped on the way and auto_rollback is off: roll back or deploy again"
            await self._recorder.annotate(record, f"{record.message}; {note}")

    async def undo(self, record: DeploymentResult) -> None:
        """Undo a canceled deploy's rollout (lease held): the release before serves again as it did,
        or, when nothing served before it, the version sets it started are removed."""
        if await self._preparer.previous_release(record) is not None:
            await self.roll_back_automatically(record)
            return
        removed = await withdraw(self.runner.tools.platforms, record)
        if isinstance(removed, Failure):
            note = f"nothing served before it, and its rollout could not be undone: {removed.error.message}"
        else:
            note = f"nothing served before it: removed {', '.join(removed.value) or 'nothing (none was running)'}"
        await self._recorder.annotate(record, f"{record.message}; {note}")

    async def roll_back_automatically(self, record: DeploymentResult) -> None:
        """Put the previous release back after a deploy that failed once on the platform (lease held)."""
        failure = record.message
        prepared = await self._preparer.rollback(record, restore_database=False)
        if isinstance(prepared, Failure):
            await self._recorder.annotate(record, f"{failure}; not rolled back automatically: {prepared.error.message}")
            return
        rollback, pipeline = prepared.value
        await self._run_holding_lease(rollback, pipeline, rolling_back=record)
        record.details["automatic_rollback"] = rollback.id.value
        if rollback.success:
            note = f"rolled back automatically to {rollback.app_version} ({rollback.id.value})"
        else:
            note = f"the automatic rollback {rollback.id.value} failed: {rollback.message}"
        await self._recorder.annotate(record, f"{failure}; {note}")

    async def _run_holding_lease(
        self, record: DeploymentResult, pipeline: Pipeline, rolling_back: DeploymentResult | None
    ) -> Result[DeploymentResult]:
        try:
            stored = await self._store(record, pipeline, rolling_back)
            if isinstance(stored, Failure):
                return stored
            await self._execute(record, pipeline, rolling_back)
            return Success(record)
        except BaseException as error:
            await self._recorder.abandon(record, rolling_back, stopped=isinstance(error, asyncio.CancelledError))
            raise
