"""Recovering deployments whose runner died: carried on, or ended with the reason, never left ``running``.

A deployment runs holding its (application, environment) lease. When its runner dies
(``kill -9`` of ``uno-deploy deploy``, a crashed API server), the record says ``running``
but nobody holds the lease for it any more once the TTL has passed, or sooner when the
process it names is certainly gone (``RunnerIdentity``). Such an *orphan* is found by
the next call that touches it or its place: ``get_status``, ``cancel``, ``rollback`` and
a new ``deploy`` of the same application and environment. Rules:

- ``resume`` carries an orphan on from its journal, unless a newer deployment of the same
  place started since: a superseded deployment never changes traffic again (``CONFLICT``,
  and it is ended as superseded);
- a new deploy or rollback that takes the place's lease ends every orphan there as
  ``canceled``, superseded by itself (it is about to set what serves: ``orphans.supersede``);
- ``cancel`` ends an orphan as ``canceled``;
- any other call that finds one ends it as ``failed`` with the reason, and applies the
  automatic rollback rules: a deploy that reached the platform, with ``auto_rollback``
  on, has the previous release put back (its rollout was interrupted half-way);
- in queue execution, workers carry orphans on (the reaper queues them again): the
  ending rules are for inline execution, where nobody else would.

Every write is fenced by a lease this process takes for the orphan, so a runner that was
only stalled, not dead, cannot write after it.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentKind, DeploymentStatus
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.repositories import PipelineRepository
from uno.deployment.ports.runners import RunnerIdentity
from uno.deployment.services import orphans
from uno.deployment.services.executing import Executor
from uno.deployment.services.holding import LeaseHolder
from uno.deployment.services.leasing import lease_key
from uno.deployment.services.recording import Recorder


class Recovery:
    def __init__(
        self,
        pipelines: PipelineRepository,
        recorder: Recorder,
        holder: LeaseHolder,
        executor: Executor,
        identity: RunnerIdentity,
        *,
        inline: bool,
    ) -> None:
        self._pipelines = pipelines
        self._recorder = recorder
        self._holder = holder
        self._executor = executor
        self._identity = identity
        self._inline = inline

    async def resume(self, deployment_id: DeploymentId | str) -> Result[DeploymentResult]:
        found = await self._recorder.find(deployment_id)
        if isinstance(found, Failure):
            return found
        record = found.value
        pipeline = await self._pipelines.get(record.pipeline_id) if record.pipeline_id else None
        if record.status is not DeploymentStatus.RUNNING:
            return Failure(
                ErrorDetails.invalid_state(f"deployment {record.id.value} is {record.status.value}, not running")
            )
        if pipeline is None:
            return Failure(ErrorDetails.invalid_state(f"deployment {record.id.value} has no stored pipeline to resume"))
        if self._executor.runner.is_running(pipeline.id):
            return Failure(ErrorDetails.invalid_state(f"deployment {record.id.value} is running in this process"))
        lease = await self._take(record, "resumed")
        if isinstance(lease, Failure):
            return lease
        newer = await orphans.newer_than(self._recorder.deployments, record)
        holder = self._holder
        if newer is None:
            return Success(
                await holder.holding(lease.value, record, pipeline, self._executor.carry_on(record, pipeline))
            )
        superseded = self._end(record, DeploymentStatus.CANCELED, orphans.superseded_reason(newer))
        await holder.holding(lease.value, record, pipeline, superseded)
        message = (
            f"deployment {record.id.value} was superseded by {newer.id.value} ({newer.app_version}), which started "
            "after it: it was ended, not resumed, so that it never changes traffic again"
        )
        return Failure(ErrorDetails.conflict(message, deployment_id=record.id.value, superseded_by=newer.id.value))

    async def orphaned(self, record: DeploymentResult) -> bool:
        """Whether ``record`` says it runs but nobody runs it: no live lease for it, or a dead holder."""
        if not self._inline or record.status not in (DeploymentStatus.RUNNING, DeploymentStatus.PENDING):
            return False
        if record.pipeline_id is not None and self._executor.runner.is_running(record.pipeline_id):
            return False
        if record.id in self._holder.concluding:
            return False
        now = self._recorder.clock.now()
        if record.status is DeploymentStatus.PENDING and now - record.created_at < orphans.PENDING_GRACE:
            return False
        lease = await self._holder.leases.current(lease_key(record.config))
        if lease is None or orphans.holder_deployment(lease.holder) not in orphans.names(record):
            return True
        return orphans.runner_gone(self._identity, record, lease)

    async def check(self, record: DeploymentResult, *, by: str, roll_back: bool = True) -> DeploymentResult:
        """End ``record`` if it is an orphan (failed, automatic rollback rules applied); the record as it is now."""
        if not await self.orphaned(record):
            return record
        lease = await self._take(record, "recovered")
        if isinstance(lease, Failure):
            return await self._recorder.deployments.get(record.id) or record  # someone else is on it
        current = await self._recorder.deployments.get(record.id) or record
        if current.status not in (DeploymentStatus.RUNNING, DeploymentStatus.PENDING):
            await self._holder.leases.release(lease.value)
            return current
        return await self._holding(lease.value, current, self._ended_orphan(current, by, roll_back))

    async def cancel(self, record: DeploymentResult, by: str) -> Result[DeploymentResult] | None:
        """Cancel an orphan (ended as canceled, nothing rolled back); None when ``record`` is no orphan."""
        if not await self.orphaned(record):
            return None
        lease = await self._take(record, "canceled")
        if isinstance(lease, Failure):
            return lease
        return Success(await self._holding(lease.value, record, self._canceled_orphan(record, by)))

    async def _canceled_orphan(self, record: DeploymentResult, by: str) -> None:
        """Canceled, and put back as a live cancel's strategy would have: nobody else will undo its rollout."""
        await self._end(record, DeploymentStatus.CANCELED, f"canceled by {by}; its runner had stopped")
        if record.kind is DeploymentKind.DEPLOY and record.reached_platform:
            await self._executor.undo(record)

    async def _take(self, record: DeploymentResult, why: str) -> Result[Lease]:
        deployments, keeper = self._recorder.deployments, self._holder.leases
        return await orphans.take_lease(keeper, deployments, self._identity, record.config, f"{record.id.value}#{why}")

    async def _holding(
        self, lease: Lease, record: DeploymentResult, work: Coroutine[Any, Any, None]
    ) -> DeploymentResult:
        pipeline = await self._pipelines.get(record.pipeline_id) if record.pipeline_id else None
        return await self._holder.holding(lease, record, pipeline, work)

    async def _end(self, record: DeploymentResult, status: DeploymentStatus, reason: str) -> None:
        await orphans.end(self._recorder, self._pipelines, self._executor.runner, record, status, reason)

    async def _ended_orphan(self, record: DeploymentResult, by: str, roll_back: bool) -> None:
        runner = record.details.get("runner")
        where = f" (pid {runner['pid']})" if isinstance(runner, dict) and "pid" in runner else ""
        await self._end(record, DeploymentStatus.FAILED, f"its runner{where} stopped before it finished; ended by {by}")
        if not (roll_back and record.kind is DeploymentKind.DEPLOY and record.reached_platform):
            return
        if record.config.auto_rollback:
            await self._executor.roll_back_automatically(record)
        else:
            note = "its rollout was interrupted on the platform and auto_rollback is off: roll it back or deploy again"
            await self._recorder.annotate(record, f"{record.message}; {note}")
