"""What a queue worker does with a deployment job: run it, carry it on, or hand it back.

API servers store a deployment as ``queued`` and enqueue a job; a worker's job calls
``Worker.execute``. It waits for the (application, environment) lease (a dead worker's
lease expires within its TTL; a live holder finishes), then runs the pipeline, or carries
on the one a dead or stopping worker left, holding the lease. Invariants:

- a job run twice leaves an ended deployment as it is;
- a run handed back (the worker is stopping) is left ``running`` with its journal and
  queued again, for the next worker to carry on;
- a cancel asked of another process reaches the run here through the decisions store
  (``canceling.CANCEL_REQUEST``) within a second or two.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentStatus
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.ports.repositories import PipelineRepository
from uno.deployment.services import canceling, orphans
from uno.deployment.services.executing import Executor
from uno.deployment.services.holding import LeaseHolder
from uno.deployment.services.recording import Recorder

_PENDING_GRACE = timedelta(seconds=10)
_CANCEL_POLL_SECONDS = 1.0


class Worker:
    def __init__(
        self,
        pipelines: PipelineRepository,
        recorder: Recorder,
        holder: LeaseHolder,
        executor: Executor,
        name: str,
    ) -> None:
        self._pipelines = pipelines
        self._recorder = recorder
        self._holder = holder
        self._executor = executor
        self._name = name
        self._executing: dict[DeploymentId, asyncio.Task[Any]] = {}  # what runs here

    async def execute(self, deployment_id: DeploymentId | str) -> Result[DeploymentResult]:
        found = await self._recorder.find(deployment_id)
        if isinstance(found, Failure):
            return found
        record = await self._past_pending(found.value)
        if record.status not in (DeploymentStatus.QUEUED, DeploymentStatus.RUNNING) or record.pipeline_id is None:
            return Success(record)
        pipeline = await self._pipelines.get(record.pipeline_id)
        if pipeline is None:
            return Failure(ErrorDetails.invalid_state(f"deployment {record.id.value} has no stored pipeline to run"))
        leases, clock = self._holder.leases, self._recorder.clock
        holder = f"{record.id.value}#{self._name}"
        lease = await leases.acquire(record.config, holder)
        while isinstance(lease, Failure):
            await clock.sleep(min(5.0, leases.ttl / 4))
            lease = await leases.acquire(record.config, holder)
        me = asyncio.current_task()
        if me is not None:
            self._executing[record.id] = me
        try:
            current = await self._recorder.deployments.get(record.id)  # it may have been canceled meanwhile
            if current is not None and current.status is DeploymentStatus.PENDING:
                current.status = DeploymentStatus.QUEUED  # as above: queued, never stored as such
            if current is None or current.status not in (DeploymentStatus.QUEUED, DeploymentStatus.RUNNING):
                await leases.release(lease.value)
                return Success(current or record)
            work = self._carried_on(current, pipeline)
            return Success(await self._holder.holding(lease.value, current, pipeline, work))
        finally:
            self._executing.pop(record.id, None)

    async def _past_pending(self, record: DeploymentResult) -> DeploymentResult:
        """A job can start before its API server has stored the deployment as queued: wait a little.

        If it stays ``pending`` (that server died between queueing and storing), it is run
        as queued: the job exists, so the deployment was meant to run.
        """
        clock = self._recorder.clock
        deadline = clock.now() + _PENDING_GRACE
        while record.status is DeploymentStatus.PENDING and clock.now() < deadline:
            await clock.sleep(0.1)
            record = await self._recorder.deployments.get(record.id) or record
        if record.status is DeploymentStatus.PENDING:
            record.status = DeploymentStatus.QUEUED  # in memory only: the run stores it as running
        return record

    def handed_back(self, deployment_id: str) -> bool:
        identifier = DeploymentId.stored(deployment_id)
        if identifier in self._holder.handing_back:
            self._holder.handing_back.discard(identifier)
            return True
        return False

    async def hand_back_all(self) -> list[DeploymentId]:
        handed = list(self._executing)
        for deployment_id, task in list(self._executing.items()):
            self._holder.handing_back.add(deployment_id)
            record = await self._recorder.deployments.get(deployment_id)
            if record is not None and record.pipeline_id is not None:
                self._executor.runner.hand_back(record.pipeline_id)
            task.cancel()
        return handed

    async def _carried_on(self, record: DeploymentResult, pipeline: Pipeline) -> None:
        watching = asyncio.create_task(self._watch_for_cancel(pipeline))
        try:
            await self._carry_on(record, pipeline)
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching

    async def _watch_for_cancel(self, pipeline: Pipeline) -> None:
        """A cancel asked for in another process (an API server) reaches the run here."""
        runner = self._executor.runner
        while True:
            await self._recorder.clock.sleep(_CANCEL_POLL_SECONDS)
            asked = await runner.tools.decisions.get(pipeline.id, canceling.CANCEL_REQUEST)
            if asked is not None:
                runner.request_cancel(pipeline.id, asked.by, before_start=True)
                return

    async def _carry_on(self, record: DeploymentResult, pipeline: Pipeline) -> None:
        if record.status is DeploymentStatus.QUEUED:
            target = await self._recorder.deployments.get(record.rollback_of) if record.rollback_of else None
            if target is not None and not target.status.is_active:
                message = f"being rolled back by {record.id.value}"
                await self._recorder.move(target, DeploymentStatus.ROLLING_BACK, message)
            await self._recorder.move(record, DeploymentStatus.RUNNING, f"running on worker {self._name}")
        else:  # another worker's run, handed back or abandoned by its death
            newer = await orphans.newer_than(self._recorder.deployments, record)
            if newer is not None:  # a superseded deployment never changes traffic again
                reason = orphans.superseded_reason(newer)
                runner = self._executor.runner
                await orphans.end(self._recorder, self._pipelines, runner, record, DeploymentStatus.CANCELED, reason)
                return
            await self._recorder.annotate(record, f"carried on by worker {self._name}")
        await self._executor.carry_on(record, pipeline)
